"""The replay decides exactly as the engine: same steps, same drafts, same MAT (SAM drafters)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from samdec.config import DecodeConfig
from samdec.cost import CostModel
from samdec.stack import engine_for
from samdec.tuning import Recording, record, replay
from tests.conftest import tiny_model

PROMPT = [3, 17, 29, 5, 3, 17, 29, 5, 11, 3, 17, 29, 41, 7, 3, 17]


def drafted_and_accepted(trace) -> tuple[int, int]:
    """Draft tokens the engine verified, and how many of them it accepted, over a run."""
    steps = trace.steps
    return sum(len(s.draft_tokens) for s in steps), sum(s.accepted for s in steps)


@pytest.mark.parametrize("policy", ["fixed", "cost"])
@pytest.mark.parametrize(("l_bias", "l_threshold"), [(5, 5), (0, 1), (2, 3)])
def test_replay_matches_engine_on_tiny_model(policy, l_bias, l_threshold):
    tiny = tiny_model("llama", vocab=64, seed=1, sharpen=4.0)
    cost = CostModel()
    engine = engine_for(tiny, cost=cost)
    config = DecodeConfig(
        method="sam-dynamic",
        draft_policy=policy,
        max_new_tokens=60,
        l_bias=l_bias,
        l_threshold=l_threshold,
    )
    trace = engine.generate(PROMPT, config)
    drafted, accepted = drafted_and_accepted(trace)
    # The model falls into a cycle that the dynamic automaton retrieves: this compares runs that
    # drafted, not two runs of plain decoding.
    assert drafted > 0 and accepted > 0, f"the engine drafted {drafted}, accepted {accepted}"
    result = replay(Recording(PROMPT, trace.token_ids), config, cost, vocab_size=64)
    got = (result.steps, result.drafted, result.accepted)
    assert got == (trace.summary.steps, drafted, accepted), "replay (steps, drafted, accepted)"
    assert result.tokens_by_source == trace.summary.tokens_by_source
    assert result.mat == pytest.approx(trace.summary.mat)


def test_replay_matches_engine_on_real_prompts(bundled, static_default):
    cost = CostModel()
    engine = engine_for(bundled, static=static_default, cost=cost)
    prompts = ["Repeat after me three times: the cat sat on the mat.", "Write a bubble sort."]
    for text in prompts:
        ids = engine.encode(text)
        for config in (
            DecodeConfig(method="sam", max_new_tokens=48),
            DecodeConfig(method="sam", max_new_tokens=48, draft_policy="fixed", l_threshold=2),
        ):
            trace = engine.generate(ids, config)
            drafted, accepted = drafted_and_accepted(trace)
            where = f"{text!r}, {config.draft_policy} policy"
            assert drafted > 0 and accepted > 0, f"{where}: drafted {drafted}, accepted {accepted}"
            result = replay(Recording(ids, trace.token_ids), config, cost, static_default)
            got = (result.steps, result.drafted, result.accepted)
            assert got == (trace.summary.steps, drafted, accepted), f"{where}: replay differs"
            assert result.tokens_by_source == trace.summary.tokens_by_source, where


def test_replay_grafts_the_short_match_into_an_empty_tree():
    """With no recorded top-k, Token Recycling's tree is always empty, so sam+graft drafts the
    short match's chain alone below l_threshold and the retrieval chain above it: exactly what
    sam-dynamic drafts with l_threshold 1, labelled recycling where it was grafted."""
    tiny = tiny_model("llama", vocab=64, seed=1, sharpen=4.0)
    trace = engine_for(tiny, cost=CostModel()).generate(PROMPT, method="ar", max_new_tokens=60)
    recording = Recording(PROMPT, trace.token_ids)
    base = DecodeConfig(draft_policy="fixed", max_new_tokens=60)
    graft = replay(recording, replace(base, method="sam+graft", l_threshold=5), CostModel())
    plain = replay(recording, replace(base, method="sam-dynamic", l_threshold=1), CostModel())
    assert (graft.steps, graft.drafted, graft.accepted) == (
        plain.steps,
        plain.drafted,
        plain.accepted,
    )
    assert graft.accepted > 0 and graft.tokens_by_source["recycling"] > 0, "nothing was grafted"


def test_replay_runs_the_grafted_method_on_recorded_trees():
    tiny = tiny_model("llama", vocab=64, seed=1, sharpen=4.0)
    recording = record(engine_for(tiny, cost=CostModel()), PROMPT, max_new_tokens=60)
    result = replay(recording, DecodeConfig(method="sam+graft", max_new_tokens=60), CostModel())
    assert result.new_tokens == len(recording.token_ids) == 60
    assert result.accepted > 0 and result.steps < result.new_tokens


def test_tune_command_writes_a_grid_with_best_and_paper_points(tmp_path):
    import json

    from tests.conftest import run_cli as samdec

    out = tmp_path / "tune.json"
    recs = tmp_path / "recs.json"
    args = [
        "tune",
        "--prompt",
        "Repeat this sentence twice: the quick brown fox jumps over the lazy dog.",
        "--max-new-tokens",
        "40",
        "--l-bias",
        "0,5",
        "--l-threshold",
        "1-5",
        "--policies",
        "cost,fixed",
        "--recordings",
        str(recs),
        "--out",
        str(out),
    ]
    res = samdec(*args, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads(out.read_text())
    assert len(data["rows"]) == 2 * 2 * 5
    assert data["best"]["speedup"] == max(r["speedup"] for r in data["rows"])
    assert (data["paper_default"]["l_bias"], data["paper_default"]["l_threshold"]) == (5, 5)
    for row in data["rows"]:
        assert row["mat"] >= 1.0 and row["steps"] >= 1
    assert max(r["mat"] for r in data["rows"]) > 1.0, "no setting accepted a single draft token"
    assert recs.is_file()  # a second run reuses the recording instead of the model
    again = samdec(*args, timeout=600)
    assert again.returncode == 0 and "recorded runs from" in again.stderr
    assert json.loads(out.read_text())["rows"] == data["rows"]
    assert "plotly" in out.with_suffix(".html").read_text().lower()


def test_heatmap_marks_paper_and_best_points():
    from visuals import tuning_heatmap

    rows = [
        {
            "draft_policy": "cost",
            "l_bias": b,
            "l_threshold": t,
            "speedup": 1 + b / 10 - t / 20,
            "mat": 1.5,
            "steps": 10,
        }
        for b in range(0, 6)
        for t in range(1, 6)
    ]
    fig = tuning_heatmap(rows)
    heat = fig.data[0]
    assert list(heat.x) == list(range(6)) and list(heat.y) == list(range(1, 6))
    marks = {t.name: (t.x[0], t.y[0]) for t in fig.data[1:]}
    assert marks == {"paper (5, 5)": (5, 5), "best": (5, 1)}
