"""Wall-clock lanes: plain and speculative decoding of one prompt on one time axis.

Each lane is a run: its prefill, then every verification step as a segment as wide as the
step's measured time (drafting + the forward pass that verified the draft). A speculative
step costs a little more than a plain one but appends several tokens, so the lane that needs
fewer steps finishes first, and the picture shows where the time went.
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go

from samdec.trace import StepEvent, Trace

from .figures import empty_figure
from .palette import COLOURS, FONT, GRID, INK, LABELS, MUTED, colour

PREFILL = "#94A3B8"  # slate: reading the prompt, before any token is produced
BETWEEN = "#E2E8F0"  # committing tokens and the bookkeeping between steps
PLAIN = "plain step"  # the legend name of a step of plain decoding
# Texture for the stretches that are no step, so they are not read as a pale "no draft" step.
PATTERNS = {
    "prefill": dict(shape="/", fgcolor="white"),
    "between": dict(shape=".", fgcolor="#64748B", size=5, solidity=0.3),
}
EMPTY_MESSAGE = "Run the comparison to see both runs on one time axis"


@dataclass
class Segment:
    """One stretch of a lane, in seconds from the start of that run."""

    lane: str
    kind: str  # legend group: "prefill", PLAIN, a drafter, "none", "between"
    start: float
    seconds: float
    tokens: int  # tokens this stretch appended (0 for prefill and bookkeeping)
    hover: str
    step: int = -1  # the step's index (-1: prefill, bookkeeping)


def step_seconds(ev: StepEvent) -> float:
    """A step's measured time: drafting (microseconds) + verification (milliseconds)."""
    return ev.draft_us / 1e6 + ev.verify_ms / 1e3


def finish_seconds(trace: Trace) -> float:
    """When a run finished: its measured prefill and decoding time."""
    return (trace.summary.prefill_ms + trace.summary.decode_ms) / 1e3


def _step_hover(ev: StepEvent) -> str:
    drafted = len(ev.draft_tokens)
    return (
        f"step {ev.step}: +{len(ev.new_tokens)} token(s)<br>"  # 0-based, as the inspector
        f"drafted {drafted}, accepted {ev.accepted}"
        + (f" ({LABELS.get(ev.drafter, ev.drafter)})" if drafted else "")
        + f"<br>{ev.draft_us / 1e3:.2f} ms drafting + {ev.verify_ms:.1f} ms verifying"
    )


def lane_segments(name: str, trace: Trace) -> list[Segment]:
    """The prefill, each step back to back, then the time between steps, summed (the run's
    decoding time that no step measured: committing tokens, turning them into text)."""
    plain = trace.summary.method == "ar"
    prefill = trace.summary.prefill_ms / 1e3
    out = [Segment(name, "prefill", 0.0, prefill, 0, f"prefill: {prefill * 1e3:.1f} ms")]
    t = prefill
    for ev in trace.steps:
        kind = PLAIN if plain else ev.drafter
        seconds = step_seconds(ev)
        hover = _step_hover(ev)
        out.append(Segment(name, kind, t, seconds, len(ev.new_tokens), hover, ev.step))
        t += seconds
    rest = finish_seconds(trace) - t
    if rest > 0:
        hover = f"between steps, summed: {rest * 1e3:.1f} ms (committing tokens, bookkeeping)"
        out.append(Segment(name, "between", t, rest, 0, hover))
    return out


def _kind_style(kind: str) -> tuple[str, str]:
    """(legend name, colour) of a kind of segment."""
    if kind == "prefill":
        return "prefill (reading the prompt)", PREFILL
    if kind == PLAIN:
        return "plain step (1 token)", COLOURS["model"]
    if kind == "between":
        return "between steps", BETWEEN
    if kind == "none":
        return "no draft verified", colour(kind)
    return f"{LABELS.get(kind, kind)} draft", colour(kind)


def _thickness(tokens: int, most: int) -> float:
    """A step's bar is thicker the more tokens it appended (prefill and bookkeeping: thin)."""
    return 0.3 + 0.5 * tokens / most if tokens else 0.3


def _segment_bars(segments: list[Segment]) -> list[go.Bar]:
    """One bar trace per kind of segment (one legend entry each), in first-seen order."""
    most = max([s.tokens for s in segments] + [1])
    kinds = list(dict.fromkeys(s.kind for s in segments))
    bars = []
    for kind in kinds:
        mine = [s for s in segments if s.kind == kind]
        name, fill = _kind_style(kind)
        bars.append(
            go.Bar(
                orientation="h",
                name=name,
                y=[s.lane for s in mine],
                x=[s.seconds for s in mine],
                base=[s.start for s in mine],
                width=[_thickness(s.tokens, most) for s in mine],
                text=[str(s.tokens) if s.tokens > 1 else "" for s in mine],
                textposition="inside",
                insidetextanchor="middle",
                marker=dict(
                    color=fill,
                    line=dict(color="white", width=0.5),
                    pattern=PATTERNS.get(kind, dict(shape="")),
                ),
                hovertext=[s.hover for s in mine],
                hovertemplate="%{hovertext}<extra></extra>",
                customdata=[[s.lane, s.kind, s.step] for s in mine],
            )
        )
    return bars


def finish_label(trace: Trace, plain: Trace | None) -> str:
    """What a lane's finishing mark says: its tokens, and how much earlier or later than plain
    decoding it finished (plain decoding itself, or without it: its tokens and its time)."""
    n = trace.summary.new_tokens
    end = finish_seconds(trace)
    if plain is None or trace is plain:
        return f"{n} tokens in {end:.2f} s"
    gap = end - finish_seconds(plain)
    if abs(gap) < 0.005:
        return f"{n} tokens, at the same time as plain"
    return f"{n} tokens, {abs(gap):.2f} s {'earlier' if gap < 0 else 'later'} than plain"


def _finish_markers(drawn: list[tuple[str, Trace]], plain: Trace | None) -> go.Scatter:
    """A black tick where each lane finished, labelled with what it produced and when."""
    return go.Scatter(
        name="finished",
        x=[finish_seconds(t) for _, t in drawn],
        y=[name for name, _ in drawn],
        mode="markers+text",
        marker=dict(symbol="line-ns-open", size=26, color=INK, line=dict(width=2.5)),
        text=[finish_label(t, plain) for _, t in drawn],
        textposition="middle right",
        textfont=dict(family=FONT, size=12, color=INK),
        hovertemplate="%{y} finished at %{x:.3f} s<extra></extra>",
        cliponaxis=False,
        showlegend=False,
    )


def _undrawn_note(names: list[str]) -> str:
    if not names:
        return ""
    return (
        f"Not drawn: {', '.join(names)}. It reports no per-step times, only its total "
        "(see the table)."
    )


def wallclock_figure(lanes: list[tuple[str, Trace | None]], height: int | None = None):
    """Runs of one prompt on one time axis, in the given order from the top.

    `lanes`: (name, trace) per run; a trace of None is a run without per-step times (e.g.
    transformers' prompt lookup), named in a note instead of drawn. The lane of plain
    decoding (method "ar") is the one the others are said to finish earlier or later than.
    """
    drawn = [(name, trace) for name, trace in lanes if trace is not None]
    note = _undrawn_note([name for name, trace in lanes if trace is None])
    if not drawn:
        return empty_figure(note or EMPTY_MESSAGE, height=height or 220)
    plain = next((t for _, t in drawn if t.summary.method == "ar"), None)
    segments = [s for name, trace in drawn for s in lane_segments(name, trace)]
    fig = go.Figure([*_segment_bars(segments), _finish_markers(drawn, plain)])
    end = max(finish_seconds(t) for _, t in drawn)
    _timeline_layout(fig, [name for name, _ in drawn], end, height or 190 + 60 * len(drawn))
    explain = "Bar width: measured time. Thickness and number: tokens the step added."
    fig.add_annotation(
        text="<br>".join(filter(None, [explain, note])), x=0, y=0, xref="paper", yref="paper",
        xanchor="left", yanchor="top", yshift=-42, align="left", showarrow=False,
        font=dict(size=11, color=MUTED, family=FONT),
    )  # fmt: skip
    return fig


def _timeline_layout(fig: go.Figure, names: list[str], end: float, height: int) -> None:
    fig.update_layout(
        title=dict(
            text="Wall clock: the same prompt, plain and speculative, on one time axis",
            font=dict(family=FONT, size=15, color=INK), x=0.01, y=0.98, yanchor="top",
        ),
        barmode="overlay",
        height=height,
        margin=dict(l=10, r=16, t=78, b=84),
        plot_bgcolor="white",
        paper_bgcolor="white",
        font=dict(family=FONT, color=INK, size=12),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, xanchor="left",
                    font=dict(size=11), traceorder="normal"),
        uniformtext=dict(minsize=8, mode="hide"),
        hoverlabel=dict(font=dict(family=FONT, size=12)),
    )  # fmt: skip
    # Room on the right for the finishing labels.
    fig.update_xaxes(title_text="seconds from the start", range=[0, end * 1.4], gridcolor=GRID,
                     zeroline=False, showline=True, linecolor="#CBD5E1")  # fmt: skip
    fig.update_yaxes(categoryorder="array", categoryarray=names, autorange="reversed",
                     showline=False, ticksuffix="  ")  # fmt: skip
