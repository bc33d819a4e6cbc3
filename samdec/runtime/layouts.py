"""Weight layouts that can make a CPU verify pass cheaper, without changing what it computes.

`nn.Linear` stores W as (out, in) and calls `F.linear(x, W)`. For the few rows a decoding or
verification step feeds (1 to ~16), the CPU kernel behind that call can be slow and grow fast
with the rows. The layouts (REGISTRY, the one list of them):

- `transposed`: W stored once as a contiguous (in, out) matrix, `x @ Wt`: cheaper for 1-2
  rows, dearer from a few rows on.
- `packed`: oneDNN's linear with W packed once for PACK_ROWS rows. It also stacks q/k/v and
  gate/up into one matrix each (`fuse_projections`): 7 linear calls a layer become 4, with
  bit-identical outputs.
- `streamed`: the AVX-512 kernel (coded.py, csrc/streamed.cpp), which packs each
  weight once (as its GGUF codes where it has them), streams it from memory once for every row
  of a step and computes a row the same way whatever rows share it; stacked as in `packed`.
  Its attention is the same library's row kernel (attention.py).
- `integer`: the GGUF's codes multiplied in integers (csrc/integer.cpp, as llama.cpp does):
  activations quantised to 8 bits per block, integer sums, float32 sums of the blocks in one
  order. Other numbers than float32's, so never chosen by `auto`: exact to itself (a token's
  logits are the same bits alone or in a verify pass), not to transformers' float32.

Which is fastest depends on the CPU, so the default for float32 on a CPU is "auto":
samdec.runtime.layout_choice measures the candidates on the machine once and keeps the
cheapest (benchmarks/verify_cost.json has each layout's curve).

Same weights, same fp32 arithmetic in another summation order: outputs agree to rounding, so an
argmax tie can flip in rare cases between layouts. The engine's plain loop and its speculative
loop run the same layout, so speculation stays exact against plain decoding on the loaded model
(tests/test_lossless.py checks it against transformers' own `generate` on that model).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from . import native
from .attention import use_row_attention
from .coded import native_linear, pack_codes, pack_integer, pack_weight
from .hugepages import place
from .memory import page_out

# How a model's linear weights are stored, and so which kernel multiplies them: the registry
# (the CLI's and the app's choices, the layout choice's candidates, cache keys all read it).
LAYOUTS = ("stock", "transposed", "packed", "streamed", "integer")


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


# Bumped whenever a step starts costing another way (a kernel, a cache or a forward changed):
# cached cost curves and layout choices are keyed by it, so they are measured again.
LAYOUT_REVISION = 11

# oneDNN packs a weight for a batch size; 16 rows cost least across the 1-32 rows a step feeds.
PACK_ROWS = 16


def _pack(weight: torch.Tensor) -> torch.Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), PACK_ROWS)


def _stacked(linears: tuple[nn.Linear, ...]) -> tuple[torch.Tensor, nn.Parameter | None]:
    """The weights of linears of one input as one (sum of outs, in) matrix, and their biases."""
    with torch.no_grad():
        # A lone linear's weight is only read (packed into a new tensor): not copied, which
        # spares a transient copy of the largest one (the vocabulary's) while a layout builds.
        weights = [linear.weight.detach() for linear in linears]
        weight = weights[0] if len(weights) == 1 else torch.cat(weights)
        biases = [linear.bias for linear in linears]
        bias = None if biases[0] is None else torch.cat([b.detach() for b in biases])
    return weight, nn.Parameter(bias, False) if bias is not None else None


class PackedLinear(nn.Module):
    """`nn.Linear` through oneDNN with the weight packed once for small batches; given several
    linears of one input, their weights stacked into one matrix (one call computes them all).

    Measured here, a row's result did not depend on how many rows shared the call (F.linear's
    and `x @ Wt`'s did), and the cost grew slowly with rows. fp32 throughout.
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
    """`nn.Linear` (float32, CPU) through coded.py's kernel, which reads each weight
    once for every row of a step; several linears of one input stacked as in `PackedLinear`.

    Weights that are de-quantised codes (a GGUF's, as the bundled model's are) are kept as
    those codes, 4 or 8 bits a weight plus a step and an offset per 32, and decoded in
    registers to the same float32 bits (checked for every weight at load,
    coded.py.pack_codes): the same arithmetic from about a fifth of the bytes.
    """

    integer = False  # IntegerLinear: the codes multiplied in integers (csrc/integer.cpp)

    def __init__(self, *linears: nn.Linear) -> None:
        super().__init__()
        weight, self.bias = _stacked(linears)
        self.out_features, self.in_features = weight.shape
        coded = (pack_integer if self.integer else pack_codes)(weight)
        if coded is None and self.integer:
            raise ValueError(
                "the integer layout multiplies a GGUF's 4- or 8-bit codes, and this model's "
                "weights are not de-quantised codes"
            )
        # On huge pages (hugepages.py): a step reads every weight once, and on 4 KB pages it
        # waits on page-table walks too.
        if coded is None:
            self.register_buffer("packed", place(pack_weight(weight)), persistent=False)
            self.code_bits, weights = 0, [self.packed]
        else:
            self.register_buffer("codes", place(coded[0]), persistent=False)
            self.register_buffer("scales", place(coded[1]), persistent=False)
            self.code_bits, weights = coded[2], [self.codes, self.scales]
        # The kernel's entry point, which csrc/layers.cpp's Layers calls too. It holds
        # these buffers: the layout is CPU float32 only, so they are never moved or cast.
        self.native = native_linear(weights, self.code_bits, self.out_features, self.integer)

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


class IntegerLinear(StreamedLinear):
    """`nn.Linear` whose weights are a GGUF's codes, multiplied in integers by
    csrc/integer.cpp (the `integer` layout); stacked as in `PackedLinear`. Weights that are
    not codes are refused: this layout has nothing to multiply them with."""

    integer = True


class PackedMLP(nn.Module):
    """A gated MLP, down(act(gate(x)) * up(x)), with gate and up as one packed matrix: one
    oneDNN call instead of two (a call has a fixed cost, whatever its size)."""

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
        """q, k and v of `x`, from one call (forward.py asks for all three at once)."""
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
        mlp = getattr(module, "mlp", None)
        if _linears_of(mlp, ("gate_proj", "up_proj", "down_proj")):
            module.mlp = PackedMLP(mlp, linear)
            page_out(_weights(mlp, ("gate_proj", "up_proj", "down_proj")))
            fused += 1
        attn = getattr(module, "self_attn", None)
        if _linears_of(attn, ("q_proj", "k_proj", "v_proj")):
            replaced = _weights(attn, ("q_proj", "k_proj", "v_proj"))
            attn.q_proj = qkv = PackedQKV(attn, linear)
            attn.k_proj = StashedProjection(qkv, "k_proj")
            attn.v_proj = StashedProjection(qkv, "v_proj")
            page_out(replaced)
            fused += 1
    return fused


def _weights(module: nn.Module, names: tuple[str, ...]) -> list[torch.Tensor]:
    return [getattr(module, name).weight for name in names]


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
        page_out([child.weight])
    return len(swaps)


def grouped_attention_on_cpu() -> None:
    """Let torch's CPU attention read grouped key/value heads in place.

    With a mask (every multi-token verify step), transformers copies each cached key and value
    head once per query head that shares it before calling SDPA (`repeat_kv`): hundreds of
    copies of the whole cache a step. torch's CPU kernel takes grouped
    heads itself (`enable_gqa`), as transformers already asks for 1-token steps, where there is
    no mask. TRANSFORMERS_SDPA_FORCE_GQA is transformers' switch for that; a value the user set
    wins.
    """
    os.environ.setdefault("TRANSFORMERS_SDPA_FORCE_GQA", "1")


def packed_available() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


@dataclass(frozen=True)
class Layout:
    """One way of storing a model's linear weights: the one registry of layouts."""

    name: str
    linear: type[nn.Module] | None  # what replaces each nn.Linear (None: transformers' own)
    fused: bool  # also stacks q/k/v and gate/up into one matrix each
    auto: bool  # a candidate when the layout is chosen by measuring ("auto")
    available: Callable[[], bool]  # whether it runs on this machine
    needs: str = ""  # what it needs, for the message where it is not available


REGISTRY = {
    layout.name: layout
    for layout in (
        Layout("stock", None, fused=False, auto=True, available=lambda: True),
        Layout("transposed", TransposedLinear, fused=False, auto=False, available=lambda: True),
        Layout("packed", PackedLinear, True, auto=True, available=packed_available, needs="oneDNN"),
        Layout(
            "streamed", StreamedLinear, True, auto=True, available=native.available,
            needs="AVX-512 and a C++ compiler to build its kernel",
        ),
        Layout(
            "integer", IntegerLinear, True, auto=False, available=native.integer_available,
            needs="AVX-512 VNNI and a C++ compiler to build its kernel",
        ),
    )
}  # fmt: skip
LAYOUTS = tuple(REGISTRY)
LAYOUT_CHOICES = ("auto", *LAYOUTS)  # what the CLI and the app offer


def auto_candidates() -> tuple[str, ...]:
    """What `--layout auto` chooses among on this machine (samdec.runtime.layout_choice)."""
    return tuple(name for name, layout in REGISTRY.items() if layout.auto and layout.available())


def apply_layout(model: nn.Module, name: str) -> None:
    """Store `model`'s linear weights in layout `name`, in place."""
    if name not in REGISTRY:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {name!r}")
    layout = REGISTRY[name]
    weight = next(model.parameters(), torch.empty(0))
    native_layout = name in ("streamed", "integer")
    if native_layout and (weight.dtype, weight.device.type) != (torch.float32, "cpu"):
        raise ValueError(f"the {name} layout computes from weights in float32 on a CPU only")
    if name == "packed" and weight.device.type != "cpu":  # oneDNN is a CPU library
        raise ValueError("the packed layout runs on a CPU only")
    if not layout.available():
        raise ValueError(f"the {name} layout needs {layout.needs}")
    if layout.linear is not None:
        if layout.fused:
            fuse_projections(model, layout.linear)
        swap_linears(model, layout.linear)
    if native_layout:  # the same kernel library's attention for few rows
        use_row_attention(model)


# The layouts whose kernels give a token's row the same bits alone, in a chain or in a draft
# tree (samdec's own kernels and row attention): their tree check asks for equal bits.
EXACT_ROWS = ("streamed", "integer")

# How the integer layout is named wherever a user meets it (menu, CLI, traces, doctor).
INTEGER_NUMERICS = "GGUF integer numerics: exact to itself, not to transformers' float32"
NUMERICS = ("float32", "integer")  # the CLI's --numerics: "integer" is the integer layout


def numerics_label(layout: str, dtype: str) -> str:
    """The arithmetic a run computes in, as the CLI, traces, the doctor and the page name it."""
    if layout == "integer":
        return INTEGER_NUMERICS
    return f"{dtype}, transformers' arithmetic" + (" (exact)" if dtype == "float32" else "")


def exactness(layout: str, dtype: str) -> str:
    """Whether speculation writes plain decoding's tokens on this path, and why, in words."""
    if layout == "integer":
        return (
            f"{INTEGER_NUMERICS}. Exact by construction against plain decoding in the same "
            "numerics: each token's logits are the same bits alone or in a verify pass "
            "(activations quantised row by row, integer sums, blocks added in one order); "
            "they differ from transformers' float32 logits in the last digits, so an output "
            "can differ from transformers' own"
        )
    if dtype != "float32":
        return f"not exact: {dtype} rounds differently with the tokens a pass holds"
    if layout == "streamed":
        return (
            "exact by construction: each token's logits are the same bits alone or in a "
            "verify pass (the streamed kernels compute every row alike)"
        )
    return (
        "exact in practice, checked, not by construction: torch's kernels may round a verify "
        "pass's rows differently from a plain step's, so a near-tie could flip"
    )
