"""The streamed layout: the same linear map, each output one vector accumulator of fused
multiply-adds in k order and one horizontal sum, so a row's result cannot depend on the rows
beside it."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from samdec.kernels import PackedMLP, PackedQKV, StreamedLinear, apply_layout
from samdec.streaming import STREAM_ROWS, streamed_available
from tests.conftest import tiny_model

pytestmark = pytest.mark.skipif(
    not streamed_available(),
    reason="the streamed kernel cannot be built here (AVX-512, a C++ compiler)",
)


def test_a_row_computes_the_same_bits_whatever_rows_share_the_call():
    torch.manual_seed(0)
    linear = nn.Linear(576, 96, bias=False)
    streamed = StreamedLinear(linear)
    x = torch.randn(STREAM_ROWS, 576)
    with torch.no_grad():
        alone = torch.cat([streamed(x[i : i + 1]) for i in range(STREAM_ROWS)])
        for rows in (2, 3, 5, 8, 16, 33, 129, STREAM_ROWS):
            assert torch.equal(streamed(x[:rows]), alone[:rows]), rows


def test_shapes_off_the_kernels_units_are_padded_not_refused():
    """50 inputs and 37 outputs: neither a multiple of the kernel's 16-wide pieces."""
    torch.manual_seed(4)
    linear = nn.Linear(50, 37)
    streamed = StreamedLinear(linear)
    x = torch.randn(9, 50)
    with torch.no_grad():
        together = streamed(x)
        assert together.shape == (9, 37)
        assert torch.allclose(together, linear(x), atol=1e-5, rtol=1e-5)
        for i in range(9):
            assert torch.equal(streamed(x[i : i + 1]), together[i : i + 1]), i


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rows", [1, 8, STREAM_ROWS + 5])  # the last: the long-prompt path
def test_a_streamed_linear_computes_the_linear_map(bias, rows):
    torch.manual_seed(rows)
    linear = nn.Linear(64, 96, bias=bias)
    streamed = StreamedLinear(linear)
    x = torch.randn(1, rows, 64)
    with torch.no_grad():
        assert torch.allclose(streamed(x), linear(x), atol=1e-5, rtol=1e-5)
    assert streamed.weight.shape == linear.weight.shape


def test_stacked_linears_answer_each_one_side_by_side():
    torch.manual_seed(1)
    a, b = nn.Linear(32, 40), nn.Linear(32, 24)
    x = torch.randn(3, 32)
    with torch.no_grad():
        both = StreamedLinear(a, b)(x)
        assert torch.allclose(both, torch.cat([a(x), b(x)], -1), atol=1e-5)


def test_a_model_in_the_streamed_layout_fuses_and_agrees_with_stock():
    loaded = tiny_model("llama", vocab=64, seed=3)
    ids = torch.tensor([[1, 5, 9, 2, 7]])
    with torch.no_grad():
        before = loaded.model(input_ids=ids).logits
        apply_layout(loaded.model, "streamed")
        after = loaded.model(input_ids=ids).logits
    modules = list(loaded.model.modules())
    assert not any(type(m) is nn.Linear for m in modules)
    assert any(isinstance(m, PackedMLP) and isinstance(m.gate_up, StreamedLinear) for m in modules)
    assert any(isinstance(m, PackedQKV) and isinstance(m.qkv, StreamedLinear) for m in modules)
    assert torch.allclose(before, after, atol=1e-4)


def test_threads_calling_at_once_each_get_their_own_answer():
    torch.manual_seed(2)
    streamed = StreamedLinear(nn.Linear(256, 512, bias=False))
    inputs = [torch.randn(4, 256) for _ in range(4)]
    with torch.no_grad():
        expected = [streamed(x) for x in inputs]
    wrong: list[int] = []

    def work(i: int) -> None:
        for _ in range(50):
            with torch.no_grad():
                if not torch.equal(streamed(inputs[i]), expected[i]):
                    wrong.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong


def test_the_streamed_layout_refuses_weights_it_does_not_compute():
    loaded = tiny_model("llama", vocab=64, seed=3)
    loaded.model.to(torch.bfloat16)
    with pytest.raises(ValueError, match="float32 on a CPU"):
        apply_layout(loaded.model, "streamed")
