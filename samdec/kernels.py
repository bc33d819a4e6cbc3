"""Weight layouts that can make a CPU verify pass cheaper, without changing what it computes.

`nn.Linear` stores W as (out, in) and calls `F.linear(x, W)`. For the few rows a decoding or
verification step feeds (1 to ~16), the CPU kernel behind that call can be slow and grow fast
with the rows: on a 2-core AMD EPYC (torch 2.13, 2026-11-28, weights warm in cache) the bundled
model's output layer took 16.8 ms for 1 row and 39.0 for 2 with `F.linear`. The layouts:

- `transposed`: W stored once as a contiguous (in, out) matrix, `x @ Wt`: 9.4 / 17.6 ms there,
  but worse than stock from 4 rows (63 ms).
- `packed`: oneDNN's linear with W packed once for 16 rows: 10.3 / 10.4 ms there, 13.9 at 8
  rows. It also stacks q/k/v and gate/up into one matrix each (`fuse_projections`): 7 linear
  calls a layer become 4, with bit-identical outputs.
- `streamed`: samdec.streaming's AVX-512 kernel (samdec/csrc/streamed.cpp), which packs each
  weight once, streams it from memory once for every row of a step and computes a row the same
  way whatever rows share it; stacked as in `packed`. Its attention is the same library's
  row kernel (samdec.attention), which computes each query row alike whatever rows share it.

Which is fastest depends on the CPU and on what is measured: on that EPYC, streamed then packed
then stock (2026-11-28, an earlier numba version of the streamed kernel; on 2026-12-03 streamed
reading the codes was cheapest up to 32 tokens, benchmarks/verify_cost.json); on a 2-core Intel
Xeon (2026-12-02) streamed reading the bundled model's codes is cheapest at every step size a
draft uses (benchmarks/verify_cost_xeon.json). So the default for
float32 on a CPU is "auto": `layout_costs` measures them on the machine once, over the step
sizes speculation uses (CHOICE_SIZES), and samdec.models.choose_layout keeps the cheapest.

Same weights, same fp32 arithmetic in another summation order: outputs agree to rounding, so an
argmax tie can flip in rare cases (greedy `generate` gave the same tokens in the stock and packed
layouts on 6 of 6 Spec-Bench questions here). The engine's plain loop and its speculative loop
run the same layout, so speculation stays exact against plain decoding on the loaded model
(tests/test_lossless.py checks it against transformers' own `generate` on that model).
"""

from __future__ import annotations

import os
import threading

import torch
from torch import nn

from .attention import use_row_attention
from .config import LAYOUTS
from .streaming import (
    native_linear,
    pack_codes,
    pack_weight,
    streamed_available,
)


class TransposedLinear(nn.Module):
    """`nn.Linear` with the weight stored as a contiguous (in, out) matrix: y = x @ Wt + b."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        with torch.no_grad():
            self.weight_t = nn.Parameter(linear.weight.detach().t().contiguous(), False)
        self.bias = linear.bias

    @property
    def weight(self) -> torch.Tensor:
        """The usual (out, in) view, for code that reads shapes (e.g. the vocabulary size)."""
        return self.weight_t.t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x @ self.weight_t
        return y + self.bias if self.bias is not None else y


# Bumped whenever a step starts costing another way (2: packed fuses projections, attention
# reads grouped heads in place; 3: the KV cache appends in place, samdec.kvcache; 4: layouts
# are compared through samdec.lean's forward, which the engine runs; 5: the streamed layout's
# kernel is samdec/csrc/streamed.cpp; 6: it reads de-quantised weights as their codes; 7: 4-bit
# codes decode by lookup, several rows go through a column in chunks; 8: samdec.lean runs the
# layers of a streamed model from C++; 9: whether several rows go through a column in chunks is
# measured per machine, samdec.streaming.tune_chunking; 10: the streamed layout's attention is
# samdec.attention's row kernel, and layers.cpp writes out the norms' and rotary embeddings'
# element-wise steps; 11: streamed.cpp's tiles cover more weight rows, 4 rows at a time): cached
# cost curves and layout choices are keyed by it (engine.calibration_file,
# models.layout_choice_file).
LAYOUT_REVISION = 11

# oneDNN packs a weight for a batch size; 16 rows costs least across 1..32 rows here (the
# bundled model's output layer, ms for 1/2/4/8/16 rows: packed for 1: 9.7/19.5/19.9/20.2/22.3;
# for 8: 11.2/11.4/12.3/14.1/16.3; for 16: 10.3/10.4/11.9/13.9/18.1).
PACK_ROWS = 16


def _pack(weight: torch.Tensor) -> torch.Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), PACK_ROWS)


def _stacked(linears: tuple[nn.Linear, ...]) -> tuple[torch.Tensor, nn.Parameter | None]:
    """The weights of linears of one input as one (sum of outs, in) matrix, and their biases."""
    with torch.no_grad():
        weight = torch.cat([linear.weight.detach() for linear in linears])
        biases = [linear.bias for linear in linears]
        bias = None if biases[0] is None else torch.cat([b.detach() for b in biases])
    return weight, nn.Parameter(bias, False) if bias is not None else None


class PackedLinear(nn.Module):
    """`nn.Linear` through oneDNN with the weight packed once for small batches; given several
    linears of one input, their weights stacked into one matrix (one call computes them all).

    Measured here, a row's result did not depend on how many rows shared the call (F.linear's
    and `x @ Wt`'s did), and the cost grew slowly with rows: the output layer 10.3 ms for 1
    row, 13.9 for 8. fp32 throughout.
    """

    def __init__(self, *linears: nn.Linear) -> None:
        super().__init__()
        weight, self.bias = _stacked(linears)
        self.out_features, self.in_features = weight.shape
        self.register_buffer("packed", _pack(weight), persistent=False)

    @property
    def weight(self) -> torch.Tensor:
        """Only the shape of (out, in) is kept: the packed buffer is what computes."""
        return torch.empty(self.out_features, self.in_features, device="meta")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")


class StreamedLinear(nn.Module):
    """`nn.Linear` (float32, CPU) through samdec.streaming's kernel, which reads each weight
    once for every row of a step; several linears of one input stacked as in `PackedLinear`.

    Weights that are de-quantised codes (a GGUF's, as the bundled model's are) are kept as
    those codes, 4 or 8 bits a weight plus a step and an offset per 32, and decoded in
    registers to the same float32 bits (checked for every weight at load,
    samdec.streaming.pack_codes): the same arithmetic from about a fifth of the bytes.
    """

    def __init__(self, *linears: nn.Linear) -> None:
        super().__init__()
        weight, self.bias = _stacked(linears)
        self.out_features, self.in_features = weight.shape
        coded = pack_codes(weight)
        if coded is None:
            self.register_buffer("packed", pack_weight(weight), persistent=False)
            self.code_bits, weights = 0, [self.packed]
        else:
            self.register_buffer("codes", coded[0], persistent=False)
            self.register_buffer("scales", coded[1], persistent=False)
            self.code_bits, weights = coded[2], [self.codes, self.scales]
        # The kernel's entry point, which samdec/csrc/layers.cpp's Layers calls too. It holds
        # these buffers: the layout is CPU float32 only, so they are never moved or cast.
        self.native = native_linear(weights, self.code_bits, self.out_features)

    @property
    def coded(self) -> bool:
        """Whether the weights are kept as codes (else as packed float32)."""
        return self.code_bits > 0

    @property
    def weight(self) -> torch.Tensor:
        """Only the shape of (out, in) is kept: the packed buffer is what computes."""
        return torch.empty(self.out_features, self.in_features, device="meta")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.native(x)
        return y if self.bias is None else y + self.bias


class PackedMLP(nn.Module):
    """A gated MLP, down(act(gate(x)) * up(x)), with gate and up as one packed matrix: one
    oneDNN call instead of two (a call costs ~0.25 ms here, most of it whatever its size)."""

    def __init__(self, mlp: nn.Module, linear: type[nn.Module] | None = None) -> None:
        super().__init__()
        linear = linear or PackedLinear
        self.act_fn, self.hidden = mlp.act_fn, mlp.gate_proj.out_features
        self.gate_up = linear(mlp.gate_proj, mlp.up_proj)
        self.down_proj = linear(mlp.down_proj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The linears' own forwards, not module calls: this runs 30 times a step.
        gate, up = self.gate_up.forward(x).split(self.hidden, dim=-1)
        return self.down_proj.forward(self.act_fn(gate) * up)


class PackedQKV(nn.Module):
    """q_proj of an attention layer, computing k and v in the same packed call.

    transformers' attention calls q_proj, k_proj and v_proj in that order on the same input;
    this module answers q and keeps k and v for the `StashedProjection`s that replace k_proj
    and v_proj (per thread: the app serves several runs on one model). A call out of that
    order raises instead of computing something else.
    """

    def __init__(self, attn: nn.Module, linear: type[nn.Module] | None = None) -> None:
        super().__init__()
        projections = [attn.q_proj, attn.k_proj, attn.v_proj]
        self.sizes = [p.out_features for p in projections]
        self.qkv = (linear or PackedLinear)(*projections)
        self.stash = threading.local()

    def projections(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """q, k and v of `x`, from one call (samdec.lean asks for all three at once)."""
        return self.qkv.forward(x).split(self.sizes, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.projections(x)
        self.stash.input, self.stash.k_proj, self.stash.v_proj = x, k, v
        return q


class StashedProjection(nn.Module):
    """k_proj or v_proj after `PackedQKV`: returns what q_proj computed for the same input."""

    def __init__(self, qkv: PackedQKV, name: str) -> None:
        super().__init__()
        self.stash, self.name = qkv.stash, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if getattr(self.stash, "input", None) is not x:
            raise RuntimeError(f"{self.name} called before q_proj on the same input")
        out = getattr(self.stash, self.name)
        setattr(self.stash, self.name, None)  # at most once per q_proj call
        return out


def _linears_of(module: nn.Module | None, names: tuple[str, ...]) -> bool:
    """Whether `module` has these `nn.Linear`s, all with a bias or all without one."""
    children = [getattr(module, name, None) for name in names]
    if not all(type(c) is nn.Linear for c in children):
        return False
    return len({c.bias is None for c in children}) == 1


def fuse_projections(model: nn.Module, linear: type[nn.Module] | None = None) -> int:
    """Fuse gate/up and q/k/v of every llama-like layer: 7 linear calls a layer become 4, each
    output bit-identical to the unfused layout (the module docstring has the timing). `linear`:
    the fused matrices' class, PackedLinear by default."""
    fused = 0
    for module in list(model.modules()):
        if _linears_of(getattr(module, "mlp", None), ("gate_proj", "up_proj", "down_proj")):
            module.mlp = PackedMLP(module.mlp, linear)
            fused += 1
        attn = getattr(module, "self_attn", None)
        if _linears_of(attn, ("q_proj", "k_proj", "v_proj")):
            attn.q_proj = qkv = PackedQKV(attn, linear)
            attn.k_proj = StashedProjection(qkv, "k_proj")
            attn.v_proj = StashedProjection(qkv, "v_proj")
            fused += 1
    return fused


SWAP = {"transposed": TransposedLinear, "packed": PackedLinear, "streamed": StreamedLinear}
FUSED = ("packed", "streamed")  # layouts that also stack q/k/v and gate/up


def swap_linears(model: nn.Module, kind: type[nn.Module] = TransposedLinear) -> int:
    """Replace every `nn.Linear` of `model` by `kind(linear)`, in place; how many."""
    swaps = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if type(child) is nn.Linear
    ]
    for parent, name, child in swaps:
        setattr(parent, name, kind(child))
    return len(swaps)


def packed_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def grouped_attention_on_cpu() -> None:
    """Let torch's CPU attention read grouped key/value heads in place.

    With a mask (every multi-token verify step), transformers copies each cached key and value
    head once per query head that shares it before calling SDPA (`repeat_kv`): 300 copies of
    the whole cache a step, ~7 ms of a 8-token step here. torch's CPU kernel takes grouped
    heads itself (`enable_gqa`), as transformers already asks for 1-token steps, where there is
    no mask. TRANSFORMERS_SDPA_FORCE_GQA is transformers' switch for that; a value the user set
    wins.
    """
    os.environ.setdefault("TRANSFORMERS_SDPA_FORCE_GQA", "1")


def apply_layout(model: nn.Module, layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    weight = next(model.parameters(), torch.empty(0))
    if layout == "streamed" and (weight.dtype, weight.device.type) != (torch.float32, "cpu"):
        raise ValueError("the streamed layout computes in float32 on a CPU only")
    if layout == "streamed" and not streamed_available():
        raise ValueError("the streamed layout needs AVX-512 and a C++ compiler to build its kernel")
    if layout in SWAP:
        kind = SWAP[layout]
        if layout in FUSED:
            fuse_projections(model, kind)
        swap_linears(model, kind)
    if layout == "streamed":  # the same kernel library's attention for few rows
        use_row_attention(model)


# What "auto" compares: steps of 1, 2, 4 and 8 tokens, 300 tokens of context: a plain step and
# the verify steps speculation takes, whose drafts the cost-aware policy lengthens where a
# layout makes them cheap. On the Intel Xeon of 2026-12-02, with the streamed kernel still
# reading float32 weights, short Spec-Bench runs in each layout (18 questions, one run after
# another) gave `sam` 53.7 tokens/s in streamed, 50.1 in stock and 44.6 in packed, though the
# plain loop ran 3% faster in stock (29.4 vs 28.4): a plain step and a 2-token step alone, the
# earlier criterion, ranked stock first there. With the codes (benchmarks/layouts/, same day)
# streamed leads both ways: `sam` 67.7, 46.6, 43.2; the plain loop 45.2, 27.6, 22.1. On the
# AMD EPYC of 2026-11-29 streamed (then a numba kernel) led either way.
CHOICE_CONTEXT, CHOICE_SIZES, CHOICE_ROUNDS = 300, (1, 2, 4, 8), 5


def _steps_ms(forward, cache, ids: torch.Tensor) -> float:
    """ms of one step of each of CHOICE_SIZES after CHOICE_CONTEXT tokens; the cache is
    cropped back after each."""
    import time

    total = 0.0
    for k in CHOICE_SIZES:
        start = time.perf_counter()
        forward(ids[:, CHOICE_CONTEXT : CHOICE_CONTEXT + k], cache)
        total += (time.perf_counter() - start) * 1000.0
        cache.crop(-k)
    return total


def layout_costs(model: nn.Module, candidates: tuple[str, ...]) -> dict[str, float]:
    """ms of steps of CHOICE_SIZES tokens of `model` in each layout, through the forward the
    engine runs, the layouts measured in turns so that a slow moment of the
    machine slows them alike. `model` itself stays as it is: each layout is applied to a copy."""
    import copy
    import statistics

    from .kvcache import new_cache
    from .lean import lean_forward, model_forward

    shape = (1, CHOICE_CONTEXT + max(CHOICE_SIZES))
    ids = torch.randint(
        0, model.config.vocab_size, shape, generator=torch.Generator().manual_seed(0)
    )
    trials = []
    with torch.no_grad():
        for name in candidates:
            copied = copy.deepcopy(model)
            apply_layout(copied, name)
            forward = model_forward(copied, lean_forward(copied))  # what the engine runs
            cache = new_cache(copied)
            forward(ids[:, :CHOICE_CONTEXT], cache)
            trials.append((name, forward, cache))
        times: dict[str, list[float]] = {name: [] for name in candidates}
        for round_ in range(CHOICE_ROUNDS + 1):  # the first round warms up
            for name, forward, cache in trials:
                ms = _steps_ms(forward, cache, ids)
                if round_:
                    times[name].append(ms)
    return {name: statistics.median(t) for name, t in times.items()}
