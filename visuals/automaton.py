"""The automaton view: states and transitions around the current match, drawn with plotly.

`dynamic_view` rebuilds the request's dynamic suffix automaton from the prompt and the tokens
generated before a step (microseconds: the construction is linear and compiled) and picks the
states that explain the step. `static_view` advances a cursor of the static automaton over the
same context and takes its neighbourhood. `automaton_figure` lays them out in rows:

* bottom row (the "spine"): the root, the path that spells the matched suffix, the matched
  state (filled with the drafter's colour), then the states the draft continues through;
* top row (dynamic only): the states of the text's last tokens, ending at the current state
  (ringed). Its last tokens sit right above the same tokens of the match, and the dashed
  suffix link from the current state drops to the matched state: "this ending was seen
  before, and back then it went on like this";
* a third row: other states worth seeing (clones made by the last step, suffix-link chains).

Transitions are solid arrows labelled with the token they read; suffix links are dashed (those
to the root are left out: the empty string is a suffix of everything); states the last step
created have an amber border, clones are diamonds. The root is dark and named. networkx places
the third row. Arcs along a row go in nested lanes (`_lanes`) and token labels take the first
free spot along their line (`_Labels`), so neither lands on another. Notes above the picture
say how many states are drawn and hidden (the numbers are the automaton's own state ids).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import plotly.graph_objects as go

from samdec.automaton import DynamicSuffixAutomaton, StaticSuffixAutomaton
from samdec.trace import StepEvent

from .palette import COLOURS, FONT, INK, MONO, MUTED, NEW_STATE, SELECTED, TINTS
from .stream import compact
from .view import TraceView, as_view

DEFAULT_MAX_STATES = 24
SPINE, TOP, OTHER = 0, 1, -1  # rows
ROW_Y = {SPINE: 0.0, TOP: 1.45, OTHER: -1.35}  # far enough apart for arcs between them


@dataclass
class AutomatonView:
    """A snapshot (see DynamicSuffixAutomaton.snapshot) plus what the drawing needs to say."""

    kind: str  # "dynamic" | "static"
    snapshot: dict
    text: np.ndarray  # the tokens the state strings index into (context, or the corpus)
    new_states: set[int] = field(default_factory=set)
    clones: set[int] = field(default_factory=set)
    total_states: int = 0
    step: int = -1
    match_text: list[int] = field(default_factory=list)  # the matched suffix (token ids)
    continuation: list[int] = field(default_factory=list)  # what follows the earlier occurrence
    spine: list[int] = field(default_factory=list)  # root, visible match path, continuation
    top: list[int] = field(default_factory=list)  # the text's last states, ending at current
    elided: int = 0  # match-path states left out between the root and the visible path

    @property
    def node_ids(self) -> list[int]:
        return [s["id"] for s in self.snapshot["states"]]

    @property
    def match_state(self) -> int:
        return self.snapshot["match_state"] if self.snapshot["match_length"] > 0 else -1

    def longest(self, state: dict, limit: int | None = None) -> list[int]:
        """Token ids of the longest string of a snapshot state (its last `limit` tokens)."""
        length, end = state["length"], state["endpos"]
        if length == 0 or end < 0:
            return []
        start = end + 1 - length
        if limit is not None and length > limit:
            start = end + 1 - limit
        return [int(t) for t in self.text[start : end + 1]]


def _walk(trans: dict, start: int, tokens: list[int]) -> list[int]:
    path, state = [start], start
    for tok in tokens:
        state = trans.get((state, int(tok)), -1)
        if state < 0:
            break
        path.append(state)
    return path


def _chain(link: dict, state: int, limit: int = 64) -> list[int]:
    out: list[int] = []
    while state >= 0 and state not in out and len(out) < limit:
        out.append(state)
        state = link.get(state, -1)
    return out


def drafting_automaton(ev: StepEvent) -> str | None:
    """The automaton whose picture explains step `ev`: the one that drafted it, or the one the
    rule picked when nothing was verified; None for Token Recycling and plain steps."""
    if ev.drafter in ("static", "dynamic"):
        return ev.drafter
    if ev.drafter == "none" and ev.rule_source in ("static", "dynamic"):
        return ev.rule_source
    return None


def budgets(max_states: int) -> dict[str, int]:
    """How many states each part of the picture may use."""
    n = max(int(max_states), 8)
    return {
        "path": max(3, min(n // 4, 12)),  # visible end of the match path
        "continuation": max(2, min(n // 4, 14)),
        "top": max(3, min(n // 3, 20)),
        "other": max(2, n // 6),
    }


def restrict(snapshot: dict, chosen: list[int]) -> dict:
    """The snapshot with only the chosen states and the transitions between them."""
    keep = set(chosen)
    out = dict(snapshot)
    out["states"] = [s for s in snapshot["states"] if s["id"] in keep]
    out["transitions"] = [t for t in snapshot["transitions"] if t[0] in keep and t[2] in keep]
    return out


def _spine(trans: dict, match_text: list[int], draft: list[int], path_budget: int):
    """(spine states, how many match-path states were elided)."""
    path = _walk(trans, 0, match_text)
    visible = path[1:][-path_budget:]
    elided = len(path) - 1 - len(visible)
    cont = _walk(trans, path[-1], draft)[1:]
    spine = [0]
    for state in [*visible, *cont]:
        if state not in spine:
            spine.append(state)
    return spine, elided


# ---------------------------------------------------------------------------------- snapshots


def _replay(context: list[int], previous: list[int], endpos: str):
    """The dynamic automaton of `context`, built as the engine did: everything before the
    previous step's tokens, then those. (automaton, its snapshot, states before that step)"""
    automaton = DynamicSuffixAutomaton(endpos=endpos, capacity=len(context) + 16)
    automaton.advance(context[: len(context) - len(previous)])
    states_before = automaton.num_states
    automaton.advance(previous)
    return automaton, automaton.snapshot(), states_before  # the whole snapshot is cheap


def _first_positions(full: dict, context: list[int], endpos: str) -> dict[int, int]:
    """The first end position of every state (the snapshot has the last one if endpos="last")."""
    if endpos == "first":
        return {s["id"]: s["endpos"] for s in full["states"]}
    # A twin tracking first positions: the same construction, so the same state numbers.
    twin = DynamicSuffixAutomaton(endpos="first", capacity=len(context) + 16)
    twin.advance(context)
    return {s["id"]: s["endpos"] for s in twin.snapshot()["states"]}


def _prefixes_and_clones(full: dict, firstpos: dict[int, int]) -> tuple[dict[int, int], set[int]]:
    """({prefix length: its state}, clones). A state created for a new position spells a whole
    prefix (length = first end + 1); a clone was split off an older state and spells less."""
    prefix_state: dict[int, int] = {}
    clones: set[int] = set()
    for s in full["states"]:
        if s["id"] == 0:
            continue
        if s["length"] == firstpos[s["id"]] + 1:
            prefix_state[s["length"]] = s["id"]
        else:
            clones.add(s["id"])
    return prefix_state, clones


def _text_end(prefix_state: dict[int, int], n: int, along: int, budget: dict, spine: list[int]):
    """The states of the text's last tokens: those above the visible match path (`along` of
    them), and a few before them, left to right, leaving out states already on the spine."""
    wanted = max(min(budget["top"], along + 3), 4)
    top = [prefix_state[i] for i in range(max(1, n - wanted + 1), n + 1)]
    return [s for s in top if s not in spine]


def _others(full: dict, new_clones: set[int], placed: set[int], limit: int) -> list[int]:
    """States worth a third row: clones the last step made, then the suffix-link chains of the
    current and the matched state."""
    link = {s["id"]: s["link"] for s in full["states"]}
    others = [s for s in sorted(new_clones, reverse=True) if s not in placed]
    others += [s for s in _chain(link, full["last"])[1:] if s not in placed]
    others += [s for s in _chain(link, full["match_state"])[1:] if s not in placed]
    return list(dict.fromkeys(others))[:limit]


def dynamic_view(
    trace, step: int | None = None, max_states: int = DEFAULT_MAX_STATES
) -> AutomatonView | None:
    """The dynamic automaton as step `step` saw it (before drafting)."""
    view = as_view(trace)
    k = view.clamp(step)
    if k < 0:
        return None
    endpos = str(view.config.get("endpos", "first"))
    context = view.context_before(k)
    previous = view.steps[k - 1].new_tokens if k > 0 else []
    automaton, full, states_before = _replay(context, previous, endpos)
    prefix_state, clones = _prefixes_and_clones(full, _first_positions(full, context, endpos))
    text = np.asarray(context, dtype=np.int64)
    length = full["match_length"]
    match_text = [int(t) for t in text[len(text) - length :]] if length else []
    continuation = [int(t) for t in automaton.draft(16)] if length else []
    budget = budgets(max_states)
    # Draw as much of the continuation as the step drafted (a few tokens if it did not).
    ev = view.steps[k]
    drafted = len(ev.draft_tokens) if ev.drafter == "dynamic" else 6
    cont_n = max(2, min(drafted, budget["continuation"]))
    trans = {(s, t): d for s, t, d in full["transitions"]}
    spine, elided = _spine(trans, match_text, continuation[:cont_n], budget["path"])
    along = min(len(match_text), budget["path"])
    top = _text_end(prefix_state, len(context), along, budget, spine)
    new = {s["id"] for s in full["states"] if s["id"] >= states_before} if k > 0 else set()
    others = _others(full, new & clones, set(spine) | set(top), budget["other"])
    chosen = list(dict.fromkeys([*spine, *top, *others]))
    return AutomatonView(
        kind="dynamic",
        snapshot=restrict(full, chosen),
        text=text,
        new_states=new & set(chosen),
        clones=clones & set(chosen),
        total_states=automaton.num_states,
        step=k,
        match_text=match_text,
        continuation=continuation,
        spine=spine,
        top=top,
        elided=elided,
    )


def static_view(
    static: StaticSuffixAutomaton | None,
    trace,
    step: int | None = None,
    max_states: int = DEFAULT_MAX_STATES,
) -> AutomatonView | None:
    """The static automaton around the state matched by the context of step `step`
    (StaticCursor.neighbourhood: root, matched state, its suffix links, the path spelling the
    match, the states that can follow)."""
    view = as_view(trace)
    k = view.clamp(step)
    if static is None or k < 0:
        return None
    cursor = static.cursor()
    cursor.advance(view.context_before(k))
    budget = budgets(max_states)
    snapshot = cursor.neighbourhood(max_states=max(int(max_states), 8) + cursor.match_length)
    corpus = np.asarray(static.corpus)
    end, length = cursor.match_end(), cursor.match_length
    match_text = [int(t) for t in corpus[end + 1 - length : end + 1]] if length else []
    continuation = [int(t) for t in cursor.draft(16)]
    trans = {(s, t): d for s, t, d in snapshot["transitions"]}
    spine, elided = _spine(trans, match_text, continuation[:1], budget["path"])
    match = snapshot["match_state"]
    nexts = [d for (s, _), d in sorted(trans.items()) if s == match and d not in spine]
    link = {s["id"]: s["link"] for s in snapshot["states"]}
    others = [s for s in _chain(link, match)[1:] if s not in spine]
    chosen = list(dict.fromkeys([*spine, *nexts[: budget["continuation"]],
                                 *others[: budget["other"]]]))  # fmt: skip
    return AutomatonView(
        kind="static",
        snapshot=restrict(snapshot, chosen),
        text=corpus,
        total_states=static.num_states,
        step=k,
        match_text=match_text,
        continuation=continuation,
        spine=spine,
        top=[],
        elided=elided,
    )


# ---------------------------------------------------------------------------------- layout


def layout(view: AutomatonView) -> dict[int, tuple[float, float]]:
    """Positions by row (see the module docstring). Spine states sit at consecutive columns,
    the matched state's column shared with the current state above it; other states go where
    their neighbours are, each row ordered with networkx's barycentre-free layered layout."""
    ids = view.node_ids
    pos: dict[int, tuple[float, float]] = {}
    spine = [s for s in view.spine if s in ids]
    match = view.match_state
    top = [s for s in view.top if s in ids]
    # The current state right above the matched one; without a match, the text's end to the
    # right of the root (not above it: its arrows would run through the root).
    anchor = spine.index(match) if match in spine else len(top)
    for i, state in enumerate(spine):
        x = float(i)
        if i == 0 and view.elided:
            x = -0.6  # the root, a gap (the elided path), then the visible end of the match
        pos[state] = (x, 0.0)
    for j, state in enumerate(reversed(top)):
        pos[state] = (float(anchor - j), ROW_Y[TOP])
    rest = [s for s in ids if s not in pos]
    if rest:
        graph = nx.Graph()
        graph.add_nodes_from(ids)
        graph.add_edges_from((s, d) for s, _, d in view.snapshot["transitions"] if s != d)
        graph.add_edges_from(
            (s["id"], s["link"]) for s in view.snapshot["states"] if s["link"] in graph
        )
        # networkx spring layout with everything else pinned: a free state settles near the
        # states it is linked to; then snap to free columns of the row below the spine.
        seeded = {n: np.array(p) for n, p in pos.items()}
        if seeded:
            free = nx.spring_layout(
                graph, pos=seeded or None, fixed=list(seeded) or None, seed=7, iterations=60
            )
        else:
            free = nx.spring_layout(graph, seed=7)
        taken: set[int] = set()
        # within the columns the rows above use: a state linked to none of them would float
        # far off and squeeze the whole picture
        cols = [round(x) for x, _ in pos.values()] or [0]
        for state in sorted(rest, key=lambda s: float(free[s][0])):
            want = min(max(round(float(free[state][0])), min(cols)), max(cols))
            col = min(
                (c for c in range(want - len(rest) - 2, want + len(rest) + 3) if c not in taken),
                key=lambda c, w=want: (abs(c - w), c),
            )
            taken.add(col)
            pos[state] = (float(col), ROW_Y[OTHER])
    return pos


def _curve(p0, p1, bend: float, n: int = 16) -> tuple[list[float], list[float]]:
    """A quadratic Bézier from p0 to p1, bulging `bend` units to its left."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    norm = max((dx * dx + dy * dy) ** 0.5, 1e-9)
    cx, cy = (x0 + x1) / 2 - dy / norm * bend, (y0 + y1) / 2 + dx / norm * bend
    t = np.linspace(0, 1, n)
    xs = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t**2 * x1
    ys = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t**2 * y1
    return xs.tolist(), ys.tolist()


def add_legend_keys(fig: go.Figure, keys) -> None:
    """A legend entry (no points) for each (name, shown, marker) whose `shown` is true."""
    for name, shown, marker in keys:
        if shown:
            fig.add_trace(
                go.Scatter(
                    x=[None], y=[None], mode="markers", marker=marker, name=name, hoverinfo="skip"
                )
            )


def edge_labels(xs, ys, labels, hovers, size: int, name: str) -> go.Scatter:
    """The text on the arrows: one label per transition, its hover saying what it reads."""
    return go.Scatter(
        x=xs,
        y=ys,
        mode="text",
        text=labels,
        hovertext=hovers,
        hoverinfo="text",
        textposition="top center",
        textfont=dict(family=MONO, size=size, color=INK),
        name=name,
        showlegend=False,
    )


def empty_figure(message: str, height: int = 360) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font=dict(size=14, color=MUTED, family=FONT),
    )
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=30, b=10),
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
        plot_bgcolor="white",
        paper_bgcolor="white",
    )
    return fig


# Line colours of the drawing (the sources' colours come from the palette).
EDGE = "#475569"  # a transition along the text
SHORTCUT = "#B8C2D1"  # a transition that skips ahead along a row
LINK = "#A3AFC2"  # a suffix link
KEY_LINK = "#B45309"  # the current state's suffix link, to the matched state
BORDER = "#334155"  # a state's outline
NEW_FILL = "#FEF3C7"  # a state the last step created
PLAIN_FILL = "#F8FAFC"  # a state off the spine
ROOT_FILL = "#1E293B"  # the root: dark, unlike every other state, where every path starts


# How big the drawing is on the page, roughly (its width follows the page): enough to keep
# the token labels from landing on each other or on a state.
PLOT_PX = (700.0, 300.0)  # the plot area, width and height, in pixels
STATE_PX = 15.0  # a state's radius, in pixels
CHAR_PX = (6.2, 13.0)  # a label character's width, a label's height (monospace, size 10)
ROOT_CAPTION = "start: empty text"
ROOT_CAPTION_DY = 26  # pixels from the root's centre down to its caption's
ARC_CAP = 1.05  # the highest an arc along a row may rise (the next row is further away)


def _axis_ranges(pos: dict) -> tuple[list[float], list[float]]:
    """The x and y ranges: the rows with room around them for the arcs, at least 9 columns
    wide (so a small automaton is not blown up)."""
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    span = max(xs) - min(xs) + 1.5  # half a column right of the last state
    x0 = min(xs) - 1.0  # room for the root's caption
    low = min(min(ys) - 0.6, -ARC_CAP - 0.25)
    high = max(max(ys) + 0.6, ARC_CAP + 0.25)
    return [x0, x0 + max(span, 9)], [low, high]


@dataclass
class _Labels:
    """The boxes (in pixels) already taken by states and token labels: a new label goes to
    the first spot along its line that is free."""

    scale: tuple[float, float]  # pixels per unit, x and y
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)

    @classmethod
    def around(cls, pos: dict) -> _Labels:
        xr, yr = _axis_ranges(pos)
        scale = (PLOT_PX[0] / (xr[1] - xr[0]), PLOT_PX[1] / (yr[1] - yr[0]))
        labels = cls(scale)
        for x, y in pos.values():
            cx, cy = x * scale[0], y * scale[1]
            labels.boxes.append((cx - STATE_PX, cy - STATE_PX, cx + STATE_PX, cy + STATE_PX))
        if 0 in pos:  # the root's caption, under it
            cx, cy = pos[0][0] * scale[0], pos[0][1] * scale[1] - ROOT_CAPTION_DY
            half = CHAR_PX[0] * len(ROOT_CAPTION) / 2
            labels.boxes.append((cx - half, cy - 7, cx + half, cy + 7))
        return labels

    @property
    def drop(self) -> float:
        """How far below a line a label goes to sit under it, in units."""
        return (CHAR_PX[1] + 6) / self.scale[1]

    def box(self, x: float, y: float, text: str) -> tuple[float, float, float, float]:
        """A label's box: drawn centred above its point ("top center")."""
        half = CHAR_PX[0] * max(len(text), 1) / 2 + 2
        cx, cy = x * self.scale[0], y * self.scale[1]
        return (cx - half, cy + 1, cx + half, cy + 1 + CHAR_PX[1])

    def place(self, spots: list[tuple[float, float]], text: str) -> tuple[float, float]:
        """The first free spot for `text` (the first spot if none is), now taken."""
        for x, y in spots:
            box = self.box(x, y, text)
            if not any(_overlap(box, other) for other in self.boxes):
                break
        else:
            x, y = spots[0]
            box = self.box(x, y, text)
        self.boxes.append(box)
        return x, y


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _same_row(pos: dict, a: int, b: int) -> bool:
    return abs(pos[a][1] - pos[b][1]) < 1e-9


def _drawn_link(state: dict, pos: dict, key: int) -> bool:
    """Whether a state's suffix link is drawn: not to the root (the empty string is a suffix
    of everything: a fan of such links would hide the rest), except the key link."""
    return state["link"] in pos and (state["link"] != 0 or state["id"] == key)


def _row_arcs(view: AutomatonView, pos: dict, key: int) -> list[tuple[str, int, int]]:
    """The lines that run along a row, as ("t", src, dst) for transitions that skip a column
    or more, ("l", state, link) for drawn suffix links (`key`: the state whose link is the
    key one)."""
    arcs = [
        ("t", src, dst)
        for src, _, dst in view.snapshot["transitions"]
        if src != dst and _same_row(pos, src, dst) and abs(pos[dst][0] - pos[src][0]) > 1.01
    ]
    arcs += [
        ("l", s["id"], s["link"])
        for s in view.snapshot["states"]
        if _drawn_link(s, pos, key) and _same_row(pos, s["id"], s["link"])
    ]
    return arcs


def _lanes(arcs: list[tuple[str, int, int]], pos: dict) -> dict[tuple[str, int, int], int]:
    """A level for every arc along a row. Transitions bow to one side of their row, suffix
    links to the other; on each side, arcs whose spans overlap (sharing only an end state is
    fine) get different levels, the shorter arc the lower one, so arcs nest, not cross."""

    def span(arc):
        a, b = pos[arc[1]][0], pos[arc[2]][0]
        return min(a, b), max(a, b)

    levels: dict[tuple[str, int, int], int] = {}
    taken: dict[tuple[str, float], list[tuple[float, float, int]]] = {}
    for arc in sorted(arcs, key=lambda a: (span(a)[1] - span(a)[0], span(a)[0])):
        lo, hi = span(arc)
        side = taken.setdefault((arc[0], pos[arc[1]][1]), [])
        level = 0
        while any(lv == level and a < hi and lo < b for a, b, lv in side):
            level += 1
        side.append((lo, hi, level))
        levels[arc] = level
    return levels


def _lane_arc(p0, p1, level: int, side: int, n: int = 24) -> tuple[list[float], list[float]]:
    """An arc along a row, above it (side 1) or below (-1), as high as its level says. Its
    ends move out from the states' centres with the level, so the arcs that share a state
    leave it apart, the higher ones further out."""
    (x0, y), (x1, _) = p0, p1
    way = 1.0 if x1 > x0 else -1.0
    # Both grow with the level, ever more slowly: every level its own, none past the cap.
    port = 0.05 + 0.2 * (1 - 0.75**level)
    xa, xb = x0 - way * port, x1 + way * port
    height = (0.3 + (ARC_CAP - 0.3) * (1 - 0.8**level)) * side
    lift = height / 0.75  # a cubic Bézier with both handles at `lift` peaks at 3/4 of it
    inset = min(0.35, abs(x1 - x0) / 4) * way
    t = np.linspace(0, 1, n)
    cx = [xa, xa + inset, xb - inset, xb]
    cy = [y, y + lift, y + lift, y]
    weights = [(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3]
    xs = sum(w * c for w, c in zip(weights, cx, strict=True))
    ys = sum(w * c for w, c in zip(weights, cy, strict=True))
    return xs.tolist(), ys.tolist()


@dataclass
class _Scene:
    """What every part of the automaton drawing needs: where each state is, and its role."""

    view: AutomatonView
    piece: Callable[[int], str]
    pos: dict[int, tuple[float, float]]
    states: dict[int, dict]  # snapshot states by id
    current: int  # the state of the whole text (dynamic only; -1 when not drawn)
    match: int  # the matched state (-1 without a match)
    source: str  # whose colour the matched state takes
    lanes: dict[tuple[str, int, int], int]  # the level of every arc along a row
    labels: _Labels  # where the token labels may go

    @classmethod
    def of(cls, view: AutomatonView, piece: Callable[[int], str], match_source: str | None):
        snap = view.snapshot
        pos = layout(view)
        states = {s["id"]: s for s in snap["states"]}
        current = snap["last"] if view.kind == "dynamic" and snap["last"] in states else -1
        match = view.match_state
        key = current if current >= 0 else match
        lanes = _lanes(_row_arcs(view, pos, key), pos)
        source = match_source or view.kind
        return cls(view, piece, pos, states, current, match, source, lanes,
                   _Labels.around(pos))  # fmt: skip

    @property
    def key_link_state(self) -> int:
        """The state whose suffix link is the key one: the current state's (to the matched
        state); without a current state, the matched state's own (a shorter match)."""
        return self.current if self.current >= 0 else self.match

    def row_side(self, state: int) -> int:
        """Which side of its row a state's transitions bow to (suffix links: the other):
        away from the spine, so they keep clear of the rows in between."""
        return 1 if self.pos[state][1] >= 0 else -1


def _arrowhead(fig: go.Figure, xs, ys, back: int, head: int, size, width: float, colour: str):
    """An arrowhead at the end of a drawn line, pointing along its last `back` points."""
    fig.add_annotation(
        x=xs[-1],
        y=ys[-1],
        ax=xs[-back],
        ay=ys[-back],
        xref="x",
        yref="y",
        axref="x",
        ayref="y",
        showarrow=True,
        arrowhead=head,
        arrowsize=size,
        arrowwidth=width,
        arrowcolor=colour,
        standoff=13,
        text="",
    )


def _transition_path(scene: _Scene, src: int, dst: int) -> tuple[list[float], list[float], bool]:
    """The points of one transition's line, and whether it is a shortcut (an arc that skips
    ahead along a row)."""
    pos = scene.pos
    (x0, y0), (x1, y1) = pos[src], pos[dst]
    if src == dst:  # a self-loop: a small circle above the state
        t = np.linspace(0, 2 * np.pi, 20)
        return (x0 + 0.16 * np.sin(t)).tolist(), (y0 + 0.2 - 0.2 * np.cos(t)).tolist(), False
    level = scene.lanes.get(("t", src, dst))
    if level is not None:  # same row, not neighbours: an arc in its lane
        xs, ys = _lane_arc(pos[src], pos[dst], level, scene.row_side(src))
        return xs, ys, True
    return [x0, x1], [y0, y1], False


def _label_spots(xs: list[float], ys: list[float], drop: float) -> list[tuple[float, float]]:
    """Where a transition's token may go, best first: above the middle of a horizontal
    segment, or below it (`drop` units down); along any other line, from its middle out."""
    if len(xs) == 2 and abs(ys[1] - ys[0]) < 1e-9:
        mid = (xs[0] + xs[1]) / 2
        return [(mid, ys[0] + 0.1), (mid, ys[0] - drop)]
    spots = []
    for f in (0.5, 0.38, 0.62, 0.28, 0.72, 0.2, 0.8):
        if len(xs) == 2:
            spots.append((xs[0] + f * (xs[1] - xs[0]), ys[0] + f * (ys[1] - ys[0])))
        else:
            i = round(f * (len(xs) - 1))
            spots.append((xs[i], ys[i]))
    return spots


def _add_transitions(fig: go.Figure, scene: _Scene) -> go.Scatter:
    """Transitions: solid lines with arrowheads. Returns their token labels (one text trace,
    for the caller to draw over the suffix links).

    Arcs that skip ahead along a row (shortcuts, e.g. from the root) are drawn faint and
    unlabelled (their token shows on hover), so the path that spells the text stays legible.
    The labels of the spine's transitions are placed first, so they get the best spots."""
    lines = {False: ([], []), True: ([], [])}  # shortcut? -> (xs, ys)
    transitions = scene.view.snapshot["transitions"]
    paths = [_transition_path(scene, src, dst) for src, _, dst in transitions]
    spine = set(scene.view.spine)
    spots: dict[int, tuple[float, float]] = {}
    first = sorted(range(len(transitions)), key=lambda i: transitions[i][2] not in spine)
    for i in first:
        xs, ys, shortcut = paths[i]
        text = "" if shortcut else compact(scene.piece(transitions[i][1]), 7)
        choices = _label_spots(xs, ys, scene.labels.drop)
        spots[i] = choices[0] if shortcut else scene.labels.place(choices, text)
    lx, ly, labels, hovers = [], [], [], []
    for i, (src, tok, dst) in enumerate(transitions):
        xs, ys, shortcut = paths[i]
        lines[shortcut][0].extend([*xs, None])
        lines[shortcut][1].extend([*ys, None])
        lx.append(spots[i][0])
        ly.append(spots[i][1])
        text = scene.piece(tok)
        labels.append("" if shortcut else html.escape(compact(text, 7)))
        hovers.append(f"state {src} → {dst} reads token {tok} {html.escape(repr(text))}")
        if src != dst:
            colour, size, width = (SHORTCUT, 1.0, 1.0) if shortcut else (EDGE, 1.1, 1.3)
            _arrowhead(fig, xs, ys, back=2, head=2, size=size, width=width, colour=colour)
    _add_transition_lines(fig, lines)
    return edge_labels(lx, ly, labels, hovers, size=10, name="token")


def _add_transition_lines(fig: go.Figure, lines: dict) -> None:
    edge_styles = (
        (False, "transition (reads a token)", EDGE, 1.4),
        (True, "shortcut (hover for its token)", SHORTCUT, 1.0),
    )
    for shortcut, name, colour, width in edge_styles:
        xs, ys = lines[shortcut]
        if shortcut and not xs:
            continue  # plain transitions always get a legend entry; shortcuts only if drawn
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                hoverinfo="skip",
                name=name,
                line=dict(color=colour, width=width),
            )
        )


def _link_path(scene: _Scene, state: int, target: int) -> tuple[list[float], list[float]]:
    """A suffix link's curve: along a row, an arc in its lane on the side away from the
    transitions; across rows, a bow (slight down a column, so it never hides under a
    transition)."""
    p0, p1 = scene.pos[state], scene.pos[target]
    level = scene.lanes.get(("l", state, target))
    if level is not None:
        return _lane_arc(p0, p1, level, -scene.row_side(state))
    (x0, _), (x1, _) = p0, p1
    if abs(x1 - x0) > 0.5:
        bend = min(0.2 + 0.05 * abs(x1 - x0), 0.6)
        return _curve(p0, p1, bend if x1 < x0 else -bend)
    return _curve(p0, p1, 0.12)


def _add_suffix_links(fig: go.Figure, scene: _Scene) -> None:
    """Suffix links: dashed. The current state's link (to the matched state) is the key one;
    without a current state, the matched state's own link (a shorter match) is."""
    key_links: tuple[list, list] = ([], [])
    other_links: tuple[list, list] = ([], [])
    for sid, s in scene.states.items():
        target = s["link"]
        if not _drawn_link(s, scene.pos, scene.key_link_state):
            continue
        xs, ys = _link_path(scene, sid, target)
        key = sid == scene.key_link_state
        bucket = key_links if key else other_links
        bucket[0].extend([*xs, None])
        bucket[1].extend([*ys, None])
        colour, width = (KEY_LINK, 1.8) if key else (LINK, 0.9)
        _arrowhead(fig, xs, ys, back=3, head=3, size=1, width=width, colour=colour)
    fig.add_trace(
        go.Scatter(
            x=other_links[0],
            y=other_links[1],
            mode="lines",
            hoverinfo="skip",
            name="suffix link",
            line=dict(color=LINK, width=1.0, dash="dash"),
        )
    )
    if key_links[0]:
        fig.add_trace(
            go.Scatter(
                x=key_links[0],
                y=key_links[1],
                mode="lines",
                hoverinfo="skip",
                name=(
                    "current → matched (suffix link)"
                    if scene.current >= 0
                    else "matched → shorter match (suffix link)"
                ),
                line=dict(color=KEY_LINK, width=2.0, dash="dash"),
            )
        )


def _add_elided_path(fig: go.Figure, scene: _Scene) -> None:
    """A dotted line from the root to the visible end of a long match path, and how many
    states it stands for."""
    view, pos = scene.view, scene.pos
    if not (view.elided and view.spine):
        return
    first = next((s for s in view.spine[1:] if s in pos), None)
    if first is None:
        return
    (x0, y0), (x1, y1) = pos[0], pos[first]
    fig.add_trace(
        go.Scatter(
            x=[x0, x1],
            y=[y0, y1],
            mode="lines",
            showlegend=False,
            hoverinfo="skip",
            line=dict(color=EDGE, width=1.4, dash="dot"),
            name="elided path",
        )
    )
    fig.add_annotation(
        x=(x0 + x1) / 2,
        y=y0,
        yshift=10,  # above the dotted line: under it is the root's caption
        text=f"… {view.elided} more",
        showarrow=False,
        font=dict(size=10, color=MUTED, family=FONT),
    )


def _state_hover(scene: _Scene, sid: int) -> str:
    """A state's tooltip: its roles, the end of its longest string, its suffix link."""
    view, s = scene.view, scene.states[sid]
    words = compact("".join(scene.piece(t) for t in view.longest(s, 12)), 40)
    if s["length"] > 12:
        words = "…" + words
    role = []
    if sid == 0:
        role.append("root (the empty string)")
    if sid == scene.current:
        role.append("current: the whole text so far")
    if sid == scene.match:
        length = view.snapshot["match_length"]
        role.append(f"matched: the longest ending seen before ({length} tokens)")
    if sid in view.new_states:
        role.append("new this step" + (" (a clone)" if sid in view.clones else ""))
    elif sid in view.clones:
        role.append("a clone")
    return (
        f"<b>state {sid}</b>{' · ' + ', '.join(role) if role else ''}<br>"
        f"longest string: {s['length']} tokens <i>{html.escape(words)}</i><br>"
        f"suffix link → {s['link']} · end position {s['endpos']}"
    )


def _state_fill(scene: _Scene, sid: int) -> str:
    view = scene.view
    if sid == scene.match:
        return COLOURS.get(scene.source, COLOURS["dynamic"])
    if sid == 0:
        return ROOT_FILL
    if sid in view.new_states:
        return NEW_FILL
    if sid in view.spine:
        return TINTS.get(scene.source, "#F1F5F9")
    return PLAIN_FILL


def _state_outline(scene: _Scene, sid: int) -> tuple[str, float]:
    """(colour, width): the current state ringed, new states amber."""
    if sid == scene.current:
        return SELECTED, 5
    if sid in scene.view.new_states:
        return NEW_STATE, 2.5
    return BORDER, 1.2


def _state_size(scene: _Scene, sid: int) -> int:
    if sid == 0:
        return 38  # room for its name
    size = 31 if sid in (scene.current, scene.match) else 26
    return size + 12 if len(str(sid)) > 5 else size  # room for a long number


def _add_states(fig: go.Figure, scene: _Scene) -> None:
    """The states: one marker each, numbered with the automaton's own state ids (the root
    named), with its roles on hover; under the root, what it stands for."""
    ids = scene.view.node_ids
    outlines = [_state_outline(scene, sid) for sid in ids]
    fig.add_trace(
        go.Scatter(
            x=[scene.pos[i][0] for i in ids],
            y=[scene.pos[i][1] for i in ids],
            mode="markers+text",
            text=["<b>root</b>" if i == 0 else str(i) for i in ids],
            textposition="middle center",
            textfont=dict(
                family=FONT,
                size=[10 if len(str(i)) <= 4 else 8 for i in ids],  # a corpus has many states
                color=["white" if i in (scene.match, 0) else INK for i in ids],
            ),
            marker=dict(
                color=[_state_fill(scene, sid) for sid in ids],
                size=[_state_size(scene, sid) for sid in ids],
                symbol=["diamond" if sid in scene.view.clones else "circle" for sid in ids],
                opacity=1,
                line=dict(color=[c for c, _ in outlines], width=[w for _, w in outlines]),
            ),
            hovertext=[_state_hover(scene, sid) for sid in ids],
            hoverinfo="text",
            name="state",
            customdata=ids,
            showlegend=False,
        )
    )
    if 0 in scene.pos:
        x, y = scene.pos[0]
        fig.add_annotation(
            x=x,
            y=y,
            yshift=-ROOT_CAPTION_DY,
            text=ROOT_CAPTION,
            showarrow=False,
            font=dict(size=9.5, color=MUTED, family=FONT),
            name="root-caption",
        )


def _add_legend_keys(fig: go.Figure, scene: _Scene) -> None:
    """Legend-only markers explaining the highlights that are in the picture."""
    view = scene.view
    keys = (
        ("root: the empty text", 0 in scene.states,
         dict(color=ROOT_FILL, size=12, line=dict(color=BORDER, width=1.2))),
        ("matched state", scene.match >= 0,
         dict(color=COLOURS.get(scene.source, COLOURS["dynamic"]), size=12)),
        ("current state", scene.current >= 0,
         dict(color="white", size=12, line=dict(color=SELECTED, width=4))),
        ("new this step", bool(view.new_states),
         dict(color=NEW_FILL, size=12, line=dict(color=NEW_STATE, width=3))),
        ("clone", bool(view.clones),
         dict(color=PLAIN_FILL, size=12, symbol="diamond", line=dict(color=BORDER, width=1.2))),
    )  # fmt: skip
    add_legend_keys(fig, keys)


def _add_row_captions(fig: go.Figure, scene: _Scene) -> None:
    """What each row is: above the text's end, under the spine (below the root's caption:
    above it, the arrows from the root to the top row would cross it)."""
    view = scene.view
    left = min(p[0] for p in scene.pos.values()) - 0.5
    captions = []
    if view.top:
        captions.append((ROW_Y[TOP], 32, "end of the text →"))  # over its labels
    if view.spine and len(view.spine) > 1:
        words = "matched before → draft" if view.kind == "dynamic" else "match →"
        captions.append((0.0, -ROOT_CAPTION_DY - 16, words))
    for y, shift, text in captions:
        fig.add_annotation(
            x=left,
            y=y,
            yshift=shift,
            text=text,
            showarrow=False,
            xanchor="left",
            font=dict(size=10, color=MUTED, family=FONT),
        )


def shown_parts(view: AutomatonView) -> str:
    """Which states the picture picked, in words."""
    if view.kind == "static":
        return "the match path, what can follow it, its suffix links"
    parts = ["the match path", "the draft", "the text's end"]
    if set(view.node_ids) - set(view.spine) - set(view.top):
        parts.append("a few linked states")
    return ", ".join(parts)


def hidden_states_note(view: AutomatonView) -> list[str]:
    """How much of the automaton is drawn, in lines: the state numbers jump where states are
    hidden."""
    shown, total = len(view.node_ids), view.total_states
    if total <= shown:
        return [f"All {total} states shown (numbers are the automaton's own state ids)."]
    return [
        f"Showing {shown} of {total} states: {shown_parts(view)}.",
        f"{total - shown} other{'s' if total - shown > 1 else ''} hidden: the numbers are the "
        "automaton's own state ids.",
    ]


PATHS_NOTE = (
    "Every path of arrows from the root spells a piece of the text (suffix links to the root "
    "are not drawn)."
)


def _add_notes(fig: go.Figure, view: AutomatonView) -> None:
    """Lines under the title: what is drawn and what is hidden, and how to read paths."""
    lines = [*hidden_states_note(view), PATHS_NOTE]
    for line, text in enumerate(lines):
        fig.add_annotation(
            x=0,
            y=1,
            xref="paper",
            yref="paper",
            xanchor="left",
            yanchor="bottom",
            yshift=4 + 14 * (len(lines) - 1 - line),
            text=html.escape(text, quote=False),
            showarrow=False,
            font=dict(size=10.5, color=MUTED, family=FONT),
            name="note",
        )


def _automaton_layout(fig: go.Figure, scene: _Scene, height: int, title: str | None) -> None:
    """Title (with the match's length) and the notes above, legend below, axes fitted to the
    rows (see _axis_ranges)."""
    view = scene.view
    xrange, yrange = _axis_ranges(scene.pos)
    subtitle = f"match {view.snapshot['match_length']} tokens"
    _add_notes(fig, view)
    fig.update_layout(
        title=dict(
            text=(title or f"{view.kind.capitalize()} automaton") + f"  <sup>{subtitle}</sup>",
            font=dict(family=FONT, size=15, color=INK),
            x=0.01,
            y=0.985,
            yanchor="top",
        ),
        height=height,
        margin=dict(l=8, r=8, t=86, b=8),
        plot_bgcolor="white",
        paper_bgcolor="white",
        showlegend=True,
        legend=dict(
            orientation="h",
            yanchor="top",
            y=-0.01,
            x=0,
            font=dict(size=10.5, family=FONT),
            entrywidth=0.33,
            entrywidthmode="fraction",
            bgcolor="rgba(255,255,255,0.85)",
            itemclick=False,
            itemdoubleclick=False,
        ),
        xaxis=dict(visible=False, range=xrange),
        yaxis=dict(visible=False, range=yrange),
        hoverlabel=dict(font=dict(family=FONT, size=12)),
        font=dict(family=FONT, color=INK),
        dragmode="pan",
    )


def automaton_figure(
    view: AutomatonView | None,
    piece: Callable[[int], str],
    match_source: str | None = None,
    height: int = 460,
    title: str | None = None,
) -> go.Figure:
    """The states and transitions of a snapshot (see the module docstring for the encoding).

    `match_source` colours the matched state (default: the automaton's kind)."""
    if view is None or not view.snapshot["states"]:
        return empty_figure("No automaton to show yet.", height)
    scene = _Scene.of(view, piece, match_source)
    fig = go.Figure()
    labels = _add_transitions(fig, scene)
    _add_suffix_links(fig, scene)
    fig.add_trace(labels)  # the tokens go over every line
    _add_elided_path(fig, scene)
    _add_states(fig, scene)
    _add_legend_keys(fig, scene)
    _add_row_captions(fig, scene)
    _automaton_layout(fig, scene, height, title)
    return fig


# ---------------------------------------------------------------------------------- text strip


def _tokens_html(tokens: list[int], piece: Callable[[int], str], cls: str) -> str:
    return "".join(
        f'<span class="{cls}">{html.escape(compact(piece(t), 18))}</span>' for t in tokens
    )


def _not_used(tv: TraceView, ev: StepEvent, kind: str) -> str:
    """Why this automaton's continuation was not verified, from the step's fields."""
    if ev.rule_source == kind and ev.no_draft == "no_room":
        return "not used: one token was left to generate, no room for a draft"
    if ev.rule_source == kind:
        return "not used: the rule chose it, but the length policy verified none of it"
    return "not used: " + html.escape(tv.rule_words(ev) or "the method does not draft from it")


def match_strip_html(
    view: AutomatonView | None,
    trace,
    piece: Callable[[int], str],
    tail: int = 10,
) -> str:
    """One line of text: the context's end with the matched suffix marked, then the draft the
    step verified (accepted tokens coloured, rejected struck), and where the match came from."""
    tv: TraceView = as_view(trace)
    if view is None or view.step < 0:
        return '<div class="sd-strip sd-empty">No step selected.</div>'
    ev: StepEvent = tv.steps[view.step]
    context = tv.context_before(view.step)
    length = len(view.match_text)
    kind = view.kind
    matched = context[len(context) - length :] if length else []
    before = context[max(0, len(context) - length - tail) : len(context) - length]
    rows = []
    head = _tokens_html(before, piece, "sd-s-ctx")
    mark = _tokens_html(matched, piece, f"sd-s-match sd-s-{kind}")
    if ev.drafter == kind and ev.draft_tokens:
        pieces = ev.draft_pieces or [tv.piece(t) for t in ev.draft_tokens]
        acc = set(ev.accepted_indices)
        draft = "".join(
            f'<span class="{"sd-s-acc sd-s-" + kind if i in acc else "sd-s-rej"}">'
            f"{html.escape(compact(p, 18))}</span>"
            for i, p in enumerate(pieces[:24])
        )
        verdict = f"{ev.accepted} of {len(ev.draft_tokens)} accepted"
        arrow = (
            f'<span class="sd-s-arrow">drafted →</span>{draft}'
            f'<span class="sd-s-note">{verdict}</span>'
        )
    elif view.continuation:
        cont = _tokens_html(view.continuation[:12], piece, "sd-s-cont")
        why = _not_used(tv, ev, kind) if ev.drafter != kind else ""
        arrow = (
            f'<span class="sd-s-arrow">would draft →</span>{cont}'
            f'<span class="sd-s-note">{why}</span>'
        )
    else:
        arrow = '<span class="sd-s-note">no match: nothing to draft from here</span>'
    label = "context end"
    rows.append(
        f'<div class="sd-s-row"><span class="sd-s-label">{label}</span>{head}{mark}{arrow}</div>'
    )
    end = view.snapshot.get("match_end", -1)
    if length and end >= 0:
        start = max(0, end + 1 - length - 6)
        earlier = [int(t) for t in view.text[start : end + 1 - length]]
        where = "earlier in this text" if kind == "dynamic" else "in the corpus"
        follow = [int(t) for t in view.continuation[:10]]
        rows.append(
            f'<div class="sd-s-row"><span class="sd-s-label">{where} (pos {end})</span>'
            f"{_tokens_html([t for t in earlier if t >= 0], piece, 'sd-s-ctx')}"
            f"{_tokens_html(view.match_text, piece, f'sd-s-match sd-s-{kind}')}"
            f"{_tokens_html(follow, piece, 'sd-s-cont')}</div>"
        )
    return f'<div class="sd-strip">{"".join(rows)}</div>'
