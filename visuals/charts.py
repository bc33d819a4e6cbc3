"""Per-step charts: why each drafter was chosen and how much of each draft the model kept; and the
speeds of a comparison's runs side by side. (The verify-cost curve is in visuals.cost_chart,
acceptance by draft depth in visuals.acceptance_chart.)"""

from __future__ import annotations

import html

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from samdec.trace import StepEvent

from .figures import base_layout, empty_figure, legend_below, mark_step
from .palette import COLOURS, DRAFTERS, LABELS, THRESHOLD, TINTS
from .view import TraceView, as_view


def _match_lengths(view: TraceView) -> tuple[list, list]:
    """(static, dynamic) match length per step; None where a step did not consult the automata."""
    info = [view.has_match_info(ev) for ev in view.steps]
    ls = [ev.match_static if ok else None for ev, ok in zip(view.steps, info, strict=True)]
    ld = [ev.match_dynamic if ok else None for ev, ok in zip(view.steps, info, strict=True)]
    return ls, ld


def _static_trace(steps: list[int], ls: list) -> go.Scatter:
    return go.Scatter(
        x=steps,
        y=ls,
        name="static match",
        mode="lines+markers",
        line=dict(color=COLOURS["static"], width=2, shape="linear"),
        marker=dict(size=5),
        hovertemplate="static match %{y}<extra></extra>",
    )


def _bias_trace(view: TraceView, steps: list[int], ld: list) -> go.Scatter:
    """The rule's line: the static match must rise above dynamic + l_bias for the static
    automaton to retrieve (static - l_bias > dynamic)."""
    return go.Scatter(
        x=steps,
        y=[None if v is None else v + view.l_bias for v in ld],
        name=f"dynamic + l_bias ({view.l_bias}): static above it → static retrieves",
        mode="lines",
        line=dict(color=COLOURS["dynamic"], width=1.4, dash="dot"),
        hovertemplate="dynamic + l_bias %{y}<extra></extra>",
    )


def _dynamic_trace(steps: list[int], ld: list, rules: list[str]) -> go.Scatter:
    return go.Scatter(
        x=steps,
        y=ld,
        name="dynamic match",
        mode="lines+markers",
        line=dict(color=COLOURS["dynamic"], width=2),
        marker=dict(size=5),
        customdata=rules,
        hovertemplate="dynamic match %{y}<br>%{customdata}<extra></extra>",
    )


def _threshold_trace(view: TraceView, steps: list[int]) -> go.Scatter:
    return go.Scatter(
        x=[min(steps) - 0.5, max(steps) + 0.5],
        y=[view.l_threshold] * 2,
        name=f"l_threshold ({view.l_threshold}): max(dynamic, static − l_bias) below it → "
        "no retrieval",
        mode="lines",
        line=dict(color=THRESHOLD, width=1.6, dash="dash"),
        hoverinfo="skip",
    )


def match_figure(trace, selected: int | None = None, height: int = 380) -> go.Figure:
    """Match lengths per step against the decision rule.

    Static retrieves where its match rises above `dynamic + l_bias` (dotted), otherwise
    dynamic; max(dynamic, static - l_bias) must also reach `l_threshold` (violet dashes), or
    the auxiliary drafter (Token Recycling) takes over. The hover says the rule in its one
    form.
    """
    view = as_view(trace)
    steps = [ev.step for ev in view.steps]
    ls, ld = _match_lengths(view)
    rules = [html.escape(view.rule_words(ev)) for ev in view.steps]
    fig = go.Figure()
    if view.has_static:
        fig.add_trace(_static_trace(steps, ls))
    fig.add_trace(_dynamic_trace(steps, ld, rules))
    if view.has_static:
        fig.add_trace(_bias_trace(view, steps, ld))
    if steps:
        fig.add_trace(_threshold_trace(view, steps))
    mark_step(fig, selected, len(steps))
    title = "Match length per step"
    if not view.uses_automata:
        title += f"  <sup>method {view.method} does not use the suffix automata</sup>"
    base_layout(fig, height, title)
    fig.update_layout(legend=legend_below(-0.3), margin=dict(b=96))
    fig.update_xaxes(title_text="step", range=[-0.6, max(len(steps), 1) - 0.4])
    biased = [v + view.l_bias for v in ld if v is not None] if view.has_static else []
    top = max([v for v in [*ls, *ld] if v is not None] + biased + [view.l_threshold, 1])
    fig.update_yaxes(title_text="tokens", range=[-0.5, top * 1.08 + 0.5])
    return fig


# The one mark each step gets in the drafter rows: kind -> (symbol, what it means).
MARKS = {
    "verified": ("square", "filled: draft verified"),
    "dropped": ("square-open", "hollow: offered, 0 verified"),
    "empty": ("line-ew-open", "dash: nothing to draft"),
    "plain": ("circle", "dot: plain step"),
}
PLAIN_ROW = "plain step"
DRAFTER_ROWS = (*DRAFTERS, PLAIN_ROW)

# Why a drafter the rule chose had nothing to draft, by drafter.
NOTHING_TO_DRAFT = {
    "static": "the corpus has no continuation after this match",
    "dynamic": "no earlier occurrence to continue",
    "recycling": "Token Recycling has no saved guesses for this token yet",
    "pld": "the last n-gram occurs nowhere earlier (or continues with EOS)",
}


def step_mark(ev: StepEvent) -> tuple[str, str]:
    """(row, kind of mark) of a step: the drafter that drafted what was verified, else the
    one the rule chose (its draft dropped by the length policy, or nothing to draft), else
    the plain-step row."""
    if ev.drafter in DRAFTERS:
        return ev.drafter, "verified"
    if ev.rule_source in DRAFTERS:
        return ev.rule_source, "dropped" if ev.no_draft == "not_worth_it" else "empty"
    return PLAIN_ROW, "plain"


def _plain_ms(view: TraceView, ev: StepEvent) -> float:
    """The curve's price of a plain step (1 token verified: what a dropped draft leaves)."""
    curve = view.summary.verify_cost if view.summary is not None else {}
    return ev.cost_ms or float(curve.get("1", 0.0))


def policy_words(view: TraceView, ev: StepEvent) -> str:
    """The length policy's sums for this step, from the trace: expected tokens for a price,
    against the alternative (the whole offer, or a plain step). "" without an estimate."""
    offered = min(ev.proposed, ev.draft_limit) if ev.draft_limit else ev.proposed
    if ev.drafter == "none" and ev.no_draft == "not_worth_it":
        if not ev.expected_offered:
            return "the length policy verified 0 (its estimate is not in this trace)"
        plain = _plain_ms(view, ev)
        return (
            f"the length policy verified 0: expected {ev.expected_offered:.1f} tokens for "
            f"{ev.cost_offered_ms:.0f} ms vs 1 token for {plain:.0f} ms (a plain step)"
        )
    if ev.drafter == "none" or not ev.expected_tokens:
        return ""
    kept = len(ev.draft_tokens)
    words = f"the length policy expected {ev.expected_tokens:.1f} tokens for {ev.cost_ms:.0f} ms"
    if ev.policy_cut > 0:
        words = (
            f"the length policy verified {kept} of {offered}: expected "
            f"{ev.expected_tokens:.1f} tokens for {ev.cost_ms:.0f} ms vs "
            f"{ev.expected_offered:.1f} for {ev.cost_offered_ms:.0f} ms (all {offered})"
        )
    return words


def _happened(ev: StepEvent, kind: str, row: str) -> str:
    """What the step did, in a few words."""
    name = LABELS.get(row, row)
    if kind == "verified":
        cut = f" of {ev.proposed} offered" if ev.policy_cut > 0 else ""
        return f"{name} drafted {len(ev.draft_tokens)}{cut}; {ev.accepted} accepted"
    if kind == "dropped":
        limit = f" (limit {ev.draft_limit})" if ev.proposed > ev.draft_limit > 0 else ""
        return f"{name} proposed {ev.proposed} tokens{limit}"
    if kind == "empty" and ev.no_draft == "no_room":
        return f"{name} chosen; one token left to generate: no room for a draft"
    if kind == "empty":
        return f"{name} chosen; nothing to draft: {NOTHING_TO_DRAFT.get(row, 'no draft')}"
    if ev.no_draft == "plain":
        return "plain decoding: no drafter"
    return "no drafter chosen: a plain step"


def step_hover(view: TraceView, ev: StepEvent) -> str:
    """Hover text (plotly HTML) of a step's mark: what happened, the length policy's sums,
    the rule in its one form; every number from the trace."""
    row, kind = step_mark(ev)
    lines = [f"step {ev.step}: {_happened(ev, kind, row)}", policy_words(view, ev)]
    rule = view.rule_words(ev)
    if rule:
        lines.append(f"rule: {rule}")
    return "<br>".join(html.escape(line) for line in lines if line)


def _mark_trace(row: str, kind: str, steps: list[int], hovers: list[str]) -> go.Scatter:
    symbol = MARKS[kind][0]
    colour = COLOURS.get(row, COLOURS["model"])
    return go.Scatter(
        x=steps,
        y=[row] * len(steps),
        mode="markers",
        marker=dict(
            color=colour,  # an open symbol is drawn in this colour
            size=6 if kind == "plain" else 9,
            symbol=symbol,
            line=dict(color=colour, width=2 if kind == "empty" else 1.5),
        ),
        name=f"{kind}: {row}",
        showlegend=False,
        customdata=hovers,
        hovertemplate="%{customdata}<extra></extra>",
    )


def _mark_key(kind: str) -> go.Scatter:
    """A legend entry (no points) that says what a kind of mark means."""
    symbol, words = MARKS[kind]
    grey = COLOURS["model"]
    return go.Scatter(
        x=[None], y=[None], mode="markers", hoverinfo="skip", name=words,
        marker=dict(color=grey, size=9, symbol=symbol, line=dict(color=grey, width=1.5)),
    )  # fmt: skip


def _add_drafter_rows(fig: go.Figure, view: TraceView) -> None:
    """Top panel: one mark per step, in the row of the drafter the step drafted with or the
    rule chose (see MARKS), or in the plain-step row."""
    # An invisible point per row keeps every row on the axis, drafted from or not.
    fig.add_trace(
        go.Scatter(
            x=[None] * len(DRAFTER_ROWS), y=list(DRAFTER_ROWS), mode="markers",
            showlegend=False, hoverinfo="skip", name="rows",
        ),
        row=1, col=1,
    )  # fmt: skip
    groups: dict[tuple[str, str], list[StepEvent]] = {}
    for ev in view.steps:
        groups.setdefault(step_mark(ev), []).append(ev)
    for (row, kind), events in groups.items():
        hovers = [step_hover(view, ev) for ev in events]
        trace = _mark_trace(row, kind, [ev.step for ev in events], hovers)
        fig.add_trace(trace, row=1, col=1)
    for kind in MARKS:
        if any(k == kind for _, k in groups):
            fig.add_trace(_mark_key(kind), row=1, col=1)


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
                color=TINTS["rejected"],  # hatched too: a rejected draft is marked by shape
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
            entrywidth=0.5,
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


def steps_figure(trace, selected: int | None = None, height: int = 460) -> go.Figure:
    """Top: one mark per step in the row of its drafter (see MARKS: filled when its draft was
    verified, hollow when the length policy verified none of it, a dash when it had nothing
    to draft; plain steps in their own row), with why on hover.
    Bottom: stacked tokens per step: accepted draft tokens by source, the model's own token,
    and the rejected draft tokens."""
    view = as_view(trace)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[0.34, 0.66], vertical_spacing=0.05
    )
    _add_drafter_rows(fig, view)
    _add_token_bars(fig, view)
    mark_step(fig, selected, len(view.steps))
    base_layout(fig, height, "Drafter and tokens per step")
    _steps_layout(fig, len(view.steps))
    return fig


def compare_figure(rows: list[dict], height: int = 240) -> go.Figure:
    """Tokens per second of each decoding method (rows: {"name", "tokens_per_s", "colour"?})."""
    fig = go.Figure()
    if not rows:
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
    base_layout(fig, height, "Tokens per second (same prompt, same session)")
    fig.update_layout(showlegend=False, hovermode="closest", margin=dict(l=190))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="tokens / s", rangemode="tozero")
    return fig
