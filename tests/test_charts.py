"""The per-step charts and the output stream's tooltips, on hand-built traces (no model), and
once on a trace the engine writes (a tiny random model, built in-process)."""

from __future__ import annotations

import dataclasses
import html
import random
import re

import pytest

import visuals as V
from samdec.rule import choose_source, retrieval_choice
from samdec.trace import RunSummary, StepEvent
from tests.test_visuals import event
from visuals.acceptance_chart import acceptance_by_depth, draft_depths
from visuals.charts import PLAIN_ROW, step_hover, step_mark
from visuals.cost_chart import cost_curve, priced_curve
from visuals.palette import COLOURS

SAM = {"method": "sam+recycling", "l_bias": 5, "l_threshold": 5}
CURVE = {"1": 50.0, "2": 60.0, "4": 80.0, "16": 200.0, "32": 330.0}


def step(**fields) -> StepEvent:
    """A hand-made step: one token appended (the model's own), no draft, unless told."""
    return event(**fields)


def view_of(
    steps: list[StepEvent], config=SAM, curve=CURVE, pieces=None, source="tiny|cpu|float32"
) -> V.TraceView:
    for k, ev in enumerate(steps):
        ev.step = k
    summary = RunSummary("sam+recycling", 3, 0, len(steps), 1.0, 1.0, 1.0, 1.0, "eos")
    summary.verify_cost = dict(curve)
    summary.verify_cost_source = source  # a calibration key: measured on the run's machine
    return V.TraceView([1, 2, 3], steps, pieces or {}, dict(config), summary)


def titles(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'title="([^"]*)"', page)]


# The five ways a step can end up in the drafter rows.
VERIFIED = dict(
    drafter="dynamic", rule_source="dynamic", match_dynamic=7, draft_tokens=[4, 5, 6],
    draft_parents=[-1, 0, 1], accepted_indices=[0, 1], new_tokens=[4, 5, 9], proposed=10,
    draft_limit=8, policy_cut=5, expected_tokens=2.6, expected_offered=3.1, cost_ms=80.0,
    cost_offered_ms=140.0, verify_ms=91.0,
)  # fmt: skip
DROPPED = dict(
    rule_source="recycling", no_draft="not_worth_it", proposed=39, draft_limit=40,
    policy_cut=39, expected_tokens=1.0, expected_offered=1.4, cost_ms=57.0,
    cost_offered_ms=222.0,
)  # fmt: skip
EMPTY = dict(rule_source="dynamic", no_draft="nothing_to_draft", match_dynamic=6)
NO_ROOM = dict(rule_source="static", no_draft="no_room", match_static=20)
PLAIN = dict(rule_source="none", no_draft="nothing_to_draft", match_dynamic=2)


# ------------------------------------------------------------------------------ drafter rows


def test_every_step_gets_exactly_one_mark_in_the_row_that_explains_it():
    view = view_of([step(**f) for f in (VERIFIED, DROPPED, EMPTY, NO_ROOM, PLAIN)])
    expected = {
        0: ("dynamic", "verified"),
        1: ("recycling", "dropped"),
        2: ("dynamic", "empty"),
        3: ("static", "empty"),
        4: (PLAIN_ROW, "plain"),
    }
    assert {ev.step: step_mark(ev) for ev in view.steps} == expected
    fig = V.steps_figure(view)
    marks = [t for t in fig.data if t.name and t.name.split(": ")[0] in V.charts.MARKS]
    seen = [(x, y, t.name.split(": ")[0]) for t in marks for x, y in zip(t.x, t.y, strict=True)]
    assert sorted(seen) == sorted((k, row, kind) for k, (row, kind) in expected.items())
    for t in marks:  # hollow and dash marks are open symbols in the chosen drafter's colour
        symbol = V.charts.MARKS[t.name.split(": ")[0]][0]
        assert t.marker.symbol == symbol
        if t.y[0] != PLAIN_ROW:
            assert t.marker.color == COLOURS[t.y[0]]
    keys = {t.name for t in fig.data if t.x == (None,) and t.name}
    assert keys == {words for _, words in V.charts.MARKS.values()}  # each kind explained


def test_hover_says_what_was_proposed_and_why_it_was_dropped_with_the_numbers():
    view = view_of([step(**f) for f in (VERIFIED, DROPPED, EMPTY, NO_ROOM, PLAIN)])
    hovers = [html.unescape(step_hover(view, ev)) for ev in view.steps]
    assert hovers[1].startswith("step 1: Token Recycling proposed 39 tokens<br>")
    assert (
        "the length policy verified 0: expected 1.4 tokens for 222 ms vs 1 token for 57 ms "
        "(a plain step)" in hovers[1]
    )
    assert "dynamic automaton drafted 3 of 10 offered; 2 accepted" in hovers[0]
    assert "verified 3 of 8: expected 2.6 tokens for 80 ms vs 3.1 for 140 ms (all 8)" in hovers[0]
    assert "nothing to draft: no earlier occurrence to continue" in hovers[2]
    assert "no room for a draft" in hovers[3]
    assert hovers[4].startswith("step 4: no drafter chosen")
    for ev, hover in zip(view.steps, hovers, strict=True):  # the rule in its one form
        words = choose_source(ev.match_static, ev.match_dynamic, 5, 5, True, True)[2]
        assert hover.endswith(f"rule: {words}")


def test_hover_never_shows_the_engines_reason():
    ev = step(**DROPPED, reason="purple monkey dishwasher")
    view = view_of([ev])
    assert "purple" not in step_hover(view, ev)
    fig = V.steps_figure(view)
    assert not any("purple" in str(t.customdata) for t in fig.data)


def test_a_dropped_draft_from_an_old_trace_says_the_estimate_is_missing():
    old = {**DROPPED, "expected_offered": 0.0, "cost_ms": 0.0, "cost_offered_ms": 0.0}
    view = view_of([step(**old)], curve={})
    assert "its estimate is not in this trace" in step_hover(view, view.steps[0])


def test_match_figure_draws_the_rule_line_dynamic_plus_l_bias():
    steps = [step(match_static=s, match_dynamic=d) for s, d in [(12, 0), (6, 3), (9, 4), (0, 8)]]
    view = view_of(steps)
    fig = V.match_figure(view)
    line = next(t for t in fig.data if (t.name or "").startswith("dynamic + l_bias (5)"))
    assert "static above it → static retrieves" in line.name
    static = next(t for t in fig.data if t.name == "static match")
    for ev, s, bias in zip(steps, static.y, line.y, strict=True):
        chosen = retrieval_choice(ev.match_static, ev.match_dynamic, 5, True)[0]
        assert (s > bias) == (chosen == "static")  # above the line <=> static retrieves


# ------------------------------------------------------------------------------ verify cost


def named(fig, prefix: str):
    found = [t for t in fig.data if (t.name or "").startswith(prefix)]
    assert len(found) == 1, [t.name for t in fig.data]
    return found[0]


def test_cost_figure_marks_the_step_where_it_stopped_and_what_it_was_offered():
    view = view_of([step(**DROPPED), step(**VERIFIED)])
    fig = V.cost_figure(view, 1)
    curve = named(fig, "verify cost")
    assert list(curve.x) == [1, 2, 4, 16, 32] and list(curve.y) == [50, 60, 80, 200, 330]
    kept = named(fig, "step 1: verified 1 + 3")
    assert (kept.x[0], kept.y[0]) == (4, 80.0)  # 1 + tokens verified, cost_ms
    offered = named(fig, "offered: 1 + 8")
    assert (offered.x[0], offered.y[0]) == (9, 140.0)  # 1 + min(proposed, limit), its price
    measured = named(fig, "measured this step")
    assert (measured.x[0], measured.y[0]) == (4, 91.0)
    assert fig.layout.xaxis.type == "log"
    # the dropped step: nothing verified (x = 1), offered 1 + 39
    fig = V.cost_figure(view, 0)
    assert named(fig, "step 0: verified 1 + 0").x == (1,)
    assert named(fig, "offered: 1 + 39").x == (40,)


def test_cost_caption_is_computed_from_the_curve():
    # at 8 tokens: 80 + (200 - 80) * 4 / 12 = 120 ms, 2.4 times the 50 ms of one token
    title = V.cost_figure(view_of([step()]), 0).layout.title.text
    assert "on this machine verifying 8 tokens costs 2.4× one token" in title
    assert "on a GPU a pass costs about the same for 1 or a dozen tokens" in title
    flat = {"1": 50.0, "8": 52.0, "16": 55.0}
    title = V.cost_figure(view_of([step()], curve=flat), 0).layout.title.text
    assert "as on a GPU, verifying 8 tokens costs about as much as one (1.0×)" in title


def test_the_cost_caption_says_when_the_curve_was_not_measured_here():
    from samdec.cost import DEFAULT_SOURCE

    title = V.cost_figure(view_of([step()], source=DEFAULT_SOURCE), 0).layout.title.text
    assert "on the built-in curve (not measured here)" in title and "this machine" not in title


def test_cost_curve_as_priced_never_falls_and_the_dip_is_shown_as_measured():
    dip = {"1": 86.0, "8": 299.0, "16": 213.0, "x": 5.0}  # a key from elsewhere is skipped
    view = view_of([step()], curve=dip)
    assert cost_curve(view) == [(1, 86.0), (8, 299.0), (16, 213.0)]
    assert priced_curve(cost_curve(view)) == [(1, 86.0), (8, 299.0), (16, 299.0)]
    fig = V.cost_figure(view, 0)
    assert list(named(fig, "verify cost, as the length policy").y) == [86.0, 299.0, 299.0]
    assert list(named(fig, "measured curve points").y) == [86.0, 299.0, 213.0]


def test_a_measured_time_far_off_the_curve_is_drawn_at_the_top_edge_with_its_number():
    slow = step(**{**VERIFIED, "verify_ms": 2100.0})  # the curve tops out at 330 ms
    fig = V.cost_figure(view_of([slow]), 0)
    top = fig.layout.yaxis.range[1]
    assert top < 2100.0
    marker = named(fig, "measured this step, off the scale: 2100 ms")
    assert (marker.x[0], marker.y[0]) == (4, top) and marker.text == ("2100 ms",)
    near = V.cost_figure(view_of([step(**VERIFIED)]), 0)  # 91 ms: on the scale, where it is
    assert named(near, "measured this step").y == (91.0,)


def legend_names(fig) -> list[str]:
    return [t.name for t in fig.data if t.showlegend is not False and t.name]


def test_every_mark_of_the_cost_figure_has_a_legend_entry():
    dip = {"1": 50.0, "2": 60.0, "4": 80.0, "8": 220.0, "16": 200.0, "32": 330.0}
    off_scale = step(**{**VERIFIED, "verify_ms": 2100.0})
    view = view_of([step(**VERIFIED), off_scale], curve=dip)
    for k, measured in ((0, "measured this step (its real time)"), (1, "measured this step, off")):
        fig = V.cost_figure(view, k)
        names = legend_names(fig)
        # every trace drawn is in the legend: none hides with showlegend=False
        assert len(names) == len(fig.data), [t.name for t in fig.data]
        for key in (
            "verify cost, as the length policy prices it",
            "measured curve points (a dip is noise)",
            "the length policy's cut: offered → kept",
            "offered: 1 + 8 (the whole draft)",
            f"step {k}: verified 1 + 3 (kept)",
            measured,
        ):
            assert any(n.startswith(key) for n in names), (key, names)
        cut = named(fig, "the length policy's cut")
        assert cut.line.dash == "dot" and list(cut.x) == [9, 4]


def test_the_cut_sentence_is_built_from_the_steps_numbers():
    points = [(1, 19.0), (4, 19.0), (8, 40.0), (64, 83.0)]
    cut = step(
        draft_tokens=[4, 5, 6, 7], accepted_indices=[0, 1], new_tokens=[4, 5, 9], proposed=40,
        draft_limit=40, policy_cut=36, expected_tokens=2.1, expected_offered=3.1, cost_ms=19.0,
        cost_offered_ms=83.0, verify_ms=20.0,
    )  # fmt: skip
    assert V.cost_chart.cut_sentence(cut, points) == (
        "The length policy cut the 40-token draft to 4: verifying 1 + 4 is priced 19 ms against "
        "83 ms for 1 + 40; it expected 2.1 tokens from it (3.1 from the whole draft), and got 3."
    )
    # the draft_limit caps what counts as offered
    capped = dataclasses.replace(cut, draft_limit=8)
    assert "cut the 8-token draft to 4" in V.cost_chart.cut_sentence(capped, points)
    dropped = V.cost_chart.cut_sentence(step(**DROPPED), points)
    assert dropped.startswith("The length policy dropped the whole 39-token draft")
    assert "222 ms against 57 ms" in dropped and "1.4 tokens expected instead of 1" in dropped
    kept_all = step(**{**VERIFIED, "proposed": 3, "policy_cut": 0})
    assert "kept the whole 3-token draft" in V.cost_chart.cut_sentence(kept_all, points)
    fixed = step(**{**VERIFIED, "expected_tokens": 0.0, "expected_offered": 0.0})
    assert "without pricing them" in V.cost_chart.cut_sentence(fixed, points)
    assert V.cost_chart.cut_sentence(step(), points).startswith("No draft to price")
    # and the figure shows it under the chart
    note = V.cost_figure(view_of([cut]), 0).layout.annotations[-1].text
    assert "cut the 40-token draft to 4" in html.unescape(note.replace("<br>", " "))


@pytest.mark.parametrize(("verify_ms", "busy"), [(80.0, False), (199.0, False), (200.0, True)])
def test_only_a_pass_far_above_its_price_says_the_machine_was_busy(verify_ms, busy):
    ev = step(**{**VERIFIED, "verify_ms": verify_ms})  # priced 80 ms: busy from 2.5x = 200 ms
    sentence = V.cost_chart.busy_sentence(ev, priced_curve(cost_curve(view_of([ev]))))
    assert bool(sentence) == busy
    note = V.cost_figure(view_of([ev]), 0).layout.annotations[-1].text
    assert ("The machine was busy" in note) == busy
    if busy:
        assert sentence.startswith("The machine was busy: 2.5x the usual cost for this step")
        assert "200 ms measured against 80 ms on the curve" in sentence


def test_cost_figure_without_a_curve_says_so():
    old = view_of([step()], curve={})
    assert "without a verify-cost curve" in V.cost_figure(old, 0).layout.annotations[0].text
    running = V.TraceView.from_events([1, 2, 3], [step()], SAM)
    assert "finished trace" in V.cost_figure(running, 0).layout.annotations[0].text


# ------------------------------------------------------------------------------ acceptance


def test_draft_depths_of_a_chain_and_a_tree():
    assert draft_depths([-1, 0, 1, 2]) == [1, 2, 3, 4]
    assert draft_depths([-1, -1, 0, 0, 2, 1]) == [1, 1, 2, 2, 3, 2]
    assert draft_depths([]) == []


def random_step(rng: random.Random) -> StepEvent:
    """A draft tree (or none) with an accepted root-to-leaf path prefix."""
    n = rng.choice([0, 1, 3, 6, 10])
    parents = [rng.randrange(-1, i) for i in range(n)]
    path, node = [], -1
    while rng.random() < 0.7:
        children = [i for i, p in enumerate(parents) if p == node]
        if not children:
            break
        node = rng.choice(children)
        path.append(node)
    return step(
        drafter="static" if n else "none", rule_source="static", draft_tokens=list(range(n)),
        draft_parents=parents, accepted_indices=path, new_tokens=[*path, 9],
    )  # fmt: skip


def depth_of(parents: list[int], node: int) -> int:
    depth = 0
    while node >= 0:
        node, depth = parents[node], depth + 1
    return depth


def test_acceptance_by_depth_agrees_with_a_brute_force_count():
    rng = random.Random(7)
    view = view_of([random_step(rng) for _ in range(60)])
    brute = []
    for d in range(1, 12):
        verified = [
            ev
            for ev in view.steps
            if any(depth_of(ev.draft_parents, i) == d for i in range(len(ev.draft_tokens)))
        ]
        reached = [
            ev
            for ev in verified
            if any(depth_of(ev.draft_parents, i) == d for i in ev.accepted_indices)
        ]
        if verified:
            brute.append((d, len(reached), len(verified)))
    assert acceptance_by_depth(view) == brute
    assert brute[0][2] == sum(bool(ev.draft_tokens) for ev in view.steps)  # only drafting steps
    bars = V.acceptance_figure(view).data[0]
    assert list(bars.x) == [d for d, _, _ in brute]
    assert list(bars.y) == pytest.approx([r / n for _, r, n in brute])
    assert [list(c) for c in bars.customdata] == [[r, n] for _, r, n in brute]
    assert "accepted %{customdata[0]} of %{customdata[1]} steps that verified a depth-%{x}" in (
        bars.hovertemplate
    )


def test_acceptance_figure_without_a_verified_draft_says_so():
    fig = V.acceptance_figure(view_of([step(**DROPPED)]))
    assert "No step verified a draft" in fig.layout.annotations[0].text


# ------------------------------------------------------------------------------ tooltips

PIECES = {4: " the", 5: " a", 6: " an", 7: " cat", 8: " dog", 9: ".", 10: " big", 11: " red"}


def tooltip_view() -> V.TraceView:
    """Step 0: a chain draft ' the cat big red' of which ' the' was accepted; the model chose
    ' dog' (0.48) over the draft's ' cat' (0.45), a near tie. Step 1: an old-style step."""
    tied = step(
        drafter="dynamic", rule_source="dynamic", match_dynamic=6,
        draft_tokens=[4, 7, 10, 11], draft_parents=[-1, 0, 1, 2], accepted_indices=[0],
        bonus_token=8, new_tokens=[4, 8],
        top_tokens=[[4, 5, 6], [8, 7, 9]], top_probs=[[0.62, 0.21, 0.05], [0.48, 0.45, 0.01]],
    )  # fmt: skip
    return view_of([tied, step()], pieces=PIECES)


def test_a_token_tooltip_shows_the_models_top_three_and_the_margin():
    page = V.stream_html(tooltip_view())
    shown = titles(page)
    the = next(t for t in shown if "draft token 0, accepted" in t)
    assert "model's top 3 here: ' the' 0.62 · ' a' 0.21 · ' an' 0.05 (margin 0.41)" in the
    dog = next(t for t in shown if t.startswith("step 0 · the model’s own token"))
    assert "model's top 3 here: ' dog' 0.48 · ' cat' 0.45 · '.' 0.01 (margin 0.03)" in dog
    assert the.endswith("rule: " + choose_source(0, 6, 5, 5, True, True)[2])


def test_only_a_near_tie_is_underlined():
    page = V.stream_html(tooltip_view())
    classes = re.findall(r'class="(sd-tok [^"]*)"', page)
    assert classes == ["sd-tok sd-dynamic", "sd-tok sd-model sd-tie", "sd-tok sd-model"]


def test_a_rejected_token_tooltip_says_what_the_model_chose_instead():
    shown = titles(V.stream_html(tooltip_view()))
    rejected = next(t for t in shown if "rejected dynamic automaton draft" in t)
    assert "at draft depth 2 the model chose ' dog' 0.48 instead of ' cat' 0.45" in rejected


def test_a_trace_without_top_tokens_has_no_top_line():
    page = V.stream_html(view_of([step(**VERIFIED)], pieces=PIECES))
    assert "model's top" not in page and "sd-tie" not in page
    assert titles(page)[0].startswith("step 0 · dynamic automaton draft token 0, accepted")


def test_a_piece_function_names_top_tokens_the_trace_lacks():
    view = tooltip_view()
    view.pieces = {}
    assert "top 3 here: '<4>' 0.62" in " ".join(titles(V.stream_html(view)))
    named_page = V.stream_html(view, piece=lambda t: f"tok{t}")
    assert "top 3 here: 'tok4' 0.62 · 'tok5' 0.21" in " ".join(titles(named_page))


def test_the_plus_n_label_has_a_title_and_the_legend_explains_it():
    ev = step(
        drafter="static", rule_source="static", match_static=20,
        draft_tokens=[4, 5, 6, 7, 8, 9, 10, 11], draft_parents=[-1, 0, 1, 2, 3, 4, 5, 6],
        accepted_indices=[0], bonus_token=8, new_tokens=[4, 8],
    )  # fmt: skip
    page = V.stream_html(view_of([ev], pieces=PIECES))
    label = re.search(r'<span class="sd-more" title="([^"]*)">\+(\d+)</span>', page)
    assert label and label[2] == "3"  # 7 rejected, 4 shown inline
    assert html.unescape(label[1]) == (
        "+3: 3 more rejected draft token(s), not shown here: '.' ' big' ' red'"
    )
    legend = V.legend_html()
    assert "= 6 more rejected draft tokens, not shown inline (hover a +N to list them)" in legend
    assert 'class="sd-tie"' in legend and "near tie" in legend


# ------------------------------------------------------------------------------ the page


def test_the_step_panels_include_the_new_charts():
    from samdec.ui.panels import STEP_PANELS, Session, render

    session = Session()
    session.view = tooltip_view()
    panels = render(session, 0, 24)
    assert {"cost_plot", "acceptance_plot"} <= set(STEP_PANELS)
    assert set(panels) == set(STEP_PANELS)
    assert named(panels["cost_plot"], "step 0: verified 1 + 4").x == (5,)


def test_a_trace_from_the_engine_draws_every_new_panel():
    from samdec.cost import CostModel
    from samdec.stack import engine_for
    from tests.conftest import tiny_model

    prompt = [3, 17, 29, 5, 3, 17, 29, 5, 11, 3, 17, 29, 41, 7, 3, 17]
    engine = engine_for(tiny_model("llama", vocab=64, seed=1, sharpen=4.0), cost=CostModel())
    trace = engine.generate(prompt, method="sam-dynamic", max_new_tokens=30, details=True)
    view = V.as_view(trace)
    assert cost_curve(view) and all(ev.top_tokens for ev in view.steps)
    for ev in view.steps:
        fig = V.cost_figure(view, ev.step)
        kept = named(fig, f"step {ev.step}: verified 1 + {len(ev.draft_tokens)}")
        assert (kept.x[0], kept.y[0]) == (1 + len(ev.draft_tokens), ev.cost_ms)
    page = V.stream_html(view)
    assert page.count("model&#x27;s top 3 here") == len(view.token_ids)
    if any(ev.draft_tokens for ev in view.steps):
        assert len(V.acceptance_figure(view).data[0].x) >= 1
