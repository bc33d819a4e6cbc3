"""The automaton playground's drawing (visuals.playground, pure) and its handlers
(samdec.ui.playground, without a server). The construction itself is tested in
tests/test_playground.py; the /automaton_steps endpoint in tests/test_app.py, the page in
tests/test_browser.py."""

from __future__ import annotations

import json
import os
from unittest.mock import ANY

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

import visuals as V
from samdec.teaching_automaton import ROOT, Playground
from visuals import playground as VP

TEXT = "abcbc"


def endpos_classes(text) -> int:
    """Brute force: the number of distinct end-position sets of the text's substrings."""
    classes = set()
    for i in range(len(text)):
        for j in range(i + 1, len(text) + 1):
            piece = text[i:j]
            n = len(piece)
            ends = (e for e in range(n - 1, len(text)) if text[e - n + 1 : e + 1] == piece)
            classes.add(frozenset(ends))
    return len(classes)


def first(pg: Playground, kind: str) -> int:
    """k just after the first event of this kind."""
    return next(i for i, e in enumerate(pg.events) if e["kind"] == kind) + 1


def states_trace(fig):
    return next(t for t in fig.data if t.name == "state")


@pytest.fixture(scope="module")
def pg() -> Playground:
    return Playground(list(TEXT))


# ----------------------------------------------------------------------------- the drawing


def test_figure_draws_the_states_by_length_with_root_and_clones(pg):
    total = len(pg.events)
    fig = V.playground_figure(pg, total)
    states = states_trace(fig)
    sam = pg.state_after(total)
    assert len(states.x) == sam.num_states == endpos_classes(TEXT) + 1 == 8
    assert list(states.x) == [float(n) for n in sam.length]  # left to right by length
    assert len(set(zip(states.x, states.y, strict=True))) == sam.num_states  # no overlaps
    assert list(states.marker.symbol).count("diamond") == 2  # the two clones of "abcbc"
    assert any(a.text == "root" for a in fig.layout.annotations) and VP.ROOT == ROOT
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    edges = sum(len(t) for t in sam.transitions)
    links = sam.num_states - 1
    assert len(arrows) == edges + links
    labels = next(t for t in fig.data if t.mode == "text")
    assert sorted(labels.text) == sorted(s for t in sam.transitions for s in t)
    title = fig.layout.title.text
    assert "8 states" in title and f"{total} of {total} events done" in title


def test_figure_grows_from_the_root_and_marks_what_each_event_changed(pg):
    assert len(states_trace(V.playground_figure(pg, 0)).x) == 1
    k = first(pg, "clone")
    fig = V.playground_figure(pg, k)
    assert len(states_trace(fig).x) == pg.state_after(k).num_states == 6
    changed = [t for t in fig.data if t.name == "changed by this event"]
    assert changed and all(t.line.color == VP.CHANGED for t in changed)
    ringed = [i for i, w in enumerate(states_trace(fig).marker.line.width) if w == 5]
    assert ringed == sorted({pg.events[k - 1]["state"], pg.events[k - 1]["of"]})
    redirect = first(pg, "redirect")
    ghost = [t for t in V.playground_figure(pg, redirect).data if "before the redirect" in t.name]
    assert len(ghost) == 1
    before = V.playground_figure(pg, k - 1)  # one step back: no clone yet
    assert "diamond" not in list(states_trace(before).marker.symbol)


def test_every_event_is_described_in_one_sentence(pg):
    seen = set()
    for k in range(len(pg.events) + 1):
        text = V.describe_event(pg, k)
        assert text and text.endswith("."), (k, text)
        html = V.playground_event_html(pg, k)
        assert f"{k} of {len(pg.events)} events done" in html
        kind = pg.events[k - 1]["kind"] if k else "start"
        assert f'data-kind="{kind}"' in html
        seen.add(kind)
    assert seen == {"start", *VP.KIND_LABELS}  # "abcbc" has every kind of event
    clone = first(pg, "clone")
    assert V.describe_event(pg, clone).startswith("Clone state 2 as state 5")
    assert "clone" not in V.playground_event_html(pg, clone - 1).lower()
    assert 'class="sd-pg-final">8<' in V.playground_event_html(pg, 0)


def test_state_inspector_shows_strings_lengths_and_end_positions(pg):
    total = len(pg.events)
    clone = V.playground_state_html(pg, total, 5)
    assert "a clone of state 2" in clone and "End positions {1, 3}" in clone
    three = V.playground_state_html(pg, total, 3)
    assert "“abc”" in three and "3–3" in three and "End positions {2}" in three
    seven = V.playground_state_html(pg, total, 7)  # the clone holding "bc" and "c"
    assert "“bc”, “c”" in seven and "End positions {2, 4}" in seven
    assert "the empty string" in V.playground_state_html(pg, total, 0)
    assert "Pick a state" in V.playground_state_html(pg, total, 99)
    # Just before the clone, state 2 holds "ab" (ending at 1) and "b" (now at 1 and 3).
    mixed = V.playground_state_html(pg, first(pg, "clone") - 1, 2)
    assert "not yet one class" in mixed and "“b” also ends at 3" in mixed
    split = pg.events.index({"kind": "set_link", "state": 2, "link": 5, "why": ANY})
    assert "sd-pg-mixed" in V.playground_state_html(pg, split, 2)  # its link still to the root
    assert "sd-pg-mixed" not in V.playground_state_html(pg, split + 1, 2)  # now to the clone
    # A new state before its suffix link is set (link -1): no crash, and it says so.
    k = first(pg, "create_state")
    assert "not set yet" in V.playground_state_html(pg, k, 1)


def test_match_panel_reads_the_draft_off_the_newest_suffix_link(pg):
    assert "first symbol" in V.playground_match_html(pg, 0)
    html = V.playground_match_html(pg, len(pg.events))
    assert 'data-length="2"' in html  # "abcbc" ends with "bc", which ended at position 2
    assert "position 2" in html and "the draft: “bc”" in html
    assert "still being added" in V.playground_match_html(pg, first(pg, "clone"))


@pytest.mark.parametrize("text", ["abcbc", "abababab", "abcabxabcd", "mississippi", "aaaa"])
def test_match_is_what_the_dynamic_drafter_drafts(text):
    """The playground's match event after every symbol = DynamicSuffixAutomaton's match and
    draft(4) on the same text as token ids."""
    from samdec.automaton import DynamicSuffixAutomaton

    pg = Playground(list(text))
    matches = [e for e in pg.events if e["kind"] == "match"]
    automaton = DynamicSuffixAutomaton()
    for ch, match in zip(text, matches, strict=True):
        length, state = automaton.advance([ord(ch)])
        assert (match["length"], match["earlier_end"]) == (length, automaton.match_end())
        assert [ord(c) for c in match["draft"]] == automaton.draft(4).tolist()
        assert match["state"] == state


# ----------------------------------------------------------------------------- the handlers


@pytest.fixture(scope="module")
def ui():
    from samdec.ui import playground

    return playground


def test_build_then_step_to_the_clone_and_back(ui, pg):
    built = ui.build_panels(TEXT, "letters")
    total = len(pg.events)
    assert built["built"] == {"symbols": list(TEXT), "unit": "letters"}
    assert built["slider"].maximum == total and built["slider"].value == 0
    assert f"{total} events" in built["notice"] and "sd-error" not in built["notice"]
    assert "0 of " in built["event"] and " events done" in built["event"]
    b = built["built"]
    clone = first(pg, "clone")
    at = ui.step_panels(b, clone - 1, +1)
    assert at["slider"] == clone and 'data-kind="clone"' in at["event"]
    assert at["states"].value == 5 and 'data-state="5"' in at["inspector"]
    assert any(label.endswith("(clone)") for label, _ in at["states"].choices)
    back = ui.step_panels(b, clone, -1)
    assert back["slider"] == clone - 1 and "clone" not in back["event"].lower()
    assert len(back["states"].choices) == 5
    assert ui.step_panels(b, 0, -1)["slider"] == 0
    assert ui.step_panels(b, total, +1)["slider"] == total
    picked = ui.inspect_panel(b, total, 7)
    assert set(picked) == {"inspector"} and "End positions {2, 4}" in picked["inspector"]


def test_symbol_buttons_jump_to_whole_symbols(ui, pg):
    b = {"symbols": list(TEXT), "unit": "letters"}
    marks = ui.symbol_boundaries(pg)
    assert len(marks) == len(TEXT) + 1 and marks[-1] == len(pg.events)
    k = 0
    for mark in marks[1:]:
        k = ui.symbol_panels(b, k, +1)["slider"]
        assert k == mark
    assert ui.symbol_panels(b, k, +1)["slider"] == k
    assert ui.symbol_panels(b, marks[3] + 2, -1)["slider"] == marks[3]
    assert ui.symbol_panels(b, 0, -1)["slider"] == 0


def test_words_are_symbols_too(ui):
    built = ui.build_panels("to be or not to be", "words")
    assert built["built"]["symbols"] == ["to", "be", "or", "not", "to", "be"]
    end = ui.show_panels(built["built"], 10_000)
    assert "“to be”" in end["match"]  # the text ends with "to be", seen before


@pytest.mark.parametrize(
    ("text", "unit", "message"),
    [
        ("", "letters", "empty"),
        ("   ", "words", "empty"),
        ("x" * 65, "letters", "at most 64 symbols, and this text has 65 letters"),
        ("y " * 70, "words", "70 words"),
        ("z" * 5000, "letters", "too long"),
        ("abc", "syllables", "The unit must be"),
        (None, "letters", "empty"),
    ],
    ids=["empty", "blank-words", "65-letters", "70-words", "5000-chars", "bad-unit", "none"],
)
def test_bad_text_gets_a_clear_message_not_a_traceback(ui, text, unit, message):
    update = ui.build_panels(text, unit)
    assert set(update) == {"notice"}
    assert "sd-error" in update["notice"] and message in update["notice"]
    assert "Traceback" not in update["notice"]


def test_send_to_the_live_demo_sets_the_prompt(ui):
    sent = ui.send_to_demo("abcbc abcbc")
    assert sent["prompt"] == "abcbc abcbc" and "Generate" in sent["notice"]
    assert set(ui.send_to_demo("  ")) == {"notice"}


def test_steps_data_is_json_with_every_state(ui):
    data = json.loads(json.dumps(ui.steps_data(TEXT)))
    assert data["symbols"] == list(TEXT) and data["unit"] == "letters"
    assert data["num_states"] == len(data["states"]) == endpos_classes(TEXT) + 1
    assert [e["kind"] for e in data["events"]].count("clone") == 2
    by_id = {s["id"]: s for s in data["states"]}
    assert by_id[5]["clone_of"] == 2 and by_id[5]["endpos"] == [1, 3]
    assert by_id[0]["transitions"] == {"a": 1, "b": 5, "c": 7}
    assert data["num_transitions"] == sum(len(s["transitions"]) for s in data["states"])


@pytest.mark.model
def test_model_tokens_are_the_tokenizers_pieces(ui):
    text = "the cat sat on the mat, the cat sat"
    built = ui.read_built(text, "tokens")
    assert built["unit"] == "tokens" and "".join(built["symbols"]) == text
    assert len(built["symbols"]) < len(text)  # pieces, not letters
    pg, sep = ui.playground_of(built)
    match = [e for e in pg.events if e["kind"] == "match"][-1]
    # (the first "the" has no space before it: another token than " the")
    assert sep == "" and match["length"] >= 2 and "".join(match["suffix"]) == " cat sat"


def test_play_ticks_one_event_at_a_time_and_stops_at_the_end(ui, pg):
    b = {"symbols": list(TEXT), "unit": "letters"}
    total = len(pg.events)
    started = ui.play_panels(b, 3, False)
    assert started["playing"] is True and started["timer"].active is True
    assert started["play"].value == ui.PAUSE_LABEL and "slider" not in started  # stays at 3
    tick = ui.tick_panels(b, 3)
    assert tick["slider"] == 4 and "timer" not in tick  # one event on, still playing
    assert f"4 of {total} events done" in tick["event"]
    last = ui.tick_panels(b, total - 1)
    assert last["slider"] == total  # the last event is shown, then the timer stops
    assert last["timer"].active is False and last["playing"] is False
    assert last["play"].value == ui.PLAY_LABEL
    at_end = ui.tick_panels(b, total)
    assert "slider" not in at_end and at_end["timer"].active is False
    paused = ui.play_panels(b, 5, True)
    assert paused["timer"].active is False and paused["play"].value == ui.PLAY_LABEL
    assert "slider" not in paused
    assert ui.tick_panels(b, 5, False) == {}  # a tick already on its way after Pause
    again = ui.play_panels(b, total, False)  # Play at the end starts over
    assert again["slider"] == 0 and again["timer"].active is True
    # played to the end, tick by tick, it shows every event once
    k, seen = 0, []
    while (step := ui.tick_panels(b, k)).get("playing") is not False:
        k = step["slider"]
        seen.append(k)
    assert seen == list(range(1, total)) and step["slider"] == total
