"""The integer layout (csrc/integer.cpp): a GGUF's codes multiplied in integers.

What it must do: compute the quantised arithmetic it documents (8-bit activations per row and
block of 32, integer sums, the blocks' float32 sums in k order), and give a row the same bits
whatever rows share the call: every tile shape, rows past a block of a long prompt. Negative
controls: plausible bugs (a quantisation scale shared by a step's rows, 4-bit halves swapped)
fail the same checks.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from samdec.runtime.native import integer_available, kernel

pytestmark = pytest.mark.skipif(
    not integer_available(), reason="the integer kernel needs AVX-512 VNNI"
)

from samdec.runtime.coded import pack_integer  # noqa: E402
from samdec.runtime.layouts import (  # noqa: E402
    INTEGER_NUMERICS,
    IntegerLinear,
    PackedMLP,
    exactness,
    numerics_label,
)
from tests.test_streaming import coded_linear, quantised  # noqa: E402

BLOCK = 32


def quantise_rows(x: torch.Tensor, shared: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(q, d): x (M, K) as int8 codes times a float32 step per row and block, as integer.cpp
    computes them (d = max |x| / 127, q = x * (1 / d) rounded half to even). shared=True is
    the negative control's bug: one step per block for all the step's rows."""
    m, k = x.shape
    blocks = x.reshape(m, k // BLOCK, BLOCK)
    amax = blocks.abs().amax(-1, keepdim=True)
    if shared:
        amax = amax.amax(0, keepdim=True).expand_as(amax)
    d = amax / 127
    inverse = torch.where(d > 0, 1 / d, torch.zeros_like(d))
    q = torch.round(blocks * inverse).clamp(-128, 127)
    return q, d


def reference(x: torch.Tensor, weight: torch.Tensor, shared: bool = False) -> torch.Tensor:
    """The quantised product in float64: the rows as codes times steps, times the weights."""
    q, d = quantise_rows(x, shared)
    rows = (q.double() * d.double()).reshape(x.shape)
    return rows @ weight.double().T


def kernel_rows(linear: IntegerLinear, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return linear(x)


@pytest.mark.parametrize(("kind", "bits"), [("q4_1", 4), ("q8_0", 8)])
def test_the_kernel_computes_the_quantised_product(kind, bits):
    linear = coded_linear(72, 160, kind, seed=3)
    integer = IntegerLinear(linear)
    assert integer.code_bits == bits
    x = torch.randn(19, 160, generator=torch.Generator().manual_seed(4))
    got = kernel_rows(integer, x).double()
    expected = reference(x, linear.weight)
    scale = expected.abs().max()
    assert float((got - expected).abs().max() / scale) < 2e-6
    # ...and not float32's product: the quantisation shows, so this is another arithmetic.
    floats = x.double() @ linear.weight.double().T
    assert float((got - floats).abs().max() / scale) > 1e-4


def test_a_row_computes_the_same_bits_whatever_rows_share_the_call():
    native = kernel()
    linear = IntegerLinear(coded_linear(40, 96, "q4_1", seed=1))
    long = native.ROW_BLOCK * 2 + 11  # rows past a block of a long prompt
    x = torch.randn(long, 96, generator=torch.Generator().manual_seed(2))
    whole = kernel_rows(linear, x)
    for rows in range(1, 21):  # every tile shape, and tiles after a full one
        for start in (0, 5):
            part = kernel_rows(linear, x[start : start + rows].contiguous())
            assert torch.equal(part, whole[start : start + rows]), (rows, start)
    for start in (native.ROW_BLOCK - 3, native.ROW_BLOCK + 7, long - 1):
        assert torch.equal(kernel_rows(linear, x[start : start + 1]), whole[start : start + 1])


def test_a_batch_dependent_quantisation_would_be_caught():
    """Negative control: with one activation step per block for all the rows of a step (a
    per-tensor scale, as some int8 kernels use), a row's result depends on its neighbours."""
    weight = quantised(40, 96, "q4_1", seed=1)
    x = torch.randn(6, 96, generator=torch.Generator().manual_seed(2))
    x[5] *= 50  # one loud row beside quiet ones
    alone = reference(x[:1], weight, shared=True)
    together = reference(x, weight, shared=True)[:1]
    assert not torch.equal(alone, together)
    # The kernel's own quantisation is per row: its answer for row 0 is the same either way.
    linear = IntegerLinear(_linear_of(weight))
    assert torch.equal(kernel_rows(linear, x[:1]), kernel_rows(linear, x)[:1])


def _linear_of(weight: torch.Tensor) -> nn.Linear:
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        linear.weight.copy_(weight)
    return linear


def test_swapped_four_bit_halves_would_be_caught():
    """Negative control: codes packed with a byte's halves swapped compute another product,
    which the reference comparison sees."""
    weight = quantised(32, 64, "q4_1", seed=7)
    codes, scales, bits = pack_integer(weight)
    swapped = (codes >> 4) | ((codes & 0x0F) << 4)
    x = torch.randn(3, 64, generator=torch.Generator().manual_seed(8))
    native = kernel()
    good = native.rows_times_integer_codes(x, codes, scales, bits)[:, :32].double()
    bad = native.rows_times_integer_codes(x, swapped, scales, bits)[:, :32].double()
    expected = reference(x, weight)
    scale = expected.abs().max()
    assert float((good - expected).abs().max() / scale) < 2e-6
    assert float((bad - expected).abs().max() / scale) > 1e-2


def test_stacked_linears_answer_each_one():
    a, b = coded_linear(40, 96, "q4_1", seed=1), coded_linear(24, 96, "q8_0", seed=2)
    x = torch.randn(5, 96, generator=torch.Generator().manual_seed(3))
    both = kernel_rows(IntegerLinear(a, b), x)
    # Stacked, the 8-bit codes of b make the whole matrix 8-bit: the same products.
    assert torch.allclose(both[:, :40], kernel_rows(IntegerLinear(a), x), rtol=1e-5, atol=1e-6)
    assert torch.equal(both[:, 40:], kernel_rows(IntegerLinear(b), x))


def test_weights_that_are_not_codes_are_refused_with_a_reason():
    linear = nn.Linear(64, 32, bias=False)  # random floats: no codes to multiply
    with pytest.raises(ValueError, match="not de-quantised codes"):
        IntegerLinear(linear)


def test_the_integer_layout_is_labelled_as_its_own_numerics():
    assert numerics_label("integer", "float32") == INTEGER_NUMERICS
    assert numerics_label("streamed", "float32").startswith("float32")
    said = exactness("integer", "float32")
    assert said.startswith(INTEGER_NUMERICS)
    assert "not to transformers' float32" in INTEGER_NUMERICS
    assert "float32" not in exactness("streamed", "float32").split(":")[0]


def test_the_cli_maps_numerics_to_the_layout(capsys):
    from samdec.__main__ import build_parser, numerics_to_layout

    parser = build_parser()
    args = parser.parse_args(["generate", "hi", "--numerics", "integer"])
    numerics_to_layout(parser, args)
    assert args.layout == "integer"
    args = parser.parse_args(["generate", "hi", "--numerics", "integer", "--layout", "packed"])
    with pytest.raises(SystemExit):
        numerics_to_layout(parser, args)
    assert "--numerics integer runs the integer layout" in capsys.readouterr().err


class _GatedMLP(nn.Module):
    """A llama MLP, down(silu(gate(x)) * up(x)), with weights that are a GGUF's codes."""

    def __init__(self, width: int, hidden: int, kinds: tuple[str, str], seed: int) -> None:
        super().__init__()
        self.gate_proj = coded_linear(hidden, width, kinds[0], seed=seed)
        self.up_proj = coded_linear(hidden, width, kinds[0], seed=seed + 1)
        self.down_proj = coded_linear(width, hidden, kinds[1], seed=seed + 2)
        self.act_fn = nn.SiLU()


def _fused(mlp: PackedMLP, x: torch.Tensor, swap: bool = False) -> torch.Tensor:
    gate_up, down = mlp.gate_up, mlp.down_proj
    codes, scales = gate_up.codes, gate_up.scales
    if swap:  # up's columns first, then gate's
        half = codes.shape[0] // 2
        codes, scales = (torch.cat([t[half:], t[:half]]) for t in (codes, scales))
    return kernel().integer_gated_mlp(
        x, codes, scales, gate_up.code_bits, down.codes, down.scales, down.code_bits, mlp.hidden
    )


@pytest.mark.parametrize(("hidden", "kinds"), [(160, ("q4_1", "q4_1")), (96, ("q4_1", "q8_0"))])
def test_the_gated_mlp_gives_the_python_mlps_bits(hidden, kinds):
    """The C++ layers' MLP (each thread's silu, product and quantising of its own columns) is
    the module's: gate and up, torch's silu, the product, then down, bit for bit, at every
    tile shape and past a block of a long prompt; 96 wide, the threads' shares are uneven."""
    mlp = PackedMLP(_GatedMLP(64, hidden, kinds, seed=11), IntegerLinear)
    x = torch.randn(kernel().ROW_BLOCK * 2 + 11, 64, generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        for rows in (1, 2, 3, 7, 8, 9, 20, len(x)):
            assert torch.equal(_fused(mlp, x[:rows]), mlp(x[:rows])), rows


def test_a_gated_mlp_that_swaps_gate_and_up_would_be_caught():
    """Negative control: gate and up taken the other way round (the stacked halves' order)
    give other numbers, which the comparison with the module sees."""
    mlp = PackedMLP(_GatedMLP(64, 160, ("q4_1", "q4_1"), seed=11), IntegerLinear)
    x = torch.randn(8, 64, generator=torch.Generator().manual_seed(12))
    with torch.no_grad():
        assert torch.equal(_fused(mlp, x), mlp(x))
        assert not torch.equal(_fused(mlp, x, swap=True), mlp(x))
