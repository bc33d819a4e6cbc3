"""The playground's figure: the suffix automaton after k events of its construction.

States sit left to right by the length of their longest string (a clone below the state of the
same length it sits beside); solid arrows are transitions labelled with their symbol, dashed ones
suffix links; what the k-th event changed is drawn thick in amber, the states it is about are
ringed, the states of the symbol being read are filled amber, clones are diamonds.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

from .figures import add_legend_keys, arrowhead, curve, edge_labels
from .palette import COLOURS, FONT, INK, MUTED, NEW_STATE, SELECTED
from .playground_model import ROOT, clamp, longest, new_states, quote, text_of
from .stream import compact

if TYPE_CHECKING:  # annotations only: a Playground is handed in, visuals imports no more
    from samdec.teaching_automaton import Automaton, Playground

EDGE = "#475569"  # a transition
LINK = "#94A3B8"  # a suffix link
CHANGED = "#D97706"  # what the current event adds or changes
GHOST = "#CBD5E1"  # the arrow a redirect replaced
BORDER = "#334155"
NEW_FILL = "#FEF3C7"  # a state made while reading the current symbol
PLAIN_FILL = "#F8FAFC"
CLONE_ROW = -1.3  # the y of the first row of clones (the states of whole prefixes sit at 0)


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
        return curve(p0, p1, bend)
    return [x0, x1], [y0, y1]


def _link_path(p0, p1) -> tuple[list[float], list[float]]:
    """A suffix link (always to a shorter state): a bow under the row, or a slight curve."""
    (x0, y0), (x1, y1) = p0, p1
    if abs(y1 - y0) < 1e-9:
        bend = min(0.35 + 0.12 * abs(x1 - x0), 1.1)
        return curve(p0, p1, bend if x1 < x0 else -bend)
    return curve(p0, p1, 0.2)


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
            arrowhead(fig, xs, ys, back=2, head=2, size=1.0, width=width, colour=colour)
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
        arrowhead(fig, xs, ys, back=3, head=3, size=1.0, width=width, colour=colour)
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
            f"{edges} transitions · {k} of {len(pg.events)} events done</sup>",
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
