"""The playground's sentences: what each event of the construction does, and why, for a learner.

`describe_event` picks the sentence for the k-th event's kind; `sep` joins symbols when a
sentence quotes them ("" for letters and tokens, " " for words).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .glossary import numbered
from .playground_model import ROOT, clamp, longest, quote

if TYPE_CHECKING:  # annotations only: a Playground is handed in, visuals imports no more
    from samdec.teaching_automaton import Automaton, Playground


def _named(sam: Automaton, state: int, sep: str) -> str:
    if state == ROOT:
        return "the root (the empty string)"
    return f"state {state} ({quote(longest(sam, state), sep)})"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass
class _Said:
    """What every event sentence may need: the playground, the event's index, the automaton
    right after it, the symbol separator and the text read so far, quoted."""

    pg: Playground
    k: int
    sam: Automaton
    sep: str
    text: str


def describe_event(pg: Playground, k: Any, sep: str = "") -> str:
    """One sentence for a learner about the k-th event (what it does, and why)."""
    k = clamp(pg, k)
    if k == 0:
        return (
            "Nothing read yet: the automaton is only the root, the state of the empty string. "
            "Step forward to read the first symbol."
        )
    ev = pg.events[k - 1]
    sam = pg.state_after(k)
    say = _SENTENCES.get(ev["kind"])
    return say(ev, _Said(pg, k, sam, sep, quote(sam.text, sep))) if say else ev["kind"]


def _on_add_symbol(ev: dict, c: _Said) -> str:
    pos = ev["position"]
    return (
        f"Read {numbered('symbol', pos, len(c.pg.symbols))}, {quote([ev['symbol']], c.sep)}: "
        f"the text is now {c.text}. Every suffix of it that never ended anywhere before needs "
        f"a path to a state that ends at position {pos}."
    )


def _on_create_state(ev: dict, c: _Said) -> str:
    previous = c.pg.state_after(c.k - 1).last
    return (
        f"New state {ev['state']} for the whole text {c.text} (length {ev['length']}), which "
        f"ends first at position {ev['firstpos']}. Now walk up the suffix links from "
        f"{_named(c.sam, previous, c.sep)}, the old whole text."
    )


def _on_add_transition(ev: dict, c: _Said) -> str:
    src, sym = ev["source"], ev["symbol"]
    grown = quote([*longest(c.sam, src), sym], c.sep)
    return (
        f"{_cap(_named(c.sam, src, c.sep))} has no arrow on {quote([sym], c.sep)}: add "
        f"{src} → {ev['target']}. {grown} (and the shorter strings of state {src} followed "
        f"by it) end here for the first time."
    )


def _on_follow_link(ev: dict, c: _Said) -> str:
    return (
        f"Follow the suffix link of state {ev['source']} to "
        f"{_named(c.sam, ev['target'], c.sep)}: the next, shorter suffixes of the old text."
    )


def _on_found_transition(ev: dict, c: _Said) -> str:
    sam, sep = c.sam, c.sep
    src, sym, q = ev["source"], ev["symbol"], ev["target"]
    seen = quote([*longest(sam, src), sym], sep)
    exact = sam.length[q] == sam.length[src] + 1
    tail = (
        f"State {q} holds exactly {seen} as its longest string, so it can be the new "
        "state's suffix link as it is."
        if exact
        else f"But state {q} also holds longer strings, up to {quote(longest(sam, q), sep)}, "
        "that did not end here: it has to be split."
    )
    return (
        f"{_cap(_named(sam, src, sep))} already has an arrow on {quote([sym], sep)}, "
        f"to state {q}: {seen} occurred before, and so did every shorter suffix. The walk "
        f"stops. {tail}"
    )


def _on_clone(ev: dict, c: _Said) -> str:
    clone, q = ev["state"], ev["of"]
    return (
        f"Clone state {q} as state {clone}: the clone takes its strings of length up to "
        f"{ev['length']} ({quote(longest(c.sam, clone), c.sep)} and shorter), which now end at "
        f"one more position; state {q} keeps the longer ones, up to "
        f"{quote(longest(c.sam, q), c.sep)}. The clone copies state {q}'s arrows and suffix link."
    )


def _on_redirect(ev: dict, c: _Said) -> str:
    src, sym = ev["source"], ev["symbol"]
    return (
        f"The arrow of state {src} on {quote([sym], c.sep)} led to state {ev['was']}; it now "
        f"leads to the clone, state {ev['to']}: {quote([*longest(c.sam, src), sym], c.sep)} "
        "ended here too."
    )


def _on_set_link(ev: dict, c: _Said) -> str:
    sam, sep = c.sam, c.sep
    s, t = ev["state"], ev["link"]
    if s == sam.last and t == ROOT:
        why = (
            f"{quote([sam.text[-1]], sep)} never occurred before, so the longest suffix of "
            f"{c.text} seen earlier is the empty string"
        )
    elif s == sam.last:
        why = f"{quote(longest(sam, t), sep)} is the longest suffix of {c.text} that ended before"
    else:
        why = f"its shorter strings moved to the clone, state {t}"
    return f"Suffix link of state {s} → {_named(sam, t, sep)}: {why}."


def _on_match(ev: dict, c: _Said) -> str:
    return _match_sentence(ev, c.sam, c.sep)


_SENTENCES = {
    "add_symbol": _on_add_symbol,
    "create_state": _on_create_state,
    "add_transition": _on_add_transition,
    "follow_link": _on_follow_link,
    "found_transition": _on_found_transition,
    "clone": _on_clone,
    "redirect": _on_redirect,
    "set_link": _on_set_link,
    "match": _on_match,
}


def _match_sentence(ev: dict, sam: Automaton, sep: str) -> str:
    if ev["length"] == 0:
        return (
            f"Match: the newest state {sam.last}'s suffix link is the root, so no suffix of the "
            "text occurred before: the dynamic drafter has nothing to draft."
        )
    return (
        f"Match: the newest state {sam.last}'s suffix link is state {ev['state']}, so the longest "
        f"suffix that occurred before is {quote(ev['suffix'], sep)} ({ev['length']} symbol"
        f"{'s' if ev['length'] != 1 else ''}), first ending at position {ev['earlier_end']}. The "
        f"dynamic drafter drafts what followed it there: {quote(ev['draft'], sep)}."
    )
