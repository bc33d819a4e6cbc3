"""scripts/ablations.py and its README block on a fake model: the static-only method, the
sweeps and the removal table from the replay, the timed part, the SVG charts, and the sentences
that compare the numbers with the paper (negative controls: they flip when the numbers do).
No model is loaded.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET

import pytest

from samdec.config import DecodeConfig
from samdec.cost import CostModel
from samdec.drafters import build_drafter
from samdec.drafters.sam import SAM
from samdec.engine import Engine
from samdec.static_automaton import StaticSuffixAutomaton
from samdec.tuning import record
from tests.conftest import load_script
from tests.test_engine_fake import PROMPT, VOCAB, FakeRunner, static_corpus

ab = load_script("ablations", "ablations_script")
rr = load_script("render_readme")
plots = sys.modules["readme_plots"]  # loaded by render_readme from beside it
blocks = sys.modules["readme_ablations"]

RECEIPT = {
    "command": "python scripts/ablations.py --quick",
    "date": "2026-12-07 10:00 UTC",
    "machine": {
        "cpu": "AMD EPYC",
        "cpu_count": 2,
        "torch_threads": 2,
        "omp_wait_policy": "default",
    },
    "packages": {"torch": "2.13.0+cpu"},
    "commit": "0123456789abcdef",
}

# -----------------------------------------------------------------------------
# the static-only method


def _step(drafter: SAM, text: list[int]):
    drafter.start(text)
    return drafter.propose(8)


def test_without_the_dynamic_automaton_only_static_matches_draft():
    static = StaticSuffixAutomaton.build([[1, 2, 3, 4, 5, 6]])
    repeats = [9, 8, 7, 9, 8]  # the dynamic automaton would continue this with 7
    both = SAM(static=static, l_bias=0, l_threshold=1)
    alone = SAM(static=static, l_bias=0, l_threshold=1, dynamic=False)
    assert _step(both, repeats).source == "dynamic"  # the control: the text does repeat
    draft = _step(alone, repeats)
    assert len(draft) == 0 and draft.match_dynamic == 0 and draft.state_dynamic == -1
    draft = _step(alone, [7, 1, 2, 3])
    assert draft.source == "static" and draft.tokens[:3] == [4, 5, 6]
    # the reference rule, the dynamic match counted as 0: static 3 - l_bias 3 = 0 < 1
    alone.l_bias = 3
    assert "static 3 - l_bias 3 = 0; dynamic 0" in _step(alone, [7, 1, 2, 3]).reason
    assert len(_step(alone, [7, 1, 2, 3])) == 0


def test_the_static_only_method_says_when_it_has_nothing_to_draft_from():
    drafter, note = build_drafter(DecodeConfig(method="sam-static"), None, VOCAB)
    assert drafter.dynamic is None and "nothing drafts" in note
    _, note = build_drafter(DecodeConfig(method="sam-static", use_static=False), None, VOCAB)
    assert "the static automaton is off" in note
    static = StaticSuffixAutomaton.build([[1, 2, 3]])
    _, note = build_drafter(DecodeConfig(method="sam-static"), static, VOCAB)
    assert note == ""
    _, note = build_drafter(DecodeConfig(method="sam"), None, VOCAB)
    assert note == "no static corpus loaded: dynamic automaton only"


# -----------------------------------------------------------------------------
# the replay part, on recordings of a fake model


@pytest.fixture(scope="module")
def fake():
    runner = FakeRunner()
    engine = Engine(runner, static_corpus(runner), CostModel())
    prompts = [PROMPT, [4, 4, 9, 1, 4, 4, 9], [2, 6, 2, 6, 8]]
    recs = [record(engine, p, 48) for p in prompts]
    ctx = ab.Context(CostModel(), engine.static, VOCAB, 48)
    return engine, prompts, recs, ctx


def test_each_sweep_point_is_the_replay_of_its_setting(fake):
    _, _, recs, ctx = fake
    sweep = ab.run_sweep(recs, ctx, "l_threshold", [0, 2, 7])
    assert sweep["x"] == [0, 2, 7] and len(sweep["series"]) == 4
    assert len({s["label"] for s in sweep["series"]}) == 4
    for s in sweep["series"]:
        for i, threshold in enumerate(sweep["x"]):
            values = s["fixed"] | {"l_threshold": threshold}
            config = DecodeConfig(method="sam", max_new_tokens=48, **values)
            assert s["mat"][i] == ab.pooled(recs, ctx, config)["mat"]
            assert s["speedup"][i] == ab.pooled(recs, ctx, config)["speedup"]
    paper = blocks.series_at(sweep, ab.PAPER)
    assert paper["fixed"] == {"l_bias": 5, "draft_policy": "fixed", "draft_len": 40}
    ours = blocks.series_at(sweep, ab.OURS)
    assert ours["fixed"]["draft_policy"] == DecodeConfig().draft_policy


def test_removal_drafts_less_with_an_automaton_removed(fake):
    _, _, recs, ctx = fake
    rows = {(r["method"], r["setting"]): r for r in ab.removal(recs, ctx)}
    assert set(rows) == {(m, s) for m in ab.REMOVAL for s in ("ours", "paper")}
    sam, alone = rows[("sam", "ours")]["mat"], rows[("sam-dynamic", "ours")]["mat"]
    assert sam > 1.0 and alone > 1.0 and rows[("sam-static", "ours")]["mat"] >= 1.0
    assert not rows[("recycling", "ours")]["exact"] and rows[("sam", "ours")]["exact"]


def test_measured_runs_match_the_replay_and_plain_decoding(fake):
    engine, prompts, recs, ctx = fake
    settings = ab.measured_settings()
    names = [s["name"] for s in settings]
    assert names[0] == "ar" and {"sam fixed 10", "sam fixed 70", "sam-static"} <= set(names)
    part = ab.measure_part(engine, recs, prompts, ctx)
    rows = {r["name"]: r for r in part["rows"]}
    assert rows["ar"]["speedup"] == 1.0 and rows["ar"]["mat"] == 1.0
    for name, r in rows.items():
        assert r["identical"], name  # every setting wrote plain decoding's output
        assert r["tokens"] == sum(len(rec.token_ids) for rec in recs)
        if "recycling" not in name:  # the replay is exact for the SAM drafters
            assert r["mat"] == pytest.approx(r["predicted_mat"]), name
    assert rows["sam fixed 70"]["mat"] > 1.0


def test_quick_mode_and_bad_arguments():
    args = ab.parse_args(["--quick"])
    assert (args.per_category, args.max_new_tokens, args.measure_per_category) == (1, 32, 1)
    for bad in (["--per-category", "0"], ["--per-category", "1", "--measure-per-category", "2"]):
        with pytest.raises(SystemExit) as exc:
            ab.parse_args(bad)
        assert exc.value.code == 2


# -----------------------------------------------------------------------------
# the charts


def test_a_chart_is_well_formed_svg_with_one_polyline_per_series():
    xs = [0, 1, 2, 3]
    svg = plots.line_chart(
        "MAT by l_bias", "l_bias", "MAT", xs, [("a", [1, 2, 3, 2]), ("b & c", [1.5, 1, 1, 4])]
    )
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 2
    assert all(len(p.get("points").split()) == len(xs) for p in lines)
    texts = {t.get("class"): t.text for t in root.iter(f"{ns}text") if t.get("class")}
    assert texts == {"x-label": "l_bias", "y-label": "MAT"}
    assert [p.find(f"{ns}title").text for p in lines] == ["a", "b & c"]
    # a higher value is drawn higher (smaller y)
    ys = [float(pt.split(",")[1]) for pt in lines[0].get("points").split()]
    assert ys[2] < ys[1] < ys[0]


def test_a_chart_refuses_mismatched_or_non_finite_values():
    with pytest.raises(ValueError, match="one value per x"):
        plots.line_chart("t", "x", "y", [1, 2], [("a", [1.0])])
    with pytest.raises(ValueError, match="finite"):
        plots.line_chart("t", "x", "y", [1, 2], [("a", [1.0, float("nan")])])


# -----------------------------------------------------------------------------
# the sentences against the paper


def _sweep(vary: str, xs: list[int], mat: list[float], speedup: list[float]) -> dict:
    series = []
    for spec in ab.series_specs(vary):
        series.append(spec | {"mat": mat, "speedup": speedup})
    return {"x": xs, "series": series}


def test_the_sweep_sentence_follows_the_numbers():
    xs = list(range(11))
    hump = [1 + i / 10 if i <= 5 else 1.5 - (i - 5) / 10 for i in xs]
    agrees = blocks.sweep_verdict("l_bias", _sweep("l_bias", xs, hump, hump), ab.PAPER, ab.OURS)
    assert "peaks at l_bias 5" in agrees and "as in the paper" in agrees
    early = hump[3:] + hump[:3]  # the peak moved to 2
    differs = blocks.sweep_verdict("l_bias", _sweep("l_bias", xs, early, early), ab.PAPER, ab.OURS)
    assert "peaks at l_bias 2" in differs and "unlike the paper" in differs
    flat = [1.0] * 11
    said = blocks.sweep_verdict("l_bias", _sweep("l_bias", xs, flat, flat), ab.PAPER, ab.OURS)
    assert "is flat" in said and "unlike the paper" in said


def test_the_draft_size_reason_is_given_only_when_the_best_moved_shorter():
    xs = list(range(10, 71, 10))
    best_at_40 = [1.0, 1.1, 1.2, 1.3, 1.2, 1.1, 1.0]
    best_at_10 = list(reversed(sorted(best_at_40)))
    assert blocks.why_draft_size(_sweep("draft_len", xs, best_at_40, best_at_40), ab.PAPER) == ""
    why = blocks.why_draft_size(_sweep("draft_len", xs, best_at_10, best_at_10), ab.PAPER)
    assert "shorter fixed draft" in why


def test_the_removal_sentence_follows_the_numbers():
    paper_like = {"sam": 2.0, "sam-dynamic": 1.8, "sam-static": 1.2}
    said = blocks.removal_verdict(paper_like, "MAT")
    assert "both automata help, the dynamic one more, as in the paper." in said
    swapped = {"sam": 2.0, "sam-dynamic": 1.2, "sam-static": 1.8}
    said = blocks.removal_verdict(swapped, "MAT")
    assert "both automata help, the static one more; the paper found" in said
    static_useless = {"sam": 1.8, "sam-dynamic": 1.8, "sam-static": 1.2}
    said = blocks.removal_verdict(static_useless, "MAT")
    assert "only the dynamic automaton helps" in said and "as in the paper" not in said
    assert "helps, the" not in said  # which helps more means nothing when only one helps


# -----------------------------------------------------------------------------
# the block and its charts, rendered from an artifact the script's functions made


@pytest.fixture
def bench(fake, tmp_path):
    engine, prompts, recs, ctx = fake
    grids = {"l_bias": [0, 5, 10], "l_threshold": [1, 5, 9], "draft_len": [10, 40, 70]}
    sweeps = {v: ab.run_sweep(recs, ctx, v, xs) for v, xs in grids.items()}  # coarse: fast
    measured = ab.measure_part(engine, recs[:1], prompts[:1], ctx) | {"question_ids": [81]}
    artifact = {
        "receipt": RECEIPT,
        "config": {"per_category": 1, "max_new_tokens": 48, "question_ids": [81, 1, 2]},
        "new_tokens": sum(len(r.token_ids) for r in recs),
        "cost_model": CostModel().to_dict(),
        "layout": "packed",
        "paper": ab.PAPER,
        "ours": ab.OURS,
        "sweeps": sweeps,
        "removal": ab.removal(recs, ctx),
        "measured": measured,
    }
    (tmp_path / "ablations.json").write_text(json.dumps(artifact))
    return tmp_path


def test_the_block_renders_its_numbers_and_links_its_charts(bench):
    body = rr.render_block("ablations", bench)
    assert "`python scripts/ablations.py --quick` (`benchmarks/ablations.json`; " in body
    assert "2026-12-07 10:00 UTC, AMD EPYC, 2 CPUs" in body
    for path in rr.figures(bench):
        assert f"]({path})" in body
    assert len(rr.figures(bench)) == 6  # three sweeps, MAT and speedup each
    artifact = json.loads((bench / "ablations.json").read_text())
    sam = next(r for r in artifact["removal"] if r["method"] == "sam" and r["setting"] == "ours")
    assert f"| `sam` | {sam['mat']:.2f} |" in body
    assert "| `sam fixed 10` |" in body and "Removing the static automaton" in body


def test_the_charts_are_written_and_checked(bench):
    assert sorted(rr.stale_figures(bench)) == [f"{p}: missing" for p in sorted(rr.figures(bench))]
    rr.write_figures(bench)
    assert rr.stale_figures(bench) == []
    chart = bench / "ablations" / "l_bias_mat.svg"
    chart.write_text(chart.read_text().replace("polyline", "polygon", 1))
    assert rr.stale_figures(bench) == [
        "ablations/l_bias_mat.svg: differs from what its artifact draws"
    ]
    artifact = json.loads((bench / "ablations.json").read_text())
    artifact["sweeps"]["l_bias"]["series"][0]["mat"][0] += 0.5
    (bench / "ablations.json").write_text(json.dumps(artifact))
    rr.write_figures(bench)
    assert rr.stale_figures(bench) == []
    (bench / "ablations.json").unlink()
    assert len(rr.stale_figures(bench)) == 6  # left over: no artifact draws them
    rr.write_figures(bench)
    assert list((bench / "ablations").glob("*.svg")) == []


def test_missing_artifact_renders_the_command_and_no_chart(tmp_path):
    body = rr.render_block("ablations", tmp_path)
    assert body.startswith("Not measured in a committed run yet")
    assert "scripts/ablations.py" in body and rr.figures(tmp_path) == {}


def test_our_series_differ_from_the_papers():
    assert ab.OURS != ab.PAPER  # else the two series of every sweep would be one
