"""Per-step charts: why each drafter was chosen, and how much of each draft the model kept."""

from __future__ import annotations

import html

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .palette import COLOURS, DRAFTERS, FONT, GRID, INK, SELECTED, THRESHOLD
from .view import TraceView, as_view

DRAFTER_ROWS = (*DRAFTERS, "none")


def _base_layout(fig: go.Figure, height: int, title: str) -> None:
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


def _mark_step(fig: go.Figure, step: int | None, n: int) -> None:
    if step is not None and 0 <= step < n:
        fig.add_vrect(
            x0=step - 0.5,
            x1=step + 0.5,
            fillcolor=SELECTED,
            opacity=0.28,
            line_width=0,
            layer="below",
        )


def _match_lengths(view: TraceView) -> tuple[list, list]:
    """(static, dynamic) match length per step; None where a step did not consult the automata."""
    info = [view.has_match_info(ev) for ev in view.steps]
    ls = [ev.match_static if ok else None for ev, ok in zip(view.steps, info, strict=True)]
    ld = [ev.match_dynamic if ok else None for ev, ok in zip(view.steps, info, strict=True)]
    return ls, ld


def _static_traces(view: TraceView, steps: list[int], ls: list, reasons: list[str]):
    """The static match, and the line the dynamic match must stay on or above to win."""
    yield go.Scatter(
        x=steps,
        y=ls,
        name="static match",
        mode="lines+markers",
        line=dict(color=COLOURS["static"], width=2, shape="linear"),
        marker=dict(size=5),
        customdata=reasons,
        hovertemplate="static match %{y}<extra></extra>",
    )
    yield go.Scatter(
        x=steps,
        y=[None if v is None else v - view.l_bias for v in ls],
        name=f"static − l_bias ({view.l_bias})",
        mode="lines",
        line=dict(color=COLOURS["static"], width=1.4, dash="dot"),
        hovertemplate="static − l_bias %{y}<extra></extra>",
    )


def _dynamic_trace(steps: list[int], ld: list, reasons: list[str]) -> go.Scatter:
    return go.Scatter(
        x=steps,
        y=ld,
        name="dynamic match",
        mode="lines+markers",
        line=dict(color=COLOURS["dynamic"], width=2),
        marker=dict(size=5),
        customdata=reasons,
        hovertemplate="dynamic match %{y}<br>%{customdata}<extra></extra>",
    )


def _threshold_trace(view: TraceView, steps: list[int]) -> go.Scatter:
    return go.Scatter(
        x=[min(steps) - 0.5, max(steps) + 0.5],
        y=[view.l_threshold] * 2,
        name=f"l_threshold ({view.l_threshold})",
        mode="lines",
        line=dict(color=THRESHOLD, width=1.6, dash="dash"),
        hoverinfo="skip",
    )


def match_figure(trace, selected: int | None = None, height: int = 300) -> go.Figure:
    """Match lengths per step against the decision rule.

    The dynamic draft is used while its line is on or above `static - l_bias` (dotted); the
    chosen match must also reach `l_threshold` (violet dashes), or the auxiliary drafter (Token
    Recycling) takes over.
    """
    view = as_view(trace)
    steps = [ev.step for ev in view.steps]
    ls, ld = _match_lengths(view)
    reasons = [html.escape(ev.reason) for ev in view.steps]  # shown on hover
    fig = go.Figure()
    if view.has_static:
        fig.add_traces(list(_static_traces(view, steps, ls, reasons)))
    fig.add_trace(_dynamic_trace(steps, ld, reasons))
    if steps:
        fig.add_trace(_threshold_trace(view, steps))
    _mark_step(fig, selected, len(steps))
    title = "Match length per step"
    if not view.uses_automata:
        title += f"  <sup>method {view.method} does not use the suffix automata</sup>"
    _base_layout(fig, height, title)
    fig.update_xaxes(title_text="step", range=[-0.6, max(len(steps), 1) - 0.4])
    top = max([v for v in [*ls, *ld] if v is not None] + [view.l_threshold, 1])
    fig.update_yaxes(title_text="tokens", range=[-0.5, top * 1.08 + 0.5])
    return fig


def _drafted_marker(source: str, steps: list[int], reasons: dict[int, str]) -> go.Scatter:
    """Filled squares: the steps whose draft came from `source` ("none": no draft)."""
    return go.Scatter(
        x=steps,
        y=[source] * len(steps),
        mode="markers",
        marker=dict(color=COLOURS[source], size=9, symbol="square"),
        name=f"drafter: {source}",
        showlegend=False,
        customdata=[reasons[s] for s in steps],
        hovertemplate=f"{source} drafted<br>%{{customdata}}<extra></extra>",
    )


def _chosen_marker(source: str, steps: list[int], reasons: dict[int, str]) -> go.Scatter:
    """Hollow squares: the steps where the rule picked `source` but no draft was verified."""
    return go.Scatter(
        x=steps,
        y=[source] * len(steps),
        mode="markers",
        marker=dict(
            color=COLOURS[source],  # an open symbol is drawn in this colour
            size=8,
            symbol="square-open",
            line=dict(color=COLOURS[source], width=1.5),
        ),
        name=f"chosen, no draft: {source}",
        showlegend=False,
        customdata=[reasons[s] for s in steps],
        hovertemplate=(
            f"{source} chosen, but no draft tokens were verified<br>%{{customdata}}<extra></extra>"
        ),
    )


def _add_drafter_rows(fig: go.Figure, view: TraceView) -> None:
    """Top panel: the drafter of each step, one row per drafter."""
    # An invisible point per row keeps every row on the axis, drafted from or not.
    fig.add_trace(
        go.Scatter(
            x=[None] * len(DRAFTER_ROWS),
            y=list(DRAFTER_ROWS),
            mode="markers",
            showlegend=False,
            hoverinfo="skip",
            name="rows",
        ),
        row=1,
        col=1,
    )
    reasons = {ev.step: html.escape(ev.reason) for ev in view.steps}  # shown on hover
    # Steps that verified no draft although the rule picked a drafter (the trace records it).
    unverified = {
        ev.step: ev.rule_source
        for ev in view.steps
        if ev.drafter == "none" and ev.rule_source in DRAFTERS
    }
    for source in DRAFTER_ROWS:
        drafted = [ev.step for ev in view.steps if ev.drafter == source]
        if drafted:
            fig.add_trace(_drafted_marker(source, drafted, reasons), row=1, col=1)
        wanted = [step for step, rule in unverified.items() if rule == source]
        if wanted:
            fig.add_trace(_chosen_marker(source, wanted, reasons), row=1, col=1)
    if unverified:
        fig.add_trace(
            go.Scatter(
                x=[None], y=[None], mode="markers", hoverinfo="skip",
                name="chosen, nothing verified",
                marker=dict(color=COLOURS["model"], size=9, symbol="square-open",
                            line=dict(color=COLOURS["model"], width=1.5)),
            ),
            row=1, col=1,
        )  # fmt: skip


def _add_token_bars(fig: go.Figure, view: TraceView) -> None:
    """Bottom panel, stacked per step: accepted draft tokens by source, the model's own token,
    the rejected draft tokens."""
    n = len(view.steps)
    steps = list(range(n))
    accepted = {s: [0] * n for s in DRAFTERS}
    model = [0] * n
    rejected = [0] * n
    for ev in view.steps:
        if ev.drafter in accepted:
            accepted[ev.drafter][ev.step] = ev.accepted
        model[ev.step] = 1 if ev.bonus_token >= 0 else 0
        rejected[ev.step] = len(ev.draft_tokens) - ev.accepted
    bars = [
        go.Bar(
            x=steps,
            y=ys,
            name=f"accepted · {source}",
            marker_color=COLOURS[source],
            hovertemplate=f"{source} accepted %{{y}}<extra></extra>",
        )
        for source, ys in accepted.items()
    ]
    bars.append(
        go.Bar(
            x=steps,
            y=model,
            name="model's own token",
            marker_color=COLOURS["model"],
            hovertemplate="model token %{y}<extra></extra>",
        )
    )
    bars.append(
        go.Bar(
            x=steps,
            y=rejected,
            name="rejected draft",
            marker=dict(
                color="#F6D5C3",
                line=dict(color=COLOURS["rejected"], width=0.6),
                pattern=dict(shape="/", fgcolor=COLOURS["rejected"], size=5),
            ),
            hovertemplate="rejected %{y}<extra></extra>",
        )
    )
    for bar in bars:
        fig.add_trace(bar, row=2, col=1)


def _steps_layout(fig: go.Figure, n: int) -> None:
    """Stacked bars, the legend under the plot, the drafter rows as categories in a fixed order."""
    fig.update_layout(
        barmode="stack",
        bargap=0.15,
        hovermode="closest",
        margin=dict(l=70, b=70),
        legend=dict(
            orientation="h",
            yanchor="top",
            y=-0.2,
            x=0,
            xanchor="left",
            entrywidth=0.33,
            entrywidthmode="fraction",
        ),
    )
    fig.update_yaxes(
        categoryorder="array",
        categoryarray=list(reversed(DRAFTER_ROWS)),
        row=1,
        col=1,
        type="category",
        range=[-0.6, len(DRAFTER_ROWS) - 0.4],
        tickmode="array",
        tickvals=list(DRAFTER_ROWS),
        tickfont=dict(size=11),
    )
    fig.update_yaxes(title_text="tokens", row=2, col=1)
    fig.update_xaxes(title_text="step", row=2, col=1, range=[-0.6, max(n, 1) - 0.4])


def steps_figure(trace, selected: int | None = None, height: int = 380) -> go.Figure:
    """Top: the drafter of each step (hollow: the rule picked it but no draft was verified).
    Bottom: stacked tokens per step: accepted draft tokens by source, the model's own token,
    and the rejected draft tokens."""
    view = as_view(trace)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.34, 0.66], vertical_spacing=0.05
    )
    _add_drafter_rows(fig, view)
    _add_token_bars(fig, view)
    _mark_step(fig, selected, len(view.steps))
    _base_layout(fig, height, "Drafter and tokens per step")
    _steps_layout(fig, len(view.steps))
    return fig


def compare_figure(rows: list[dict], height: int = 240) -> go.Figure:
    """Tokens per second of each decoding method (rows: {"name", "tokens_per_s", "colour"?})."""
    fig = go.Figure()
    if not rows:
        from .automaton import empty_figure

        return empty_figure("Run a comparison to see the speeds side by side.", 140)
    names = [r["name"] for r in rows]
    speeds = [r["tokens_per_s"] for r in rows]
    base = rows[0]["tokens_per_s"] or 1.0
    fig.add_trace(
        go.Bar(
            x=speeds,
            y=names,
            orientation="h",
            marker_color=[r.get("colour", COLOURS["model"]) for r in rows],
            text=[f"{s:.1f} tok/s · ×{s / base:.2f}" for s in speeds],
            textposition="auto",
            hovertemplate="%{y}: %{x:.1f} tokens/s<extra></extra>",
            name="tokens/s",
        )
    )
    _base_layout(fig, height, "Tokens per second (same prompt, same session)")
    fig.update_layout(showlegend=False, hovermode="closest", margin=dict(l=190))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="tokens / s", rangemode="tozero")
    return fig
