"""Per-step charts: why each drafter was chosen, how much of each draft the model kept, what a
verify pass costs on this machine, and how acceptance falls with draft depth."""

from __future__ import annotations

import html
from itertools import pairwise

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from samdec.trace import StepEvent

from .automaton import empty_figure
from .palette import COLOURS, DRAFTERS, FONT, GRID, INK, LABELS, SELECTED, THRESHOLD
from .view import TraceView, as_view


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


def _two_line_title(fig: go.Figure, top_margin: int = 84) -> None:
    """Room for a title with a caption under it (anchored at its top, so it is not cut)."""
    fig.update_layout(
        title=dict(yref="container", y=1.0, yanchor="top", pad=dict(t=12)),
        margin=dict(t=top_margin),
    )


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
    """The rule's line: the static match must rise above dynamic + l_bias for static to
    draft (the rule's own form, "static 12 > dynamic 0 + l_bias 5 -> static")."""
    return go.Scatter(
        x=steps,
        y=[None if v is None else v + view.l_bias for v in ld],
        name=f"dynamic + l_bias ({view.l_bias}): static above it → static drafts",
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
        name=f"l_threshold ({view.l_threshold})",
        mode="lines",
        line=dict(color=THRESHOLD, width=1.6, dash="dash"),
        hoverinfo="skip",
    )


def match_figure(trace, selected: int | None = None, height: int = 380) -> go.Figure:
    """Match lengths per step against the decision rule.

    Static drafts where its match rises above `dynamic + l_bias` (dotted), otherwise dynamic;
    the chosen match must also reach `l_threshold` (violet dashes), or the auxiliary drafter
    (Token Recycling) takes over. The hover says the rule in its one form.
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
    _mark_step(fig, selected, len(steps))
    title = "Match length per step"
    if not view.uses_automata:
        title += f"  <sup>method {view.method} does not use the suffix automata</sup>"
    _base_layout(fig, height, title)
    fig.update_layout(legend=_legend_below(-0.3), margin=dict(b=96))
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
    _mark_step(fig, selected, len(view.steps))
    _base_layout(fig, height, "Drafter and tokens per step")
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
    _base_layout(fig, height, "Tokens per second (same prompt, same session)")
    fig.update_layout(showlegend=False, hovermode="closest", margin=dict(l=190))
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="tokens / s", rangemode="tozero")
    return fig


# ------------------------------------------------------------------------------ verify cost


def cost_curve(view: TraceView) -> list[tuple[int, float]]:
    """The run's verify-cost curve as (tokens in the pass, ms), fewest tokens first; [] for a
    running generation or a trace recorded without one."""
    curve = view.summary.verify_cost if view.summary is not None else {}
    points: dict[int, float] = {}
    for q, ms in (curve or {}).items():
        try:
            points[int(q)] = float(ms)
        except (TypeError, ValueError):
            continue  # a key from elsewhere: skip it rather than fail the panel
    return sorted((q, ms) for q, ms in points.items() if q >= 1)


def priced_curve(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """The curve as the length policy prices drafts (samdec.policy.CostModel): never falling
    as q grows (a measured dip is taken as noise)."""
    priced, top = [], 0.0
    for q, ms in points:
        top = max(top, ms)
        priced.append((q, top))
    return priced


def curve_price(points: list[tuple[int, float]], q: float) -> float:
    """The curve's ms for q tokens: linear between its points, and beyond its last point
    along its last segment (as the length policy extends it); flat below the first."""
    if q <= points[0][0] or len(points) == 1:
        return points[0][1]
    for (q0, ms0), (q1, ms1) in pairwise(points):
        if q <= q1:
            return ms0 + (ms1 - ms0) * (q - q0) / (q1 - q0)
    (q0, ms0), (q1, ms1) = points[-2:]
    return ms1 + (ms1 - ms0) * (q - q1) / (q1 - q0)


def cost_caption(points: list[tuple[int, float]]) -> str:
    """What the curve says about this machine, against the GPU rule of thumb (two lines)."""
    q = 8 if points[-1][0] >= 8 else points[-1][0]
    one = curve_price(points, 1) or 1.0
    ratio = curve_price(points, q) / one
    if ratio < 1.3:
        return (
            f"on this machine, as on a GPU, verifying {q} tokens costs about as much as one "
            f"({ratio:.1f}×):\nlonger drafts are nearly free"
        )
    return (
        f"on a GPU a pass costs about the same for 1 or a dozen tokens;\non this machine "
        f"verifying {q} tokens costs {ratio:.1f}× one token: each extra one must pay its way"
    )


def _cost_marker(x: float, y: float, name: str, hover: str, **marker) -> go.Scatter:
    return go.Scatter(
        x=[x], y=[y], mode="markers", name=name, marker=marker,
        hovertemplate=html.escape(hover) + "<extra></extra>",
    )  # fmt: skip


def _step_cost_traces(points: list[tuple[int, float]], ev: StepEvent, top: float):
    """The selected step on the curve: what it verified, what it was offered (where the
    length policy cut), and the time its verify pass really took."""
    kept = 1 + len(ev.draft_tokens)
    colour = COLOURS.get(ev.drafter, COLOURS["model"]) if ev.draft_tokens else COLOURS["model"]
    price = ev.cost_ms or curve_price(points, kept)
    offered = 1 + (min(ev.proposed, ev.draft_limit) if ev.draft_limit else ev.proposed)
    if offered > kept:
        offer_price = ev.cost_offered_ms or curve_price(points, offered)
        yield go.Scatter(
            x=[offered, kept], y=[offer_price, price], mode="lines", hoverinfo="skip",
            line=dict(color=COLOURS["rejected"], width=1.2, dash="dot"), showlegend=False,
        )  # fmt: skip
        yield _cost_marker(
            offered, offer_price, f"offered: 1 + {offered - 1}",
            f"step {ev.step} was offered 1 + {offered - 1} tokens: {offer_price:.0f} ms; "
            f"the length policy stopped at 1 + {kept - 1}",
            color="white", size=12, symbol="circle", line=dict(color=COLOURS["rejected"], width=2),
        )  # fmt: skip
    yield _cost_marker(
        kept, price, f"step {ev.step}: verified 1 + {kept - 1}",
        f"step {ev.step} verified 1 + {kept - 1} tokens: {price:.0f} ms on the curve",
        color=colour, size=12, symbol="circle", line=dict(color=INK, width=1),
    )  # fmt: skip
    yield _measured_marker(ev, kept, top)


def _measured_marker(ev: StepEvent, x: int, top: float) -> go.Scatter:
    """The step's measured verify time; above the axis (a pass slowed by something else
    on the machine) it is drawn at the top edge as an arrow with its number."""
    hover = f"step {ev.step}'s verify pass took {ev.verify_ms:.0f} ms (measured)"
    if ev.verify_ms <= top:
        return _cost_marker(
            x, ev.verify_ms, "measured this step", hover,
            color=INK, size=10, symbol="x-thin", line=dict(color=INK, width=2),
        )  # fmt: skip
    marker = _cost_marker(
        x, top, "measured this step (off the scale)", hover,
        color=INK, size=10, symbol="triangle-up",
    )  # fmt: skip
    marker.update(
        mode="markers+text", text=[f"{ev.verify_ms:.0f} ms"], textposition="bottom right",
        cliponaxis=False,
    )  # fmt: skip
    return marker


def cost_axis_top(priced: list[tuple[int, float]], ev: StepEvent | None) -> float:
    """The top of the ms axis: the curve and the step's prices, and its measured time unless
    that is far off the curve (it would squash the curve flat)."""
    highest = max(ms for _, ms in priced)
    if ev is not None:
        highest = max(highest, ev.cost_ms, ev.cost_offered_ms)
        if ev.verify_ms <= 2 * highest:
            highest = max(highest, ev.verify_ms)
    return 1.15 * highest


def _curve_traces(points: list[tuple[int, float]], priced: list[tuple[int, float]]):
    """The curve the length policy prices with, and the measured points where they differ."""
    traces = [
        go.Scatter(
            x=[q for q, _ in priced], y=[ms for _, ms in priced], name="verify cost (as priced)",
            mode="lines+markers", line=dict(color=COLOURS["model"], width=2),
            hovertemplate="one pass over %{x} tokens: %{y:.0f} ms<extra></extra>",
        )
    ]  # fmt: skip
    if points != priced:
        traces.append(
            go.Scatter(
                x=[q for q, _ in points], y=[ms for _, ms in points], mode="markers",
                name="measured (a dip is taken as noise)",
                marker=dict(color="white", size=7, line=dict(color=COLOURS["model"], width=1.5)),
                hovertemplate="measured: %{x} tokens in %{y:.0f} ms<extra></extra>",
            )
        )  # fmt: skip
    return traces


def cost_figure(trace, selected: int | None = None, height: int = 340) -> go.Figure:
    """This machine's verify-cost curve (ms for one pass over q tokens), with the selected
    step on it: what it verified, what it was offered, and its measured time."""
    view = as_view(trace)
    points = cost_curve(view)
    if not points:
        why = (
            "The verify-cost curve comes with the finished trace."
            if view.summary is None
            else "This trace was recorded without a verify-cost curve."
        )
        return empty_figure(why, 200)
    priced = priced_curve(points)
    fig = go.Figure(_curve_traces(points, priced))
    ev = view.steps[view.clamp(selected)] if view.steps else None
    top = cost_axis_top(priced, ev)
    if ev is not None:
        fig.add_traces(list(_step_cost_traces(priced, ev, top)))
    caption = "<br>".join(html.escape(line) for line in cost_caption(priced).split("\n"))
    _base_layout(fig, height, f"Verify cost per pass<br><sup>{caption}</sup>")
    _two_line_title(fig, 92)
    fig.update_layout(hovermode="closest", margin=dict(b=96), legend=_legend_below(-0.36))
    ticks = sorted({q for q, _ in points})
    fig.update_xaxes(
        title_text="tokens in one pass (start token + draft)", type="log",
        tickvals=ticks, ticktext=[str(q) for q in ticks],
    )  # fmt: skip
    fig.update_yaxes(title_text="ms", range=[0, top])
    return fig


def _legend_below(y: float = -0.28) -> dict:
    """A horizontal legend under the plot (long entries wrap instead of covering it)."""
    return dict(orientation="h", yanchor="top", y=y, x=0, xanchor="left")


# ------------------------------------------------------------------------------ acceptance


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
    _base_layout(fig, height, title)
    _two_line_title(fig)
    fig.update_layout(hovermode="closest", showlegend=False)
    fig.update_xaxes(title_text="draft depth (1 = first token after the start token)", dtick=1)
    fig.update_yaxes(title_text="accepted", tickformat=".0%", range=[0, 1.12])
    return fig
