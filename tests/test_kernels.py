"""The transposed weight layout: the same linear maps, the default on a CPU, and the stock
layout still there for the benchmark's stock-transformers baseline."""

from __future__ import annotations

import argparse

import pytest
import torch
from torch import nn

from samdec.kernels import PackedLinear, TransposedLinear, apply_layout, swap_linears
from tests.conftest import tiny_model


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rows", [1, 2, 3, 8, 33])
def test_a_transposed_linear_computes_the_same_map(bias, rows):
    torch.manual_seed(rows)
    linear = nn.Linear(64, 96, bias=bias)
    swapped = TransposedLinear(linear)
    x = torch.randn(1, rows, 64)
    assert torch.allclose(swapped(x), linear(x), atol=1e-5, rtol=1e-5)
    assert swapped.weight.shape == linear.weight.shape  # code that reads shapes still works
    assert swapped.weight_t.is_contiguous() and swapped.weight_t.shape == (64, 96)


def test_every_linear_of_a_model_is_swapped_and_its_logits_agree():
    loaded = tiny_model("llama", vocab=64, seed=3)
    ids = torch.tensor([[1, 5, 9, 2, 7]])
    with torch.no_grad():
        before = loaded.model(input_ids=ids).logits
    linears = sum(type(m) is nn.Linear for m in loaded.model.modules())
    assert linears > 0 and swap_linears(loaded.model, TransposedLinear) == linears
    assert not any(type(m) is nn.Linear for m in loaded.model.modules())
    with torch.no_grad():
        after = loaded.model(input_ids=ids).logits
    assert torch.allclose(before, after, atol=1e-5)
    with pytest.raises(ValueError, match="layout"):
        apply_layout(loaded.model, "diagonal")


@pytest.mark.model
def test_the_bundled_model_loads_packed_on_a_cpu_and_stock_for_the_baseline(bundled):
    from samdec.__main__ import _stock_loader

    assert bundled.layout == "packed"
    assert isinstance(bundled.model.get_output_embeddings(), PackedLinear)
    args = argparse.Namespace(model="bundled", device="cpu", dtype="auto")
    stock = _stock_loader(args)
    model = stock()
    assert stock() is model  # loaded once
    assert type(model.get_output_embeddings()) is nn.Linear
