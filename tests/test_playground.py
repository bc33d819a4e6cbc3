"""The playground's event-stream construction against the compiled automaton and brute force."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samdec.automaton import DynamicSuffixAutomaton
from samdec.teaching_automaton import (
    DRAFT_LEN,
    Playground,
    construction_events,
    end_positions,
    split_symbols,
)

texts = st.lists(st.sampled_from("abc"), min_size=1, max_size=40)


def endpos_classes(text: list[str]) -> set[tuple[int, ...]]:
    """Brute force: the distinct end-position sets of all non-empty substrings."""
    pieces = {tuple(text[i:j]) for i in range(len(text)) for j in range(i + 1, len(text) + 1)}
    return {tuple(end_positions(text, list(p))) for p in pieces}


def compiled(text: list[str]) -> DynamicSuffixAutomaton:
    sam = DynamicSuffixAutomaton()
    sam.advance([ord(c) for c in text])
    return sam


@settings(deadline=None, max_examples=150)
@given(texts)
def test_the_mirror_builds_the_compiled_automaton_state_for_state(text):
    """Same numbering, lengths, suffix links, first end positions and transitions."""
    sam = Playground(text).state_after(10**9)
    reference = compiled(text).snapshot()
    assert sam.num_states == len(reference["states"])
    for row in reference["states"]:
        s = row["id"]
        assert (sam.length[s], sam.link[s], sam.firstpos[s]) == (
            row["length"],
            row["link"],
            row["endpos"],
        ), f"state {s}"
    mine = sorted(
        [s, ord(c), d] for s, arrows in enumerate(sam.transitions) for c, d in arrows.items()
    )
    assert mine == reference["transitions"]


@settings(deadline=None, max_examples=150)
@given(texts)
def test_one_state_per_end_position_class_plus_the_root(text):
    assert Playground(text).state_after(10**9).num_states == len(endpos_classes(text)) + 1


@settings(deadline=None, max_examples=100)
@given(texts)
def test_every_state_holds_exactly_the_strings_of_its_end_position_class(text):
    play = Playground(text)
    sam = play.state_after(len(play.events))
    for state in range(1, sam.num_states):
        info = play.inspect(sam, state)
        lo, hi = info["lengths"]
        longest = info["longest"]
        assert len(longest) == hi and info["shortest"] == longest[hi - lo :]
        for k in range(lo, hi + 1):  # every suffix of the longest in the range: same endpos
            assert end_positions(text, longest[hi - k :]) == info["endpos"]
        if lo > 1:  # one shorter leaves the class: it ends in more places
            assert len(end_positions(text, longest[hi - lo + 1 :])) > len(info["endpos"])


@settings(deadline=None, max_examples=100)
@given(texts)
def test_the_match_after_each_symbol_is_the_dynamic_drafters(text):
    matches = [e for e in construction_events(text) if e["kind"] == "match"]
    sam = DynamicSuffixAutomaton()
    for symbol, match in zip(text, matches, strict=True):
        length, _ = sam.advance([ord(symbol)])
        assert match["length"] == length
        assert [ord(c) for c in match["draft"]] == sam.draft(DRAFT_LEN).tolist()
        if length:
            assert match["earlier_end"] == sam.match_end()
            assert match["suffix"] == list(text[len(sam) - length : len(sam)])


def test_replaying_to_each_symbol_gives_the_automaton_of_that_prefix():
    text = list("abcbcabbc")
    play = Playground(text)
    for i, event in enumerate(play.events):
        if event["kind"] == "add_symbol" and event["position"] > 0:
            before = play.state_after(i)
            prefix = Playground(text[: event["position"]]).state_after(10**9)
            assert (before.length, before.link, before.transitions) == (
                prefix.length,
                prefix.link,
                prefix.transitions,
            )


def test_abcbc_makes_two_clones_and_eight_states():
    """The worked example the page opens with. The second "b" splits "ab, b" (b now ends at
    1 and 3, ab only at 1); the second "c" splits "abc, bc, c" the same way."""
    play = Playground(list("abcbc"))
    kinds = [e["kind"] for e in play.events]
    assert kinds.count("clone") == 2 and kinds.count("add_symbol") == 5
    sam = play.state_after(len(play.events))
    spelled = [
        (play.inspect(sam, e["state"])["longest"], play.inspect(sam, e["of"])["longest"])
        for e in play.events
        if e["kind"] == "clone"
    ]
    assert spelled == [(["b"], ["a", "b"]), (["b", "c"], ["a", "b", "c"])]
    assert sam.num_states == len(endpos_classes(list("abcbc"))) + 1 == 8
    last_match = [e for e in play.events if e["kind"] == "match"][-1]
    assert last_match["suffix"] == list("bc") and last_match["earlier_end"] == 2


def test_symbols_are_letters_or_words():
    assert split_symbols("ab c") == ["a", "b", " ", "c"]
    assert split_symbols("to be or not to be", "words") == ["to", "be", "or", "not", "to", "be"]


@pytest.mark.parametrize("text", ["a", "aaaa", "abab"])
def test_degenerate_texts(text):
    sam = Playground(list(text)).state_after(10**9)
    assert sam.num_states == len(endpos_classes(list(text))) + 1
