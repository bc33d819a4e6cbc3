"""Engine behaviour on tiny in-process models of several architectures, and the trace format."""

from __future__ import annotations

import json
import threading

import pytest

from samdec.config import DecodeConfig
from samdec.cost import CostModel
from samdec.runtime.cachefiles import write_record
from samdec.stack import engine_for
from samdec.trace import Trace
from tests.conftest import greedy_reference, tiny_model

# A prompt with repeats, so the dynamic automaton has something to retrieve.
PROMPT = [3, 17, 29, 5, 3, 17, 29, 5, 11, 3, 17, 29, 41, 7, 3, 17]


@pytest.fixture(scope="module", params=["llama", "qwen2", "gemma3"])
def tiny(request):
    return tiny_model(request.param, vocab=64, seed=1, sharpen=4.0)


@pytest.mark.parametrize("method", ["ar", "sam-dynamic", "recycling", "sam+recycling"])
@pytest.mark.parametrize("policy", ["fixed", "cost"])
def test_greedy_lossless_on_each_architecture(tiny, method, policy):
    engine = engine_for(tiny, cost=CostModel())
    expected = greedy_reference(tiny, PROMPT, 40)
    trace = engine.generate(PROMPT, method=method, draft_policy=policy, max_new_tokens=40)
    assert trace.token_ids == expected
    if method == "recycling" and policy == "fixed":
        is_tree = [s.draft_parents.count(-1) > 1 for s in trace.steps]
        if tiny.name == "tiny-gemma3":  # sliding-window layers: chain drafts, with a note
            assert not engine.runner.supports_trees and not any(is_tree)
            assert "tree" in trace.summary.config["note"]
        else:
            assert engine.runner.supports_trees and any(is_tree)


def test_trace_is_json_round_trippable_and_consistent():
    tiny = tiny_model("llama", vocab=64, seed=1, sharpen=4.0)
    engine = engine_for(tiny, cost=CostModel())
    trace = engine.generate(PROMPT, method="sam+recycling", max_new_tokens=30, draft_policy="fixed")
    data = json.loads(trace.to_json())
    again = Trace.from_dict(data)
    assert again.token_ids == trace.token_ids
    assert [s.to_dict() for s in again.steps] == data["steps"]
    pos = len(PROMPT)
    for step in trace.steps:
        assert step.context_length == pos
        accepted = [step.draft_tokens[i] for i in step.accepted_indices]
        assert step.new_tokens == [*accepted, step.bonus_token]
        # accepted nodes form a root-to-leaf path of the draft tree
        parent = -1
        for i in step.accepted_indices:
            assert step.draft_parents[i] == parent
            parent = i
        assert set(step.rejected_indices).isdisjoint(step.accepted_indices)
        assert step.drafter in ("static", "dynamic", "recycling", "none")
        pos += len(step.new_tokens)
    s = trace.summary
    assert s.new_tokens == len(trace.token_ids) == 30
    assert s.steps == len(trace.steps)
    assert s.mat == pytest.approx(30 / len(trace.steps))
    assert sum(s.tokens_by_source.values()) == 30
    assert s.config["method"] == "sam+recycling"


def test_stream_yields_steps_as_they_happen_and_can_be_cancelled():
    tiny = tiny_model("llama", vocab=64, seed=1, sharpen=4.0)
    engine = engine_for(tiny, cost=CostModel())
    cancel = threading.Event()
    run = engine.stream(PROMPT, DecodeConfig(method="ar", max_new_tokens=50), cancel=cancel)
    seen = 0
    for _ in run:
        seen += 1
        if seen == 5:
            cancel.set()
    assert seen == 5
    assert run.trace is not None and run.trace.summary.stop_reason == "cancelled"
    assert len(run.trace.token_ids) == 5


def test_context_limit_stops_cleanly():
    tiny = tiny_model("llama", vocab=64, seed=1, sharpen=4.0)  # 128 positions
    engine = engine_for(tiny, cost=CostModel())
    # The prompt ends in the model's own output, which repeats: the dynamic automaton drafts it.
    prompt = (PROMPT + greedy_reference(tiny, PROMPT, 84))[:100]
    trace = engine.generate(prompt, method="sam-dynamic", max_new_tokens=50, draft_policy="fixed")
    assert trace.summary.stop_reason == "context_limit"
    assert trace.token_ids == greedy_reference(tiny, prompt, 128 - len(prompt)), (
        "not plain decoding's"
    )
    drafted = sum(len(s.draft_tokens) for s in trace.steps)
    accepted = sum(s.accepted for s in trace.steps)
    assert drafted > 0 and accepted > 0, f"drafted {drafted} tokens, accepted {accepted}"
    with pytest.raises(ValueError, match="context"):
        engine.generate(PROMPT * 9, max_new_tokens=5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"method": "nope"}, "Unknown method 'nope'; choose one of ar, sam"),
        ({"max_new_tokens": 0}, "Max new tokens must be a whole number of at least 1, got 0"),
        ({"temperature": -1}, "Temperature must be between 0 and 5"),
        ({"top_p": 0}, "Top-p must be above 0"),
        ({"draft_policy": "x"}, "Length policy must be 'cost' or 'fixed'"),
    ],
)
def test_bad_settings_raise_clear_errors(overrides, message):
    engine = engine_for(tiny_model("llama", vocab=64), cost=CostModel())
    with pytest.raises(ValueError, match=message):
        engine.generate(PROMPT, **overrides)
    with pytest.raises(ValueError, match="empty"):
        engine.generate([])
    with pytest.raises(ValueError, match="token ids"):
        engine.generate([1, 2, 999])


def test_a_calibration_measured_on_a_busy_machine_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMDEC_CACHE", str(tmp_path))
    tiny = tiny_model("llama", vocab=64)
    first = engine_for(tiny, cost="calibrate").cost
    (path,) = (tmp_path / "calibration").glob("*.json")
    # A cached curve 1000x slower than this machine: the probe sees it and measures again.
    slow = {q: ms * 1000 for q, ms in first.points.items()}
    keep(path, CostModel(slow, first.device))
    again = engine_for(tiny, cost="calibrate").cost
    assert again.points[1] < slow[1] / 10
    assert CostModel.load(path).points == again.points
    # A cached curve 1000x *faster* than now: the machine is busy now; the cache is kept.
    fast = {q: ms / 1000 for q, ms in first.points.items()}
    keep(path, CostModel(fast, first.device))
    assert engine_for(tiny, cost="calibrate").cost.points == fast


def keep(path, cost: CostModel) -> None:
    """Write `cost` where calibration keeps it, as calibration would (its key is its source)."""
    write_record(path, {"key": cost.device, **cost.to_dict()})


def test_trace_records_the_policy_estimate_the_price_and_the_top_tokens():
    tiny = tiny_model("llama", vocab=64, seed=1, sharpen=4.0)
    cost = CostModel()
    engine = engine_for(tiny, cost=cost)
    trace = engine.generate(PROMPT, method="sam+recycling", max_new_tokens=30, details=True)
    assert trace.summary.verify_cost == {str(q): ms for q, ms in cost.points.items()}
    offered = [s for s in trace.steps if s.proposed]
    assert offered, "the drafters offered nothing: nothing was tested"
    for s in trace.steps:
        assert s.cost_ms == pytest.approx(float(cost(1 + len(s.draft_tokens))))
        assert s.cost_offered_ms == pytest.approx(float(cost(1 + min(s.proposed, s.draft_limit))))
        # Greedy: each appended token is the model's most likely one there.
        assert [row[0] for row in s.top_tokens] == s.new_tokens
        assert all(p == sorted(p, reverse=True) and sum(p) <= 1.0001 for p in s.top_probs)
    for s in offered:  # the cost-aware policy priced what it kept against the whole offer
        assert 1.0 <= s.expected_tokens <= s.expected_offered + 1e-9
        assert s.expected_tokens <= 1.0 + len(s.draft_tokens)
    fixed = engine.generate(PROMPT, method="sam+recycling", max_new_tokens=30, draft_policy="fixed")
    assert all(s.expected_tokens == 0.0 for s in fixed.steps)  # the fixed policy does not estimate


def test_what_only_a_page_shows_is_recorded_only_when_asked_for():
    engine = engine_for(tiny_model("llama", vocab=64, seed=1), cost=CostModel())
    lean = engine.generate(PROMPT, method="sam", max_new_tokens=12)
    full = engine.generate(PROMPT, method="sam", max_new_tokens=12, details=True)
    assert lean.token_ids == full.token_ids and lean.text == full.text
    assert not lean.pieces and full.pieces
    for quiet, shown in zip(lean.steps, full.steps, strict=True):
        assert not (quiet.top_tokens or quiet.top_probs or quiet.draft_pieces or quiet.new_pieces)
        assert shown.top_tokens and len(shown.new_pieces) == len(shown.new_tokens)


def test_validate_rejects_top_probabilities_that_are_not():
    tiny = tiny_model("llama", vocab=64, seed=1, sharpen=4.0)
    engine = engine_for(tiny, cost=CostModel())
    trace = engine.generate(PROMPT, method="ar", max_new_tokens=3, details=True)
    trace.validate()
    trace.steps[0].top_probs[0][0] = 1.5
    with pytest.raises(ValueError, match="probabilities"):
        trace.validate()
