"""The verify-cost chart: what one verify pass over q tokens costs on this machine (the curve the
length policy prices drafts with), and where the selected step sits on it."""

from __future__ import annotations

import html
import textwrap

import plotly.graph_objects as go

from samdec.cost import DEFAULT_SOURCE, CostModel
from samdec.trace import StepEvent

from .figures import base_layout, empty_figure, legend_below, two_line_title
from .palette import COLOURS, INK
from .view import TraceView, as_view


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
    """The curve as the length policy prices drafts (samdec.cost.CostModel): never falling
    as q grows (a measured dip is taken as noise)."""
    return CostModel(dict(points)).priced_points()


def curve_price(points: list[tuple[int, float]], q: float) -> float:
    """The curve's ms for q tokens, exactly as the length policy prices them."""
    return float(CostModel(dict(points))(q))


def cost_caption(points: list[tuple[int, float]], measured: bool = True) -> str:
    """What the curve says, against the GPU rule of thumb (two lines). `measured`: the curve
    was measured on the machine that ran the trace (else it is the built-in stand-in)."""
    q = 8 if points[-1][0] >= 8 else points[-1][0]
    one = curve_price(points, 1) or 1.0
    ratio = curve_price(points, q) / one
    where = "on this machine" if measured else "on the built-in curve (not measured here)"
    if ratio < 1.3:
        return (
            f"{where}, as on a GPU, verifying {q} tokens costs about as much as one "
            f"({ratio:.1f}×):\nlonger drafts are nearly free"
        )
    return (
        f"on a GPU a pass costs about the same for 1 or a dozen tokens;\n{where} "
        f"verifying {q} tokens costs {ratio:.1f}× one token: each extra one must pay its way"
    )


def measured_here(view: TraceView) -> bool:
    """Whether the run's curve was measured (its source is a calibration key), not the
    stand-in table."""
    source = view.summary.verify_cost_source if view.summary is not None else ""
    return bool(source) and source != DEFAULT_SOURCE


def _cost_marker(x: float, y: float, name: str, hover: str, **marker) -> go.Scatter:
    return go.Scatter(
        x=[x], y=[y], mode="markers", name=name, marker=marker,
        hovertemplate=html.escape(hover) + "<extra></extra>",
    )  # fmt: skip


def offered_tokens(ev: StepEvent) -> int:
    """Tokens the step could have verified before the length policy cut: 1 + the draft as
    offered (up to the step's limit)."""
    return 1 + (min(ev.proposed, ev.draft_limit) if ev.draft_limit else ev.proposed)


def _step_cost_traces(points: list[tuple[int, float]], ev: StepEvent, top: float):
    """The selected step on the curve: what it verified, what it was offered (where the
    length policy cut), and the time its verify pass really took."""
    kept = 1 + len(ev.draft_tokens)
    colour = COLOURS.get(ev.drafter, COLOURS["model"]) if ev.draft_tokens else COLOURS["model"]
    price = ev.cost_ms or curve_price(points, kept)
    offered = offered_tokens(ev)
    if offered > kept:
        offer_price = ev.cost_offered_ms or curve_price(points, offered)
        yield go.Scatter(
            x=[offered, kept], y=[offer_price, price], mode="lines", hoverinfo="skip",
            name="the length policy's cut: offered → kept",
            line=dict(color=COLOURS["rejected"], width=1.2, dash="dot"),
        )  # fmt: skip
        yield _cost_marker(
            offered, offer_price, f"offered: 1 + {offered - 1} (the whole draft)",
            f"step {ev.step} was offered 1 + {offered - 1} tokens: {offer_price:.0f} ms; "
            f"the length policy stopped at 1 + {kept - 1}",
            color="white", size=12, symbol="circle", line=dict(color=COLOURS["rejected"], width=2),
        )  # fmt: skip
    yield _cost_marker(
        kept, price, f"step {ev.step}: verified 1 + {kept - 1} (kept)",
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
            x, ev.verify_ms, "measured this step (its real time)", hover,
            color=INK, size=10, symbol="x-thin", line=dict(color=INK, width=2),
        )  # fmt: skip
    marker = _cost_marker(
        x, top, f"measured this step, off the scale: {ev.verify_ms:.0f} ms", hover,
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
            x=[q for q, _ in priced], y=[ms for _, ms in priced],
            name="verify cost, as the length policy prices it",
            mode="lines+markers", line=dict(color=COLOURS["model"], width=2),
            hovertemplate="one pass over %{x} tokens: %{y:.0f} ms<extra></extra>",
        )
    ]  # fmt: skip
    if points != priced:
        traces.append(
            go.Scatter(
                x=[q for q, _ in points], y=[ms for _, ms in points], mode="markers",
                name="measured curve points (a dip is noise)",
                marker=dict(color="white", size=7, line=dict(color=COLOURS["model"], width=1.5)),
                hovertemplate="measured: %{x} tokens in %{y:.0f} ms<extra></extra>",
            )
        )  # fmt: skip
    return traces


# A verify pass measured this many times the curve's price for it was slowed by other work on
# the machine, not by what it verified: the curve itself varies far less between quiet runs.
BUSY_RATIO = 2.5


def _tokens(n: int) -> str:
    return f"{n} token" if n == 1 else f"{n} tokens"


def cut_sentence(ev: StepEvent, points: list[tuple[int, float]]) -> str:
    """What the step's draft length bought, in one sentence of its own numbers: what the
    length policy kept of the draft, the prices of kept and offered, what it expected, what
    the step got."""
    kept, offered = len(ev.draft_tokens), offered_tokens(ev) - 1
    price = ev.cost_ms or curve_price(points, 1 + kept)
    got = len(ev.new_tokens)
    if offered == 0:
        return (
            f"No draft to price: the step verified the start token alone, priced {price:.0f} ms, "
            f"and appended {_tokens(got)}, the model's own."
        )
    offer_price = ev.cost_offered_ms or curve_price(points, 1 + offered)
    if not ev.expected_offered:  # the fixed policy, or a trace from before the estimates
        return (
            f"The length policy verified {kept} of the {offered} drafted tokens without pricing "
            f"them (a fixed length): 1 + {kept} is priced {price:.0f} ms on the curve, and the "
            f"step got {_tokens(got)}."
        )
    if kept == 0:
        return (
            f"The length policy dropped the whole {offered}-token draft: verifying 1 + {offered} "
            f"is priced {offer_price:.0f} ms against {price:.0f} ms for the start token alone, "
            f"for {ev.expected_offered:.1f} tokens expected instead of 1; the step got "
            f"{_tokens(got)}, the model's own."
        )
    if kept == offered:
        return (
            f"The length policy kept the whole {offered}-token draft: verifying 1 + {kept} is "
            f"priced {price:.0f} ms; it expected {ev.expected_tokens:.1f} tokens from it, and "
            f"got {got}."
        )
    return (
        f"The length policy cut the {offered}-token draft to {kept}: verifying 1 + {kept} is "
        f"priced {price:.0f} ms against {offer_price:.0f} ms for 1 + {offered}; it expected "
        f"{ev.expected_tokens:.1f} tokens from it ({ev.expected_offered:.1f} from the whole "
        f"draft), and got {got}."
    )


def busy_sentence(ev: StepEvent, points: list[tuple[int, float]]) -> str:
    """What a verify pass of BUSY_RATIO times its price on the curve or more means: the
    machine was busy, not the draft expensive. An empty string for any other pass."""
    price = ev.cost_ms or curve_price(points, 1 + len(ev.draft_tokens))
    if price <= 0 or ev.verify_ms < BUSY_RATIO * price:
        return ""
    ratio = ev.verify_ms / price
    return (
        f"The machine was busy: {ratio:.1f}x the usual cost for this step ({ev.verify_ms:.0f} ms "
        f"measured against {price:.0f} ms on the curve); other work on the machine, the "
        "page's own included, slowed this pass, not what it verified."
    )


def cost_sentences(ev: StepEvent, points: list[tuple[int, float]], width: int = 84) -> str:
    """The chart's note under the legend: the cut sentence, then the busy one (if any), wrapped
    for the panel (plotly does not wrap annotations)."""
    parts = [html.escape(cut_sentence(ev, points))]
    busy = busy_sentence(ev, points)
    if busy:
        parts.append(f"<b>{html.escape(busy)}</b>")
    lines = [line for part in parts for line in textwrap.wrap(part, width)]
    return "<br>".join(lines)


def _note_below(fig: go.Figure, text: str, height: int, top: int, bottom: int) -> None:
    """The note right under the x axis title, and the legend under the note (positions in
    pixels, turned into fractions of the plot's height)."""
    plot = max(1, height - top - bottom)
    lines = text.count("<br>") + 1
    fig.add_annotation(
        text=text, xref="paper", yref="paper", x=0, y=-52 / plot, xanchor="left",
        yanchor="top", showarrow=False, align="left", font=dict(size=12, color=INK),
    )  # fmt: skip
    fig.update_layout(legend=legend_below(-(60 + 17 * lines) / plot))


def cost_figure(trace, selected: int | None = None, height: int = 540) -> go.Figure:
    """The run's verify-cost curve (ms for one pass over q tokens; measured on the machine, or
    the stand-in table, as the caption says), with the selected step on it: what it verified,
    what it was offered, and its measured time; a legend for every mark, and under it a note
    on what the step's cut bought (and whether the machine was busy)."""
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
    caption = cost_caption(priced, measured_here(view))
    caption = "<br>".join(html.escape(line) for line in caption.split("\n"))
    base_layout(fig, height, f"Verify cost per pass<br><sup>{caption}</sup>")
    two_line_title(fig, 92)
    bottom = 200
    fig.update_layout(hovermode="closest", margin=dict(b=bottom), legend=legend_below(-0.3))
    if ev is not None:
        _note_below(fig, cost_sentences(ev, priced), height, 92, bottom)
    ticks = sorted({q for q, _ in points})
    fig.update_xaxes(
        title_text="tokens in one pass (start token + draft)", type="log",
        tickvals=ticks, ticktext=[str(q) for q in ticks],
    )  # fmt: skip
    fig.update_yaxes(title_text="ms", range=[0, top])
    return fig
