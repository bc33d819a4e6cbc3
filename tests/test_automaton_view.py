"""The automaton view: the root named, the hidden states said, arcs and labels kept apart, and
the tab that follows the automaton that drafted the selected step.

Runs on the recorded traces of tests/data (see tests/test_visuals.py for how they were made)
and on hand-built steps; no model, no browser.
"""

from __future__ import annotations

import dataclasses
import json
import re
from itertools import combinations
from pathlib import Path

import pytest

import visuals as V
from samdec.automaton import DynamicSuffixAutomaton
from samdec.trace import StepEvent, Trace
from tests.test_visuals import event
from visuals import automaton as A
from visuals import automaton_layout as L

DATA = Path(__file__).parent / "data"
TRACES = ["trace_sam_recycling.json", "trace_sam.json"]


@pytest.fixture(scope="module", params=TRACES)
def trace(request) -> Trace:
    return Trace.from_dict(json.loads((DATA / request.param).read_text(encoding="utf-8")))


def states_trace(fig):
    return next(t for t in fig.data if t.name == "state")


def notes(fig) -> str:
    """The figure's words outside the plot: its annotations, one per line."""
    return "\n".join(a.text for a in fig.layout.annotations if a.text)


def steps_worth_drawing(trace: Trace) -> list[int]:
    """A few steps: the first after the prompt, the longest dynamic match, the last."""
    longest = max(trace.steps[1:], key=lambda e: e.match_dynamic).step
    return sorted({1, longest, len(trace.steps) - 1})


def test_the_root_is_named_and_looks_unlike_any_other_state(trace):
    view = V.as_view(trace)
    for k in steps_worth_drawing(trace):
        a = V.dynamic_view(trace, k)
        fig = V.automaton_figure(a, view.piece_fn())
        nodes = states_trace(fig)
        ids = list(nodes.customdata)
        root = ids.index(0)
        assert "root" in nodes.text[root]
        assert all("root" not in t for i, t in enumerate(nodes.text) if i != root)
        fills = list(nodes.marker.color)
        assert fills.count(fills[root]) == 1, "another state is filled like the root"
        assert "start: empty text" in notes(fig)
        assert "Every path of arrows from the root spells a piece of the text" in notes(fig)
        assert any(t.name == "root: the empty text" for t in fig.data)


def test_the_note_says_how_many_states_are_hidden(trace):
    view = V.as_view(trace)
    for k in steps_worth_drawing(trace):
        # the whole automaton the step saw, counted here on its own
        whole = DynamicSuffixAutomaton(capacity=view.steps[k].context_length + 16)
        whole.advance(view.context_before(k))
        fig = V.automaton_figure(V.dynamic_view(trace, k, max_states=12), view.piece_fn())
        shown = len(states_trace(fig).x)
        assert shown < whole.num_states
        text = notes(fig)
        assert f"Showing {shown} of {whole.num_states} states" in text
        assert f"{whole.num_states - shown} others hidden" in text
        assert "the automaton's own state ids" in text


def test_a_small_automaton_is_shown_whole_or_says_what_is_hidden():
    tokens = [1, 2, 1, 2, 3]
    view = V.TraceView(prompt_ids=tokens, steps=[step(drafter="none")], config={})
    a = V.dynamic_view(view, 0, max_states=64)
    whole = DynamicSuffixAutomaton(capacity=32)
    whole.advance(tokens)
    assert a.total_states == whole.num_states
    hidden = whole.num_states - len(a.node_ids)
    text = notes(V.automaton_figure(a, lambda t: f"t{t}"))
    if hidden:  # the picture picks states by their role, even when there is room for all
        assert f"{hidden} other{'s' if hidden > 1 else ''} hidden" in text
    every = dataclasses.replace(a, total_states=len(a.node_ids))
    text = notes(V.automaton_figure(every, lambda t: f"t{t}"))
    assert f"All {len(a.node_ids)} states shown" in text and "hidden" not in text


def pixel_boxes(fig, a) -> list[tuple]:
    """The token labels' boxes on the page, as the figure places them (non-empty ones)."""
    labels = next(t for t in fig.data if t.name == "token")
    canvas = L.LabelBoxes.around(L.layout(a))
    return [
        canvas.box(x, y, text)
        for x, y, text in zip(labels.x, labels.y, labels.text, strict=True)
        if text
    ]


def test_token_labels_do_not_overlap(trace):
    view = V.as_view(trace)
    for k in range(1, len(trace.steps)):
        a = V.dynamic_view(trace, k)
        boxes = pixel_boxes(V.automaton_figure(a, view.piece_fn()), a)
        clashes = [(b, c) for b, c in combinations(boxes, 2) if L.boxes_overlap(b, c)]
        assert not clashes, f"step {k}: labels on top of each other {clashes}"


def arcs_along_rows(fig) -> list[list[tuple[float, float]]]:
    """The shortcut arcs, as lists of points."""
    trace = next((t for t in fig.data if (t.name or "").startswith("shortcut")), None)
    if trace is None:
        return []
    arcs, current = [], []
    for x, y in zip(trace.x, trace.y, strict=True):
        if x is None:
            arcs.append(current)
            current = []
        else:
            current.append((x, y))
    return arcs


def test_arcs_that_share_a_state_leave_it_apart(trace):
    view = V.as_view(trace)
    checked = 0
    for k in range(1, len(trace.steps)):
        a = V.dynamic_view(trace, k)
        arcs = arcs_along_rows(V.automaton_figure(a, view.piece_fn()))
        for p, q in combinations(arcs, 2):
            ends_p, ends_q = {p[0], p[-1]}, {q[0], q[-1]}
            assert not ends_p & ends_q, f"step {k}: two arcs end at the same point"
            if round(p[0][0]) == round(q[0][0]):  # they leave the same state
                peak_p = max(abs(y - p[0][1]) for _, y in p)
                peak_q = max(abs(y - q[0][1]) for _, y in q)
                assert abs(peak_p - peak_q) > 0.01, f"step {k}: arcs at one height"
                checked += 1
    assert checked > 0, "no two arcs from one state in these traces"


def test_arcs_nest_in_lanes():
    pos = {s: (float(s), 0.0) for s in range(6)}
    arcs = [("t", 0, 2), ("t", 0, 5), ("t", 2, 4), ("t", 3, 5), ("l", 4, 0)]
    lanes = L.assign_lanes(arcs, pos)
    assert lanes[("t", 0, 2)] == lanes[("t", 2, 4)] == 0  # sharing an end state only
    assert lanes[("t", 3, 5)] == 1  # overlaps 2 -> 4
    assert lanes[("t", 0, 5)] == 2  # over all of them
    assert lanes[("l", 4, 0)] == 0  # the links' side has its own lanes


# ------------------------------------------------------------------------ which tab to show


def step(**fields) -> StepEvent:
    return event(**{"context_length": 5, **fields})


@pytest.mark.parametrize(
    ("drafter", "rule_source", "tab"),
    [
        ("static", "static", "static"),
        ("dynamic", "dynamic", "dynamic"),
        ("none", "static", "static"),  # the rule picked it; it had nothing to draft
        ("none", "dynamic", "dynamic"),
        ("recycling", "recycling", None),
        ("recycling", "static", None),  # Token Recycling drafted: no automaton to show
        ("none", "recycling", None),
        ("none", "none", None),  # a plain step
        ("none", "", None),  # an older trace without rule_source
    ],
)
def test_the_tab_is_the_drafting_automatons(drafter, rule_source, tab):
    assert A.drafting_automaton(step(drafter=drafter, rule_source=rule_source)) == tab


def test_render_names_the_tab_only_for_automaton_steps(trace):
    from samdec.ui.panels import AUTOMATON_TAB, STEP_PANELS, Session, render

    session = Session()
    session.view = V.TraceView.from_trace(trace)
    named = set()
    for ev in trace.steps:
        panels = render(session, ev.step, 24)
        assert set(panels) <= set(STEP_PANELS) and "dyn_plot" in panels
        want = A.drafting_automaton(ev)
        assert panels.get(AUTOMATON_TAB) == want
        named.add(want)
    assert "static" in named


def test_the_tab_update_selects_the_tab_or_leaves_it():
    import gradio as gr

    from samdec.ui.automaton_view import keep_tab, select_tab

    update = {"inspector": "<div/>", "automaton_tab": "static"}
    selected = select_tab(update)["automaton_tab"]
    assert isinstance(selected, gr.Tabs) and selected.selected == "static"
    assert select_tab({"inspector": "x"}) == {"inspector": "x"}
    assert keep_tab(update) == {"inspector": "<div/>"}
    assert update["automaton_tab"] == "static"  # the caller's update is left as it was


def test_the_tabs_have_the_ids_render_names():
    import gradio as gr

    from samdec.ui import automaton_view

    with gr.Blocks():
        parts = automaton_view.build()
    tabs = parts["automaton_tab"]
    ids = [child.id for child in tabs.children]
    assert ids == ["dynamic", "static"]
    assert all(re.fullmatch(r"sd-tab-\w+", child.elem_id) for child in tabs.children)
