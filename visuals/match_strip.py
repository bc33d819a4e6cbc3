"""The match strip: one line of text under the automaton figure that says what the match is (the
context's end with the matched suffix marked), what was drafted from it, and where it came from."""

from __future__ import annotations

import html
from collections.abc import Callable

from samdec.trace import StepEvent

from .automaton_states import AutomatonView
from .stream import compact
from .view import TraceView, as_view


def _tokens_html(tokens: list[int], piece: Callable[[int], str], cls: str) -> str:
    return "".join(
        f'<span class="{cls}">{html.escape(compact(piece(t), 18))}</span>' for t in tokens
    )


def _not_used(tv: TraceView, ev: StepEvent, kind: str) -> str:
    """Why this automaton's continuation was not verified, from the step's fields."""
    if ev.rule_source == kind and ev.no_draft == "no_room":
        return "not used: one token was left to generate, no room for a draft"
    if ev.rule_source == kind:
        return "not used: the rule chose it, but the length policy verified none of it"
    return "not used: " + html.escape(tv.rule_words(ev) or "the method does not draft from it")


def match_strip_html(
    view: AutomatonView | None,
    trace,
    piece: Callable[[int], str],
    tail: int = 10,
) -> str:
    """One line of text: the context's end with the matched suffix marked, then the draft the
    step verified (accepted tokens coloured, rejected struck), and where the match came from."""
    tv: TraceView = as_view(trace)
    if view is None or view.step < 0:
        return '<div class="sd-strip sd-empty">No step selected.</div>'
    ev: StepEvent = tv.steps[view.step]
    context = tv.context_before(view.step)
    length = len(view.match_text)
    kind = view.kind
    matched = context[len(context) - length :] if length else []
    before = context[max(0, len(context) - length - tail) : len(context) - length]
    rows = []
    head = _tokens_html(before, piece, "sd-s-ctx")
    mark = _tokens_html(matched, piece, f"sd-s-match sd-s-{kind}")
    if ev.drafter == kind and ev.draft_tokens:
        pieces = ev.draft_pieces or [tv.piece(t) for t in ev.draft_tokens]
        acc = set(ev.accepted_indices)
        draft = "".join(
            f'<span class="{"sd-s-acc sd-s-" + kind if i in acc else "sd-s-rej"}">'
            f"{html.escape(compact(p, 18))}</span>"
            for i, p in enumerate(pieces[:24])
        )
        verdict = f"{ev.accepted} of {len(ev.draft_tokens)} accepted"
        arrow = (
            f'<span class="sd-s-arrow">drafted →</span>{draft}'
            f'<span class="sd-s-note">{verdict}</span>'
        )
    elif view.continuation:
        cont = _tokens_html(view.continuation[:12], piece, "sd-s-cont")
        why = _not_used(tv, ev, kind) if ev.drafter != kind else ""
        arrow = (
            f'<span class="sd-s-arrow">would draft →</span>{cont}'
            f'<span class="sd-s-note">{why}</span>'
        )
    else:
        arrow = '<span class="sd-s-note">no match: nothing to draft from here</span>'
    label = "context end"
    rows.append(
        f'<div class="sd-s-row"><span class="sd-s-label">{label}</span>{head}{mark}{arrow}</div>'
    )
    end = view.snapshot.get("match_end", -1)
    if length and end >= 0:
        start = max(0, end + 1 - length - 6)
        earlier = [int(t) for t in view.text[start : end + 1 - length]]
        where = "earlier in this text" if kind == "dynamic" else "in the corpus"
        follow = [int(t) for t in view.continuation[:10]]
        rows.append(
            f'<div class="sd-s-row"><span class="sd-s-label">{where} (pos {end})</span>'
            f"{_tokens_html([t for t in earlier if t >= 0], piece, 'sd-s-ctx')}"
            f"{_tokens_html(view.match_text, piece, f'sd-s-match sd-s-{kind}')}"
            f"{_tokens_html(follow, piece, 'sd-s-cont')}</div>"
        )
    return f'<div class="sd-strip">{"".join(rows)}</div>'
