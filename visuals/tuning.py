"""Tuning heatmap: predicted speedup over the l_bias x l_threshold grid (samdec.tuning.sweep)."""

from __future__ import annotations

import plotly.graph_objects as go

from samdec.config import POLICY_LABELS


def _slice(rows: list[dict], policy: str | None) -> tuple[list[dict], str | None]:
    """One slice of the grid: the draft-length setting (policy, max length) of the best point,
    or of `policy` when given. (its rows, the policy)"""
    if not rows:
        return rows, policy
    best = max(rows, key=lambda r: r["speedup"])
    policy = policy or best["draft_policy"]
    draft_len = best.get("draft_len")
    return [
        r for r in rows if r["draft_policy"] == policy and r.get("draft_len") == draft_len
    ], policy


def _heatmap(cell: dict, biases: list, thresholds: list, metric: str) -> go.Heatmap:
    """Columns are l_bias, rows l_threshold; every cell says its speedup and MAT."""
    z = [[cell.get((b, t), {}).get(metric) for b in biases] for t in thresholds]
    text = [
        [
            f"{cell[(b, t)]['speedup']:.2f}x<br>MAT {cell[(b, t)]['mat']:.2f}"
            if (b, t) in cell
            else ""
            for b in biases
        ]
        for t in thresholds
    ]
    return go.Heatmap(
        x=biases,
        y=thresholds,
        z=z,
        text=text,
        texttemplate="%{text}",
        colorscale="Viridis",
        colorbar={"title": "predicted speedup" if metric == "speedup" else "MAT"},
        hovertemplate="l_bias %{x}, l_threshold %{y}<br>%{text}<extra></extra>",
    )


def _add_marks(fig: go.Figure, rows: list[dict], cell: dict, metric: str) -> None:
    """Rings around the paper's setting (5, 5) and the best cell."""
    marks = []
    if (5, 5) in cell:
        marks.append((5, 5, "paper (5, 5)", "#111827", "circle-open"))
    if rows:
        best = max(rows, key=lambda r: r[metric])
        marks.append((best["l_bias"], best["l_threshold"], "best", "#D55E00", "square-open"))
    for x, y, name, colour, symbol in marks:
        fig.add_scatter(
            x=[x],
            y=[y],
            mode="markers",
            name=name,
            marker={
                "symbol": symbol,
                "size": 44,
                "color": colour,
                "line": {"width": 3, "color": colour},
            },
        )


def tuning_heatmap(
    rows: list[dict], policy: str | None = None, metric: str = "speedup"
) -> go.Figure:
    """Heatmap of `metric` ("speedup" or "mat") with the paper's (5, 5) and the best point marked.

    `rows` are sweep rows: dicts with draft_policy, l_bias, l_threshold, speedup, mat, steps.
    """
    rows, policy = _slice(rows, policy)
    biases = sorted({r["l_bias"] for r in rows})
    thresholds = sorted({r["l_threshold"] for r in rows})
    cell = {(r["l_bias"], r["l_threshold"]): r for r in rows}
    fig = go.Figure(_heatmap(cell, biases, thresholds, metric))
    _add_marks(fig, rows, cell, metric)
    fig.update_layout(
        title=f"Predicted {metric} by l_bias and l_threshold "
        f"({POLICY_LABELS.get(policy, policy)} length policy)",
        xaxis_title="l_bias (favour the dynamic match by this many tokens)",
        yaxis_title="l_threshold (shorter matches go to the auxiliary drafter)",
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
        xaxis={"dtick": 1},
        yaxis={"dtick": 1},
    )
    return fig
