"""The automaton view: states and transitions around the current match, drawn with plotly.

`dynamic_view` rebuilds the request's dynamic suffix automaton from the prompt and the tokens
generated before a step (microseconds: the construction is linear and compiled), and takes a
snapshot of the neighbourhood that matters at that step. `static_view` advances a cursor of
the static automaton over the same context. `automaton_figure` lays either out with networkx
(left to right by the length of each state's longest string) and draws:

* states as circles, labelled with their number; the root, the state of the whole text
  ("current", ringed), the matched state (filled with the drafter's colour) and the states the
  last step created (amber border; clones marked with a diamond) stand out;
* transitions as solid arrows labelled with the token they read;
* suffix links as dashed curves (following one drops tokens from the front of the match).
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

DEFAULT_MAX_STATES = 36


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

    @property
    def node_ids(self) -> list[int]:
        return [s["id"] for s in self.snapshot["states"]]

    def longest(self, state: dict, limit: int | None = None) -> list[int]:
        """Token ids of the longest string of a snapshot state."""
        length, end = state["length"], state["endpos"]
        if length == 0 or end < 0:
            return []
        start = end + 1 - length
        if limit is not None and length > limit:
            start = end + 1 - limit
        return [int(t) for t in self.text[start : end + 1]]


# ---------------------------------------------------------------------------------- snapshots


def dynamic_view(
    trace, step: int | None = None, max_states: int = DEFAULT_MAX_STATES
) -> AutomatonView | None:
    """The dynamic automaton as step `step` saw it (before drafting): the states that explain
    the step, at most `max_states` of them (see `pick_states`)."""
    view = as_view(trace)
    k = view.clamp(step)
    if k < 0:
        return None
    endpos = str(view.config.get("endpos", "first"))
    context = view.context_before(k)
    previous = view.steps[k - 1].new_tokens if k > 0 else []
    automaton = DynamicSuffixAutomaton(endpos=endpos, capacity=len(context) + 16)
    automaton.advance(context[: len(context) - len(previous)])
    states_before = automaton.num_states
    automaton.advance(previous)
    full = automaton.snapshot()  # the whole automaton: cheap (linear size, plain lists)
    if endpos == "first":
        firstpos = {s["id"]: s["endpos"] for s in full["states"]}
    else:  # a twin tracking first positions: same construction, so the same state numbers
        twin = DynamicSuffixAutomaton(endpos="first", capacity=len(context) + 16)
        twin.advance(context)
        firstpos = {s["id"]: s["endpos"] for s in twin.snapshot()["states"]}
    # A state created for a new position spells a whole prefix (length = first end + 1);
    # a clone was split off an older state and spells something shorter.
    clones = {
        s["id"] for s in full["states"] if s["id"] != 0 and s["length"] != firstpos[s["id"]] + 1
    }
    text = np.asarray(context, dtype=np.int64)
    length = full["match_length"]
    match_text = [int(t) for t in text[len(text) - length :]] if length else []
    continuation = [int(t) for t in automaton.draft(16)] if length else []
    new = [s["id"] for s in full["states"] if s["id"] >= states_before]
    keep = len(view.steps[k].draft_tokens) if view.steps[k].drafter == "dynamic" else 6
    chosen = pick_states(
        full, match_text, continuation[: max(keep, 4)], new, max_states, context[-10:]
    )
    return AutomatonView(
        kind="dynamic",
        snapshot=restrict(full, chosen),
        text=text,
        new_states=set(new) & set(chosen),
        clones=clones & set(chosen),
        total_states=automaton.num_states,
        step=k,
        match_text=match_text,
        continuation=continuation,
    )


def pick_states(
    snapshot: dict,
    match_text: list[int],
    draft: list[int],
    new: list[int],
    max_states: int,
    tail: list[int] | None = None,
) -> list[int]:
    """The states worth drawing, in priority order: root, current and matched states, the
    path spelling the match, the current state's suffix-link chain (the endings a match falls
    back through), the path the draft continues along, the states the last step created, the
    matched state's chain, the path spelling the text's last tokens (`tail`), and what else
    could follow the match."""
    if len(snapshot["states"]) <= max_states:
        return [s["id"] for s in snapshot["states"]]
    link = {s["id"]: s["link"] for s in snapshot["states"]}
    trans = {(s, t): d for s, t, d in snapshot["transitions"]}

    def walk(start: int, tokens: list[int]) -> list[int]:
        path, state = [start], start
        for tok in tokens:
            state = trans.get((state, tok), -1)
            if state < 0:
                break
            path.append(state)
        return path

    def chain(state: int) -> list[int]:
        out = []
        while state >= 0 and state not in out:
            out.append(state)
            state = link[state]
        return out

    last, match = snapshot["last"], snapshot["match_state"]
    match_path = walk(0, match_text)
    groups = [
        [0, last, match],
        match_path,
        chain(last),
        walk(match_path[-1], draft)[1:],
        sorted(new, reverse=True)[:12],
        chain(match),
        walk(0, tail or []),
        [d for (s, _), d in trans.items() if s == match],
    ]
    chosen: dict[int, None] = {}
    for group in groups:
        for state in group:
            if len(chosen) >= max_states:
                return list(chosen)
            chosen.setdefault(state, None)
    return list(chosen)


def restrict(snapshot: dict, chosen: list[int]) -> dict:
    """The snapshot with only the chosen states and the transitions between them."""
    keep = set(chosen)
    out = dict(snapshot)
    out["states"] = [s for s in snapshot["states"] if s["id"] in keep]
    out["transitions"] = [t for t in snapshot["transitions"] if t[0] in keep and t[2] in keep]
    return out


def static_view(
    static: StaticSuffixAutomaton | None,
    trace,
    step: int | None = None,
    max_states: int = DEFAULT_MAX_STATES,
) -> AutomatonView | None:
    """The static automaton around the state matched by the context of step `step`."""
    view = as_view(trace)
    k = view.clamp(step)
    if static is None or k < 0:
        return None
    cursor = static.cursor()
    cursor.advance(view.context_before(k))
    snapshot = cursor.neighbourhood(max_states=max_states)
    corpus = np.asarray(static.corpus)
    end, length = cursor.match_end(), cursor.match_length
    match_text = [int(t) for t in corpus[end + 1 - length : end + 1]] if length else []
    continuation = [int(t) for t in cursor.draft(16)]
    return AutomatonView(
        kind="static",
        snapshot=snapshot,
        text=corpus,
        total_states=static.num_states,
        step=k,
        match_text=match_text,
        continuation=continuation,
    )


# ---------------------------------------------------------------------------------- layout


def layout(view: AutomatonView) -> dict[int, tuple[float, float]]:
    """Columns by (rank of) string length, left to right. The spine (root -> matched state ->
    the states the draft continues through) runs along the centre row; every other state takes
    the free row above it nearest the states that lead to it."""
    states = view.snapshot["states"]
    graph = nx.DiGraph()
    column = {length: i for i, length in enumerate(sorted({s["length"] for s in states}))}
    for s in states:
        graph.add_node(s["id"], layer=column[s["length"]])
    for src, _tok, dst in view.snapshot["transitions"]:
        if src != dst:
            graph.add_edge(src, dst)
    # networkx's layered layout gives the columns and a first guess of the rows ...
    pos = nx.multipartite_layout(graph, subset_key="layer", align="vertical", scale=1.0)
    spine = spine_states(view)
    layers: dict[int, list[int]] = {}
    for node, data in graph.nodes(data=True):
        layers.setdefault(data["layer"], []).append(node)
    y = {n: 0.0 if n in spine else 1.0 + abs(float(pos[n][1])) for n in graph.nodes}
    # ... which barycentre sweeps refine: a state sits near its neighbours.
    for _ in range(3):
        for layer in sorted(layers):
            nodes = [n for n in layers[layer] if n not in spine]
            taken = {0} if len(nodes) < len(layers[layer]) else set()

            def wish(n: int) -> float:
                near = [y[m] for m in graph.predecessors(n)] + [y[m] for m in graph.successors(n)]
                return sum(near) / len(near) if near else y[n]

            for n in sorted(nodes, key=wish):
                want = max(wish(n), 1.0 if spine else 0.0)
                slot = min(
                    (r for r in range(0, len(nodes) + 2) if r not in taken),
                    key=lambda r, w=want: (abs(r - w), r),
                )
                taken.add(slot)
                y[n] = float(slot)
    return {n: (float(d["layer"]), y[n]) for n, d in graph.nodes(data=True)}


def spine_states(view: AutomatonView) -> list[int]:
    """Root, the states spelling the match, then the states along its continuation."""
    trans = {(s, t): d for s, t, d in view.snapshot["transitions"]}
    chain, state = [0], 0
    for tok in [*view.match_text, *view.continuation]:
        state = trans.get((state, tok), -1)
        if state < 0 or state in chain:
            break
        chain.append(state)
    return chain


# ---------------------------------------------------------------------------------- figure


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


def _suffix_chain(states: dict[int, dict], start: int) -> list[int]:
    chain = []
    while start in states and start not in chain:
        chain.append(start)
        start = states[start]["link"]
    return chain


def automaton_figure(
    view: AutomatonView | None,
    piece: Callable[[int], str],
    match_source: str | None = None,
    height: int = 400,
    title: str | None = None,
) -> go.Figure:
    """The states and transitions of a snapshot (see the module docstring for the encoding)."""
    if view is None or not view.snapshot["states"]:
        return empty_figure("No automaton to show yet.", height)
    snap = view.snapshot
    pos = layout(view)
    states = {s["id"]: s for s in snap["states"]}
    current = snap["last"] if view.kind == "dynamic" else -1
    match = snap["match_state"] if snap["match_length"] > 0 else -1
    source = match_source or view.kind
    spine = set(spine_states(view))
    fig = go.Figure()

    # Transitions: solid segments (one trace), arrowheads (annotations), token labels (text).
    tx, ty, lx, ly, labels, hovers = [], [], [], [], [], []
    pairs = {(s, d) for s, _, d in snap["transitions"]}
    for src, tok, dst in snap["transitions"]:
        (x0, y0), (x1, y1) = pos[src], pos[dst]
        if src == dst:  # a self-loop: a small circle above the state
            t = np.linspace(0, 2 * np.pi, 20)
            xs = (x0 + 0.18 * np.sin(t)).tolist()
            ys = (y0 + 0.22 - 0.22 * np.cos(t)).tolist()
        elif (dst, src) in pairs or (abs(y1 - y0) < 1e-9 and abs(x1 - x0) > 1.01):
            # bulge upwards, off the spine (transitions always go right: longer strings)
            xs, ys = _curve(pos[src], pos[dst], min(0.3 + 0.08 * abs(x1 - x0), 1.2))
        else:
            xs, ys = [x0, x1], [y0, y1]
        tx += [*xs, None]
        ty += [*ys, None]
        mid = len(xs) // 2
        lx.append((xs[0] + xs[-1]) / 2 if len(xs) == 2 else xs[mid])
        ly.append((ys[0] + ys[-1]) / 2 if len(ys) == 2 else ys[mid])
        labels.append(html.escape(compact(piece(tok), 8)))
        hovers.append(f"state {src} → {dst} reading token {tok} {html.escape(repr(piece(tok)))}")
        if src != dst:
            fig.add_annotation(
                x=xs[-1],
                y=ys[-1],
                ax=xs[-2],
                ay=ys[-2],
                xref="x",
                yref="y",
                axref="x",
                ayref="y",
                showarrow=True,
                arrowhead=2,
                arrowsize=1.2,
                arrowwidth=1.3,
                arrowcolor="#475569",
                standoff=12,
                text="",
            )
    fig.add_trace(
        go.Scatter(
            x=tx,
            y=ty,
            mode="lines",
            name="transition (reads the token shown)",
            line=dict(color="#475569", width=1.4),
            hoverinfo="skip",
        )
    )

    # Suffix links: dashed curves below (the current state's chain darker: it is the list of
    # shorter and shorter endings a failed match falls back through).
    chain = set(_suffix_chain(states, current if current >= 0 else match))
    link_traces = {True: ([], []), False: ([], [])}
    for sid, s in states.items():
        target = s["link"]
        if target < 0 or target not in states:
            continue
        (x0, y0), (x1, y1) = pos[sid], pos[target]
        bend = min(0.25 + 0.06 * abs(x1 - x0), 1.1)
        xs, ys = _curve(pos[sid], pos[target], bend if x1 <= x0 else -bend)
        strong = sid in chain
        link_traces[strong][0].extend([*xs, None])
        link_traces[strong][1].extend([*ys, None])
        fig.add_annotation(
            x=xs[-1],
            y=ys[-1],
            ax=xs[-3],
            ay=ys[-3],
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=3,
            arrowsize=1,
            arrowwidth=1.2 if strong else 0.8,
            arrowcolor="#7C8AA0" if strong else "#C4CCD8",
            standoff=11,
            text="",
        )
    for strong, (sx, sy) in link_traces.items():
        fig.add_trace(
            go.Scatter(
                x=sx,
                y=sy,
                mode="lines",
                hoverinfo="skip",
                name=(
                    "suffix link of the current state's chain"
                    if strong
                    else "suffix link (drops tokens from the front)"
                ),
                line=dict(
                    color="#7C8AA0" if strong else "#C4CCD8",
                    width=1.6 if strong else 1.0,
                    dash="dash",
                ),
                showlegend=bool(sx) or not strong,
            )
        )
    fig.add_trace(
        go.Scatter(
            x=lx,
            y=ly,
            mode="text",
            text=labels,
            hovertext=hovers,
            hoverinfo="text",
            textposition="top center",
            textfont=dict(family=MONO, size=11, color=INK),
            name="token",
            showlegend=False,
        )
    )

    # States.
    ids = view.node_ids
    fill, line_colour, line_width, symbol, size, hover = [], [], [], [], [], []
    for sid in ids:
        s = states[sid]
        words = compact("".join(piece(t) for t in view.longest(s, 12)), 40)
        if s["length"] > 12:
            words = "…" + words
        role = []
        if sid == 0:
            role.append("root (the empty string)")
        if sid == current:
            role.append("current: the whole text so far")
        if sid == match:
            role.append(f"matched: the longest ending seen before ({snap['match_length']} tokens)")
        if sid in view.new_states:
            role.append("new this step" + (" (a clone)" if sid in view.clones else ""))
        hover.append(
            f"<b>state {sid}</b>{' · ' + ', '.join(role) if role else ''}<br>"
            f"longest string: {s['length']} tokens <i>{html.escape(words)}</i><br>"
            f"suffix link → {s['link']} · end position {s['endpos']}"
        )
        if sid == match:
            fill.append(COLOURS.get(source, COLOURS["dynamic"]))
        elif sid == 0:
            fill.append(ROOT)
        elif sid in view.new_states:
            fill.append("#FEF3C7")
        elif sid in spine:
            fill.append(TINTS.get(view.kind, "#F1F5F9"))
        else:
            fill.append("#F8FAFC")
        if sid == current:
            line_colour.append(SELECTED)
            line_width.append(5)
        elif sid in view.new_states:
            line_colour.append(NEW_STATE)
            line_width.append(2.5)
        else:
            line_colour.append("#334155")
            line_width.append(1.2)
        symbol.append("diamond" if sid in view.clones else "circle")
        size.append(30 if sid in (current, match, 0) else 25)
    fig.add_trace(
        go.Scatter(
            x=[pos[i][0] for i in ids],
            y=[pos[i][1] for i in ids],
            mode="markers+text",
            text=[str(i) for i in ids],
            textposition="middle center",
            textfont=dict(
                family=FONT, size=10, color=["white" if i == match else INK for i in ids]
            ),
            marker=dict(
                color=fill, size=size, symbol=symbol, line=dict(color=line_colour, width=line_width)
            ),
            hovertext=hover,
            hoverinfo="text",
            name="state",
            customdata=ids,
            showlegend=False,
        )
    )
    # Legend-only markers explaining the highlights.
    keys = [
        ("matched state", dict(color=COLOURS.get(source, COLOURS["dynamic"]), size=12)),
        ("current state", dict(color="white", size=12, line=dict(color=SELECTED, width=4))),
        ("new this step", dict(color="#FEF3C7", size=12, line=dict(color=NEW_STATE, width=3))),
        (
            "clone",
            dict(color="#FEF3C7", size=12, symbol="diamond", line=dict(color=NEW_STATE, width=2)),
        ),
    ]
    for name, marker in keys:
        if (name == "current state" and current < 0) or (name == "matched state" and match < 0):
            continue
        if (name == "new this step" and not view.new_states) or (
            name == "clone" and not view.clones
        ):
            continue
        fig.add_trace(
            go.Scatter(
                x=[None], y=[None], mode="markers", marker=marker, name=name, hoverinfo="skip"
            )
        )
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    shown = len(ids)
    total = view.total_states
    subtitle = (
        f"{shown} of {total} states" if total > shown else f"all {total} states"
    ) + f" · match {snap['match_length']} tokens"
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
            y=0.0,
            x=0,
            font=dict(size=11, family=FONT),
            bgcolor="rgba(255,255,255,0.85)",
        ),
        xaxis=dict(visible=False, range=[min(xs) - 0.6, max(xs) + 0.6], fixedrange=False),
        yaxis=dict(visible=False, range=[min(ys) - 1.6, max(max(ys), 1) + 0.7]),
        hoverlabel=dict(font=dict(family=FONT, size=12)),
        font=dict(family=FONT, color=INK),
        dragmode="pan",
    )
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
