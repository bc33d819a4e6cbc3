"""The output stream (HTML): every generated token coloured by where it came from.

Each verification step is one group: the accepted draft tokens (tinted with the drafter's
colour), the drafted tokens the model rejected (struck through, faded), then the model's own
token (grey). Hovering shows the step; every element of a step carries `data-step` so the
app can select the step on click.
"""

from __future__ import annotations

import html

from samdec.trace import StepEvent

from .palette import LABELS, SOURCES
from .view import TraceView, as_view

MAX_REJECTED_CHAIN = 4  # rejected tail of a chain draft shown inline
MAX_ALTERNATIVES = 2  # rejected siblings of a tree draft shown inline


def visible(text: str) -> str:
    """HTML for a token's text in running prose: escaped, newlines kept (marked with a faint ↵)."""
    if text == "":
        return '<span class="sd-ws">∅</span>'
    parts = html.escape(text).split("\n")
    return '<span class="sd-ws">↵</span>\n'.join(parts)


def compact(text: str, limit: int = 14) -> str:
    """A token's text on one line (for labels, tooltips, tables): whitespace made visible."""
    shown = text.replace("\n", "↵").replace("\t", "⇥")
    if shown.strip() == "":
        shown = shown.replace(" ", "␣")
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return shown


def rejected_groups(ev: StepEvent) -> tuple[list[int], str]:
    """Draft node indices to show as rejected, and how ("chain" or "alternatives")."""
    rejected = ev.rejected_indices
    if not rejected:
        return [], "chain"
    is_chain = all(p == i - 1 for i, p in enumerate(ev.draft_parents))
    if is_chain:
        return rejected, "chain"
    # A tree: the nodes tried where the model disagreed (children of the last accepted node).
    parent = ev.accepted_indices[-1] if ev.accepted_indices else -1
    return [i for i, p in enumerate(ev.draft_parents) if p == parent], "alternatives"


def _title(ev: StepEvent, what: str) -> str:
    return html.escape(f"step {ev.step} · {what} · {ev.reason}", quote=True)


def _step_html(view: TraceView, ev: StepEvent, selected: bool) -> str:
    accepted = len(ev.accepted_indices)
    texts = (
        ev.new_pieces
        if len(ev.new_pieces) == len(ev.new_tokens)
        else [view.piece(t) for t in ev.new_tokens]
    )
    drafted = ev.drafter if ev.drafter != "none" else "model"
    out: list[str] = []
    for j, text in enumerate(texts[:accepted]):
        what = f"{LABELS[drafted]} draft token {ev.accepted_indices[j]}, accepted"
        out.append(
            f'<span class="sd-tok sd-{drafted}" data-step="{ev.step}" '
            f'title="{_title(ev, what)}">{visible(text)}</span>'
        )
    indices, how = rejected_groups(ev)
    if ev.rejected_indices:
        limit = MAX_REJECTED_CHAIN if how == "chain" else MAX_ALTERNATIVES
        pieces = ev.draft_pieces or [view.piece(t) for t in ev.draft_tokens]
        shown = [compact(pieces[i], 12) for i in indices[:limit]]
        sep = "" if how == "chain" else " / "
        body = sep.join(f"<s>{html.escape(s)}</s>" for s in shown)
        # (a tree whose other branches failed may have no alternative where the path ended)
        more = len(ev.rejected_indices) - len(shown[:limit])
        if more > 0:
            body += f'<span class="sd-more">+{more}</span>'
        what = (
            f"{len(ev.rejected_indices)} rejected {LABELS.get(ev.drafter, ev.drafter)} draft "
            f"token(s): {' '.join(compact(pieces[i], 12) for i in ev.rejected_indices[:12])}"
        )
        out.append(
            f'<span class="sd-rej sd-rej-{ev.drafter}" data-step="{ev.step}" '
            f'title="{_title(ev, what)}">{body}</span>'
        )
    if ev.bonus_token >= 0 and len(texts) > accepted:
        out.append(
            f'<span class="sd-tok sd-model" data-step="{ev.step}" '
            f'title="{_title(ev, "the model’s own token")}">{visible(texts[accepted])}</span>'
        )
    cls = "sd-step sd-sel" if selected else "sd-step"
    return f'<span class="{cls}" data-step="{ev.step}">{"".join(out)}</span>'


def stream_html(
    trace, selected: int | None = None, upto: int | None = None, running: bool = False
) -> str:
    """The output stream of steps 0..upto (all by default), with step `selected` outlined."""
    view = as_view(trace)
    if not view.steps:
        msg = "Generating…" if running else "Press <b>Generate</b> to see the tokens appear here."
        return f'<div class="sd-stream sd-empty">{msg}</div>'
    last = view.clamp(upto)
    chosen = view.clamp(selected) if selected is not None else -1
    body = "".join(_step_html(view, ev, ev.step == chosen) for ev in view.steps[: last + 1])
    caret = '<span class="sd-caret"></span>' if running else ""
    hidden = len(view.steps) - 1 - last
    tail = (
        f'<div class="sd-hidden-note">replaying: {hidden} later step(s) hidden</div>'
        if hidden > 0
        else ""
    )
    return f'<div class="sd-stream">{body}{caret}</div>{tail}'


def legend_html() -> str:
    chips = [
        f'<span class="sd-chip"><span class="sd-swatch sd-{s}"></span>{LABELS[s]}</span>'
        for s in SOURCES
    ]
    chips.append(
        '<span class="sd-chip"><span class="sd-swatch sd-rejected"></span>'
        "<s>rejected draft</s></span>"
    )
    return '<div class="sd-legend">' + "".join(chips) + "</div>"


def stats_html(trace, note: str = "") -> str:
    """Stat cards (tokens, steps, MAT, tokens/s, acceptance) and the share of each source."""
    view = as_view(trace)
    t = view.totals()
    cards = [
        ("tokens", f"{t['tokens']}"),
        ("steps (forward passes)", f"{t['steps']}"),
        ("MAT · tokens per step", f"{t['mat']:.2f}"),
        ("tokens / s", f"{t['tokens_per_s']:.1f}"),
        ("draft tokens accepted", f"{t['accepted']} / {t['drafted']}"),
    ]
    html_cards = "".join(
        f'<div class="sd-card"><div class="sd-card-v">{v}</div>'
        f'<div class="sd-card-k">{k}</div></div>'
        for k, v in cards
    )
    total = sum(t["by_source"].values()) or 1
    segs, keys = [], []
    for source in SOURCES:
        n = t["by_source"][source]
        pct = 100.0 * n / total
        if n:
            segs.append(
                f'<div class="sd-share-seg sd-{source}" style="width:{pct:.2f}%" '
                f'title="{LABELS[source]}: {n} tokens ({pct:.0f}%)"></div>'
            )
        keys.append(
            f'<span class="sd-share-key"><span class="sd-swatch sd-{source}"></span>'
            f"{LABELS[source]} <b>{n}</b> ({pct:.0f}%)</span>"
        )
    status = ""
    if view.summary is not None:
        status = f"{view.method} · stopped: {view.summary.stop_reason.replace('_', ' ')}"
    elif view.steps:
        status = f"{view.method} · generating…"
    if note:
        status = f"{status} · {html.escape(note)}" if status else html.escape(note)
    return (
        f'<div class="sd-stats"><div class="sd-cards">{html_cards}</div>'
        f'<div class="sd-share">{"".join(segs)}</div>'
        f'<div class="sd-share-keys">{"".join(keys)}</div>'
        f'<div class="sd-status">{status}</div></div>'
    )
