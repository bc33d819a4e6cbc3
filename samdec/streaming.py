"""A kernel for linear layers that reads each weight once for every row of a step.

A decoding step feeds 1 token and a verify step a few; at those sizes a linear layer's time
should be reading its weights, and one read should serve every row. oneDNN's packed kernel
(samdec.kernels) still grows with the rows (benchmarks/verify_cost.json has both layouts'
curves). The `streamed` layout (samdec.kernels.StreamedLinear) computes x @ W.T with one numba
kernel instead: tiles of BLOCK rows of the step by TILE rows of the weight, the threads
splitting the weight rows.

Exactness: numba vectorises each dot product in an order of its choosing (fastmath), so the
results differ from oneDNN's in the last bits, as oneDNN's differ from transformers' stock
kernel. What must hold for lossless speculation is that a row's result does not depend on
the rows beside it, and it cannot here: every row, alone or in a verify step, is computed by
the same compiled loop in the same order (tests/test_streaming.py checks every row count up
to STREAM_ROWS, bit for bit).

Steps of more than STREAM_ROWS rows (a long prompt's prefill) use `F.linear` on the same
weights: compute-bound there, and the same in plain and speculative decoding.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from numba import njit, prange

# Rows up to which the streaming kernel runs: more than any verify step holds (a draft is at
# most 128 tokens plus the model's own; a Token Recycling tree 70 nodes plus a grafted chain).
STREAM_ROWS = 256


# A tile: BLOCK rows of the step times TILE rows of the weight, 16 sums kept in registers, so
# each weight element loaded serves BLOCK rows and each input element TILE weight rows. Every
# row goes through this one loop: a step's rows past a whole block are read as copies of its
# last row (computed, never written), so no row's sum depends on how many rows share the step.
# 4 rows, not 8: with 8, a 1-token step (7 rows of copies) became compute-bound and cost more
# than the packed layout's (interleaved verify_cost runs here, 2026-11-29, not committed).
# 4x4, not 1 weight row at a time: the decoder layers' shapes took 0.6-0.7x the time at 4 and 8
# rows (scratch runs here, 2026-12-02; the output layer, bound by memory, about the same).
BLOCK = TILE = 4


@njit(parallel=True, fastmath=True, nogil=True, cache=True)  # nogil: the app's runs share it
def _tiles_dot(x, weight, out):  # pragma: no cover - compiled
    """out[m, n] = x[m] . weight[n], one BLOCK x TILE tile at a time (see BLOCK)."""
    last_m, last_n = x.shape[0] - 1, weight.shape[0] - 1
    for t in prange((last_n + TILE) // TILE):
        n0 = t * TILE
        n1, n2, n3 = min(n0 + 1, last_n), min(n0 + 2, last_n), min(n0 + 3, last_n)
        for m0 in range(0, last_m + 1, BLOCK):
            m1, m2, m3 = min(m0 + 1, last_m), min(m0 + 2, last_m), min(m0 + 3, last_m)
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = np.float32(0.0)
            a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = np.float32(0.0)
            for k in range(x.shape[1]):
                w0, w1, w2, w3 = weight[n0, k], weight[n1, k], weight[n2, k], weight[n3, k]
                x0, x1, x2, x3 = x[m0, k], x[m1, k], x[m2, k], x[m3, k]
                # fmt: off
                a00 += x0 * w0; a01 += x0 * w1; a02 += x0 * w2; a03 += x0 * w3  # noqa: E702
                a10 += x1 * w0; a11 += x1 * w1; a12 += x1 * w2; a13 += x1 * w3  # noqa: E702
                a20 += x2 * w0; a21 += x2 * w1; a22 += x2 * w2; a23 += x2 * w3  # noqa: E702
                a30 += x3 * w0; a31 += x3 * w1; a32 += x3 * w2; a33 += x3 * w3  # noqa: E702
                # fmt: on
            sums = (
                (a00, a01, a02, a03),
                (a10, a11, a12, a13),
                (a20, a21, a22, a23),
                (a30, a31, a32, a33),
            )
            for i in range(BLOCK):
                for j in range(TILE):
                    if m0 + i <= last_m and n0 + j <= last_n:
                        out[m0 + i, n0 + j] = sums[i][j]


def rows_times_weight(rows: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """rows (M, in) @ weight (out, in).T -> (M, out)."""
    if rows.shape[0] > STREAM_ROWS:
        return F.linear(rows, weight)
    rows = rows.to(torch.float32).contiguous()
    out = torch.empty(rows.shape[0], weight.shape[0], dtype=torch.float32)
    _tiles_dot(rows.numpy(), weight.numpy(), out.numpy())
    return out


@functools.cache  # asked at every load; the answer cannot change in a process
def streamed_available() -> bool:
    """Whether the kernel runs here on a thread-safe numba threading layer.

    The app serves several runs on one model at once; numba's `workqueue` layer aborts the
    process when two threads enter a parallel region together, `omp` and `tbb` do not. Here
    `omp` loads the system's libgomp beside torch's own copy: two thread pools that take turns
    within a step (their spin-waits are in the measured curves, benchmarks/verify_cost.json).
    """
    import numba

    try:
        out = np.empty((1, 1), np.float32)
        _tiles_dot(np.ones((1, 1), np.float32), np.ones((1, 1), np.float32), out)
        return numba.threading_layer() in ("omp", "tbb")
    except Exception:  # no compiler, no threading layer: the layout is unavailable
        return False
