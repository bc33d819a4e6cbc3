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

Transitions are solid arrows labelled with the token they read; suffix links are dashed; states
the last step created have an amber border, clones are diamonds. networkx orders each row.
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

from .palette import COLOURS, FONT, INK, MONO, MUTED, NEW_STATE, ROOT, SELECTED, TINTS
from .stream import compact
from .view import TraceView, as_view

DEFAULT_MAX_STATES = 24
SPINE, TOP, OTHER = 0, 1, -1  # rows


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
    anchor = spine.index(match) if match in spine else 0
    for i, state in enumerate(spine):
        x = float(i)
        if i == 0 and view.elided:
            x = -0.6  # the root, a gap (the elided path), then the visible end of the match
        pos[state] = (x, 0.0)
    top = [s for s in view.top if s in ids]
    for j, state in enumerate(reversed(top)):
        pos[state] = (float(anchor - j), 1.15)
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
        for state in sorted(rest, key=lambda s: float(free[s][0])):
            want = round(float(free[state][0]))
            col = min(
                (c for c in range(want - len(rest) - 2, want + len(rest) + 3) if c not in taken),
                key=lambda c, w=want: (abs(c - w), c),
            )
            taken.add(col)
            pos[state] = (float(col), -1.1)
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

    @classmethod
    def of(cls, view: AutomatonView, piece: Callable[[int], str], match_source: str | None):
        snap = view.snapshot
        pos = layout(view)
        states = {s["id"]: s for s in snap["states"]}
        current = snap["last"] if view.kind == "dynamic" and snap["last"] in states else -1
        return cls(view, piece, pos, states, current, view.match_state, match_source or view.kind)


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


def _transition_path(pos: dict, src: int, dst: int) -> tuple[list[float], list[float], bool]:
    """The points of one transition's line, and whether it is a shortcut (an arc that skips
    ahead along a row)."""
    (x0, y0), (x1, y1) = pos[src], pos[dst]
    if src == dst:  # a self-loop: a small circle above the state
        t = np.linspace(0, 2 * np.pi, 20)
        return (x0 + 0.16 * np.sin(t)).tolist(), (y0 + 0.2 - 0.2 * np.cos(t)).tolist(), False
    if abs(y1 - y0) < 1e-9 and abs(x1 - x0) > 1.01:  # same row, not neighbours: an arc
        up = 1 if y0 >= 0 else -1
        bend = min(0.18 + 0.05 * abs(x1 - x0), 0.5) * up * (1 if x1 > x0 else -1)
        xs, ys = _curve(pos[src], pos[dst], bend)
        return xs, ys, True
    return [x0, x1], [y0, y1], False


def _label_point(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Where a transition's token goes: above a horizontal segment, clear of the circles; at
    the middle of any other line."""
    if len(xs) == 2:
        flat = abs(ys[1] - ys[0]) < 1e-9
        return (xs[0] + xs[1]) / 2, (ys[0] + 0.16) if flat else (ys[0] + ys[1]) / 2
    mid = len(xs) // 2
    return xs[mid], ys[mid]


def _add_transitions(fig: go.Figure, scene: _Scene) -> go.Scatter:
    """Transitions: solid lines with arrowheads. Returns their token labels (one text trace,
    for the caller to draw over the suffix links).

    Arcs that skip ahead along a row (shortcuts, e.g. from the root) are drawn faint and
    unlabelled (their token shows on hover), so the path that spells the text stays legible."""
    lines = {False: ([], []), True: ([], [])}  # shortcut? -> (xs, ys)
    lx, ly, labels, hovers = [], [], [], []
    for src, tok, dst in scene.view.snapshot["transitions"]:
        xs, ys, shortcut = _transition_path(scene.pos, src, dst)
        lines[shortcut][0].extend([*xs, None])
        lines[shortcut][1].extend([*ys, None])
        x, y = _label_point(xs, ys)
        lx.append(x)
        ly.append(y)
        text = scene.piece(tok)
        labels.append("" if shortcut else html.escape(compact(text, 7)))
        hovers.append(f"state {src} → {dst} reads token {tok} {html.escape(repr(text))}")
        if src != dst:
            colour, size, width = (SHORTCUT, 1.0, 1.0) if shortcut else (EDGE, 1.1, 1.3)
            _arrowhead(fig, xs, ys, back=2, head=2, size=size, width=width, colour=colour)
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
    return go.Scatter(
        x=lx,
        y=ly,
        mode="text",
        text=labels,
        hovertext=hovers,
        hoverinfo="text",
        textposition="top center",
        textfont=dict(family=MONO, size=10, color=INK),
        name="token",
        showlegend=False,
    )


def _link_path(p0, p1) -> tuple[list[float], list[float]]:
    """A suffix link's curve: a wide bow along a row or across columns, a slight one down a
    column (so it never hides under a transition)."""
    (x0, y0), (x1, y1) = p0, p1
    if abs(y1 - y0) < 1e-9 or abs(x1 - x0) > 0.5:
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
        if target < 0 or target not in scene.states:
            continue
        xs, ys = _link_path(scene.pos[sid], scene.pos[target])
        key = sid == scene.current or (scene.current < 0 and sid == scene.match)
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
                    else "matched state's suffix link (a shorter match)"
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
        y=y0 - 0.22,
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
        return ROOT
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


def _add_states(fig: go.Figure, scene: _Scene) -> None:
    """The states: one marker each, numbered, with its roles on hover."""
    ids = scene.view.node_ids
    outlines = [_state_outline(scene, sid) for sid in ids]
    fig.add_trace(
        go.Scatter(
            x=[scene.pos[i][0] for i in ids],
            y=[scene.pos[i][1] for i in ids],
            mode="markers+text",
            text=[str(i) for i in ids],
            textposition="middle center",
            textfont=dict(
                family=FONT, size=10, color=["white" if i == scene.match else INK for i in ids]
            ),
            marker=dict(
                color=[_state_fill(scene, sid) for sid in ids],
                size=[31 if sid in (scene.current, scene.match, 0) else 26 for sid in ids],
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


def _add_legend_keys(fig: go.Figure, scene: _Scene) -> None:
    """Legend-only markers explaining the highlights that are in the picture."""
    view = scene.view
    keys = (
        ("matched state", scene.match >= 0,
         dict(color=COLOURS.get(scene.source, COLOURS["dynamic"]), size=12)),
        ("current state", scene.current >= 0,
         dict(color="white", size=12, line=dict(color=SELECTED, width=4))),
        ("new this step", bool(view.new_states),
         dict(color=NEW_FILL, size=12, line=dict(color=NEW_STATE, width=3))),
        ("clone", bool(view.clones),
         dict(color=PLAIN_FILL, size=12, symbol="diamond", line=dict(color=BORDER, width=1.2))),
    )  # fmt: skip
    for name, shown, marker in keys:
        if shown:
            fig.add_trace(
                go.Scatter(
                    x=[None], y=[None], mode="markers", marker=marker, name=name, hoverinfo="skip"
                )
            )


def _add_row_captions(fig: go.Figure, scene: _Scene) -> None:
    view = scene.view
    left = min(p[0] for p in scene.pos.values()) - 0.5
    captions = []
    if view.top:
        captions.append((1.15, "end of the text →"))
    if view.spine and len(view.spine) > 1:
        captions.append((0.0, "matched before → draft" if view.kind == "dynamic" else "match →"))
    for y, text in captions:
        fig.add_annotation(
            x=left,
            y=y + 0.42,
            text=text,
            showarrow=False,
            xanchor="left",
            font=dict(size=10, color=MUTED, family=FONT),
        )


def _automaton_layout(fig: go.Figure, scene: _Scene, height: int, title: str | None) -> None:
    """Title (with how much of the automaton is shown), legend below, axes fitted to the rows
    and at least 9 columns wide (so a small automaton is not blown up)."""
    view = scene.view
    xs = [p[0] for p in scene.pos.values()]
    ys = [p[1] for p in scene.pos.values()]
    shown, total = len(view.node_ids), view.total_states
    subtitle = (
        f"{shown} of {total} states" if total > shown else f"all {total} states"
    ) + f" · match {view.snapshot['match_length']} tokens"
    span = max(xs) - min(xs) + 1.2
    fig.update_layout(
        title=dict(
            text=(title or f"{view.kind.capitalize()} automaton") + f"  <sup>{subtitle}</sup>",
            font=dict(family=FONT, size=15, color=INK),
            x=0.01,
            y=0.98,
        ),
        height=height,
        margin=dict(l=8, r=8, t=36, b=8),
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
        xaxis=dict(visible=False, range=[min(xs) - 0.7, min(xs) - 0.7 + max(span, 9)]),
        yaxis=dict(visible=False, range=[min(min(ys), 0) - 0.75, max(max(ys), 1.15) + 0.75]),
        hoverlabel=dict(font=dict(family=FONT, size=12)),
        font=dict(family=FONT, color=INK),
        dragmode="pan",
    )


def automaton_figure(
    view: AutomatonView | None,
    piece: Callable[[int], str],
    match_source: str | None = None,
    height: int = 380,
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
        why = "not used: " + html.escape(ev.reason) if ev.drafter != kind else ""
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
