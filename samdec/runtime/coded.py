"""The streamed linear: a kernel that reads each weight once for every row of a step, from
the GGUF's own codes where the weights are de-quantised codes.

A decoding step feeds 1 token and a verify step a few; at those sizes a linear layer's time
should be reading its weights, and one read should serve every row. torch's stock CPU matmul
does not: its cost jumps from a few rows on. The `streamed` layout
(layouts.py.StreamedLinear) packs each weight once, at load, and computes x @ W.T
with csrc/streamed.cpp: one AVX-512 pass over a step's weights, each piece multiplied into
every row of the step while it is in registers, the next piece prefetched meanwhile.

Exactness: every output is one vector accumulator of fused multiply-adds in k order, then one
horizontal sum, whatever the rows beside it (the file's comment says why); the results differ
from the stock kernel's in the last bits, as any other summation order's would. What lossless
speculation needs is that a row's result does not depend on the rows beside it, and here it
cannot (tests/test_streaming.py checks every tile shape, and rows past a block, bit for bit).

Weights that are de-quantised codes, as every linear layer of the bundled GGUF model is
(Q4_1 blocks, and Q8_0 for the output layer), are kept as those codes: 4 or 8 bits a weight
plus a float32 step and offset per row and 32 columns, found and checked bit for bit against
the float32 weights at load (`find_codes`), decoded in registers to the same float32 values,
then multiplied exactly as above: the same bits from about a fifth of the bytes. A step is
then no longer bound by reading: the multiply-adds and the decoding set its price from a few
tokens on (benchmarks/verify_cost.json).

A long prompt's rows go through the same kernel, a block of rows at a time (the kernel's
ROW_BLOCK), so that a block stays in cache while the columns pass it, and every row of every
step, prompt or draft, gets the same bits.

The kernel is built on first use (native.py); where it cannot be built (no
compiler, no AVX-512) the layout is unavailable and `auto` chooses among the others. Its units
(COLUMN, LANES, BLOCK, TUNED_ROWS) are the compiled module's attributes (csrc/kernels.h), read
from it where they are used, never copied here; without the kernel nothing here reads them.
"""

from __future__ import annotations

import functools
import statistics
import time

import torch
import torch.nn.functional as F

from . import progress
from .cachefiles import measured_once
from .machine import omp_wait
from .native import kernel, kernel_key

# Rows up to which forward.py runs a step's layers from C++: more than any verify step holds
# (a draft is at most 128 tokens plus the model's own; a Token Recycling tree 70 nodes plus a
# grafted chain). The kernel itself takes any number of rows.
STREAM_ROWS = 256


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
    native = kernel()
    padded = _padded(_padded(weight.detach().float(), 0, native.COLUMN), 1, native.LANES)
    return native.pack(padded.contiguous())


def native_linear(weights: list[torch.Tensor], bits: int, out_features: int, integer=False):
    """csrc/layers.cpp's `Linear`: the kernel over `pack_weight`'s packed weight ([it],
    bits 0) or `pack_codes`' codes and scales ([codes, scales], bits 4 or 8), or with `integer`
    `pack_integer`'s (csrc/integer.cpp multiplies them), called on inputs (..., in) of any
    number of rows (the GIL released while it computes). The first one of a
    process has the kernel tuned to the machine (`tune_chunking`)."""
    tune_chunking()
    return kernel().Linear(weights, bits, out_features, integer)


def tuned_rows() -> tuple[int, ...]:
    """The row counts whose chunking is tuned (the kernel's TUNED_ROWS: the last stands for
    every larger step). Which is faster, columns in chunks or whole, depends on the CPU, not on
    the arithmetic (the bits are the same): chunks win on some CPUs and lose on others, so it is
    measured per machine (streamed.cpp says why)."""
    return tuple(kernel().TUNED_ROWS)


# What `chunking_costs` times: TUNE_LAYERS layers of a 576-wide llama's linears (q/k/v stacked,
# o, gate/up stacked, down: the bundled model's shapes) as random 4-bit codes, ~80 MB, more
# than a cache holds, so that they stream from memory as a step's weights do.
TUNE_SHAPES = ((960, 576), (576, 576), (3072, 576), (576, 1536))
TUNE_LAYERS, TUNE_ROUNDS = 30, 9


def chunked_rows() -> tuple[int, ...]:
    """The row counts (of `tuned_rows`) whose steps go through each column in chunks."""
    return tuple(kernel().chunked_rows())


def set_chunked_rows(rows) -> None:
    """Make steps of these row counts (of `tuned_rows`) go in chunks, the others whole. Any
    setting computes the same bits."""
    kernel().set_chunked_rows(list(rows))


def chunking_costs(rounds: int = TUNE_ROUNDS) -> dict[int, dict[str, float]]:
    """ms of a step of each of `tuned_rows` rows through all the TUNE_SHAPES linears, with
    columns in chunks and whole: medians of `rounds`, each round timing every setting in turn
    (after one round that warms up), so that a slow moment of the machine slows them alike."""
    native = kernel()
    column, block, row_counts = native.COLUMN, native.BLOCK, tuned_rows()
    generator = torch.Generator().manual_seed(0)
    linears = []
    for _ in range(TUNE_LAYERS):
        for out, width in TUNE_SHAPES:
            codes = torch.randint(0, 256, (out, width // 2), dtype=torch.uint8, generator=generator)
            scales = torch.rand(out // column, width // block, 2, column, generator=generator)
            linears.append((native.Linear([native.pack(codes), scales], 4, out), width))
    times: dict[tuple[int, str], list[float]] = {}
    before = chunked_rows()
    try:
        for round_ in range(rounds + 1):
            for rows in row_counts:
                inputs = {w: torch.randn(rows, w, generator=generator) for _, w in TUNE_SHAPES}
                for setting in ("chunks", "whole"):
                    set_chunked_rows(row_counts if setting == "chunks" else ())
                    start = time.perf_counter()
                    for linear, width in linears:
                        linear(inputs[width])
                    if round_:
                        ms = (time.perf_counter() - start) * 1000.0
                        times.setdefault((rows, setting), []).append(ms)
    finally:
        set_chunked_rows(before)
    return {
        rows: {s: statistics.median(times[rows, s]) for s in ("chunks", "whole")}
        for rows in row_counts
    }


def tuned_chunking() -> tuple[int, ...] | None:
    """The row counts that go in chunks, where the kernel was tuned in this process (else
    None): for receipts."""
    return chunked_rows() if tune_chunking.cache_info().currsize else None


@functools.cache  # once a process
def tune_chunking() -> tuple[int, ...]:
    """Set, for each of `tuned_rows`, whichever of chunks and whole columns `chunking_costs`
    found cheaper on this machine: measured once (a few seconds), then read from the cache,
    keyed by the kernel, torch's thread count and the OpenMP wait setting. Returns the row
    counts that go in chunks."""

    def measure() -> dict:
        progress.stage("tuning the kernel")
        costs = chunking_costs()
        rows = [r for r, ms in costs.items() if ms["chunks"] < ms["whole"]]
        return {"chunked_rows": rows, "ms_by_rows": {str(r): ms for r, ms in costs.items()}}

    key = f"{kernel_key()}|{torch.get_num_threads()}|{omp_wait()}"
    rows = tuple(int(r) for r in measured_once("chunking", key, measure)["chunked_rows"])
    set_chunked_rows(rows)
    return rows


def rows_times_weight(rows: torch.Tensor, packed: torch.Tensor, out_features: int) -> torch.Tensor:
    """rows (M, in) float32 @ W.T -> (M, out_features), W given as `pack_weight(W)`."""
    return native_linear([packed], 0, out_features)(rows)


def _fp16_neighbours(step: torch.Tensor) -> list[torch.Tensor]:
    """`step` rounded to float16, and the float16 values either side (as float32): the steps
    a de-quantiser can have used (GGUF blocks keep theirs in float16)."""
    bits = step.clamp(0, 65504).half().view(torch.int16)
    return [(bits + d).clamp(min=0).view(torch.float16).float() for d in (0, 1, -1)]


def _decode(codes: torch.Tensor, step: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """What a de-quantiser computes: code * step, rounded, + offset, rounded (two torch ops,
    never fused). codes (..., BLOCK), step and offset (...)."""
    return codes.float() * step.unsqueeze(-1) + offset.unsqueeze(-1)


# Rows of a weight `find_codes` searches at once (the bundled model's layers fit in one).
FIND_ROWS = 4096


def find_codes(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """(codes uint8 (N, K), steps (N, K / BLOCK), offsets (N, K / BLOCK)) that decode to
    `weight` bit for bit, or None where its blocks are not de-quantised codes.

    Two codings are tried per block of BLOCK columns: an offset code (Q4_1 and kin: the block's
    least weight is the offset, the step (max - min) / 15) and a signed one (Q8_0 and kin: code
    - 128 times a step of max |w| / 127), each with the float16 steps around the estimate.
    Whatever is kept is checked against every weight's bits, so a wrong guess costs only speed.
    Every block is found on its own, so a large weight (the vocabulary's) is searched
    FIND_ROWS rows at a time: the search's temporaries are several copies of what it holds.
    """
    block = kernel().BLOCK
    rows, columns = weight.shape
    if columns % block or weight.dtype != torch.float32:
        return None
    if rows > FIND_ROWS:
        parts = []
        for start in range(0, rows, FIND_ROWS):
            part = find_codes(weight[start : start + FIND_ROWS])
            if part is None:
                return None
            parts.append(part)
        return tuple(torch.cat(pieces) for pieces in zip(*parts, strict=True))
    blocks = weight.detach().reshape(rows, columns // block, block)
    low, high = blocks.amin(-1), blocks.amax(-1)
    bits = blocks.view(torch.int32)
    codes = torch.zeros_like(blocks, dtype=torch.uint8)
    steps, offsets = torch.zeros_like(low), torch.zeros_like(low)
    found = torch.zeros_like(low, dtype=torch.bool)
    signed = torch.maximum(high, -low) / 127
    for offset_of, estimate in (
        (lambda step: low, (high - low) / 15),
        (lambda step: -128 * step, signed),
    ):
        for step in _fp16_neighbours(estimate):
            if bool(found.all()):  # the usual case after the first guess: load time
                break
            offset = offset_of(step)
            safe = torch.where(step > 0, step, torch.ones_like(step))
            code = ((blocks - offset.unsqueeze(-1)) / safe.unsqueeze(-1)).round().clamp(0, 255)
            code = torch.where((step > 0).unsqueeze(-1), code, torch.zeros_like(code))
            ok = (_decode(code, step, offset).view(torch.int32) == bits).all(-1) & ~found
            if bool(ok.all()):  # every block at once, as a GGUF's are at the first guess
                return code.to(torch.uint8).reshape(rows, columns), step, offset
            codes[ok] = code[ok].to(torch.uint8)
            steps[ok], offsets[ok] = step[ok], offset[ok]
            found |= ok
    if not bool(found.all()):
        return None
    return codes.reshape(rows, columns), steps, offsets


def _codes_and_scales(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """`find_codes` of `weight` zero-padded to whole columns: (codes uint8 (N, K), scales
    [N / COLUMN][K / BLOCK][2][COLUMN], a block's steps for the column's rows, then offsets);
    padded rows are codes 0 of step and offset 0."""
    native = kernel()
    column = native.COLUMN
    found = find_codes(_padded(weight.detach().float(), 0, column))
    if found is None:
        return None
    codes, steps, offsets = found
    columns, blocks = codes.shape[0] // column, codes.shape[1] // native.BLOCK
    scales = torch.stack(
        [s.reshape(columns, column, blocks).transpose(1, 2) for s in (steps, offsets)], dim=2
    )
    return codes, scales.contiguous()


def pack_codes(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int] | None:
    """(out, in) float32 whose values are quantisation codes -> (codes, scales, bits a code) as
    the kernel reads them (streamed.cpp, `Codes`): 4 bits where every code fits (Q4_1's), else
    8. None where the weights are not codes (`find_codes`)."""
    found = _codes_and_scales(weight)
    if found is None:
        return None
    codes, scales = found
    native = kernel()
    bits = 4 if int(codes.max()) < 16 else 8
    if bits == 4:  # a byte: a block's column j in its low half, column j + LANES in its high
        halves = codes.reshape(codes.shape[0], -1, 2, native.LANES)
        codes = (halves[:, :, 0] | (halves[:, :, 1] << 4)).reshape(codes.shape[0], -1)
    return native.pack(codes.contiguous()), scales, bits


def pack_integer(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int] | None:
    """(out, in) float32 whose values are quantisation codes -> (codes, scales, bits a code) as
    csrc/integer.cpp reads them: per column of COLUMN weight rows and block of BLOCK columns,
    BLOCK / 4 groups of four consecutive codes a row, a group's COLUMN rows side by side (one
    64-byte vector, four codes a lane); 4-bit codes put group g + BLOCK / 8 in the high halves
    of group g's bytes. Scales in float16, as a GGUF keeps them. None where the weights are not
    codes, or their steps and offsets are not float16 values."""
    found = _codes_and_scales(weight)
    if found is None:
        return None
    codes, scales = found
    halves = scales.half()
    if not torch.equal(halves.float(), scales):
        return None
    native = kernel()
    column, block = native.COLUMN, native.BLOCK
    rows, width = codes.shape
    groups = codes.reshape(rows // column, column, width // block, block // 4, 4)
    groups = groups.permute(0, 2, 3, 1, 4)  # (columns, blocks, groups, COLUMN, 4)
    bits = 4 if int(codes.max()) < 16 else 8
    if bits == 4:
        half = block // 8
        groups = groups[:, :, :half] | (groups[:, :, half:] << 4)
    return groups.contiguous(), halves, bits
