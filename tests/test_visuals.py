r"""visuals: pure rendering of recorded traces (no model, no browser, no torch).

The traces in tests/data were recorded (bash) with the bundled model and the shipped static
corpus; the first prompt is a buggy function, the second the first GSM8K training question:
    P="$(printf 'Fix the bug in this function and show the corrected code:\n\n%s\n%s\n%s\n%s\n%s' \
        'def average(numbers):' '    total = 0' '    for n in numbers:' '        total += n' \
        '    return total / len(number)')"
    python -m samdec generate "$P" --method sam+recycling --draft-policy fixed \
        --draft-len 16 --max-new-tokens 56 --json > tests/data/trace_sam_recycling.json
    python -m samdec generate "Natalia sold clips to 48 of her friends in April, and then she \
sold half as many clips in May. How many clips did Natalia sell altogether in April and May?" \
        --method sam --max-new-tokens 48 --json > tests/data/trace_sam.json
Between them they hold every reason a step can verify no draft except plain decoding
(`no_draft`: nothing_to_draft with and without a rule pick, not_worth_it, no_room) and drafts
the length policy cut partly; the tests below check that they still do.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import visuals as V
from samdec.static_automaton import StaticSuffixAutomaton
from samdec.trace import NO_DRAFT, StepEvent, Trace
from visuals.automaton_layout import layout
from visuals.palette import COLOURS, SELECTED

DATA = Path(__file__).parent / "data"
TRACES = ["trace_sam_recycling.json", "trace_sam.json"]


@pytest.fixture(scope="module", params=TRACES)
def trace(request) -> Trace:
    return Trace.from_dict(json.loads((DATA / request.param).read_text(encoding="utf-8")))


def load(name: str) -> Trace:
    return Trace.from_dict(json.loads((DATA / name).read_text(encoding="utf-8")))


def by_name(fig, name: str):
    found = [t for t in fig.data if t.name == name]
    assert found, f"no trace named {name!r} in {[t.name for t in fig.data]}"
    return found[0]


def event(**fields) -> StepEvent:
    """A hand-made step: an empty one by default (one token appended, the model's own)."""
    base = dict(
        step=0,
        context_length=3,
        start_token=3,
        match_static=0,
        match_dynamic=0,
        state_static=-1,
        state_dynamic=0,
        drafter="none",
        reason="",
        draft_tokens=[],
        draft_parents=[],
        accepted_indices=[],
        bonus_token=9,
        new_tokens=[9],
        draft_us=1.0,
        verify_ms=1.0,
    )
    return StepEvent(**{**base, **fields})


def verdict(html: str) -> str:
    """The inspector's head line after "Step k of steps 0–n · "."""
    head = r'<div class="sd-inspect-head"><b>Step \d+</b> (?:of steps 0–\d+|\(the only step\)) · '
    return re.search(head + "(.*?)</div>", html)[1]


# ------------------------------------------------------------------------------------ imports


def test_visuals_never_import_torch_or_gradio():
    code = (
        "import json, sys, visuals as V\n"
        f"d = json.load(open({str(DATA / TRACES[0])!r}))\n"
        "v = V.as_view(d)\n"
        "V.stream_html(v); V.stats_html(v); V.inspector_html(v, 3)\n"
        "V.match_figure(v, 3); V.steps_figure(v, 3); V.cost_figure(v, 3)\n"
        "V.acceptance_figure(v)\n"
        "a = V.dynamic_view(v, 5); V.automaton_figure(a, v.piece_fn()); "
        "V.match_strip_html(a, v, v.piece_fn())\n"
        "assert 'torch' not in sys.modules, 'visuals imported torch'\n"
        "assert 'gradio' not in sys.modules, 'visuals imported gradio'\n"
        "ours = {m for m in sys.modules if m.startswith('samdec.')}\n"
        "allowed = {'samdec.trace', 'samdec.methods', 'samdec.automaton', 'samdec.rule',"
        " 'samdec.cost', 'samdec.config'}\n"
        "assert ours <= allowed, f'visuals imported {ours - allowed}'\n"
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


def test_fixtures_record_the_decisions_as_data(trace):
    for ev in trace.steps:
        assert ev.no_draft in NO_DRAFT
        assert (ev.drafter == "none") == (ev.no_draft != "")
        if ev.drafter != "none":
            assert ev.rule_source == ev.drafter
        assert ev.policy_cut >= 0
        assert len(ev.draft_tokens) + ev.policy_cut == min(ev.proposed, ev.draft_limit)
    view = V.as_view(trace)
    recorded, totals = trace.summary.tokens_by_source, view.totals()["by_source"]
    assert {k: v for k, v in totals.items() if k in recorded} == recorded
    assert all(v == 0 for k, v in totals.items() if k not in recorded)  # sources added since


def test_fixtures_cover_every_decision():
    steps = [ev for name in TRACES for ev in load(name).steps]
    assert {ev.no_draft for ev in steps} == set(NO_DRAFT) - {"plain"}
    empty = [ev for ev in steps if ev.no_draft == "nothing_to_draft"]
    assert {ev.rule_source for ev in empty} == {"none", "recycling"}
    assert any(ev.policy_cut and ev.drafter != "none" for ev in steps), "a partly cut draft"
    assert any(ev.drafter == "none" and ev.proposed for ev in steps), "a wholly cut draft"


def test_the_method_table_says_what_a_run_used():
    def view(**config):
        return V.TraceView([1], [], config=config)

    assert view(method="sam").has_static  # a config from before static_corpus: as before
    assert view(method="sam", static_corpus=53929).has_static
    assert not view(method="sam", static_corpus=0).has_static
    assert not view(method="sam", use_static=False, static_corpus=53929).has_static
    assert not view(method="sam-dynamic", static_corpus=53929).has_static
    assert view(method="sam-dynamic").uses_automata and not view(method="sam").has_auxiliary
    assert view(method="sam+recycling").has_auxiliary
    recycling = view(method="recycling")
    assert not recycling.uses_automata and not recycling.has_auxiliary
    assert not view().uses_automata and not view(method="?").has_static  # nothing run yet
    sam = view(method="sam")
    assert not sam.has_match_info(event(no_draft="plain"))
    for key in ("", "no_room", "nothing_to_draft", "not_worth_it"):
        assert sam.has_match_info(event(no_draft=key))
    assert not recycling.has_match_info(event(no_draft="nothing_to_draft"))


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
    threshold = next(t for t in fig.data if t.name.startswith(f"l_threshold ({view.l_threshold})"))
    assert "max(dynamic, static − l_bias) below it" in threshold.name
    assert set(threshold.y) == {view.l_threshold}
    assert threshold.line.dash == "dash"
    if view.has_static:
        static = by_name(fig, "static match")
        assert static.line.color == COLOURS["static"]
        bias = by_name(fig, f"dynamic + l_bias ({view.l_bias}): static above it → static retrieves")
        for d, b in zip(dynamic.y, bias.y, strict=True):
            assert b == (None if d is None else d + view.l_bias)
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
    # one filled marker per drafting step, in the drafter's row; one mark per step in all
    kinds = ("verified: ", "dropped: ", "empty: ", "plain: ")
    markers = [t for t in fig.data if (t.name or "").startswith(kinds)]
    drafting = [t for t in markers if t.name.startswith("verified: ")]
    assert sum(len(t.x) for t in drafting) == sum(ev.drafter != "none" for ev in trace.steps)
    assert sum(len(t.x) for t in markers) == len(trace.steps)
    assert sorted(x for t in markers for x in t.x) == [ev.step for ev in trace.steps]
    for t in markers:
        if not t.name.startswith("plain: "):
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
    for ev in trace.steps:
        head = verdict(V.inspector_html(trace, ev.step))
        if ev.no_draft == "not_worth_it":
            assert f"sd-badge sd-{ev.rule_source}" in head
            assert f"offered <b>{ev.proposed}</b> token(s), but the length policy verified" in head
        elif ev.drafter != "none" and ev.policy_cut:
            assert f"of {ev.proposed} offered (the length policy cut {ev.policy_cut})" in head
        elif ev.drafter != "none":
            assert "offered" not in head
        elif ev.rule_source != "none":
            assert f"sd-badge sd-{ev.rule_source}" in head and "chosen by the rule" in head


def test_inspector_explains_each_reason_for_no_draft():
    sam = {"method": "sam", "l_bias": 5, "l_threshold": 5}
    cases = {
        "plain": ({"method": "ar"}, event(no_draft="plain", rule_source="none")),
        "no_room": (sam, event(no_draft="no_room", rule_source="dynamic")),
        "nothing_to_draft": (sam, event(no_draft="nothing_to_draft", rule_source="static")),
        "nothing_to_draft, rule none": (
            sam,
            event(no_draft="nothing_to_draft", rule_source="none", match_dynamic=2),
        ),
        "not_worth_it": (
            sam,
            event(no_draft="not_worth_it", rule_source="dynamic", proposed=7, policy_cut=7),
        ),
    }
    assert {key.split(",")[0] for key in cases} == set(NO_DRAFT) - {""}, "a new no_draft key"
    heads = {
        key: verdict(V.inspector_html(V.TraceView([1, 2, 3], [ev], config=config), 0))
        for key, (config, ev) in cases.items()
    }
    assert len(set(heads.values())) == len(heads), heads  # each reason in its own words
    assert heads["plain"].endswith("plain decoding: no drafter")
    assert "sd-badge sd-dynamic" in heads["no_room"]
    assert "one token was left to generate: no room for a draft" in heads["no_room"]
    assert "sd-badge sd-static" in heads["nothing_to_draft"]
    assert "chosen by the rule, but it had nothing to draft" in heads["nothing_to_draft"]
    assert "sd-badge sd-none" in heads["nothing_to_draft, rule none"]
    assert "shorter than l_threshold (5)" in heads["nothing_to_draft, rule none"]
    assert "sd-badge sd-dynamic" in heads["not_worth_it"]
    assert (
        "offered <b>7</b> token(s), but the length policy verified <b>0</b>"
        in (heads["not_worth_it"])
    )
    # a draft the policy cut partly, and one it did not cut
    cut = event(
        drafter="dynamic",
        rule_source="dynamic",
        draft_tokens=[4, 5, 6],
        draft_parents=[-1, 0, 1],
        accepted_indices=[0],
        new_tokens=[4, 9],
        proposed=10,
        policy_cut=7,
    )
    head = verdict(V.inspector_html(V.TraceView([1, 2, 3], [cut], config=sam), 0))
    assert head.endswith("drafted <b>3</b> token(s) of 10 offered (the length policy cut 7)")
    whole = dataclasses.replace(cut, proposed=3, policy_cut=0)
    head = verdict(V.inspector_html(V.TraceView([1, 2, 3], [whole], config=sam), 0))
    assert head.endswith("drafted <b>3</b> token(s)")


def test_the_rule_source_is_read_from_the_trace():
    # Matches for which the rule would pick the dynamic automaton (12 >= 0 - l_bias, and
    # 12 >= l_threshold); the trace says the rule picked static: the panels say static.
    from samdec.drafters.sam import choose_source

    assert choose_source(0, 12, 5, 5, has_static=True, has_auxiliary=False)[0] == "dynamic"
    ev = event(
        match_static=0,
        match_dynamic=12,
        rule_source="static",
        no_draft="not_worth_it",
        proposed=7,
        policy_cut=7,
        reason="dynamic 12 >= static 0 - l_bias 5",
    )
    view = V.TraceView([1, 2, 3], [ev], config={"method": "sam", "l_bias": 5, "l_threshold": 5})
    head = verdict(V.inspector_html(view, 0))
    assert "sd-badge sd-static" in head and "sd-dynamic" not in head
    fig = V.steps_figure(view)
    assert list(by_name(fig, "dropped: static").x) == [0]
    assert not [t for t in fig.data if t.name.endswith(": dynamic")]


# Reasons that mean nothing, and the engine's old words the panels used to look for.
NONSENSE = (
    "purple monkey dishwasher",
    "",
    "plain decoding",
    "no room left for a draft",
    "budget",
    "dynamic 9 >= static 0 - l_bias 5; match 9 < l_threshold 5 -> static (nothing to draft)",
)


def rendered(trace) -> dict:
    """Everything the panels decide for a trace, without the places that show `reason`."""
    view = V.as_view(trace)
    no_reason = r'<div class="sd-reason">.*?</div>'
    return {
        "inspector": [
            re.sub(no_reason, "", V.inspector_html(trace, ev.step)) for ev in trace.steps
        ],
        "match_info": [view.has_match_info(ev) for ev in trace.steps],
        "steps": [(t.name, t.x, t.y) for t in V.steps_figure(trace).data],
        "match": [(t.name, t.x, t.y) for t in V.match_figure(trace).data],
        "stream": re.sub(r' title="[^"]*"', "", V.stream_html(trace)),
    }


def test_the_panels_never_read_the_engines_wording(trace):
    before = rendered(trace)
    assert len({verdict(html) for html in before["inspector"]}) > 1
    for text in NONSENSE:
        data = trace.to_dict()
        for step in data["steps"]:
            step["reason"] = text
        assert rendered(Trace.from_dict(data)) == before, text


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
    trace = load("trace_sam.json")
    view = V.as_view(trace)
    ev = next(e for e in trace.steps if e.drafter == "dynamic")
    a = V.dynamic_view(trace, ev.step)
    assert len(ev.draft_tokens) > 3
    # as recorded, and as if the model had accepted the first three draft tokens
    for accepted in (ev.accepted_indices, [0, 1, 2]):
        steps = [*trace.steps[: ev.step], dataclasses.replace(ev, accepted_indices=accepted)]
        partial = V.TraceView.from_events(trace.prompt_ids, steps, view.config, view.pieces)
        html = V.match_strip_html(a, partial, view.piece_fn())
        assert html.count("sd-s-match sd-s-dynamic") == 2 * ev.match_dynamic  # here and earlier
        assert html.count("sd-s-acc sd-s-dynamic") == len(accepted)
        assert html.count('class="sd-s-rej"') == min(len(ev.draft_tokens), 24) - len(accepted)


def test_static_view_on_a_small_corpus():
    docs = [[1, 2, 3, 4, 5, 6], [7, 2, 3, 4, 9], [2, 3, 8]]
    static = StaticSuffixAutomaton.build(docs)
    view = V.TraceView(
        prompt_ids=[9, 2, 3],
        steps=[],
        config={"method": "sam", "l_bias": 5, "l_threshold": 1},
    )
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
    pos = layout(a)
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
