"""samdec.runtime.forward: the engine's forward pass is transformers' own, bit for bit, or not used.

The lossless tests (test_lossless.py, test_engine.py) already run every method through the
lean forward where it is used and compare with transformers' `generate`; these tests check the
forward itself on more shapes than its load-time check, that the check refuses a forward that
computes anything else, and what it declines to stand in for.
"""

from __future__ import annotations

import pytest
import torch

from samdec.runtime import forward as lean
from samdec.runtime.kvcache import cache_keyword, new_cache
from samdec.runtime.layouts import apply_layout
from samdec.runtime.masks import tree_inputs
from samdec.runtime.native import available as streamed_available
from tests.conftest import tiny_model


def _steps(vocab: int, past: int) -> list[tuple[torch.Tensor, dict]]:
    """A prefill, chains of every verify size up to 8, and two trees, as the engine feeds them."""
    gen = torch.Generator().manual_seed(1)
    steps = [(torch.randint(0, vocab, (1, past), generator=gen), {})]
    for q in (1, 2, 3, 4, 5, 8, 1):
        steps.append((torch.randint(0, vocab, (1, q), generator=gen), {}))
        past += q
    for _ in range(2):
        tree = tree_inputs(lean.CHECK_TREE, past, torch.float32, "cpu")
        steps.append((torch.randint(0, vocab, (1, 4), generator=gen), tree))
        past += 4
    return steps


def _tiny_llama():
    """A tiny llama whose norms weigh each dimension differently (a fresh model's are all ones,
    under which a slip in where the weight multiplies could not show)."""
    tiny = tiny_model("llama", vocab=64)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, weight in tiny.model.named_parameters():
            if "norm" in name:
                weight.copy_(torch.rand(weight.shape, generator=gen) + 0.5)
    return tiny


def _assert_bit_identical(model, forward, past: int = 40) -> None:
    keyword = cache_keyword(model)
    ours, theirs = new_cache(model), new_cache(model)
    with torch.no_grad():
        for ids, extra in _steps(model.config.vocab_size, past):
            mine = forward(ids, ours, **extra)
            reference = model(input_ids=ids, use_cache=True, **{keyword: theirs}, **extra).logits
            assert torch.equal(mine, reference), (ids.shape, sorted(extra))


def test_the_bundled_model_runs_the_lean_forward_bit_identical_to_transformers(bundled):
    # Streamed (the layout "auto" picks where the kernel builds): its layers run from C++.
    expected = "lean-cpp" if bundled.layout == "streamed" else "lean"
    assert bundled.forward_kind == expected, lean.why_not_lean(bundled.model)
    _assert_bit_identical(bundled.model, bundled.lean, past=300)


def test_lean_forward_keeps_only_the_last_rows_as_transformers_does(bundled):
    ids = torch.arange(100, 130).unsqueeze(0)
    with torch.no_grad():
        mine = bundled.lean(ids, new_cache(bundled.model), logits_to_keep=5)
        keyword = cache_keyword(bundled.model)
        theirs = bundled.model(input_ids=ids, logits_to_keep=5,
                               **{keyword: new_cache(bundled.model)}).logits  # fmt: skip
    assert mine.shape[1] == 5 and torch.equal(mine, theirs)


def test_the_engine_uses_the_lean_forward_and_the_trace_says_so(bundled):
    from samdec.cost import CostModel
    from samdec.stack import engine_for

    engine = engine_for(bundled, cost=CostModel())
    assert engine.runner._forward is bundled.lean is not None
    trace = engine.generate(bundled.encode_prompt("Hi"), method="ar", max_new_tokens=4)
    assert trace.summary.config["forward"] == bundled.lean.kind


def test_a_tiny_llama_runs_the_lean_forward_bit_identical_to_transformers():
    tiny = _tiny_llama()
    assert tiny.forward_kind == "lean"
    _assert_bit_identical(tiny.model, tiny.lean)


# Plausible slips in a hand-written forward, each close to right: the check must refuse them.
def _norm_without_epsilon(norm, hidden):
    return norm.weight * (hidden * torch.rsqrt(hidden.pow(2).mean(-1, keepdim=True)))


def _norm_in_another_order(norm, hidden):
    variance = hidden.pow(2).mean(-1, keepdim=True)
    return (norm.weight * hidden) * torch.rsqrt(variance + norm.variance_epsilon)


def _positions_from_one(self, input_ids, cache, attention_mask=None, position_ids=None):
    if position_ids is None:
        past = cache.get_seq_length()
        position_ids = (torch.arange(input_ids.shape[1]) + past + 1).unsqueeze(0)
    return _original_hidden(self, input_ids, cache, attention_mask, position_ids)


_original_hidden = lean.LeanForward.hidden


def _rotation_the_other_way(x, cos, sin):
    half = x.shape[-1] // 2
    return (x * cos) + (torch.cat((x[..., half:], -x[..., :half]), dim=-1) * sin)


def _attention_without_the_causal_flag(self, attn, query, key, value, step):
    step.causal = False  # a maskless prefill then attends to the tokens after each one
    return _original_sdpa(self, attn, query, key, value, step)


_original_sdpa = lean.LeanForward._sdpa


@pytest.mark.parametrize(
    "target, slip",
    [
        ("_rms_norm", _norm_without_epsilon),
        ("_rms_norm", _norm_in_another_order),
        ("LeanForward.hidden", _positions_from_one),
        ("_rotate", _rotation_the_other_way),
        ("LeanForward._sdpa", _attention_without_the_causal_flag),
    ],
    ids=[
        "norm-without-epsilon",
        "norm-weight-first",
        "positions-off-by-one",
        "rotation-the-other-way",
        "attention-not-causal",
    ],
)
def test_a_forward_that_computes_anything_else_is_not_used(monkeypatch, target, slip):
    owner = lean.LeanForward if "." in target else lean
    monkeypatch.setattr(owner, target.split(".")[-1], slip)
    tiny = _tiny_llama()
    assert lean.lean_forward(tiny.model) is None
    assert tiny.forward_kind == "transformers"


needs_streamed = pytest.mark.skipif(
    not streamed_available(), reason="the streamed kernel needs AVX-512 and a C++ compiler"
)


def _streamed_tiny_llama():
    tiny = _tiny_llama()
    apply_layout(tiny.model, "streamed")
    return tiny


@needs_streamed
def test_a_streamed_tiny_llama_runs_its_layers_from_cpp_bit_identical_to_transformers():
    tiny = _streamed_tiny_llama()  # float32 weights, not codes: the kernel's other source
    assert lean.native_layers(tiny.model) is not None
    assert tiny.forward_kind == "lean-cpp"
    _assert_bit_identical(tiny.model, tiny.lean)


# Plausible slips in wiring the C++ layers (samdec/runtime/csrc/layers.cpp), each close to right.
def _rooms_one_token_late(self, cache, hidden, step):
    rooms = _original_rooms(self, cache, hidden, step)
    return rooms if rooms is None else (*rooms[:2], rooms[2] + 1)


def _rooms_one_token_early(self, cache, hidden, step):
    rooms = _original_rooms(self, cache, hidden, step)
    return rooms if rooms is None or not rooms[2] else (*rooms[:2], rooms[2] - 1)


_original_rooms = lean.LeanForward._native_rooms


class _MaskDropped:
    """Layers whose `run` forgets a tree's mask (a tree then attends like a chain)."""

    def __init__(self, native):
        self.native = native

    def run(self, hidden, cos, sin, mask, causal, *rooms):
        return self.native.run(hidden, cos, sin, None, causal, *rooms)


class _QueryNotRotated:
    """Layers whose `run` gets rotary tables that turn nothing (cos 1, sin 0)."""

    def __init__(self, native):
        self.native = native

    def run(self, hidden, cos, sin, mask, causal, *rooms):
        return self.native.run(hidden, torch.ones_like(cos), torch.zeros_like(sin), mask, causal,
                               *rooms)  # fmt: skip


@needs_streamed
@pytest.mark.parametrize(
    "slip",
    ["cache-one-token-late", "cache-one-token-early", "mask-dropped", "not-rotated"],
)
def test_c_plus_plus_layers_that_compute_anything_else_are_not_used(monkeypatch, slip):
    if slip == "cache-one-token-late":
        monkeypatch.setattr(lean.LeanForward, "_native_rooms", _rooms_one_token_late)
    elif slip == "cache-one-token-early":
        monkeypatch.setattr(lean.LeanForward, "_native_rooms", _rooms_one_token_early)
    else:
        wrapper = _MaskDropped if slip == "mask-dropped" else _QueryNotRotated
        original = lean.native_layers
        monkeypatch.setattr(lean, "native_layers", lambda model: wrapper(original(model)))
    tiny = _streamed_tiny_llama()
    assert tiny.forward_kind == "lean"  # the Python layers, which do check out


def test_models_it_does_not_know_keep_transformers_forward():
    assert "llama" in lean.why_not_lean(tiny_model("qwen2").model)
    assert "llama" in lean.why_not_lean(tiny_model("gemma3").model)
    sliding = tiny_model("llama")
    sliding.model.config.sliding_window = 16
    assert "sliding" in lean.why_not_lean(sliding.model)
    eager = tiny_model("llama")
    eager.model.config._attn_implementation = "eager"
    assert "sdpa" in lean.why_not_lean(eager.model)
    assert lean.lean_forward(eager.model) is None
    training = tiny_model("llama")
    training.model.train()
    assert lean.why_not_lean(training.model)
