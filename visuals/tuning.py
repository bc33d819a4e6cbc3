"""Tuning heatmaps: predicted speedup over the l_bias x l_threshold grid (samdec.tuning.sweep),
on this machine's verify-cost curve and, side by side on one colour scale, on other curves
(samdec.tuning.sweep_curves): what the same drafts would gain on other hardware."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from samdec.config import POLICY_LABELS
from samdec.cost import CostModel

from .palette import FONT, INK, THRESHOLD

# Each panel's title, by the kind of curve it was replayed on (samdec.tuning's HERE, FLAT, GPU).
PANEL_TITLES = {
    "here": "this machine (measured curve)",
    "flat": "flat curve (predicted, GPU-like)",
    "gpu": "a GPU's measured curve (predicted)",
}

# Light at both ends so the dark cell labels read on every cell (contrast >= 4.5, tested):
# vermilion below 1 (slower than plain decoding), white at 1, blue above.
SLOWER, PLAIN, FASTER, FASTEST = "#F4A582", "#F7F7F7", "#C6DBEF", "#6BAED6"


# The rings drawn inside a cell: (name, line colour, dash, width, inset from the cell's edge).
# Nested, so marks on the same cell stay visible; distinct by dash as well as colour.
MARKS = {
    "best": (INK, "solid", 3.5, 0.02),
    "your setting": (THRESHOLD, "dash", 3.0, 0.06),
    "paper (5, 5)": (INK, "dot", 2.0, 0.1),
}
PAPER = (5, 5)
LEGEND = {"best": "best cell", "your setting": "your setting ({x}, {y})"}


def _slice(rows: list[dict], policy: str | None, draft_len=None) -> list[dict]:
    """The rows of one draft-length setting (policy, max length): `policy` (else the best
    row's) and `draft_len` (else the best row's of that policy)."""
    if not rows:
        return rows
    policy = policy or max(rows, key=lambda r: r["speedup"])["draft_policy"]
    mine = [r for r in rows if r["draft_policy"] == policy]
    if draft_len is None and mine:
        draft_len = max(mine, key=lambda r: r["speedup"]).get("draft_len")
    return [r for r in mine if r.get("draft_len") == draft_len]


def best_row(rows: list[dict], metric: str = "speedup") -> dict | None:
    return max(rows, key=lambda r: r[metric]) if rows else None


def row_at(rows: list[dict], setting: Sequence[int] | None) -> dict | None:
    """The row of (l_bias, l_threshold) `setting`, or None (no setting, or off the grid)."""
    if setting is None:
        return None
    return next((r for r in rows if (r["l_bias"], r["l_threshold"]) == tuple(setting)), None)


def colour_range(values: list[float]) -> tuple[float, float]:
    """The colour scale's (min, max): every value and 1 (plain decoding's speed), the same for
    every panel so their colours compare."""
    lo, hi = min([*values, 1.0]), max([*values, 1.0])
    return lo, max(hi, lo + 0.05)


def colourscale(lo: float, hi: float) -> list[list]:
    """White at 1 wherever it falls in [lo, hi]; vermilion below it, blue above."""
    mid = min(1.0, max(0.0, (1.0 - lo) / (hi - lo)))
    scale = [[0.0, SLOWER]] if mid > 0 else []
    scale.append([mid, PLAIN])
    if mid < 1:
        scale += [[mid + (1 - mid) / 2, FASTER], [1.0, FASTEST]]
    return scale


def _cell_label(row: dict, metric: str) -> str:
    return f"{row[metric]:.2f}×" if metric == "speedup" else f"{row[metric]:.1f}"


def _cell_hover(row: dict) -> str:
    per_step = row.get("drafted", 0) / row["steps"] if row.get("steps") else 0.0
    return (
        f"l_bias {row['l_bias']}, l_threshold {row['l_threshold']}<br>"
        f"predicted {row['speedup']:.2f}× plain decoding, MAT {row['mat']:.2f}<br>"
        f"{row['steps']} steps, {per_step:.1f} draft tokens verified per step"
    )


def _heatmap(rows: list[dict], biases: list, thresholds: list, metric: str) -> go.Heatmap:
    """Columns are l_bias, rows l_threshold; every cell says its `metric`, its hover the
    rest (MAT, steps, draft tokens verified per step)."""
    cell = {(r["l_bias"], r["l_threshold"]): r for r in rows}

    def grid(fn):
        return [[fn(cell[(b, t)]) if (b, t) in cell else None for b in biases] for t in thresholds]

    return go.Heatmap(
        x=biases, y=thresholds, z=grid(lambda r: r[metric]), coloraxis="coloraxis",
        text=grid(lambda r: _cell_label(r, metric)), texttemplate="%{text}",
        textfont=dict(size=13, color=INK),
        customdata=grid(_cell_hover), hovertemplate="%{customdata}<extra></extra>", xgap=1, ygap=1,
    )  # fmt: skip


def _box(x: float, y: float, inset: float) -> tuple[list[float], list[float]]:
    """A closed outline inside the cell at (x, y), `inset` from its edges (cells are 1 wide)."""
    lo, hi = -0.5 + inset, 0.5 - inset
    xs = [x + lo, x + hi, x + hi, x + lo, x + lo]
    ys = [y + lo, y + lo, y + hi, y + hi, y + lo]
    return xs, ys


def mark_cells(rows: list[dict], setting, metric: str = "speedup") -> dict[str, tuple[int, int]]:
    """Which cell each mark rings: the best, the run's own setting, the paper's (5, 5)."""
    marks = {}
    best = best_row(rows, metric)
    if best is not None:
        marks["best"] = (best["l_bias"], best["l_threshold"])
    if row_at(rows, setting) is not None:
        marks["your setting"] = tuple(setting)
    if row_at(rows, PAPER) is not None:
        marks["paper (5, 5)"] = PAPER
    return marks


def _add_marks(fig: go.Figure, rows, setting, metric: str, where: dict, legend: bool) -> None:
    for name, (x, y) in mark_cells(rows, setting, metric).items():
        colour, dash, width, inset = MARKS[name]
        xs, ys = _box(x, y, inset)
        fig.add_scatter(
            x=xs, y=ys, mode="lines", name=LEGEND.get(name, name).format(x=x, y=y),
            line=dict(color=colour, dash=dash, width=width), hoverinfo="skip",
            legendgroup=name, showlegend=legend, **where,
        )  # fmt: skip


def panel_title(panel: dict, metric: str = "speedup") -> str:
    title = PANEL_TITLES.get(panel.get("kind", "here"), str(panel.get("kind")))
    best = best_row(panel["rows"], metric)
    if best is None:
        return title
    value = f"{best[metric]:.2f}×" if metric == "speedup" else f"MAT {best[metric]:.2f}"
    return f"{title}: best {value}"


def tuning_comparison(
    panels: list[dict],
    setting: Sequence[int] | None = None,
    metric: str = "speedup",
    policy: str | None = None,
) -> go.Figure:
    """One heatmap per curve (samdec.tuning.sweep_curves panels: {"kind", "rows"}), two to a
    row on one colour scale, each with its best cell, the run's `setting` (l_bias,
    l_threshold) and the paper's (5, 5) ringed. The grid's axes end at its outer cells."""
    first = _slice(panels[0]["rows"], policy)
    policy = first[0]["draft_policy"] if first else policy
    draft_len = first[0].get("draft_len") if first else None
    sliced = [{**p, "rows": _slice(p["rows"], policy, draft_len)} for p in panels]
    rows_all = [r for p in sliced for r in p["rows"]]
    biases = sorted({r["l_bias"] for r in rows_all})
    thresholds = sorted({r["l_threshold"] for r in rows_all})
    cols = min(2, len(sliced))
    nrows = (len(sliced) + cols - 1) // cols
    titles = [panel_title(p, metric) for p in sliced] if len(sliced) > 1 else None
    fig = make_subplots(
        rows=nrows, cols=cols, subplot_titles=titles, horizontal_spacing=0.06,
        vertical_spacing=0.12, shared_yaxes=True,
    )  # fmt: skip
    for k, panel in enumerate(sliced):
        where = dict(row=k // cols + 1, col=k % cols + 1)
        fig.add_trace(_heatmap(panel["rows"], biases, thresholds, metric), **where)
        _add_marks(fig, panel["rows"], setting, metric, where, legend=k == 0)
    _axes(fig, biases, thresholds)
    cmin, cmax = colour_range([r[metric] for r in rows_all])
    label = "predicted speedup<br>(1 = plain decoding)" if metric == "speedup" else "MAT"
    what = "speedup" if metric == "speedup" else "MAT"
    title = (
        f"Predicted {what} by l_bias and l_threshold "
        f"({POLICY_LABELS.get(policy, policy)} length policy)"
    )
    if len(sliced) > 1:
        title += "<br><sup>the same recorded drafts replayed on each verify-cost curve</sup>"
    fig.update_layout(
        title=dict(text=title, x=0.01), template="plotly_white",
        font=dict(family=FONT, color=INK, size=12), height=140 + 480 * nrows,
        coloraxis=dict(colorscale=colourscale(cmin, cmax), cmin=cmin, cmax=cmax,
                       colorbar=dict(title=dict(text=label))),
        legend=dict(orientation="h", y=-0.1 / nrows, x=0, xanchor="left", yanchor="top"),
        margin=dict(t=90, b=90),
    )  # fmt: skip
    return fig


def _axes(fig: go.Figure, biases: list, thresholds: list) -> None:
    """Axes that end at the grid's outer cells (no empty row or column around it), one tick
    per setting."""
    if not biases or not thresholds:
        return
    fig.update_xaxes(
        range=[biases[0] - 0.5, biases[-1] + 0.5], tickvals=biases, showgrid=False,
        title_text="l_bias (favour the dynamic match by this many tokens)", zeroline=False,
    )  # fmt: skip
    fig.update_yaxes(
        range=[thresholds[0] - 0.5, thresholds[-1] + 0.5], tickvals=thresholds, showgrid=False,
        zeroline=False,
    )  # fmt: skip
    fig.update_yaxes(
        title_text="l_threshold (shorter matches go to Token Recycling)", col=1
    )  # fmt: skip


def tuning_heatmap(
    rows: list[dict],
    policy: str | None = None,
    metric: str = "speedup",
    setting: Sequence[int] | None = None,
) -> go.Figure:
    """Heatmap of `metric` ("speedup" or "mat") on one curve, with the best point, the paper's
    (5, 5) and `setting` ringed.

    `rows` are sweep rows: dicts with draft_policy, l_bias, l_threshold, speedup, mat, steps.
    """
    return tuning_comparison([{"kind": "here", "rows": rows}], setting, metric, policy)


def _per_step(row: dict) -> float:
    return row.get("drafted", 0) / row["steps"] if row.get("steps") else 0.0


def _ratio(points: dict, q: int = 8) -> float:
    """How many times one pass over q tokens costs one over 1 token, on a panel's curve."""
    if not points:
        return 1.0
    cost = CostModel({int(k): float(v) for k, v in points.items()})
    one = float(cost(1))
    return float(cost(q)) / one if one > 0 else 1.0


def hardware_note(panels: list[dict], setting: Sequence[int] | None = None) -> str:
    """Why the same drafts gain more on another curve, in numbers from the panels: for each,
    the predicted speedup at the run's setting (else the best cell), the draft tokens the
    length policy verified per step, and what a pass over 8 tokens costs against 1. Text."""
    if len(panels) < 2 or not panels[0]["rows"]:
        return ""
    at = "your setting" if row_at(panels[0]["rows"], setting) else "the best setting"
    parts = []
    for panel in panels:
        row = row_at(panel["rows"], setting) or best_row(panel["rows"])
        if row is None:
            continue
        parts.append(
            f"{PANEL_TITLES.get(panel['kind'], panel['kind'])}: "
            f"{row['speedup']:.2f}× at {at}, {_per_step(row):.1f} draft tokens verified per "
            f"step, a pass over 8 tokens costing {_ratio(panel.get('points', {})):.1f}× one"
        )
    return (
        "Same recorded drafts, only the verify-cost curve swapped (the length policy prices "
        "with it too): " + "; ".join(parts) + ". Where a longer pass costs more, each extra "
        "draft token must pay its way and a rejected one is time lost; where it costs the "
        "same, the policy keeps whole drafts and every accepted token saves a step. The other "
        "curves are predictions, not measurements."
    )
