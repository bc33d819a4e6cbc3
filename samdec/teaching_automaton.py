"""The suffix automaton, built one symbol at a time as a stream of events, for teaching.

A pure-Python mirror of `samdec.automaton._extend` (endpos "first"): the same states with the
same numbers, lengths, suffix links, first end positions and transitions (the tests check it
against the compiled automaton), but every change is recorded as an event, so a learner can
replay the construction forward and back:

    add_symbol        the text grows by one symbol
    create_state      the state of the whole new text (length = old length + 1)
    add_transition    a suffix of the old text gets its first arrow on this symbol
    follow_link       up the suffix-link chain to a shorter suffix
    found_transition  this suffix already had an arrow on the symbol: the walk stops
    clone             that arrow's target also holds longer strings: split off the short ones
    redirect          an arrow that led to the split state now leads to the clone
    set_link          a suffix link is set
    match             the longest suffix of the text that occurred before, and its draft

`Playground(symbols).events` is the whole stream; `state_after(k)` is the automaton after the
first k events; `inspect(state)` says what a state stands for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

ROOT = 0
DRAFT_LEN = 4  # tokens of draft shown after each symbol


@dataclass
class Automaton:
    """States as parallel lists; transitions[s] maps a symbol to the target state."""

    length: list[int] = field(default_factory=lambda: [0])
    link: list[int] = field(default_factory=lambda: [-1])
    firstpos: list[int] = field(default_factory=lambda: [-1])
    clone_of: list[int] = field(default_factory=lambda: [-1])
    transitions: list[dict[str, int]] = field(default_factory=lambda: [{}])
    text: list[str] = field(default_factory=list)
    last: int = ROOT

    @property
    def num_states(self) -> int:
        return len(self.length)

    def new_state(self, length: int, firstpos: int, clone_of: int = -1) -> int:
        self.length.append(length)
        self.link.append(-1)
        self.firstpos.append(firstpos)
        self.clone_of.append(clone_of)
        self.transitions.append({})
        return len(self.length) - 1


def apply(sam: Automaton, event: dict[str, Any]) -> None:
    """Change `sam` as `event` says: the only place the automaton is modified."""
    kind = event["kind"]
    if kind == "add_symbol":
        sam.text.append(event["symbol"])
    elif kind == "create_state":
        sam.new_state(event["length"], event["firstpos"])
        sam.last = event["state"]
    elif kind == "add_transition":
        sam.transitions[event["source"]][event["symbol"]] = event["target"]
    elif kind == "clone":
        clone = sam.new_state(event["length"], sam.firstpos[event["of"]], event["of"])
        sam.transitions[clone] = dict(sam.transitions[event["of"]])
        sam.link[clone] = sam.link[event["of"]]
    elif kind == "redirect":
        sam.transitions[event["source"]][event["symbol"]] = event["to"]
    elif kind == "set_link":
        sam.link[event["state"]] = event["link"]


def construction_events(symbols: Sequence[str]) -> list[dict[str, Any]]:
    """The online construction of the suffix automaton of `symbols`, as events."""
    sam, events = Automaton(), []

    def emit(kind: str, **data: Any) -> None:
        event = {"kind": kind, **data}
        apply(sam, event)
        events.append(event)

    for pos, symbol in enumerate(symbols):
        emit("add_symbol", position=pos, symbol=symbol)
        _extend(sam, pos, symbol, emit)
        emit("match", **match_info(sam))
    return events


def _extend(sam: Automaton, pos: int, symbol: str, emit) -> None:
    """One step of the textbook construction, as in automaton._extend."""
    previous = sam.last
    cur = sam.num_states
    emit("create_state", state=cur, length=sam.length[previous] + 1, firstpos=pos)
    p = previous
    while p != -1 and symbol not in sam.transitions[p]:
        emit("add_transition", source=p, symbol=symbol, target=cur)
        if sam.link[p] != -1:
            emit("follow_link", source=p, target=sam.link[p])
        p = sam.link[p]
    if p == -1:
        emit("set_link", state=cur, link=ROOT, why="the symbol is new: only the empty suffix")
        return
    q = sam.transitions[p][symbol]
    emit("found_transition", source=p, symbol=symbol, target=q)
    if sam.length[q] == sam.length[p] + 1:
        emit("set_link", state=cur, link=q, why="q is exactly that suffix plus the symbol")
        return
    clone = sam.num_states
    emit("clone", state=clone, of=q, length=sam.length[p] + 1)
    while p != -1 and sam.transitions[p].get(symbol) == q:
        emit("redirect", source=p, symbol=symbol, to=clone, was=q)
        p = sam.link[p]
    emit("set_link", state=q, link=clone, why="q's shorter strings moved to the clone")
    emit("set_link", state=cur, link=clone, why="the clone is the longest earlier suffix")


def match_info(sam: Automaton, draft_len: int = DRAFT_LEN) -> dict[str, Any]:
    """What the dynamic drafter sees now: the longest suffix of the text that also ended
    earlier (the suffix link of the newest state), where it ended first, and what followed."""
    state = sam.link[sam.last]
    length = sam.length[state] if state > ROOT else 0
    end = sam.firstpos[state] if state > ROOT else -1
    n = len(sam.text)
    return {
        "state": state,
        "length": length,
        "suffix": sam.text[n - length :] if length else [],
        "earlier_end": end,
        "draft": sam.text[end + 1 : min(end + 1 + draft_len, n)] if end >= 0 else [],
    }


class Playground:
    """The construction of one text, replayable event by event."""

    def __init__(self, symbols: Sequence[str]) -> None:
        self.symbols = list(symbols)
        self.events = construction_events(self.symbols)

    def state_after(self, k: int) -> Automaton:
        sam = Automaton()
        for event in self.events[: max(0, k)]:
            apply(sam, event)
        return sam

    def inspect(self, sam: Automaton, state: int) -> dict[str, Any]:
        """A state as a learner asks about it: its strings, lengths and end positions."""
        longest = _spell_longest(sam, state)
        link = sam.link[state]
        # A new state's link is set only at the end of its symbol's events: until then only its
        # longest string is sure to be its own (link -1 must not index length[-1]).
        low = 0 if state == ROOT else sam.length[link] + 1 if link >= 0 else sam.length[state]
        return {
            "state": state,
            "longest": longest,
            "shortest": longest[len(longest) - low :] if state != ROOT else [],
            "lengths": [low, sam.length[state]],
            "endpos": end_positions(sam.text, longest) if state != ROOT else [],
            "link": sam.link[state],
            "clone_of": sam.clone_of[state],
        }


def _spell_longest(sam: Automaton, state: int) -> list[str]:
    """The longest string of a state: it ends at firstpos and has the state's length."""
    if state == ROOT:
        return []
    end = sam.firstpos[state]
    return sam.text[end - sam.length[state] + 1 : end + 1]


def end_positions(text: Sequence[str], piece: Sequence[str]) -> list[int]:
    """Every position where `piece` ends in `text` (brute force: fine for a short text)."""
    k = len(piece)
    return [i + k - 1 for i in range(len(text) - k + 1) if list(text[i : i + k]) == list(piece)]


def split_symbols(text: str, unit: str = "letters") -> list[str]:
    """A text as symbols: one per letter (the default) or one per word."""
    return list(text) if unit == "letters" else text.split()
