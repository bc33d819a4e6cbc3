"""A kernel for linear layers that reads each weight once for every row of a step.

A decoding step feeds 1 token and a verify step a few; at those sizes a linear layer's time
should be reading its weights, and one read should serve every row. torch's stock CPU matmul
does not: its cost jumps from 4 rows on, and a whole step of the bundled model verifying 8
tokens cost 1.8x a 1-token step (59.2 vs 32.4 ms, 2-core Intel Xeon,
300 tokens of context, 2026-12-02). The `streamed` layout (samdec.kernels.StreamedLinear) packs
each weight once, at load, and computes x @ W.T with samdec/csrc/streamed.cpp: one AVX-512
pass over a step's weights, each piece multiplied into every row of the step while it is in
registers, the next piece prefetched meanwhile. In the same interleaved run: 33.1 ms for 1
token, 40.2 for 8 (1.21x). An earlier numba version of this kernel, with no explicit vectors
or prefetch and a second OpenMP pool beside torch's, cost 45 ms for 1 token here.

Exactness: every output is one vector accumulator of fused multiply-adds in k order, then one
horizontal sum, whatever the rows beside it (the file's comment says why); the results differ
from the stock kernel's in the last bits, as any other summation order's would. What lossless
speculation needs is that a row's result does not depend on the rows beside it, and here it
cannot (tests/test_streaming.py checks every row count up to STREAM_ROWS, bit for bit).

Steps of more than STREAM_ROWS rows (a long prompt's prefill) use `F.linear` on the unpacked
weights: compute-bound there, and the same in plain and speculative decoding.

The kernel is compiled on first use (~25 s; g++ and ninja, through torch's extension loader)
into the samdec cache, keyed by the source, torch's version and the CPU's instruction sets;
where it cannot be built (no compiler, no AVX-512) the layout is unavailable and `auto` chooses
among the others.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F

# Rows up to which the kernel runs: more than any verify step holds (a draft is at most 128
# tokens plus the model's own; a Token Recycling tree 70 nodes plus a grafted chain).
STREAM_ROWS = 256
# The kernel's packing unit: weight rows per column, weight columns per vector (streamed.cpp).
COLUMN, LANES = 16, 16
SOURCE = Path(__file__).with_name("csrc") / "streamed.cpp"


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    import platform

    return platform.processor()


@functools.cache  # built or loaded once a process
def _kernel():
    """The compiled extension module, or None where it cannot be built here."""
    from torch.utils.cpp_extension import load

    from .models import cache_root

    cpu = _cpu_flags()
    if "avx512f" not in cpu:
        return None
    key = hashlib.sha256((SOURCE.read_text() + torch.__version__ + cpu).encode()).hexdigest()[:16]
    folder = cache_root() / "kernels" / f"streamed-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    flags = ["-O3", "-march=native", "-fopenmp"]
    try:
        return load(
            name=f"samdec_streamed_{key}",
            sources=[str(SOURCE)],
            extra_cflags=flags,
            extra_ldflags=["-fopenmp"],
            build_directory=str(folder),
            verbose=False,
        )
    except Exception:  # no compiler, no ninja, a failed build: the layout is unavailable
        return None


def streamed_available() -> bool:
    """Whether the kernel builds and runs here."""
    return _kernel() is not None


def _padded(tensor: torch.Tensor, dim: int, unit: int) -> torch.Tensor:
    """`tensor` with zeros appended along `dim` up to a multiple of `unit`."""
    extra = -tensor.shape[dim] % unit
    if not extra:
        return tensor
    pad = [0, 0] * (tensor.dim() - 1 - dim % tensor.dim()) + [0, extra]
    return F.pad(tensor, pad)


def pack_weight(weight: torch.Tensor) -> torch.Tensor:
    """(out, in) float32 -> the kernel's packed layout, zero-padded to its units (zero rows
    compute outputs nobody reads; zero columns add exact zeros to every sum)."""
    padded = _padded(_padded(weight.detach().float(), 0, COLUMN), 1, LANES)
    return _kernel().pack(padded.contiguous())


def rows_times_weight(rows: torch.Tensor, packed: torch.Tensor, out_features: int) -> torch.Tensor:
    """rows (M, in) float32 @ W.T -> (M, out_features), W given as `pack_weight(W)`."""
    kernel = _kernel()
    if rows.shape[1] % LANES:
        rows = _padded(rows, 1, LANES)
    rows = rows.contiguous()
    if rows.shape[0] > STREAM_ROWS:
        out = F.linear(rows, kernel.unpack(packed))
    else:
        out = kernel.rows_times_weight(rows, packed)
    return out if out.shape[1] == out_features else out[:, :out_features]
