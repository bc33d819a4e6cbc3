"""visuals: pure rendering of recorded traces (no model, no browser, no torch).

The traces in tests/data were recorded with the bundled model:
    python -m samdec generate "<prompt>" --method sam+recycling --draft-policy fixed \
        --draft-len 16 --max-new-tokens 56 --json > tests/data/trace_sam_recycling.json
    python -m samdec generate "<GSM8K question>" --method sam --max-new-tokens 48 --json \
        > tests/data/trace_sam.json
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import visuals as V
from samdec.automaton import StaticSuffixAutomaton
from samdec.trace import Trace
from visuals.palette import COLOURS, SELECTED

DATA = Path(__file__).parent / "data"
TRACES = ["trace_sam_recycling.json", "trace_sam.json"]


@pytest.fixture(scope="module", params=TRACES)
def trace(request) -> Trace:
    return Trace.from_dict(json.loads((DATA / request.param).read_text(encoding="utf-8")))


def by_name(fig, name: str):
    found = [t for t in fig.data if t.name == name]
    assert found, f"no trace named {name!r} in {[t.name for t in fig.data]}"
    return found[0]


# ------------------------------------------------------------------------------------ imports


def test_visuals_never_import_torch_or_gradio():
    code = (
        "import json, sys, visuals as V\n"
        f"d = json.load(open({str(DATA / TRACES[0])!r}))\n"
        "v = V.as_view(d)\n"
        "V.stream_html(v); V.stats_html(v); V.inspector_html(v, 3)\n"
        "V.match_figure(v, 3); V.steps_figure(v, 3)\n"
        "a = V.dynamic_view(v, 5); V.automaton_figure(a, v.piece_fn()); "
        "V.match_strip_html(a, v, v.piece_fn())\n"
        "assert 'torch' not in sys.modules, 'visuals imported torch'\n"
        "assert 'gradio' not in sys.modules, 'visuals imported gradio'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------------------------ views


def test_view_accepts_trace_dict_and_json(trace):
    for obj in (trace, trace.to_dict(), trace.to_json()):
        view = V.as_view(obj)
        assert view.token_ids == trace.token_ids
        assert view.num_steps == len(trace.steps)
    with pytest.raises(TypeError):
        V.as_view(42)


def test_spans_cover_every_generated_token(trace):
    view = V.as_view(trace)
    spans = view.spans()
    assert [s.token for s in spans] == trace.token_ids
    counts = {source: sum(s.source == source for s in spans) for source in V.SOURCES}
    for source in ("static", "dynamic", "recycling", "model"):
        assert counts[source] == trace.summary.tokens_by_source[source]


def test_partial_view_matches_the_finished_one(trace):
    view = V.as_view(trace)
    k = len(trace.steps) // 2
    partial = V.TraceView.from_events(trace.prompt_ids, trace.steps[: k + 1], view.config)
    assert partial.token_ids == [t for ev in trace.steps[: k + 1] for t in ev.new_tokens]
    assert V.stream_html(partial).count('class="sd-tok') == len(partial.token_ids)
    assert not partial.done and view.done


def test_rule_choice_agrees_with_the_engines_reason(trace):
    view = V.as_view(trace)
    for ev in trace.steps:
        if ev.drafter != "none":
            assert view.rule_choice(ev) == ev.drafter
        elif "->" in ev.reason:  # fell back to the auxiliary drafter (or none)
            assert view.rule_choice(ev) == re.search(r"->\s*(\w+)", ev.reason).group(1)


# ------------------------------------------------------------------------------------ stream


def test_stream_has_one_coloured_span_per_generated_token(trace):
    html = V.stream_html(trace)
    tokens = re.findall(r'class="sd-tok sd-(\w+)" data-step="(\d+)"', html)
    assert len(tokens) == len(trace.token_ids)
    by_source = {s: sum(src == s for src, _ in tokens) for s in V.SOURCES}
    for source in ("static", "dynamic", "recycling", "model"):
        assert by_source[source] == trace.summary.tokens_by_source[source]
    # every token says which step it belongs to, in order
    steps = [int(step) for _, step in tokens]
    assert steps == sorted(steps)
    assert set(steps) == {ev.step for ev in trace.steps if ev.new_tokens}
    # a tooltip per token
    assert html.count('title="step ') >= len(trace.token_ids)


def test_stream_shows_rejected_drafts_struck_through(trace):
    html = V.stream_html(trace)
    rejected_steps = {ev.step for ev in trace.steps if ev.rejected_indices}
    marked = {int(s) for s in re.findall(r'class="sd-rej sd-rej-\w+" data-step="(\d+)"', html)}
    assert marked == rejected_steps
    if rejected_steps:
        assert "<s>" in html


def test_stream_replay_shows_steps_up_to_the_selected_one(trace):
    k = len(trace.steps) // 3
    html = V.stream_html(trace, selected=k, upto=k)
    expected = sum(len(ev.new_tokens) for ev in trace.steps[: k + 1])
    assert html.count('class="sd-tok') == expected
    assert f'class="sd-step sd-sel" data-step="{k}"' in html
    assert "later step(s) hidden" in html


def test_empty_and_running_stream():
    empty = V.TraceView([], [])
    assert "Generate" in V.stream_html(empty)
    assert "sd-caret" not in V.stream_html(empty)
    assert "Generating" in V.stream_html(empty, running=True)


def test_stats_cards(trace):
    html = V.stats_html(trace)
    assert f"{trace.summary.mat:.2f}" in html
    assert f"{trace.summary.tokens_per_s:.1f}" in html
    accepted = sum(ev.accepted for ev in trace.steps)
    drafted = sum(len(ev.draft_tokens) for ev in trace.steps)
    assert f"{accepted} / {drafted}" in html
    assert "stopped: max new tokens" in html


def test_legend_names_every_source():
    html = V.legend_html()
    for source in V.SOURCES:
        assert f"sd-swatch sd-{source}" in html
    assert "rejected" in html


# ------------------------------------------------------------------------------------ charts


def test_match_figure_shows_the_decision_rule(trace):
    view = V.as_view(trace)
    fig = V.match_figure(trace, selected=2)
    dynamic = by_name(fig, "dynamic match")
    assert dynamic.line.color == COLOURS["dynamic"]
    for ev, y in zip(trace.steps, dynamic.y, strict=True):
        assert y == (ev.match_dynamic if view.has_match_info(ev) else None)
    threshold = by_name(fig, f"l_threshold ({view.l_threshold})")
    assert set(threshold.y) == {view.l_threshold}
    assert threshold.line.dash == "dash"
    if view.has_static:
        static = by_name(fig, "static match")
        assert static.line.color == COLOURS["static"]
        bias = by_name(fig, f"static − l_bias ({view.l_bias})")
        for s, b in zip(static.y, bias.y, strict=True):
            assert b == (None if s is None else s - view.l_bias)
    # the selected step is shaded
    assert any(shape.x0 == 1.5 and shape.x1 == 2.5 for shape in fig.layout.shapes)


def test_steps_figure_bars_add_up(trace):
    fig = V.steps_figure(trace)
    drafted = sum(len(ev.draft_tokens) for ev in trace.steps)
    accepted = sum(ev.accepted for ev in trace.steps)
    for source in ("static", "dynamic", "recycling"):
        bar = by_name(fig, f"accepted · {source}")
        assert bar.marker.color == COLOURS[source]
        assert sum(bar.y) == trace.summary.tokens_by_source[source]
    assert sum(by_name(fig, "model's own token").y) == trace.summary.tokens_by_source["model"]
    assert sum(by_name(fig, "rejected draft").y) == drafted - accepted
    assert fig.layout.barmode == "stack"
    # one filled marker per drafting step, in the drafter's row
    markers = [t for t in fig.data if (t.name or "").startswith("drafter: ")]
    drafting = [t for t in markers if t.name != "drafter: none"]
    assert sum(len(t.x) for t in drafting) == sum(ev.drafter != "none" for ev in trace.steps)
    assert sum(len(t.x) for t in markers) == len(trace.steps)
    for t in markers:
        assert t.marker.color == COLOURS[t.name.split(": ")[1]]


def test_compare_views():
    rows = [
        {
            "name": "plain",
            "tokens": 10,
            "steps": 10,
            "mat": 1.0,
            "tokens_per_s": 5.0,
            "identical": None,
        },
        {
            "name": "pld",
            "tokens": 10,
            "steps": None,
            "mat": None,
            "tokens_per_s": 7.5,
            "identical": True,
        },
        {
            "name": "sam",
            "tokens": 10,
            "steps": 4,
            "mat": 2.5,
            "tokens_per_s": 10.0,
            "identical": False,
        },
    ]
    html = V.compare_html(rows, note="a note")
    assert "×1.50" in html and "×2.00" in html
    assert "✓ identical" in html and "✗ differs" in html and "a note" in html
    fig = V.compare_figure(rows)
    assert list(fig.data[0].x) == [5.0, 7.5, 10.0]
    assert "three ways" in V.compare_html([])


# ------------------------------------------------------------------------------------ inspector


def test_inspector_marks_accepted_and_rejected(trace):
    ev = max(trace.steps, key=lambda e: len(e.draft_tokens))
    html = V.inspector_html(trace, ev.step)
    assert f"<b>Step {ev.step}</b>" in html
    shown = min(len(ev.draft_tokens), 24)
    accepted_shown = sum(1 for i in ev.accepted_indices if i < shown)
    assert html.count("✓ accepted") == accepted_shown
    assert html.count("✗ rejected") == shown - accepted_shown
    assert "the model’s own token" in html
    assert f"{ev.verify_ms:.1f} ms" in html


def test_inspector_explains_a_policy_cut_draft(trace):
    view = V.as_view(trace)
    quiet = [ev for ev in trace.steps if ev.drafter == "none" and view.rule_choice(ev) != "none"]
    if view.has_auxiliary:
        assert quiet, "the sam+recycling trace has steps that verified no draft"
    for ev in quiet:
        html = V.inspector_html(trace, ev.step)
        if "(nothing to draft)" in ev.reason:
            assert "nothing to draft" in html
        else:
            assert "the length policy verified <b>0</b>" in html


# ------------------------------------------------------------------------------------ automata


def test_dynamic_view_matches_what_the_engine_saw(trace):
    view = V.as_view(trace)
    for ev in trace.steps:
        if not view.has_match_info(ev):
            continue
        a = V.dynamic_view(trace, ev.step, max_states=24)
        assert a.snapshot["match_length"] == ev.match_dynamic
        assert a.match_state == (ev.state_dynamic if ev.match_dynamic else -1)
        assert len(a.snapshot["states"]) <= 24
        assert a.spine[0] == 0
        if ev.match_dynamic:
            assert ev.state_dynamic in a.spine and ev.state_dynamic in a.node_ids
        if ev.step > 0:  # the states the previous step created include the current one
            assert a.snapshot["last"] in a.new_states
        if ev.drafter == "dynamic":
            assert a.continuation[: len(ev.draft_tokens)] == ev.draft_tokens


def test_automaton_figure_draws_every_state_and_highlights(trace):
    view = V.as_view(trace)
    ev = max(trace.steps[1:], key=lambda e: e.match_dynamic)
    a = V.dynamic_view(trace, ev.step)
    fig = V.automaton_figure(a, view.piece_fn())
    nodes = by_name(fig, "state")
    ids = list(nodes.customdata)
    assert sorted(ids) == sorted(s["id"] for s in a.snapshot["states"])
    assert len(nodes.x) == len(a.snapshot["states"])
    current = ids.index(a.snapshot["last"])
    assert nodes.marker.line.color[current] == SELECTED  # the current state is ringed
    if a.match_state >= 0:
        assert nodes.marker.color[ids.index(a.match_state)] == COLOURS["dynamic"]
        key = by_name(fig, "current → matched (suffix link)")
        assert key.line.dash == "dash"
    for sid in a.clones:
        assert nodes.marker.symbol[ids.index(sid)] == "diamond"
    assert by_name(fig, "suffix link").line.dash == "dash"
    assert by_name(fig, "transition (reads a token)").line.dash is None
    labels = by_name(fig, "token")
    assert len(labels.text) == len(a.snapshot["transitions"])
    # each transition is a segment or a curve followed by a None separator, in one of two
    # traces (path-like transitions, and faint shortcuts that skip ahead along a row)
    drawn = [t for t in fig.data if (t.name or "").endswith(("(reads a token)", "its token)"))]
    assert sum(list(t.x).count(None) for t in drawn) == len(a.snapshot["transitions"])


def test_automaton_strip_marks_the_match_and_the_draft():
    trace = Trace.from_dict(json.loads((DATA / "trace_sam.json").read_text(encoding="utf-8")))
    view = V.as_view(trace)
    ev = next(e for e in trace.steps if e.drafter == "dynamic")
    a = V.dynamic_view(trace, ev.step)
    html = V.match_strip_html(a, trace, view.piece_fn())
    assert html.count("sd-s-match sd-s-dynamic") == 2 * ev.match_dynamic  # here and earlier
    assert html.count("sd-s-acc sd-s-dynamic") == ev.accepted
    assert html.count('class="sd-s-rej"') == min(len(ev.draft_tokens), 24) - ev.accepted


def test_static_view_on_a_small_corpus():
    docs = [[1, 2, 3, 4, 5, 6], [7, 2, 3, 4, 9], [2, 3, 8]]
    static = StaticSuffixAutomaton.build(docs)
    view = V.TraceView(
        prompt_ids=[9, 2, 3],
        steps=[],
        config={"method": "sam", "l_bias": 5, "l_threshold": 1},
    )
    from samdec.trace import StepEvent

    view.steps = [
        StepEvent(
            step=0,
            context_length=3,
            start_token=3,
            match_static=2,
            match_dynamic=0,
            state_static=-1,
            state_dynamic=0,
            drafter="static",
            reason="static",
            draft_tokens=[4, 5],
            draft_parents=[-1, 0],
            accepted_indices=[0],
            bonus_token=9,
            new_tokens=[4, 9],
            draft_us=1.0,
            verify_ms=1.0,
        )
    ]
    a = V.static_view(static, view, 0)
    cursor = static.cursor()
    cursor.advance([9, 2, 3])
    assert a.snapshot["match_length"] == cursor.match_length == 2
    assert a.match_state == cursor.match_state
    assert a.match_text == [2, 3]
    fig = V.automaton_figure(a, lambda t: f"t{t}", title="Static automaton")
    nodes = by_name(fig, "state")
    assert len(nodes.x) == len(a.snapshot["states"])
    assert nodes.marker.color[list(nodes.customdata).index(a.match_state)] == COLOURS["static"]
    html = V.match_strip_html(a, view, lambda t: f"t{t}")
    assert "in the corpus" in html and "t4" in html
    assert V.static_view(None, view, 0) is None


def test_automaton_layout_rows(trace):
    a = V.dynamic_view(trace, len(trace.steps) - 1)
    pos = V.automaton.layout(a)
    assert set(pos) == set(a.node_ids)
    assert len({p for p in pos.values()}) == len(pos), "two states drawn on top of each other"
    for sid in a.spine:
        assert pos[sid][1] == 0.0
    for sid in a.top:
        assert pos[sid][1] > 0
    if a.match_state >= 0:  # the current state sits right above the matched state
        assert pos[a.snapshot["last"]][0] == pos[a.match_state][0]


def test_empty_figures_and_no_steps():
    assert V.dynamic_view(V.TraceView([1, 2, 3], []), 0) is None
    fig = V.automaton_figure(None, str)
    assert fig.layout.annotations[0].text.startswith("No automaton")
    assert "No steps" in V.inspector_html(V.TraceView([], []))
    assert len(V.match_figure(V.TraceView([], [])).data) >= 1


def test_palette_is_consistent_with_the_stylesheet():
    css = (Path(__file__).parent.parent / "assets" / "style.css").read_text()
    for name, value in COLOURS.items():
        assert f"--sd-{name}: {value};" in css, name
    assert np.unique(list(COLOURS.values())).size == len(COLOURS)
