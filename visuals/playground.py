"""The automaton playground: the online construction of a suffix automaton, event by event.

Pure: each function takes a `samdec.playground.Playground` (the recorded construction of one
short text) and `k`, the number of its events applied so far (0 = only the root, len(events) =
the whole text), and returns a plotly figure or HTML.

* `playground_figure`: the automaton after k events. States sit left to right by the length
  of their longest string (a clone below the state of the same length it sits beside); solid
  arrows are transitions labelled with their symbol, dashed ones suffix links; what the k-th
  event changed is drawn thick in amber, the states it is about are ringed, the states of the
  symbol being read are filled amber, clones are diamonds.
* `describe_event`: one sentence for a learner about the k-th event.
* `playground_event_html`: that sentence with where we are (event, symbol, state count).
* `playground_state_html`: what a state stands for (longest and shortest string, lengths,
  end positions, suffix link, the state it is a clone of, its arrows).
* `playground_match_html`: the walk the dynamic drafter takes after the last symbol read: the
  newest state's suffix link is the longest suffix seen before; where it first ended; the draft.

`sep` joins symbols when a sentence quotes them ("" for letters and tokens, " " for words).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from .automaton import _arrowhead, _curve, add_legend_keys, edge_labels
from .palette import COLOURS, FONT, INK, MUTED, NEW_STATE, SELECTED
from .stream import compact

if TYPE_CHECKING:  # annotations only: a Playground is handed in, visuals imports no more
    from samdec.playground import Automaton, Playground

ROOT = 0  # the root state (samdec.playground.ROOT)
EDGE = "#475569"  # a transition
LINK = "#94A3B8"  # a suffix link
CHANGED = "#D97706"  # what the current event adds or changes
GHOST = "#CBD5E1"  # the arrow a redirect replaced
BORDER = "#334155"
NEW_FILL = "#FEF3C7"  # a state made while reading the current symbol
PLAIN_FILL = "#F8FAFC"
CLONE_ROW = -1.3  # the y of the first row of clones (the states of whole prefixes sit at 0)

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


# ---------------------------------------------------------------------------------- the figure


@dataclass
class Focus:
    """What the current event touches."""

    states: set[int] = field(default_factory=set)  # ringed
    edges: set[tuple[int, str]] = field(default_factory=set)  # (source, symbol), drawn thick
    links: set[int] = field(default_factory=set)  # states whose suffix link is drawn thick
    ghost: tuple[int, int] | None = None  # (source, old target) of a redirected arrow
    matched: int = -1  # the matched state, at a match event


def focus(ev: dict | None, sam: Automaton) -> Focus:
    if ev is None:
        return Focus(states={ROOT})
    kind = ev["kind"]
    if kind == "add_symbol":
        return Focus(states={sam.last})
    if kind == "create_state":
        return Focus(states={ev["state"]})
    if kind in ("add_transition", "found_transition"):
        return Focus(states={ev["source"], ev["target"]}, edges={(ev["source"], ev["symbol"])})
    if kind == "follow_link":
        return Focus(states={ev["target"]}, links={ev["source"]})
    if kind == "clone":
        clone = ev["state"]
        copied = {(clone, sym) for sym in sam.transitions[clone]}
        return Focus(states={clone, ev["of"]}, edges=copied, links={clone})
    if kind == "redirect":
        return Focus(
            states={ev["source"], ev["to"]},
            edges={(ev["source"], ev["symbol"])},
            ghost=(ev["source"], ev["was"]),
        )
    if kind == "set_link":
        return Focus(states={ev["state"], ev["link"]}, links={ev["state"]})
    if kind == "match":
        return Focus(states={sam.last, ev["state"]}, links={sam.last}, matched=ev["state"])
    return Focus()


def layout(sam: Automaton) -> dict[int, tuple[float, float]]:
    """x = the length of a state's longest string. The states of whole prefixes have distinct
    lengths and share row 0; each clone goes below, one row further down per earlier clone of
    the same length. Computed on the finished automaton, so nothing moves while stepping."""
    pos: dict[int, tuple[float, float]] = {}
    clones_at: dict[int, int] = {}
    for s in range(sam.num_states):
        length = sam.length[s]
        if sam.clone_of[s] < 0:
            pos[s] = (float(length), 0.0)
        else:
            row = clones_at.get(length, 0)
            clones_at[length] = row + 1
            pos[s] = (float(length), CLONE_ROW * (row + 1))
    return pos


def _edge_path(p0, p1) -> tuple[list[float], list[float]]:
    """A transition: straight to the next column or across rows; along a row, an arc above
    row 0 (below a clone row) that rises with the distance."""
    (x0, y0), (x1, y1) = p0, p1
    if abs(y1 - y0) < 1e-9 and abs(x1 - x0) > 1.01:
        up = 1 if y0 >= 0 else -1
        bend = min(0.3 + 0.15 * abs(x1 - x0), 1.6) * up * (1 if x1 > x0 else -1)
        return _curve(p0, p1, bend)
    return [x0, x1], [y0, y1]


def _link_path(p0, p1) -> tuple[list[float], list[float]]:
    """A suffix link (always to a shorter state): a bow under the row, or a slight curve."""
    (x0, y0), (x1, y1) = p0, p1
    if abs(y1 - y0) < 1e-9:
        bend = min(0.35 + 0.12 * abs(x1 - x0), 1.1)
        return _curve(p0, p1, bend if x1 < x0 else -bend)
    return _curve(p0, p1, 0.2)


def _mid(xs: list[float], ys: list[float]) -> tuple[float, float]:
    if len(xs) == 2:
        return (xs[0] + xs[1]) / 2, (ys[0] + ys[1]) / 2
    return xs[len(xs) // 2], ys[len(ys) // 2]


def _lines(fig: go.Figure, xs: list, ys: list, name: str, line: dict, legend: bool = True):
    if xs:
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="lines", hoverinfo="skip", name=name, line=line,
                showlegend=legend, legendgroup=name,
            )
        )  # fmt: skip


def _add_transitions(fig: go.Figure, sam: Automaton, pos: dict, f: Focus, scale: int):
    """Transitions and their symbol labels (returned as one text trace, drawn last)."""
    plain: tuple[list, list] = ([], [])
    hot: tuple[list, list] = ([], [])
    lx, ly, labels, hovers = [], [], [], []
    for src, arrows in enumerate(sam.transitions):
        for sym, dst in arrows.items():
            xs, ys = _edge_path(pos[src], pos[dst])
            is_hot = (src, sym) in f.edges
            bucket = hot if is_hot else plain
            bucket[0].extend([*xs, None])
            bucket[1].extend([*ys, None])
            x, y = _mid(xs, ys)
            lx.append(x)
            ly.append(y)
            labels.append(html.escape(compact(sym, 6)))
            hovers.append(f"{src} → {dst} reads {html.escape(repr(sym))}")
            colour, width = (CHANGED, 2.2) if is_hot else (EDGE, 1.2)
            _arrowhead(fig, xs, ys, back=2, head=2, size=1.0, width=width, colour=colour)
    _lines(fig, *plain, "transition (reads a symbol)", dict(color=EDGE, width=1.3))
    if f.ghost is not None:
        src, was = f.ghost
        xs, ys = _edge_path(pos[src], pos[was])
        _lines(fig, xs, ys, "the arrow before the redirect", dict(color=GHOST, width=2, dash="dot"))
    _lines(fig, *hot, "changed by this event", dict(color=CHANGED, width=3.5))
    return edge_labels(lx, ly, labels, hovers, size=(12, 10, 8)[scale], name="symbol")


def _add_links(fig: go.Figure, sam: Automaton, pos: dict, f: Focus) -> None:
    plain: tuple[list, list] = ([], [])
    hot: tuple[list, list] = ([], [])
    for s in range(sam.num_states):
        target = sam.link[s]
        if target < 0:
            continue
        xs, ys = _link_path(pos[s], pos[target])
        is_hot = s in f.links
        bucket = hot if is_hot else plain
        bucket[0].extend([*xs, None])
        bucket[1].extend([*ys, None])
        colour, width = (CHANGED, 2.0) if is_hot else (LINK, 0.9)
        _arrowhead(fig, xs, ys, back=3, head=3, size=1.0, width=width, colour=colour)
    _lines(fig, *plain, "suffix link", dict(color=LINK, width=1.1, dash="dash"))
    legend = not any(t.name == "changed by this event" for t in fig.data)  # one entry
    _lines(fig, *hot, "changed by this event", dict(color=CHANGED, width=3, dash="dash"), legend)


def _state_hover(sam: Automaton, s: int, sep: str) -> str:
    if s == ROOT:
        return "<b>root</b> (state 0): the empty string"
    low = sam.length[sam.link[s]] + 1 if sam.link[s] >= 0 else sam.length[s]
    text = html.escape(quote(longest(sam, s), sep))
    clone = f" · clone of state {sam.clone_of[s]}" if sam.clone_of[s] >= 0 else ""
    link = sam.link[s] if sam.link[s] >= 0 else "not set yet"
    return (
        f"<b>state {s}</b>{clone}<br>longest string {text}, lengths {low}–{sam.length[s]}<br>"
        f"first ends at position {sam.firstpos[s]} · suffix link → {link}<br>"
        "<i>pick it in the inspector for its end positions</i>"
    )


def _add_states(fig, sam: Automaton, pos: dict, f: Focus, new: set[int], sep: str, scale: int):
    ids = list(range(sam.num_states))

    def fill(s: int) -> str:
        if s == f.matched and s != ROOT:
            return COLOURS["dynamic"]
        if s == ROOT:
            return "#FFFFFF"
        return NEW_FILL if s in new else PLAIN_FILL

    outline = [(SELECTED, 5.0) if s in f.states else (NEW_STATE, 2.5) if s in new
               else (BORDER, 1.2) for s in ids]  # fmt: skip
    size = (30, 22, 15)[scale]
    fig.add_trace(
        go.Scatter(
            x=[pos[s][0] for s in ids],
            y=[pos[s][1] for s in ids],
            mode="markers+text",
            text=[str(s) for s in ids],
            textposition="middle center",
            textfont=dict(
                family=FONT, size=(11, 9, 7)[scale],
                color=["white" if s == f.matched and s != ROOT else INK for s in ids],
            ),
            marker=dict(
                color=[fill(s) for s in ids],
                size=[size + 4 if s == ROOT else size for s in ids],
                symbol=["diamond" if sam.clone_of[s] >= 0 else "circle" for s in ids],
                line=dict(color=[c for c, _ in outline], width=[w for _, w in outline]),
            ),
            customdata=ids,
            hovertext=[_state_hover(sam, s, sep) for s in ids],
            hoverinfo="text",
            name="state",
            showlegend=False,
        )
    )  # fmt: skip
    root_x, root_y = pos[ROOT]
    fig.add_annotation(
        x=root_x, y=root_y - 0.38, text="root", showarrow=False,
        font=dict(size=11, color=MUTED, family=FONT),
    )  # fmt: skip
    keys = (
        ("state the event is about", bool(f.states),
         dict(color="white", size=12, line=dict(color=SELECTED, width=4))),
        ("made for the symbol being read", bool(new),
         dict(color=NEW_FILL, size=12, line=dict(color=NEW_STATE, width=2.5))),
        ("clone", any(c >= 0 for c in sam.clone_of),
         dict(color=PLAIN_FILL, size=12, symbol="diamond", line=dict(color=BORDER, width=1.2))),
        ("matched state (the draft starts after it)", f.matched > ROOT,
         dict(color=COLOURS["dynamic"], size=12)),
    )  # fmt: skip
    add_legend_keys(fig, keys)


def new_states(pg: Playground, k: int) -> set[int]:
    """The states made for the symbol being read (those made since its add_symbol event)."""
    count, start = 1, 1
    for ev in pg.events[:k]:
        if ev["kind"] == "add_symbol":
            start = count
        elif ev["kind"] in ("create_state", "clone"):
            count += 1
    return set(range(start, count)) if k else set()


def playground_figure(pg: Playground, k: Any, sep: str = "", height: int = 420) -> go.Figure:
    """The automaton after the first k events (see the module docstring)."""
    k = clamp(pg, k)
    final = pg.state_after(len(pg.events))
    pos = layout(final)
    sam = pg.state_after(k)
    f = focus(pg.events[k - 1] if k else None, sam)
    width = max(max(final.length), 6)
    scale = 0 if width <= 16 else 1 if width <= 32 else 2  # smaller states for a long text
    rows = len({y for _, y in pos.values()})
    height = max(height, 260 + 70 * rows)  # each row of clones gets room
    fig = go.Figure()
    labels = _add_transitions(fig, sam, pos, f, scale)
    _add_links(fig, sam, pos, f)
    fig.add_trace(labels)
    _add_states(fig, sam, pos, f, new_states(pg, k), sep, scale)
    bottom = min(y for _, y in pos.values())
    edges = sum(len(t) for t in sam.transitions)
    shown = compact(text_of(sam.text, sep), 40) if sam.text else ""
    fig.update_layout(
        title=dict(
            text=f"Suffix automaton of “{html.escape(shown)}”  <sup>{sam.num_states} states · "
            f"{edges} transitions · event {k} of {len(pg.events)}</sup>",
            font=dict(family=FONT, size=15, color=INK),
            x=0.01,
            y=0.98,
        ),
        height=height,
        margin=dict(l=8, r=8, t=40, b=8),
        plot_bgcolor="white",
        paper_bgcolor="white",
        legend=dict(
            orientation="h", yanchor="top", y=-0.14, x=0, font=dict(size=10.5, family=FONT),
            itemclick=False, itemdoubleclick=False,
        ),
        xaxis=dict(
            range=[-0.8, width + 0.8], dtick=1 if width <= 20 else 5, showgrid=False,
            zeroline=False,
            title=dict(text="length of the state's longest string", font=dict(size=11)),
            tickfont=dict(size=10, color=MUTED),
        ),
        yaxis=dict(visible=False, range=[min(bottom, 0) - 0.9, 1.3]),
        hoverlabel=dict(font=dict(family=FONT, size=12)),
        font=dict(family=FONT, color=INK),
        dragmode="pan",
    )  # fmt: skip
    return fig


# ---------------------------------------------------------------------------------- sentences


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
        f"Read symbol {pos + 1} of {len(c.pg.symbols)}, {quote([ev['symbol']], c.sep)}: the text "
        f"is now {c.text}. Every suffix of it that never ended anywhere before needs a path to a "
        f"state that ends at position {pos}."
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


# ---------------------------------------------------------------------------------- HTML


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
    where = f"symbol {i + 1} of {n}" if i >= 0 else f"{n} symbols to read"
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
        f'<div class="sd-pg-head"><b>Event {k} of {total}</b> · {where} {badge}</div>'
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


def state_index(sam: Automaton, state: Any) -> int:
    """`state` as a state number of `sam` (from a dropdown, say), or -1 when it is none."""
    try:
        state = int(state)
    except (TypeError, ValueError):
        return -1
    return state if 0 <= state < sam.num_states else -1


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
