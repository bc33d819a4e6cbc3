"""A linear layer that reads each weight once for every row of a step.

A decoding step feeds 1 token and a verify step a few; at those sizes a linear layer's time
should be reading its weights, and one read should serve every row. oneDNN's packed kernel
(samdec.kernels) still grows with the rows (benchmarks/verify_cost.json has both layouts'
curves). The `streamed` layout computes x @ W.T with one numba kernel instead: each weight
row is loaded once and multiplied into BLOCK rows of the step at a time, the threads splitting
the weight rows.

Exactness: numba vectorises each dot product in an order of its choosing (fastmath), so the
results differ from oneDNN's in the last bits, as oneDNN's differ from transformers' stock
kernel. What must hold for lossless speculation is that a row's result does not depend on
the rows beside it, and it cannot here: a step's rows are padded with zero rows to whole
blocks, so every row, alone or in a verify step, is computed by the same compiled loop in the
same order (tests/test_streaming.py checks every row count up to STREAM_ROWS, bit for bit).

Steps of more than STREAM_ROWS rows (a long prompt's prefill) use `F.linear` on the same
weights: compute-bound there, and the same in plain and speculative decoding.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from numba import njit, prange
from torch import nn

# Rows up to which the streaming kernel runs: more than any verify step holds (a draft is at
# most 128 tokens plus the model's own; a Token Recycling tree 70 nodes plus a grafted chain).
STREAM_ROWS = 256


# Rows computed together: each weight element loaded once serves BLOCK rows. A step's rows are
# padded with zero rows to whole blocks, so every row, alone or beside others, goes through the
# same compiled loop and so the same summation order. 4, not 8: with 8, a 1-token step (7 rows
# of padding) became compute-bound and cost more than the packed layout's (interleaved
# verify_cost runs here, 2026-11-29, not committed); with 4 it did not.
BLOCK = 4


@njit(parallel=True, fastmath=True, nogil=True, cache=True)  # nogil: the app's runs share it
def _rows_dot(x, weight, out):  # pragma: no cover - compiled
    """out[m, n] = x[m] . weight[n] for rows in blocks of BLOCK (x's rows a multiple of it)."""
    width = x.shape[1]
    for n in prange(weight.shape[0]):
        for m in range(0, x.shape[0], BLOCK):
            t0 = t1 = t2 = t3 = np.float32(0.0)
            for k in range(width):
                w = weight[n, k]
                t0 += x[m, k] * w
                t1 += x[m + 1, k] * w
                t2 += x[m + 2, k] * w
                t3 += x[m + 3, k] * w
            out[m, n], out[m + 1, n], out[m + 2, n], out[m + 3, n] = t0, t1, t2, t3


def rows_times_weight(rows: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """rows (M, in) @ weight (out, in).T -> (M, out)."""
    count = rows.shape[0]
    if count > STREAM_ROWS:
        return F.linear(rows, weight)
    padded = torch.zeros(-(-count // BLOCK) * BLOCK, rows.shape[1], dtype=torch.float32)
    padded[:count] = rows
    out = torch.empty(padded.shape[0], weight.shape[0], dtype=torch.float32)
    _rows_dot(padded.numpy(), weight.numpy(), out.numpy())
    return out[:count]


class StreamedLinear(nn.Module):
    """`nn.Linear` (float32, CPU) through the streaming kernel; given several linears of one
    input, their weights stacked into one matrix, as `samdec.kernels.PackedLinear` does."""

    def __init__(self, *linears: nn.Linear) -> None:
        super().__init__()
        self.in_features = linears[0].in_features
        self.out_features = sum(linear.out_features for linear in linears)
        with torch.no_grad():
            weight = torch.cat([linear.weight for linear in linears]).detach().float()
            self.register_buffer("stacked", weight.contiguous(), persistent=False)
            biases = [linear.bias for linear in linears]
            bias = None if biases[0] is None else torch.cat(biases).detach().float()
        self.bias = nn.Parameter(bias, False) if bias is not None else None

    @property
    def weight(self) -> torch.Tensor:
        return self.stacked

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = rows_times_weight(x.reshape(-1, self.in_features), self.stacked)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)


def streamed_available() -> bool:
    """Whether the kernel runs here on a thread-safe numba threading layer.

    The app serves several runs on one model at once; numba's `workqueue` layer aborts the
    process when two threads enter a parallel region together, `omp` and `tbb` do not. Here
    `omp` loads the system's libgomp beside torch's own copy: two thread pools that take turns
    within a step (their spin-waits are in the measured curves, benchmarks/verify_cost.json).
    """
    import numba

    try:
        out = np.empty((BLOCK, 1), np.float32)
        _rows_dot(np.ones((BLOCK, 1), np.float32), np.ones((1, 1), np.float32), out)
        return numba.threading_layer() in ("omp", "tbb")
    except Exception:  # no compiler, no threading layer: the layout is unavailable
        return False
