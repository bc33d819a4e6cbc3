"""Plotly helpers shared by the figures: an empty figure with a message, curved lines and their
arrowheads, token labels along lines, legend-only keys, and the common look of the charts."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .palette import FONT, GRID, INK, MONO, MUTED, SELECTED


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


# ---------------------------------------------------------------------------------- diagrams


def curve(p0, p1, bend: float, n: int = 16) -> tuple[list[float], list[float]]:
    """A quadratic Bézier from p0 to p1, bulging `bend` units to its left."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    norm = max((dx * dx + dy * dy) ** 0.5, 1e-9)
    cx, cy = (x0 + x1) / 2 - dy / norm * bend, (y0 + y1) / 2 + dx / norm * bend
    t = np.linspace(0, 1, n)
    xs = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * cx + t**2 * x1
    ys = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * cy + t**2 * y1
    return xs.tolist(), ys.tolist()


def arrowhead(fig: go.Figure, xs, ys, back: int, head: int, size, width: float, colour: str):
    """An arrowhead at the end of a drawn line, pointing along its last `back` points."""
    fig.add_annotation(**arrow(xs, ys, back, head, size, width, colour))


def add_annotations(fig: go.Figure, annotations: list[dict]) -> None:
    """Add many annotations in one go. Each `add_annotation` validates every annotation the
    figure already has again, so n of them one by one cost n² (a diagram's arrowheads were most
    of its drawing time, which a live page pays between decoding steps)."""
    if annotations:
        fig.update_layout(annotations=[*fig.layout.annotations, *annotations])


def arrow(xs, ys, back: int, head: int, size, width: float, colour: str) -> dict:
    """The annotation of an arrowhead at the end of a drawn line (see `arrowhead`)."""
    return dict(
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


def add_legend_keys(fig: go.Figure, keys) -> None:
    """A legend entry (no points) for each (name, shown, marker) whose `shown` is true."""
    for name, shown, marker in keys:
        if shown:
            fig.add_trace(
                go.Scatter(
                    x=[None], y=[None], mode="markers", marker=marker, name=name, hoverinfo="skip"
                )
            )


# ---------------------------------------------------------------------------------- charts


def base_layout(fig: go.Figure, height: int, title: str) -> None:
    fig.update_layout(
        title=dict(text=title, font=dict(family=FONT, size=15, color=INK), x=0.01, y=0.98),
        height=height,
        margin=dict(l=50, r=16, t=44, b=40),
        plot_bgcolor="white",
        paper_bgcolor="white",
        font=dict(family=FONT, color=INK, size=12),
        legend=dict(
            orientation="h",
            yanchor="bottom",
            y=1.0,
            x=1,
            xanchor="right",
            font=dict(size=11),
            bgcolor="rgba(255,255,255,0.8)",
        ),
        hoverlabel=dict(font=dict(family=FONT, size=12)),
        hovermode="x unified",
    )
    fig.update_xaxes(gridcolor=GRID, zeroline=False, showline=True, linecolor="#CBD5E1")
    fig.update_yaxes(gridcolor=GRID, zeroline=False, showline=True, linecolor="#CBD5E1")


def two_line_title(fig: go.Figure, top_margin: int = 84) -> None:
    """Room for a title with a caption under it (anchored at its top, so it is not cut)."""
    fig.update_layout(
        title=dict(yref="container", y=1.0, yanchor="top", pad=dict(t=12)),
        margin=dict(t=top_margin),
    )


def legend_below(y: float = -0.28) -> dict:
    """A horizontal legend under the plot (long entries wrap instead of covering it)."""
    return dict(orientation="h", yanchor="top", y=y, x=0, xanchor="left")


def mark_step(fig: go.Figure, step: int | None, n: int) -> None:
    if step is not None and 0 <= step < n:
        fig.add_vrect(
            x0=step - 0.5,
            x1=step + 0.5,
            # an ink outline, not a fill: the selected step must not look like a source's colour
            fillcolor="rgba(17, 24, 39, 0.04)",
            line=dict(color=SELECTED, width=1.5, dash="dot"),
            layer="below",
        )
