"""The output stream (HTML): every generated token coloured by where it came from.

Each verification step is one group: the accepted draft tokens (tinted with the drafter's
colour), the drafted tokens the model rejected (struck through, faded), then the model's own
token (grey). Hovering shows the step, the rule's words and, where the trace has them, the
model's top next tokens at that position (a near tie, top two within NEAR_TIE, is underlined
dotted); every element of a step carries `data-step` so the app can select the step on click.
"""

from __future__ import annotations

import html
from collections.abc import Callable

from samdec.trace import StepEvent

from .glossary import annotate, definition, term
from .palette import LABELS, SOURCES
from .view import TraceView, as_view

MAX_REJECTED_CHAIN = 4  # rejected tail of a chain draft shown inline
MAX_ALTERNATIVES = 2  # rejected siblings of a tree draft shown inline
NEAR_TIE = 0.1  # top-1 minus top-2 probability below this: the model almost chose otherwise


# Whitespace characters wrapped so the stylesheet can draw a symbol over or before them (CSS
# generated content: seen, but not part of the copied text). Spaces only in tokens of nothing
# but whitespace, which would otherwise be slivers; in a word like " the" the space is prose.
WHITESPACE_CLASS = {"\n": "sd-nl", "\t": "sd-tab", " ": "sd-sp"}
WHITESPACE_SYMBOL = {"\n": "↵", "\t": "→", " ": "·", "": "∅"}  # drawn by assets/style.css


def visible(text: str) -> str:
    """HTML for a token's text in running prose: escaped, the text itself unchanged (what is
    copied), newlines and tabs marked, and every space too in a whitespace-only token."""
    if text == "":
        return '<span class="sd-ws sd-nothing"></span>'
    marked = ("\n", "\t", " ") if text.strip() == "" else ("\n", "\t")
    return "".join(
        f'<span class="sd-ws {WHITESPACE_CLASS[c]}">{c}</span>' if c in marked else html.escape(c)
        for c in text
    )


def compact(text: str, limit: int = 14) -> str:
    """A token's text on one line (for labels, tooltips, tables): whitespace made visible."""
    shown = text.replace("\n", WHITESPACE_SYMBOL["\n"]).replace("\t", WHITESPACE_SYMBOL["\t"])
    if shown.strip() == "":
        shown = shown.replace(" ", WHITESPACE_SYMBOL[" "])
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


def top_next(ev: StepEvent, j: int) -> list[tuple[int, float]]:
    """The model's most likely tokens (token, probability), most likely first, at the position
    where the step appended new_tokens[j]; [] for a trace recorded without them."""
    if j >= min(len(ev.top_tokens), len(ev.top_probs)):
        return []
    pairs = zip(ev.top_tokens[j], ev.top_probs[j], strict=False)
    return sorted(pairs, key=lambda pair: -pair[1])


def top_margin(top: list[tuple[int, float]]) -> float | None:
    """How much more likely the model's first choice was than its second (None: one choice)."""
    return top[0][1] - top[1][1] if len(top) >= 2 else None


def _quoted(piece: Callable[[int], str], token: int) -> str:
    return f"'{compact(piece(token), 16)}'"


def top_line(top: list[tuple[int, float]], piece: Callable[[int], str]) -> str:
    """ "model's top 3 here: ' the' 0.62 · ' a' 0.21 · ' an' 0.05 (margin 0.41)"."""
    if not top:
        return ""
    shown = " · ".join(f"{_quoted(piece, t)} {p:.2f}" for t, p in top)
    margin = top_margin(top)
    tail = f" (margin {margin:.2f})" if margin is not None else ""
    return f"model's top {len(top)} here: {shown}{tail}"


def instead_line(ev: StepEvent, piece: Callable[[int], str]) -> str:
    """What the model chose where the draft went wrong (the bonus token, at the depth after
    the accepted path), against the draft token(s) tried there, with probabilities."""
    accepted = len(ev.accepted_indices)
    if ev.bonus_token < 0 or not ev.rejected_indices:
        return ""
    probs = dict(top_next(ev, accepted))

    def said(token: int) -> str:
        p = probs.get(token)
        return _quoted(piece, token) + (f" {p:.2f}" if p is not None else "")

    parent = ev.accepted_indices[-1] if accepted else -1
    tried = [ev.draft_tokens[i] for i, p in enumerate(ev.draft_parents) if p == parent]
    chose = f"at draft depth {accepted + 1} the model chose {said(ev.bonus_token)}"
    if not tried:
        return chose
    absent = " (not in the model's top choices)" if probs and not set(tried) & set(probs) else ""
    return f"{chose} instead of {', '.join(said(t) for t in tried[:4])}{absent}"


def _title(view: TraceView, ev: StepEvent, what: str, lines: tuple[str, ...] = ()) -> str:
    """A tooltip: the step and what this is, then the given lines, then the rule's words."""
    rule = view.rule_words(ev)
    parts = [f"step {ev.step} · {what}", *lines, f"rule: {rule}" if rule else ""]
    return html.escape("\n".join(p for p in parts if p), quote=True)


def _token_html(
    view: TraceView, ev: StepEvent, j: int, source: str, what: str, piece: Callable[[int], str]
) -> str:
    """Appended token j, with the model's top choices at its position in the tooltip and a
    near tie (top two within NEAR_TIE) underlined dotted."""
    top = top_next(ev, j)
    margin = top_margin(top)
    tie = " sd-tie" if margin is not None and margin < NEAR_TIE else ""
    title = _title(view, ev, what, (top_line(top, piece),))
    text = ev.new_pieces[j] if len(ev.new_pieces) == len(ev.new_tokens) else piece(ev.new_tokens[j])
    return (
        f'<span class="sd-tok sd-{source}{tie}" data-step="{ev.step}" '
        f'title="{title}">{visible(text)}</span>'
    )


def _more_html(ev: StepEvent, hidden: list[int], pieces: list[str]) -> str:
    """The "+N" after the rejected tokens shown inline: N more rejected ones, named on hover."""
    names = " ".join(f"'{compact(pieces[i], 12)}'" for i in hidden[:24])
    title = html.escape(
        f"+{len(hidden)}: {len(hidden)} more rejected draft token(s), not shown here: {names}",
        quote=True,
    )
    return f'<span class="sd-more" title="{title}">+{len(hidden)}</span>'


def _rejected_html(view: TraceView, ev: StepEvent, piece: Callable[[int], str]) -> str:
    """The rejected draft tokens, struck through in a dashed box (a few inline, "+N" for the
    rest): marked by shape as well as colour, so they read in greyscale too."""
    if not ev.rejected_indices:
        return ""
    indices, how = rejected_groups(ev)
    limit = MAX_REJECTED_CHAIN if how == "chain" else MAX_ALTERNATIVES
    pieces = (
        ev.draft_pieces
        if len(ev.draft_pieces) == len(ev.draft_tokens)
        else [piece(t) for t in ev.draft_tokens]
    )
    sep = "" if how == "chain" else " / "
    body = sep.join(f"<s>{html.escape(compact(pieces[i], 12))}</s>" for i in indices[:limit])
    # (a tree whose other branches failed may have no alternative where the path ended)
    hidden = [i for i in ev.rejected_indices if i not in indices[:limit]]
    if hidden:
        body += _more_html(ev, hidden, pieces)
    what = (
        f"{len(ev.rejected_indices)} rejected {LABELS.get(ev.drafter, ev.drafter)} draft "
        f"token(s): {' '.join(compact(pieces[i], 12) for i in ev.rejected_indices[:12])}"
    )
    title = _title(view, ev, what, (instead_line(ev, piece),))
    return (
        f'<span class="sd-rej sd-rej-{ev.drafter}" data-step="{ev.step}" '
        f'title="{title}">{body}</span>'
    )


def _step_html(view: TraceView, ev: StepEvent, selected: bool, piece: Callable[[int], str]) -> str:
    accepted = len(ev.accepted_indices)
    drafted = ev.drafter if ev.drafter != "none" else "model"
    out = [
        _token_html(view, ev, j, drafted, f"{LABELS[drafted]} draft token {i}, accepted", piece)
        for j, i in enumerate(ev.accepted_indices[: len(ev.new_tokens)])
    ]
    out.append(_rejected_html(view, ev, piece))
    if ev.bonus_token >= 0 and len(ev.new_tokens) > accepted:
        out.append(_token_html(view, ev, accepted, "model", "the model’s own token", piece))
    cls = "sd-step sd-sel" if selected else "sd-step"
    return f'<span class="{cls}" data-step="{ev.step}">{"".join(out)}</span>'


def stream_html(
    trace,
    selected: int | None = None,
    upto: int | None = None,
    running: bool = False,
    piece: Callable[[int], str] | None = None,
) -> str:
    """The output stream of steps 0..upto (all by default), with step `selected` outlined.
    `piece`: token text (default the trace's table; the model's top choices may be missing
    from it, so the app passes one that falls back to the tokenizer)."""
    view = as_view(trace)
    piece = piece or view.piece
    if not view.steps:
        msg = "Generating…" if running else "Press <b>Generate</b> to see the tokens appear here."
        return f'<div class="sd-stream sd-empty">{msg}</div>'
    last = view.clamp(upto)
    chosen = view.clamp(selected) if selected is not None else -1
    body = "".join(_step_html(view, ev, ev.step == chosen, piece) for ev in view.steps[: last + 1])
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
        '<span class="sd-chip"><span class="sd-rej sd-rej-legend"><s>rejected draft</s></span>'
        "</span>"
    )
    # Marks in the stream that no colour explains (notes, not chips: a chip is a colour).
    symbols = " ".join(
        f'<span class="sd-tok sd-model">{visible(text)}</span> {name}'
        for text, name in (("\n", "line break"), ("\t", "tab"), (" ", "space"))
    )
    notes = (
        '<span class="sd-legend-note"><span class="sd-step sd-sel sd-sel-legend">step</span> '
        "the selected step (outlined)</span>"
        f'<span class="sd-legend-note">{symbols} (shown, not copied)</span>'
        f'<span class="sd-legend-note" title="{html.escape(definition("more"))}">'
        '<span class="sd-more">+6</span> = 6 more rejected draft tokens, not shown inline '
        "(hover a +N to list them)</span>"
        '<span class="sd-legend-note"><span class="sd-tie">dotted</span> near tie: the '
        f"model's top two choices there were within {NEAR_TIE:g} (hover a token for its top 3)"
        "</span>"
    )
    return '<div class="sd-legend">' + "".join(chips) + notes + "</div>"


def stats_html(trace, note: str = "") -> str:
    """Stat cards (tokens, steps, MAT, tokens/s, acceptance) and the share of each source."""
    view = as_view(trace)
    t = view.totals()
    cards = [
        ("tokens", f"{t['tokens']}"),
        ("steps (forward passes)", f"{t['steps']}"),
        (f"{term('mat')} · mean accepted tokens per step", f"{t['mat']:.2f}"),
        *view.speed_cards(),  # each says whether its time includes the page's own work
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
        stop = view.summary.stop_reason.replace("_", " ")
        status = annotate(html.escape(f"{view.method} · stopped: {stop}"), ("ar", "eos"))
    elif view.steps:
        status = annotate(html.escape(f"{view.method} · generating…"), ("ar",))
    if note:
        status = f"{status} · {html.escape(note)}" if status else html.escape(note)
    return (
        f'<div class="sd-stats"><div class="sd-cards">{html_cards}</div>'
        f'<div class="sd-share">{"".join(segs)}</div>'
        f'<div class="sd-share-keys">{"".join(keys)}</div>'
        f'<div class="sd-status">{status}</div></div>'
    )
