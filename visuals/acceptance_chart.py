"""The acceptance chart: how acceptance falls with draft depth (how far drafts stay right)."""

from __future__ import annotations

import plotly.graph_objects as go

from .figures import base_layout, empty_figure, two_line_title
from .palette import COLOURS
from .view import TraceView, as_view


def draft_depths(parents: list[int]) -> list[int]:
    """Depth of each draft node: 1 for a child of the start token (parents come first)."""
    depths: list[int] = []
    for p in parents:
        depths.append(1 if p < 0 else depths[p] + 1)
    return depths


def acceptance_by_depth(view: TraceView) -> list[tuple[int, int, int]]:
    """(depth d, steps whose accepted path reached d, steps that verified a token at depth
    d) for d = 1, 2, ..., over the steps that verified a draft."""
    reached: dict[int, int] = {}
    verified: dict[int, int] = {}
    for ev in view.steps:
        if not ev.draft_tokens:
            continue
        for d in range(1, max(draft_depths(ev.draft_parents)) + 1):
            verified[d] = verified.get(d, 0) + 1
            reached[d] = reached.get(d, 0) + (ev.accepted >= d)
    return [(d, reached[d], verified[d]) for d in sorted(verified)]


def acceptance_figure(trace, height: int = 320) -> go.Figure:
    """Per draft depth: the share of steps that verified a token that deep whose accepted
    path reached it (how far drafts stay right)."""
    view = as_view(trace)
    rows = acceptance_by_depth(view)
    if not rows:
        return empty_figure("No step verified a draft yet.", 200)
    depths = [d for d, _, _ in rows]
    fig = go.Figure(
        go.Bar(
            x=depths, y=[r / n for _, r, n in rows], name="accepted",
            marker_color=COLOURS["model"], text=[f"{r}/{n}" for _, r, n in rows],
            textposition="outside", cliponaxis=False,
            customdata=[[r, n] for _, r, n in rows],
            hovertemplate=(
                "accepted %{customdata[0]} of %{customdata[1]} steps that verified a "
                "depth-%{x} token<extra></extra>"
            ),
        )
    )  # fmt: skip
    title = (
        "Acceptance by draft depth<br><sup>of the steps that verified a token at depth d, "
        "the share whose accepted path reached d</sup>"
    )
    base_layout(fig, height, title)
    two_line_title(fig)
    fig.update_layout(hovermode="closest", showlegend=False)
    fig.update_xaxes(title_text="draft depth (1 = first token after the start token)", dtick=1)
    fig.update_yaxes(title_text="accepted", tickformat=".0%", range=[0, 1.12])
    return fig
