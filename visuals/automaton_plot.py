"""The automaton figure: the states and transitions around the current match, drawn with plotly.

`automaton_figure` draws an `AutomatonView` (see `visuals.automaton_states`) in rows, laid out by
`visuals.automaton_layout`:

* bottom row (the "spine"): the root, the path that spells the matched suffix, the matched
  state (filled with the drafter's colour), then the states the draft continues through;
* top row (dynamic only): the states of the text's last tokens, ending at the current state
  (ringed). Its last tokens sit right above the same tokens of the match, and the dashed
  suffix link from the current state drops to the matched state: "this ending was seen
  before, and back then it went on like this";
* a third row: other states worth seeing (clones made by the last step, suffix-link chains).

Transitions are solid arrows labelled with the token they read; suffix links are dashed (those
to the root are left out: the empty string is a suffix of everything); states the last step
created have an amber border, clones are diamonds. The root is dark and named. Notes above the
picture say how many states are drawn and hidden (the numbers are the automaton's own state ids).
"""

from __future__ import annotations

import html
from collections.abc import Callable

import plotly.graph_objects as go

from .automaton_layout import (
    ROOT_CAPTION,
    ROOT_CAPTION_DY,
    ROW_Y,
    TOP,
    Scene,
    axis_ranges,
    drawn_link,
    label_spots,
    link_path,
    transition_path,
)
from .automaton_states import AutomatonView, hidden_states_note
from .figures import add_annotations, add_legend_keys, arrow, edge_labels, empty_figure
from .palette import COLOURS, FONT, INK, MUTED, NEW_STATE, SELECTED, TINTS
from .stream import compact

# Line colours of the drawing (the sources' colours come from the palette).
EDGE = "#475569"  # a transition along the text
SHORTCUT = "#B8C2D1"  # a transition that skips ahead along a row
LINK = "#A3AFC2"  # a suffix link
KEY_LINK = "#B45309"  # the current state's suffix link, to the matched state
BORDER = "#334155"  # a state's outline
NEW_FILL = "#FEF3C7"  # a state the last step created
PLAIN_FILL = "#F8FAFC"  # a state off the spine
ROOT_FILL = "#1E293B"  # the root: dark, unlike every other state, where every path starts


def _add_transitions(fig: go.Figure, scene: Scene, marks: list[dict]) -> go.Scatter:
    """Transitions: solid lines, their arrowheads added to `marks`. Returns their token labels
    (one text trace, for the caller to draw over the suffix links).

    Arcs that skip ahead along a row (shortcuts, e.g. from the root) are drawn faint and
    unlabelled (their token shows on hover), so the path that spells the text stays legible.
    The labels of the spine's transitions are placed first, so they get the best spots."""
    lines = {False: ([], []), True: ([], [])}  # shortcut? -> (xs, ys)
    transitions = scene.view.snapshot["transitions"]
    paths = [transition_path(scene, src, dst) for src, _, dst in transitions]
    spine = set(scene.view.spine)
    spots: dict[int, tuple[float, float]] = {}
    first = sorted(range(len(transitions)), key=lambda i: transitions[i][2] not in spine)
    for i in first:
        xs, ys, shortcut = paths[i]
        text = "" if shortcut else compact(scene.piece(transitions[i][1]), 7)
        choices = label_spots(xs, ys, scene.labels.drop)
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
            marks.append(arrow(xs, ys, back=2, head=2, size=size, width=width, colour=colour))
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


def _add_suffix_links(fig: go.Figure, scene: Scene, marks: list[dict]) -> None:
    """Suffix links: dashed, their arrowheads added to `marks`. The current state's link (to
    the matched state) is the key one; without a current state, the matched state's own link
    (a shorter match) is."""
    key_links: tuple[list, list] = ([], [])
    other_links: tuple[list, list] = ([], [])
    for sid, s in scene.states.items():
        target = s["link"]
        if not drawn_link(s, scene.pos, scene.key_link_state):
            continue
        xs, ys = link_path(scene, sid, target)
        key = sid == scene.key_link_state
        bucket = key_links if key else other_links
        bucket[0].extend([*xs, None])
        bucket[1].extend([*ys, None])
        colour, width = (KEY_LINK, 1.8) if key else (LINK, 0.9)
        marks.append(arrow(xs, ys, back=3, head=3, size=1, width=width, colour=colour))
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


def _add_elided_path(fig: go.Figure, scene: Scene, marks: list[dict]) -> None:
    """A dotted line from the root to the visible end of a long match path, and how many
    states it stands for (a text added to `marks`)."""
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
    marks.append(
        dict(
            x=(x0 + x1) / 2,
            y=y0,
            yshift=10,  # above the dotted line: under it is the root's caption
            text=f"… {view.elided} more",
            showarrow=False,
            font=dict(size=10, color=MUTED, family=FONT),
        )
    )


def _state_hover(scene: Scene, sid: int) -> str:
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


def _state_fill(scene: Scene, sid: int) -> str:
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


def _state_outline(scene: Scene, sid: int) -> tuple[str, float]:
    """(colour, width): the current state ringed, new states amber."""
    if sid == scene.current:
        return SELECTED, 5
    if sid in scene.view.new_states:
        return NEW_STATE, 2.5
    return BORDER, 1.2


def _state_size(scene: Scene, sid: int) -> int:
    if sid == 0:
        return 38  # room for its name
    size = 31 if sid in (scene.current, scene.match) else 26
    return size + 12 if len(str(sid)) > 5 else size  # room for a long number


def _add_states(fig: go.Figure, scene: Scene, marks: list[dict]) -> None:
    """The states: one marker each, numbered with the automaton's own state ids (the root
    named), with its roles on hover; under the root, what it stands for (a text added to
    `marks`)."""
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
        marks.append(
            dict(
                x=x,
                y=y,
                yshift=-ROOT_CAPTION_DY,
                text=ROOT_CAPTION,
                showarrow=False,
                font=dict(size=9.5, color=MUTED, family=FONT),
                name="root-caption",
            )
        )


def _add_legend_keys(fig: go.Figure, scene: Scene) -> None:
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


def _add_row_captions(scene: Scene, marks: list[dict]) -> None:
    """What each row is: above the text's end, under the spine (below the root's caption:
    above it, the arrows from the root to the top row would cross it), added to `marks`."""
    view = scene.view
    left = min(p[0] for p in scene.pos.values()) - 0.5
    captions = []
    if view.top:
        captions.append((ROW_Y[TOP], 32, "end of the text →"))  # over its labels
    if view.spine and len(view.spine) > 1:
        words = "matched before → draft" if view.kind == "dynamic" else "match →"
        captions.append((0.0, -ROOT_CAPTION_DY - 16, words))
    for y, shift, text in captions:
        marks.append(
            dict(
                x=left,
                y=y,
                yshift=shift,
                text=text,
                showarrow=False,
                xanchor="left",
                font=dict(size=10, color=MUTED, family=FONT),
            )
        )


PATHS_NOTE = (
    "Every path of arrows from the root spells a piece of the text (suffix links to the root "
    "are not drawn)."
)


def _add_notes(view: AutomatonView, marks: list[dict]) -> None:
    """Lines under the title (added to `marks`): what is drawn and what is hidden, and how
    to read paths."""
    lines = [*hidden_states_note(view), PATHS_NOTE]
    for line, text in enumerate(lines):
        marks.append(
            dict(
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
        )


def _automaton_layout(
    fig: go.Figure, scene: Scene, height: int, title: str | None, marks: list[dict]
) -> None:
    """Title (with the match's length) and the notes above, legend below, axes fitted to the
    rows (see axis_ranges); then every annotation in `marks`, at once."""
    view = scene.view
    xrange, yrange = axis_ranges(scene.pos)
    subtitle = f"match {view.snapshot['match_length']} tokens"
    _add_notes(view, marks)
    add_annotations(fig, marks)
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
    scene = Scene.of(view, piece, match_source)
    fig = go.Figure()
    marks: list[dict] = []  # every annotation, added at once (figures.add_annotations)
    labels = _add_transitions(fig, scene, marks)
    _add_suffix_links(fig, scene, marks)
    fig.add_trace(labels)  # the tokens go over every line
    _add_elided_path(fig, scene, marks)
    _add_states(fig, scene, marks)
    _add_legend_keys(fig, scene)
    _add_row_captions(scene, marks)
    _automaton_layout(fig, scene, height, title, marks)
    return fig
