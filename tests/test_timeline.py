"""visuals.timeline: plain and speculative runs on one wall-clock axis (hand-built traces; the
last test runs the Compare section on the bundled model)."""

from __future__ import annotations

import re

import pytest

import visuals as V
from samdec.trace import RunSummary, StepEvent, Trace
from visuals.palette import COLOURS


def step(i: int, drafter: str = "none", drafted: int = 0, accepted: int = 0, **fields):
    """Step i: `accepted` of `drafted` draft tokens kept, then the model's own token."""
    new = [100 + i] * (accepted + 1)
    base = dict(
        step=i, context_length=3 + i, start_token=3, match_static=0, match_dynamic=0,
        state_static=-1, state_dynamic=0, drafter=drafter, reason="", bonus_token=100 + i,
        draft_tokens=[7] * drafted, draft_parents=list(range(-1, drafted - 1)),
        accepted_indices=list(range(accepted)), new_tokens=new, draft_us=0.0, verify_ms=10.0,
    )  # fmt: skip
    return StepEvent(**{**base, **fields})


def trace(method: str, steps: list[StepEvent], prefill_ms: float, decode_ms: float) -> Trace:
    ids = [t for ev in steps for t in ev.new_tokens]
    summary = RunSummary(
        method=method, prompt_tokens=3, new_tokens=len(ids), steps=len(steps),
        mat=len(ids) / max(len(steps), 1), tokens_per_s=0.0, prefill_ms=prefill_ms,
        decode_ms=decode_ms, stop_reason="max_new_tokens",
    )  # fmt: skip
    return Trace(text="", token_ids=ids, steps=steps, summary=summary, prompt_ids=[1, 2, 3])


@pytest.fixture
def plain() -> Trace:
    """Six plain steps of 100 ms (one with a slow 2 ms of drafting bookkeeping)."""
    steps = [step(i, verify_ms=100.0) for i in range(6)]
    steps[2].draft_us = 2000.0
    return trace("ar", steps, prefill_ms=50.0, decode_ms=610.0)


@pytest.fixture
def spec() -> Trace:
    """The same six tokens in three steps: a dynamic draft of 3 (2 kept), no draft, a static
    draft of 2 (1 kept)."""
    steps = [
        step(0, "dynamic", drafted=3, accepted=2, verify_ms=120.0, draft_us=300.0),
        step(1, "none", verify_ms=101.0, draft_us=50.0, no_draft="not_worth_it"),
        step(2, "static", drafted=2, accepted=1, verify_ms=115.0, draft_us=250.0),
    ]
    return trace("sam+recycling", steps, prefill_ms=60.0, decode_ms=340.0)


def segments(fig, lane: str) -> dict[int, tuple[float, float, str, float]]:
    """{step (-1 prefill, -2 between steps): (start, width, kind, thickness)} of a lane."""
    out = {}
    for bar in fig.data:
        if bar.type != "bar":
            continue
        for base, width, thick, (name, kind, index) in zip(
            bar.base, bar.x, bar.width, bar.customdata, strict=True
        ):
            if name == lane:
                key = index if index >= 0 else (-1 if kind == "prefill" else -2)
                out[key] = (base, width, kind, thick)
    return out


def finish_marks(fig) -> dict[str, tuple[float, str]]:
    marks = next(t for t in fig.data if t.name == "finished")
    return {y: (x, text) for x, y, text in zip(marks.x, marks.y, marks.text, strict=True)}


def test_segment_widths_are_the_measured_times(plain, spec):
    fig = V.wallclock_figure([("plain", plain), ("ours", spec)])
    for lane, run in (("plain", plain), ("ours", spec)):
        seg = segments(fig, lane)
        assert seg[-1][:2] == (0.0, pytest.approx(run.summary.prefill_ms / 1e3))
        t = run.summary.prefill_ms / 1e3
        for ev in run.steps:
            start, width, _, _ = seg[ev.step]
            assert start == pytest.approx(t)  # back to back, after the prefill
            assert width == pytest.approx(ev.draft_us / 1e6 + ev.verify_ms / 1e3)
            t += width
        # what no step measured fills the rest, up to the run's measured end
        start, width, kind, _ = seg[-2]
        end = (run.summary.prefill_ms + run.summary.decode_ms) / 1e3
        assert (kind, start, start + width) == ("between", pytest.approx(t), pytest.approx(end))


def test_steps_are_coloured_and_sized_by_what_they_did(plain, spec):
    fig = V.wallclock_figure([("plain", plain), ("ours", spec)])
    colours = {bar.name: bar.marker.color for bar in fig.data if bar.type == "bar"}
    assert colours["plain step (1 token)"] == COLOURS["model"]
    assert colours["dynamic automaton draft"] == COLOURS["dynamic"]
    assert colours["static automaton draft"] == COLOURS["static"]
    assert colours["no draft verified"] == COLOURS["none"]
    ours = segments(fig, "ours")
    assert [ours[i][2] for i in range(3)] == ["dynamic", "none", "static"]
    assert {segments(fig, "plain")[i][2] for i in range(6)} == {"plain step"}
    # thicker the more tokens a step added: 3 > 2 > 1
    assert ours[0][3] > ours[2][3] > ours[1][3]
    hover = next(b for b in fig.data if b.name == "dynamic automaton draft").hovertext[0]
    assert "step 0: +3 token(s)" in hover and "drafted 3, accepted 2" in hover
    assert "120.0 ms verifying" in hover


def test_finishing_marks_say_how_much_earlier_or_later(plain, spec):
    slow = trace("sam", spec.steps, prefill_ms=60.0, decode_ms=900.0)
    fig = V.wallclock_figure([("plain", plain), ("ours", spec), ("slow", slow)])
    marks = finish_marks(fig)
    assert marks["plain"] == (pytest.approx(0.66), "6 tokens in 0.66 s")
    assert marks["ours"] == (pytest.approx(0.40), "6 tokens, 0.26 s earlier than plain")
    assert marks["slow"] == (pytest.approx(0.96), "6 tokens, 0.30 s later than plain")


def test_without_plain_decoding_the_marks_give_times(spec):
    marks = finish_marks(V.wallclock_figure([("ours", spec)]))
    assert marks["ours"][1] == "6 tokens in 0.40 s"


def test_lanes_keep_their_order_from_the_top(plain, spec):
    fig = V.wallclock_figure([("ours", spec), ("plain", plain)])
    assert list(fig.layout.yaxis.categoryarray) == ["ours", "plain"]
    assert fig.layout.yaxis.autorange == "reversed"
    assert list(finish_marks(fig)) == ["ours", "plain"]
    # the axis reaches past the last finish, so its label fits
    assert fig.layout.xaxis.range[1] > 0.66


def test_a_run_without_step_times_is_named_not_drawn(plain, spec):
    fig = V.wallclock_figure([("plain", plain), ("prompt lookup", None), ("ours", spec)])
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert re.search(r"Not drawn: prompt lookup\b.*no per-step times", notes)
    lanes = {name for bar in fig.data if bar.type == "bar" for name, _, _ in bar.customdata}
    assert lanes == {"plain", "ours"}
    assert list(fig.layout.yaxis.categoryarray) == ["plain", "ours"]


def test_nothing_to_draw_gives_a_message():
    for lanes in ([], [("prompt lookup", None)]):
        fig = V.wallclock_figure(lanes)
        assert not fig.data
        assert fig.layout.annotations and fig.layout.annotations[0].text
    assert "Run the comparison" in V.wallclock_figure([]).layout.annotations[0].text


@pytest.mark.model
def test_the_compare_section_draws_its_runs_on_the_wall_clock():
    from samdec.ui import compare

    prompt = "List three colours of the rainbow, then list them again in reverse order."
    values = {"prompt": prompt, "method": "sam", "max_new_tokens": 6}
    table, _, fig, duels = compare.compare_panels(values)
    assert "identical" in table and "differs" not in table
    # prompt lookup runs in the engine's loop too: it has per-step times, so it is drawn
    names = [compare.PLAIN_NAME, compare.PLD_NAME, "sam (samdec)"]
    assert list(fig.layout.yaxis.categoryarray) == names
    notes = " ".join(a.text for a in fig.layout.annotations)
    assert "Not drawn" not in notes
    assert "drafted from a suffix automaton" in table  # the automata vs prompt lookup, counted
    assert duels.layout.title.text or duels.layout.annotations  # drawn, or says why not
    label = finish_marks(fig)["sam (samdec)"][1]
    assert re.fullmatch(
        r"6 tokens, (\d+\.\d\d s (earlier|later) than|at the same time as) plain", label
    )
    table, _, fig, _ = compare.compare_panels({**values, "prompt": "  "})
    assert "sd-error" in table and not fig.data  # bad input: a notice and an empty lane
