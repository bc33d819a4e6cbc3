"""The replay decides exactly as the engine: same steps, same drafts, same MAT (SAM drafters)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

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
    fig = tuning_heatmap(rows, setting=(2, 3))
    heat = fig.data[0]
    assert list(heat.x) == list(range(6)) and list(heat.y) == list(range(1, 6))
    centres = {t.name: (sum(t.x[:4]) / 4, sum(t.y[:4]) / 4) for t in fig.data[1:]}
    assert centres == {
        "best cell": (5, 1),
        "your setting (2, 3)": (2, 3),
        "paper (5, 5)": (5, 5),
    }


# ------------------------------------------------------------- the same drafts, other curves


def tiny_recording() -> Recording:
    """A greedy run of a tiny model that falls into a cycle: drafts that are mostly accepted."""
    tiny = tiny_model("llama", vocab=64, seed=1, sharpen=4.0)
    trace = engine_for(tiny, cost=CostModel()).generate(PROMPT, method="ar", max_new_tokens=60)
    return Recording(PROMPT, trace.token_ids, prefill_ms=120.0)


@pytest.mark.parametrize("policy", ["cost", "fixed"])
def test_the_flat_curve_gains_at_least_as_much_as_the_measured_one(policy):
    from samdec.tuning import flat_curve

    recording = tiny_recording()
    here = CostModel()  # rising: 1 + 32 tokens cost ~4x one
    flat = flat_curve(here)
    assert flat(40) == flat(1) == here(1)  # only the shape is swapped, not the 1-token cost
    steep = CostModel({1: here(1), 64: 64 * here(1)})  # negative control: dearer than here
    kept_more = 0
    for bias, threshold in [(5, 5), (0, 1), (2, 3)]:
        config = DecodeConfig(
            method="sam-dynamic", draft_policy=policy, max_new_tokens=60, l_bias=bias,
            l_threshold=threshold,
        )  # fmt: skip
        on_here, on_flat, on_steep = (replay(recording, config, c) for c in (here, flat, steep))
        assert on_here.accepted > 0, "the run drafted nothing: the comparison would be empty"
        assert on_flat.speedup >= on_here.speedup >= on_steep.speedup, (bias, threshold)
        assert on_flat.plain_ms == on_here.plain_ms  # the same plain decoding to beat
        if policy == "cost":  # the policy prices with the swapped curve: it keeps more
            assert on_flat.drafted >= on_here.drafted > on_steep.drafted, (bias, threshold)
            kept_more += on_flat.drafted > on_here.drafted
        else:  # the fixed policy ignores the curve: the same drafts, only priced differently
            assert (on_flat.steps, on_flat.drafted) == (on_here.steps, on_here.drafted)
    # where the drafter offers more than this machine's curve lets through, the flat one keeps it
    assert kept_more > 0 or policy == "fixed"


def gpu_artifact(path, device="tiny|cuda|float32", shape="record"):
    import json

    points = {"1": 4.0, "8": 4.4, "64": 6.0}
    if shape == "record":
        data = {"key": device, "device": device, "points": points}
    else:  # benchmarks/verify_cost.json's structure, a row measured on the device
        data = {"rows": [{"layout": "stock", "dtype": "float32", "device": device,
                          "verify_ms": points}]}  # fmt: skip
    path.write_text(json.dumps(data))
    return path


def test_sweep_curves_replays_on_a_flat_curve_and_a_gpu_one_only_when_an_artifact_exists(
    tmp_path,
):
    from samdec.tuning import Grid, flat_curve, sweep, sweep_curves

    recording = tiny_recording()
    here = CostModel({1: 8.0, 8: 24.0, 64: 130.0}, device="tiny|cpu|float32")
    base = DecodeConfig(method="sam-dynamic", max_new_tokens=60)
    grid = Grid([0, 5], [1, 5])
    args = ([recording], base, grid, here)
    missing = tmp_path / "none.json"
    panels = sweep_curves(*args, paths=(missing,))
    assert [p["kind"] for p in panels] == ["here", "flat"]
    assert panels[0]["rows"] == sweep(*args)
    assert panels[1]["rows"] == sweep([recording], base, grid, flat_curve(here))
    assert panels[1]["points"] == {"1": 8.0, "2": 8.0}
    for a, b in zip(panels[0]["rows"], panels[1]["rows"], strict=True):
        assert b["speedup"] >= a["speedup"] and b["new_tokens"] == a["new_tokens"] == 60
    # a CPU curve, and a GPU curve of another model, are not a GPU prediction for this one
    cpu = gpu_artifact(tmp_path / "cpu.json", device="tiny|cpu|float32")
    other = gpu_artifact(tmp_path / "other.json", device="big|cuda|float32")
    real = Path(__file__).resolve().parents[1] / "benchmarks" / "verify_cost.json"  # a CPU's
    assert [p["kind"] for p in sweep_curves(*args, paths=(cpu, other, real))] == ["here", "flat"]
    for shape in ("record", "rows"):
        gpu = gpu_artifact(tmp_path / f"gpu_{shape}.json", shape=shape)
        panels = sweep_curves(*args, paths=(cpu, gpu))
        assert [p["kind"] for p in panels] == ["here", "flat", "gpu"]
        assert panels[2]["device"] == "tiny|cuda|float32"
        assert panels[2]["prefill_scale"] == pytest.approx(4.0 / 8.0)  # its 1-token pass / ours
        assert panels[2]["rows"][0]["speedup"] > panels[0]["rows"][0]["speedup"]


def test_an_unreadable_gpu_artifact_is_skipped_with_a_warning(tmp_path, caplog):
    from samdec.tuning import gpu_curve

    bad = tmp_path / "bad.json"
    bad.write_text('{"device": "x|cuda", "points": {"one": 3}}')
    with caplog.at_level("WARNING"):
        assert gpu_curve(CostModel(), (bad,)) is None
    assert "unreadable" in caplog.text


def sweep_rows(speedup) -> list[dict]:
    return [
        {"draft_policy": "cost", "draft_len": 40, "l_bias": b, "l_threshold": t,
         "speedup": speedup(b, t), "mat": 1.5, "steps": 10, "drafted": 20, "new_tokens": 15}
        for b in range(0, 10)
        for t in range(1, 11)
    ]  # fmt: skip


def test_the_grid_has_no_empty_row_or_column_and_marks_stay_in_their_cells():
    from visuals.tuning import tuning_comparison

    here = sweep_rows(lambda b, t: 1 + b / 100 - t / 50)  # best at (9, 1): a corner
    flat = sweep_rows(lambda b, t: 2 + b / 100 - t / 50)
    fig = tuning_comparison(
        [{"kind": "here", "rows": here}, {"kind": "flat", "rows": flat}], (3, 4)
    )
    heats = [t for t in fig.data if t.type == "heatmap"]
    assert len(heats) == 2
    for axis in (fig.layout.xaxis, fig.layout.xaxis2):
        assert tuple(axis.range) == (-0.5, 9.5)  # ends at columns 0 and 9: no -1 or 10
    for axis in (fig.layout.yaxis, fig.layout.yaxis2):
        assert tuple(axis.range) == (0.5, 10.5)  # rows 1 to 10: no 0
    for heat in heats:
        assert all(v is not None for row in heat.z for v in row) and len(heat.z) == 10
    rings = [t for t in fig.data if t.type == "scatter"]
    cells = {}
    for ring in rings:
        x, y = round(sum(ring.x[:4]) / 4), round(sum(ring.y[:4]) / 4)
        assert all(x - 0.5 <= v <= x + 0.5 for v in ring.x), ring.name  # inside its cell
        assert all(y - 0.5 <= v <= y + 0.5 for v in ring.y), ring.name
        cells.setdefault(ring.name, []).append((x, y))
    assert cells == {
        "best cell": [(9, 1), (9, 1)],
        "your setting (3, 4)": [(3, 4), (3, 4)],
        "paper (5, 5)": [(5, 5), (5, 5)],
    }
    # one scale for both panels: from the slowest cell of one to the fastest of the other
    assert fig.layout.coloraxis.cmin == pytest.approx(0.8)
    assert fig.layout.coloraxis.cmax == pytest.approx(2.07)
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["this machine (measured curve): best 1.07×",
                      "flat curve (predicted, GPU-like): best 2.07×"]  # fmt: skip
    # a setting off the grid is not marked; the paper's cell is marked only where it is
    fig = tuning_comparison([{"kind": "here", "rows": here}], (12, 4))
    assert not any((t.name or "").startswith("your setting") for t in fig.data)


def relative_luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_cell_labels_are_large_and_contrast_with_every_colour_of_the_scale():
    from visuals.palette import INK
    from visuals.tuning import colourscale, tuning_heatmap

    fig = tuning_heatmap(sweep_rows(lambda b, t: 0.8 + b / 20))
    heat = fig.data[0]
    assert heat.textfont.size >= 12 and heat.textfont.color == INK
    assert heat.text[0][0] == "0.80×"
    ink = relative_luminance(INK)
    for lo, hi in ((0.8, 1.25), (1.0, 2.0), (0.5, 1.0)):
        scale = colourscale(lo, hi)
        for _, colour in scale:
            ratio = (relative_luminance(colour) + 0.05) / (ink + 0.05)
            assert ratio >= 4.5, (colour, ratio)
        white = next(pos for pos, colour in scale if colour == "#F7F7F7")
        assert lo + white * (hi - lo) == pytest.approx(1.0)  # white is plain decoding's speed


def test_the_tune_summary_gives_the_real_token_count_and_the_prediction_beside_it():
    from samdec.ui.tune import summary_html, tune_note

    here = sweep_rows(lambda b, t: 1.2 + b / 100)
    for row in here:
        row["new_tokens"] = 66
    flat = sweep_rows(lambda b, t: 2.4 + b / 100)
    panels = [
        {"kind": "here", "rows": here, "points": {"1": 10.0, "8": 30.0}},
        {"kind": "flat", "rows": flat, "points": {"1": 10.0, "2": 10.0}},
    ]
    config = DecodeConfig(method="sam", max_new_tokens=96)
    note = tune_note(config, 96, panels, "bundled", 1.5)
    assert "66 tokens of greedy output (it ended before the cap of 96)" in note
    assert "96 tokens" not in note.replace("cap of 96", "")
    for row in here:
        row["new_tokens"] = 96
    assert "96 tokens of greedy output (the cap)" in tune_note(config, 96, panels, "b", 1.5)
    page = summary_html(panels, note, (3, 4))
    assert "Best: l_bias 9, l_threshold 1 on this machine — predicted 1.29x" in page
    assert "Your setting (3, 4): predicted 1.23x" in page
    assert "On the flat curve (predicted, GPU-like): best l_bias 9, l_threshold 1 — 2.49x" in page
    assert "a pass over 8 tokens costing 3.0× one" in page  # this machine's curve
    assert "a pass over 8 tokens costing 1.0× one" in page  # the flat one
    assert "predictions, not measurements" in page
