"""What the playground's pictures and sentences read off a recorded construction after k of its
events: the clamped k, the symbol being read, the state an event is about, the states made for
the current symbol, a state's longest string, and symbols quoted for a sentence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .stream import compact

if TYPE_CHECKING:  # annotations only: a Playground is handed in, visuals imports no more
    from samdec.teaching_automaton import Automaton, Playground

ROOT = 0  # the root state (samdec.teaching_automaton.ROOT)


def clamp(pg: Playground, k: Any) -> int:
    """k as a whole number of events from 0 to len(pg.events)."""
    try:
        k = int(k)
    except (TypeError, ValueError):
        k = 0
    return max(0, min(k, len(pg.events)))


def text_of(symbols: Sequence[str], sep: str = "") -> str:
    return sep.join(symbols)


def quote(symbols: Sequence[str], sep: str = "", limit: int = 40) -> str:
    """Symbols as quoted text for a sentence; the empty string says so."""
    if not symbols:
        return "the empty string"
    return f"“{compact(text_of(symbols, sep), limit)}”"


def longest(sam: Automaton, state: int) -> list[str]:
    """The longest string of a state: it ends at the state's first end position."""
    if state == ROOT or state < 0:
        return []
    end = sam.firstpos[state]
    return sam.text[end - sam.length[state] + 1 : end + 1]


def state_index(sam: Automaton, state: Any) -> int:
    """`state` as a state number of `sam` (from a dropdown, say), or -1 when it is none."""
    try:
        state = int(state)
    except (TypeError, ValueError):
        return -1
    return state if 0 <= state < sam.num_states else -1


def symbol_index(pg: Playground, k: int) -> int:
    """The symbol being (or last) read after k events, from 0; -1 before the first."""
    return sum(1 for e in pg.events[:k] if e["kind"] == "add_symbol") - 1


def symbol_done(pg: Playground, k: int) -> bool:
    """Whether the last symbol read is fully added (its match event is applied)."""
    return k == 0 or pg.events[k - 1]["kind"] == "match"


def last_match(pg: Playground, k: int) -> tuple[int, dict | None]:
    """(index, event) of the latest match event among the first k; (-1, None) if none."""
    for i in range(k - 1, -1, -1):
        if pg.events[i]["kind"] == "match":
            return i, pg.events[i]
    return -1, None


def focus_state(pg: Playground, k: int) -> int:
    """The state the k-th event is about (what the inspector shows by default)."""
    k = clamp(pg, k)
    if k == 0:
        return ROOT
    ev = pg.events[k - 1]
    kind = ev["kind"]
    if kind == "add_symbol":
        return pg.state_after(k).last
    if kind in ("create_state", "clone", "set_link"):
        return ev["state"]
    if kind in ("add_transition", "found_transition"):
        return ev["target"]
    if kind == "follow_link":
        return ev["target"]
    if kind == "redirect":
        return ev["to"]
    if kind == "match":
        return ev["state"] if ev["state"] > ROOT else pg.state_after(k).last
    return ROOT


def new_states(pg: Playground, k: int) -> set[int]:
    """The states made for the symbol being read (those made since its add_symbol event)."""
    count, start = 1, 1
    for ev in pg.events[:k]:
        if ev["kind"] == "add_symbol":
            start = count
        elif ev["kind"] in ("create_state", "clone"):
            count += 1
    return set(range(start, count)) if k else set()
