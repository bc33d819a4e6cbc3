"""SAM's automaton drafts against prompt lookup, step by step (samdec.compare_drafts): for every
step an automaton drafted, the tokens of its draft the model accepted beside the tokens prompt
lookup would have drafted correctly at the same text."""

from __future__ import annotations

import html

import plotly.graph_objects as go

from .figures import base_layout, empty_figure, legend_below
from .palette import COLOURS, LABELS


def _hover(d: dict) -> str:
    pld = (
        f"prompt lookup: {d['pld_ngram']}-gram, drafted {d['pld_drafted']}, "
        f"{d['pld_correct']} correct"
        if d["pld_drafted"]
        else "prompt lookup: found nothing to draft"
    )
    sam = f"{LABELS[d['source']]}: match of {d['match_length']}, {d['accepted']} accepted"
    return html.escape(f"step {d['step']}: {sam}; {pld}")


def duel_figure(duels: list[dict], empty: str = "", height: int = 300) -> go.Figure:
    """Grouped bars per automaton step (duels: DraftDuel.to_dict rows): the automaton's
    accepted tokens (its own colour) and prompt lookup's correct tokens; an x over the steps
    where prompt lookup had nothing to draft. `empty`: the message when there are none."""
    if not duels:
        return empty_figure(
            empty or "Run a comparison to see SAM's drafts beside prompt lookup.", 140
        )
    x = [str(d["step"]) for d in duels]
    hovers = [_hover(d) for d in duels]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=x,
            y=[d["accepted"] for d in duels],
            name="automaton draft: tokens accepted",
            marker_color=[COLOURS[d["source"]] for d in duels],
            customdata=hovers,
            hovertemplate="%{customdata}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            x=x,
            y=[d["pld_correct"] for d in duels],
            name="prompt lookup at the same text: tokens it would have got right",
            marker_color=COLOURS["pld"],
            hoverinfo="skip",
        )
    )
    nothing = [d for d in duels if not d["pld_drafted"]]
    fig.add_trace(
        go.Scatter(
            x=[str(d["step"]) for d in nothing],
            y=[0] * len(nothing),
            mode="markers",
            marker=dict(symbol="x-thin", size=9, line=dict(width=2, color=COLOURS["pld"])),
            name="prompt lookup found nothing",
            hoverinfo="skip",
        )
    )
    base_layout(fig, height, "Automaton drafts vs prompt lookup, step by step")
    fig.update_layout(barmode="group", hovermode="closest", legend=legend_below(-0.32))
    fig.update_layout(margin=dict(b=90))
    fig.update_xaxes(title_text="step (where an automaton drafted)", type="category")
    fig.update_yaxes(title_text="tokens", rangemode="tozero")
    return fig
