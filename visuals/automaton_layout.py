"""Where the automaton figure puts things: states in rows, arcs in lanes, token labels in free
spots.

States sit in three rows (see `visuals.automaton_plot` for what each row means): the spine at
y = 0, the text's end above it, other states below. networkx places the third row. Arcs along a
row go in nested lanes (`assign_lanes`) and token labels take the first free spot along their
line (`LabelBoxes`), so neither lands on another. `Scene` gathers what every part of the
drawing needs: the positions, the states' roles, the lanes and the label boxes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from .automaton_states import AutomatonView
from .figures import curve

SPINE, TOP, OTHER = 0, 1, -1  # rows
ROW_Y = {SPINE: 0.0, TOP: 1.45, OTHER: -1.35}  # far enough apart for arcs between them


def layout(view: AutomatonView) -> dict[int, tuple[float, float]]:
    """Positions by row (see the module docstring). Spine states sit at consecutive columns,
    the matched state's column shared with the current state above it; other states go in
    the row below, near the states they are linked to."""
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


# How big the drawing is on the page, roughly (its width follows the page): enough to keep
# the token labels from landing on each other or on a state.
PLOT_PX = (700.0, 300.0)  # the plot area, width and height, in pixels
STATE_PX = 15.0  # a state's radius, in pixels
CHAR_PX = (6.2, 13.0)  # a label character's width, a label's height (monospace, size 10)
ROOT_CAPTION = "start: empty text"
ROOT_CAPTION_DY = 26  # pixels from the root's centre down to its caption's
ARC_CAP = 1.05  # the highest an arc along a row may rise (the next row is further away)


def axis_ranges(pos: dict) -> tuple[list[float], list[float]]:
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
class LabelBoxes:
    """The boxes (in pixels) already taken by states and token labels: a new label goes to
    the first spot along its line that is free."""

    scale: tuple[float, float]  # pixels per unit, x and y
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)

    @classmethod
    def around(cls, pos: dict) -> LabelBoxes:
        xr, yr = axis_ranges(pos)
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
            if not any(boxes_overlap(box, other) for other in self.boxes):
                break
        else:
            x, y = spots[0]
            box = self.box(x, y, text)
        self.boxes.append(box)
        return x, y


def boxes_overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _same_row(pos: dict, a: int, b: int) -> bool:
    return abs(pos[a][1] - pos[b][1]) < 1e-9


def drawn_link(state: dict, pos: dict, key: int) -> bool:
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
        if drawn_link(s, pos, key) and _same_row(pos, s["id"], s["link"])
    ]
    return arcs


def assign_lanes(arcs: list[tuple[str, int, int]], pos: dict) -> dict[tuple[str, int, int], int]:
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
class Scene:
    """What every part of the automaton drawing needs: where each state is, and its role."""

    view: AutomatonView
    piece: Callable[[int], str]
    pos: dict[int, tuple[float, float]]
    states: dict[int, dict]  # snapshot states by id
    current: int  # the state of the whole text (dynamic only; -1 when not drawn)
    match: int  # the matched state (-1 without a match)
    source: str  # whose colour the matched state takes
    lanes: dict[tuple[str, int, int], int]  # the level of every arc along a row
    labels: LabelBoxes  # where the token labels may go

    @classmethod
    def of(cls, view: AutomatonView, piece: Callable[[int], str], match_source: str | None):
        snap = view.snapshot
        pos = layout(view)
        states = {s["id"]: s for s in snap["states"]}
        current = snap["last"] if view.kind == "dynamic" and snap["last"] in states else -1
        match = view.match_state
        key = current if current >= 0 else match
        lanes = assign_lanes(_row_arcs(view, pos, key), pos)
        source = match_source or view.kind
        return cls(view, piece, pos, states, current, match, source, lanes,
                   LabelBoxes.around(pos))  # fmt: skip

    @property
    def key_link_state(self) -> int:
        """The state whose suffix link is the key one: the current state's (to the matched
        state); without a current state, the matched state's own (a shorter match)."""
        return self.current if self.current >= 0 else self.match

    def row_side(self, state: int) -> int:
        """Which side of its row a state's transitions bow to (suffix links: the other):
        away from the spine, so they keep clear of the rows in between."""
        return 1 if self.pos[state][1] >= 0 else -1


def transition_path(scene: Scene, src: int, dst: int) -> tuple[list[float], list[float], bool]:
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


def label_spots(xs: list[float], ys: list[float], drop: float) -> list[tuple[float, float]]:
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


def link_path(scene: Scene, state: int, target: int) -> tuple[list[float], list[float]]:
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
        return curve(p0, p1, bend if x1 < x0 else -bend)
    return curve(p0, p1, 0.12)
