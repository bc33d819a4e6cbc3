"""The weight layouts: the same linear maps (fused projections bit for bit), the one measured
fastest on the machine the default on a CPU, exact speculation in every layout it may choose,
and the stock layout still there for the stock-transformers baseline."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading

import pytest
import torch
from torch import nn

from samdec.runtime import layout_choice, layouts
from samdec.runtime.layout_choice import choose_layout, layout_choice_file
from samdec.runtime.layouts import (
    PackedLinear,
    PackedMLP,
    PackedQKV,
    TransposedLinear,
    apply_layout,
    auto_candidates,
    fuse_projections,
    grouped_attention_on_cpu,
    swap_linears,
)
from samdec.runtime.loading import load_model
from tests.conftest import greedy_reference, speculate_against, tiny_model


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
def test_the_bundled_model_loads_in_the_layout_measured_fastest_here(bundled):
    _, path = layout_choice_file(bundled.name, bundled.device, bundled.dtype)
    record = json.loads(path.read_text(encoding="utf-8"))
    costs = record["ms_steps_of_1_2_4_8_tokens"]
    assert set(costs) == set(auto_candidates()) and min(costs.values()) > 0
    assert bundled.layout == record["layout"] == min(costs, key=costs.get)
    fused = sum(isinstance(m, PackedQKV) for m in bundled.model.modules())
    linears = sum(type(m) is nn.Linear for m in bundled.model.modules())
    if bundled.layout == "stock":
        assert fused == 0 and linears > 0
    else:
        assert fused == bundled.model.config.num_hidden_layers and linears == 0


def test_auto_takes_the_cheapest_layout_measured_and_remembers_it(monkeypatch, tmp_path):
    monkeypatch.setenv("SAMDEC_CACHE", str(tmp_path))
    model = tiny_model("llama", vocab=64, seed=3).model
    measured = []

    def costs(model, candidates):
        measured.append(candidates)
        return {name: 1.0 + (name != "stock") for name in candidates}  # stock the cheapest

    monkeypatch.setattr(layout_choice, "layout_costs", costs)
    assert choose_layout(model, "tiny", "cpu", "float32") == "stock"
    assert choose_layout(model, "tiny", "cpu", "float32") == "stock"
    assert len(measured) == 1  # the second load read the choice
    _, path = layout_choice_file("tiny", "cpu", "float32")
    path.write_text('{"layout": "diagonal"}', encoding="utf-8")  # damaged: measured again
    monkeypatch.setattr(
        layout_choice, "layout_costs", lambda m, c: {n: 2.0 - (n == c[-1]) for n in c}
    )
    assert choose_layout(model, "tiny", "cpu", "float32") == auto_candidates()[-1]
    assert json.loads(path.read_text(encoding="utf-8"))["layout"] == auto_candidates()[-1]


def test_layout_costs_measure_copies_and_leave_the_model_as_it_was():
    loaded = tiny_model("llama", vocab=64, seed=3)
    costs = layout_choice.layout_costs(loaded.model, auto_candidates())
    assert set(costs) == set(auto_candidates()) and all(ms > 0 for ms in costs.values())
    assert not any(isinstance(m, PackedQKV) for m in loaded.model.modules())


@pytest.mark.model
def test_the_stock_baseline_loads_stock_whatever_auto_chose():
    from samdec.__main__ import _stock_loader

    args = argparse.Namespace(model="bundled", device="cpu", dtype="auto")
    stock = _stock_loader(args)
    model = stock()
    assert stock() is model  # loaded once
    assert type(model.get_output_embeddings()) is nn.Linear


@pytest.mark.model
@pytest.mark.parametrize("layout", [n for n, layout in layouts.REGISTRY.items() if layout.auto])
def test_speculation_in_every_layout_auto_may_choose_is_plain_decoding(
    bundled, static_default, layout
):
    """Greedy chains (fixed length: whole drafts) and trees on real prompts reproduce
    transformers' `generate` on the same model in each layout, and really speculate.
    tests/test_lossless.py checks the layout this machine chose in depth."""
    from samdec.config import DecodeConfig
    from samdec.cost import CostModel
    from samdec.questions import load_questions, pick
    from samdec.stack import engine_for

    if layout == bundled.layout:
        pytest.skip("the loaded layout: tests/test_lossless.py")
    if layout not in auto_candidates():
        pytest.skip(f"{layout} is not available here")
    loaded = load_model(layout=layout)
    engine = engine_for(loaded, static=static_default, cost=CostModel())
    cases = []
    for q in pick(load_questions(), per_category=1)[:2]:  # 4 took 40 s of CI, 2026-12-02
        ids = loaded.encode_prompt(q.turns[0])
        cases.append((q.question_id, ids, greedy_reference(loaded, ids, 40)))
    accepted = 0
    for method, policy in (("sam", "fixed"), ("sam+recycling", "cost")):
        config = DecodeConfig(method=method, draft_policy=policy, max_new_tokens=40)
        mismatches, _, step_accepted = speculate_against(engine, cases, config)
        assert not mismatches, (method, mismatches)
        accepted += step_accepted
    assert accepted > 0


def _logits(loaded, ids):
    with torch.no_grad():
        return loaded.model(input_ids=ids).logits


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma3"])
def test_fused_projections_give_the_unfused_packed_logits_bit_for_bit(arch):
    """Stacking q/k/v and gate/up into one packed matrix changes no output bit (oneDNN
    computes each output column from the same row and weights either way)."""
    ids = torch.tensor([[1, 5, 9, 2, 7, 3]])
    plain, fused = tiny_model(arch, vocab=64, seed=5), tiny_model(arch, vocab=64, seed=5)
    stock = _logits(plain, ids)
    swap_linears(plain.model, PackedLinear)
    layers = plain.model.config.num_hidden_layers
    assert fuse_projections(fused.model) == 2 * layers  # every attention and every MLP
    swap_linears(fused.model, PackedLinear)
    assert sum(isinstance(m, PackedQKV) for m in fused.model.modules()) == layers
    assert sum(isinstance(m, PackedMLP) for m in fused.model.modules()) == layers
    assert torch.equal(_logits(fused, ids), _logits(plain, ids))
    assert torch.allclose(_logits(fused, ids), stock, atol=1e-5)


def test_a_stashed_projection_refuses_an_input_q_proj_did_not_see():
    loaded = tiny_model("llama", vocab=64, seed=1)
    fuse_projections(loaded.model)
    attn = loaded.model.model.layers[0].self_attn
    x = torch.randn(1, 3, attn.q_proj.qkv.in_features)
    attn.q_proj(x)
    assert attn.k_proj(x).shape[-1] == attn.q_proj.sizes[1]
    with pytest.raises(RuntimeError, match="k_proj called before q_proj"):
        attn.k_proj(x.clone())  # same values, another tensor: a caller out of order


def test_fused_projections_keep_threads_apart():
    """The app serves several runs on one model: each thread's k and v are its own."""
    loaded = tiny_model("llama", vocab=64, seed=2)
    fuse_projections(loaded.model)
    inputs = [torch.randint(0, 64, (1, n)) for n in (3, 5, 7, 9)]
    alone = [_logits(loaded, ids) for ids in inputs]
    results: dict[int, list] = {i: [] for i in range(len(inputs))}

    def work(i: int) -> None:
        for _ in range(20):
            results[i].append(_logits(loaded, inputs[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so runs interleave inside a layer
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    for i, expected in enumerate(alone):
        assert len(results[i]) == 20  # a thread that raised stopped early
        assert all(torch.equal(r, expected) for r in results[i])


def test_grouped_attention_is_asked_for_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("TRANSFORMERS_SDPA_FORCE_GQA", raising=False)
    grouped_attention_on_cpu()
    assert os.environ["TRANSFORMERS_SDPA_FORCE_GQA"] == "1"
    monkeypatch.setenv("TRANSFORMERS_SDPA_FORCE_GQA", "0")
    grouped_attention_on_cpu()
    assert os.environ["TRANSFORMERS_SDPA_FORCE_GQA"] == "0"


@pytest.mark.model
def test_auto_keeps_the_stock_layout_where_it_does_not_measure():
    assert load_model(dtype="bfloat16", layout="auto").layout == "stock"
