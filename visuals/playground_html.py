"""The playground's HTML panels: where the construction is and what the k-th event does, what a
state stands for (its strings, lengths, end positions, suffix link, arrows), and the walk the
dynamic drafter takes after the last symbol read."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .glossary import numbered
from .playground_model import (
    ROOT,
    clamp,
    last_match,
    quote,
    state_index,
    symbol_done,
    symbol_index,
)
from .playground_sentences import describe_event
from .stream import compact

if TYPE_CHECKING:  # annotations only: a Playground is handed in, visuals imports no more
    from samdec.teaching_automaton import Automaton, Playground

KIND_LABELS = {
    "add_symbol": "read a symbol",
    "create_state": "new state",
    "add_transition": "new transition",
    "follow_link": "follow a suffix link",
    "found_transition": "transition found",
    "clone": "clone",
    "redirect": "redirect a transition",
    "set_link": "set a suffix link",
    "match": "match and draft",
}


def _boxes(symbols: Sequence[str], classes: dict[int, str]) -> str:
    """The symbols as numbered boxes (their positions), each with its classes."""
    spans = "".join(
        f'<span class="sd-pg-sym {classes.get(i, "")}" title="position {i}">'
        f'<span class="sd-pg-c">{html.escape(compact(sym, 14))}</span><sub>{i}</sub></span>'
        for i, sym in enumerate(symbols)
    )
    return f'<div class="sd-pg-boxes">{spans}</div>'


def playground_event_html(pg: Playground, k: Any, sep: str = "") -> str:
    """Where the construction is (event, symbol, states so far and at the end) and what the
    k-th event does."""
    k = clamp(pg, k)
    total = len(pg.events)
    ev = pg.events[k - 1] if k else None
    kind = ev["kind"] if ev else "start"
    sam = pg.state_after(k)
    final = pg.state_after(total)
    i, n = symbol_index(pg, k), len(pg.symbols)
    classes = {j: "sd-pg-done" if j < i else "sd-pg-cur" if j == i else "sd-pg-todo"
               for j in range(n)}  # fmt: skip
    where = f"reading {numbered('symbol', i, n)}" if i >= 0 else f"{n} symbols to read"
    badge = (
        f'<span class="sd-pg-badge sd-pg-{kind}">{html.escape(KIND_LABELS[kind])}</span>'
        if ev
        else ""
    )
    bound = ""
    if n > 1:
        bound = f" (a text of n ≥ 2 symbols never needs more than 2n − 1 = {2 * n - 1})"
    return (
        f'<div class="sd-pg-event" data-k="{k}" data-kind="{kind}">'
        f'<div class="sd-pg-head"><b>{k} of {total} events done</b> · {where} {badge}</div>'
        f"{_boxes(pg.symbols, classes)}"
        f'<div class="sd-pg-say">{html.escape(describe_event(pg, k, sep))}</div>'
        f'<div class="sd-pg-count"><b class="sd-pg-now">{sam.num_states}</b> states now · '
        f'<b class="sd-pg-final">{final.num_states}</b> when the whole text is read{bound}</div>'
        "</div>"
    )


def _ends(text: Sequence[str], piece: Sequence[str]) -> list[int]:
    """Every position where `piece` ends in `text` (brute force: the text is short)."""
    n, piece = len(piece), list(piece)
    return [e for e in range(n - 1, len(text)) if list(text[e - n + 1 : e + 1]) == piece]


def strings_of(info: dict) -> list[list[str]]:
    """Every string of a state, longest first: the suffixes of its longest string with a
    length in its range."""
    low, high = info["lengths"]
    whole = info["longest"]
    return [whole[len(whole) - m :] for m in range(high, max(low, 1) - 1, -1)]


def playground_state_html(pg: Playground, k: Any, state: Any, sep: str = "") -> str:
    """What one state stands for after k events (its end positions computed on demand)."""
    k = clamp(pg, k)
    sam = pg.state_after(k)
    state = state_index(sam, state)
    if state < 0:
        return '<div class="sd-inspect sd-empty">Pick a state to inspect.</div>'
    info = pg.inspect(sam, state)
    rows = _state_facts(state, info, sep)
    if state != ROOT:
        rows += _state_strings(sam, info, sep)
    rows.append(_arrows_out(sam, state))
    return f'<div class="sd-inspect sd-pg-state" data-state="{state}">{"".join(rows)}</div>'


def _state_facts(state: int, info: dict, sep: str) -> list[str]:
    """The heading and the fact boxes: longest, shortest, lengths, suffix link."""
    low, high = info["lengths"]
    if state == ROOT:
        head = "<b>The root</b> (state 0): the empty string, which ends everywhere"
    else:
        head = f"<b>State {state}</b>"
        if info["clone_of"] >= 0:
            head += f" · a clone of state {info['clone_of']}"
    link = info["link"]
    link_text = "none (the root)" if state == ROOT else "not set yet" if link < 0 else str(link)
    facts = [
        ("longest", html.escape(quote(info["longest"], sep))),
        ("shortest", html.escape(quote(info["shortest"], sep))),
        ("lengths", f"{low}–{high}"),
        ("suffix link →", link_text),
    ]
    return [
        f'<div class="sd-inspect-head">{head}</div>',
        '<div class="sd-facts">'
        + "".join(f"<div class='sd-fact'><span>{a}</span><b>{b}</b></div>" for a, b in facts)
        + "</div>",
    ]


def _state_strings(sam: Automaton, info: dict, sep: str) -> list[str]:
    """A non-root state's strings, whether they form one end-position class yet, and where the
    longest one ends, marked on the text."""
    high, link = info["lengths"][1], info["link"]
    strings = strings_of(info)
    shown = strings if len(strings) <= 8 else [*strings[:4], None, *strings[-3:]]
    listed = ", ".join("…" if s is None else html.escape(quote(s, sep)) for s in shown)
    ends, short_ends = info["endpos"], _ends(sam.text, info["shortest"])
    same = "all end at the same positions" if short_ends == ends else "not yet one class"
    rows = [
        f"<div>Its {len(strings)} string{'s' if len(strings) != 1 else ''} ({same}): {listed}</div>"
    ]
    if short_ends != ends and link >= 0:
        extra = ", ".join(map(str, sorted(set(short_ends) - set(ends))))
        rows.append(
            '<div class="sd-note sd-pg-mixed">Right now '
            f"{html.escape(quote(info['shortest'], sep))} also ends at {extra}, but "
            f"{html.escape(quote(info['longest'], sep))} does not: the state mixes two sets "
            "of end positions, so this symbol's construction splits it: a clone takes "
            "the shorter strings.</div>"
        )
    if link < 0:
        rows.append(
            '<div class="sd-note">Its suffix link is set at the end of this symbol\'s '
            "events; until then only its longest string is sure to be its own.</div>"
        )
    classes: dict[int, str] = {}
    for end in ends:
        for j in range(end - high + 1, end):
            classes.setdefault(j, "sd-pg-in")
        classes[end] = "sd-pg-end"
    rows.append(
        f'<div class="sd-pg-endpos">End positions {{{", ".join(map(str, ends))}}} '
        f"(the longest string marked where it occurs):</div>{_boxes(sam.text, classes)}"
    )
    return rows


def _arrows_out(sam: Automaton, state: int) -> str:
    arrows = sam.transitions[state]
    if not arrows:
        return '<div class="sd-note">No arrows out yet.</div>'
    out = ", ".join(
        f'<span class="sd-tokcode">{html.escape(compact(sym, 12))}</span> → {dst}'
        for sym, dst in arrows.items()
    )
    return f"<div>Arrows out: {out}</div>"


def playground_match_html(pg: Playground, k: Any, sep: str = "") -> str:
    """The dynamic drafter's walk after the last fully read symbol: the newest state, its
    suffix link (the longest suffix seen before), where that first ended, and the draft."""
    k = clamp(pg, k)
    at, ev = last_match(pg, k)
    if ev is None:
        return (
            '<div class="sd-pg-match sd-empty">The drafter\'s match comes once the first symbol '
            "is read.</div>"
        )
    sam = pg.state_after(at + 1)
    text, n = sam.text, len(sam.text)
    pending = (
        ""
        if symbol_done(pg, k)
        else f" <small>(symbol {n + 1} is still being added: its match comes at the end of "
        "its events)</small>"
    )
    head = (
        f'<div class="sd-pg-match-head"><b>Drafting after {html.escape(quote(text, sep))}</b>, '
        f"as the dynamic drafter does{pending}</div>"
    )
    last, m, length = sam.last, ev["state"], ev["length"]
    if length == 0:
        walk = [
            f"The newest state, {last}, is the whole text.",
            "Its suffix link leads to the root: no suffix of the text occurred before.",
            "Nothing to draft.",
        ]
        strip = _boxes(text, {})
    else:
        end, draft = ev["earlier_end"], ev["draft"]
        walk = [
            f"The newest state, {last}, is the whole text.",
            f"Its suffix link → state {m}: the longest suffix that also ended earlier is "
            f"{quote(ev['suffix'], sep)} ({length} symbol{'s' if length != 1 else ''}).",
            f"State {m} first ended at position {end} (a clone keeps its original's first end "
            "position).",
            f"What followed there is the draft: {quote(draft, sep)} (at most 4 symbols here).",
        ]
        now = {j: "sd-pg-suffix" for j in range(n - length, n)}
        earlier = {j: "sd-pg-earlier" for j in range(end - length + 1, end + 1)}
        earlier.update({j: "sd-pg-draft" for j in range(end + 1, end + 1 + len(draft))})
        strip = (
            f'<div class="sd-pg-row"><span class="sd-s-label">the text ends with</span>'
            f"{_boxes(text, now)}</div>"
            f'<div class="sd-pg-row"><span class="sd-s-label">seen before, then</span>'
            f"{_boxes(text, earlier)}</div>"
        )
    items = "".join(f"<li>{html.escape(w)}</li>" for w in walk)
    return (
        f'<div class="sd-pg-match" data-length="{length}">{head}'
        f'<ol class="sd-pg-walk">{items}</ol>{strip}</div>'
    )
