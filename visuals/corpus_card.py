"""What the static corpus is, and which document a static draft came from.

Two pieces of HTML: a short line under the token stream (`corpus_line_html`) and a card on the
static automaton's tab (`corpus_card_html`). Both say the corpus's sources and size, and for a
step the static automaton drafted, the document the draft was read from.

The document is found from the trace alone plus the automaton: the step records the static
state it matched (`state_static`), the state's end position is where the drafter read its draft
(`StaticCursor.draft` reads after the same position), and the automaton's document starts turn
that position into a document. A trace from another corpus is caught, not misread: the
corpus's tokens there must be the context's last tokens and the draft (`step_origin`).
"""

from __future__ import annotations

import html
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from samdec.corpus import SOURCE_NAMES, source_of
from samdec.trace import StepEvent

from .palette import COLOURS, MUTED, TINTS
from .view import TraceView, as_view

if TYPE_CHECKING:  # only annotated: drawing never loads the memory-mapped file code
    from samdec.static_automaton import StaticSuffixAutomaton

# Tokens of the document shown around a match: before it, of the match itself (its end), after
# the draft. The line under the stream shows fewer.
CARD_WINDOW = (24, 32, 16)
LINE_WINDOW = (0, 8, 0)


@dataclass
class CorpusFacts:
    documents: int
    tokens: int  # the documents' tokens, separators not counted
    states: int
    sources: list[tuple[str, int]]  # (source, documents), most documents first
    distilled: bool  # every document is the shipped corpus's: the model's own answers


# An automaton's facts, counted once: the panels ask at every step of a live run.
_FACTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def corpus_facts(static: StaticSuffixAutomaton) -> CorpusFacts:
    if static not in _FACTS:
        _FACTS[static] = _count_facts(static)
    return _FACTS[static]


def _count_facts(static: StaticSuffixAutomaton) -> CorpusFacts:
    stems = Counter(doc_id.rpartition(":")[0] for doc_id in static.doc_ids)
    sources = Counter()
    for stem, n in stems.items():
        sources[SOURCE_NAMES.get(stem, stem or "unnamed")] += n
    return CorpusFacts(
        documents=static.num_documents,
        tokens=static.num_tokens - static.num_documents,
        states=static.num_states,
        sources=sources.most_common(),
        distilled=bool(stems) and set(stems) <= set(SOURCE_NAMES),
    )


@dataclass
class Origin:
    """Where in the corpus a step's static match lies, and the draft read after it."""

    document: int
    doc_id: str
    source: str  # "" when the corpus named no source
    row: str
    doc_start: int  # the document's tokens are corpus[doc_start:doc_end]
    doc_end: int
    match_start: int  # the match is corpus[match_start:match_end]
    match_end: int
    drafted: int  # draft tokens, corpus[match_end:match_end + drafted]
    accepted: int


def drafted_from_static(ev: StepEvent) -> bool:
    """The step drafted from the static automaton, or its rule picked it and nothing was left."""
    return ev.drafter == "static" or (ev.drafter == "none" and ev.rule_source == "static")


def step_origin(static: StaticSuffixAutomaton, view: TraceView, k: int) -> Origin | str:
    """The document step `k`'s static match lies in, or why it cannot be named (text)."""
    ev = view.steps[k]
    length, state = int(ev.match_static), int(ev.state_static)
    if length <= 0 or not 0 <= state < static.num_states:
        return "the step recorded no static match"
    recorded = int(view.config.get("static_corpus", 0) or 0)
    end = int(static.endpos_array[state]) + 1
    start = end - length
    corpus = static.corpus
    context = view.context_before(k)
    drafted = [int(t) for t in corpus[end : end + len(ev.draft_tokens)]] if ev.draft_tokens else []
    if (
        (recorded and recorded != static.num_tokens)
        or start < 0
        or length > len(context)
        or [int(t) for t in corpus[start:end]] != [int(t) for t in context[-length:]]
        or drafted != [int(t) for t in ev.draft_tokens]
    ):
        return "the loaded static corpus is not the one this run drafted from"
    document = static.document_at(start)
    doc_start, doc_end = static.document_span(document)
    doc_id = static.document_id(document)
    source, row = source_of(doc_id)
    return Origin(document, doc_id, source, row, doc_start, doc_end, start, end,
                  len(drafted), ev.accepted)  # fmt: skip


# ---------------------------------------------------------------------------------- in words


def _n(x: int) -> str:
    return f"{x:,}"


def sources_words(facts: CorpusFacts, limit: int = 4) -> str:
    parts = [f"{html.escape(name)} ({_n(n)})" for name, n in facts.sources[:limit]]
    rest = len(facts.sources) - limit
    if rest > 0:
        parts.append(f"{rest} more source{'s' if rest > 1 else ''}")
    return ", ".join(parts)


def size_words(facts: CorpusFacts) -> str:
    return (
        f"{_n(facts.documents)} documents, {_n(facts.tokens)} tokens, "
        f"an automaton of {_n(facts.states)} states"
    )


def what_words(facts: CorpusFacts) -> str:
    """What the documents are: the shipped corpus's provenance, or its sources."""
    if facts.distilled:
        return f"the bundled model's own answers to prompts from {sources_words(facts)}"
    if facts.sources:
        return f"documents from {sources_words(facts)}"
    return "documents without names"


def where_words(origin: Origin, documents: int) -> str:
    """'document 1,234 of documents 0–5,517 (Code Alpaca, row 10)': counted from 0."""
    where = f"document {_n(origin.document)} of documents 0–{_n(documents - 1)}"
    if origin.source:
        where += f" ({html.escape(origin.source)}, row {html.escape(origin.row)})"
    elif origin.doc_id:
        where += f" (id {html.escape(origin.doc_id)})"
    return where


def _text(piece: Callable[[int], str], tokens, one_line: bool = False) -> str:
    text = "".join(piece(int(t)) for t in tokens)
    return html.escape(text).replace("\n", "↵" if one_line else "↵\n")


_MATCH = f"background:{TINTS['static']};border-bottom:2px solid {COLOURS['static']}"
_KEPT = f"background:{COLOURS['static']};color:#fff"
_STRIKE = f"text-decoration:line-through {COLOURS['rejected']} 2px"
_REJECTED = f"background:{TINTS['rejected']};{_STRIKE}"


def snippet_html(
    static: StaticSuffixAutomaton,
    origin: Origin,
    piece: Callable[[int], str],
    window: tuple[int, int, int] = CARD_WINDOW,
    one_line: bool = False,
) -> str:
    """The document around the match: the match marked, then the draft read after it
    (accepted tokens filled, rejected ones struck through), cut to `window` tokens; on
    `one_line`, line breaks shown only as ↵."""
    before, match_shown, after = window

    def text(tokens) -> str:
        return _text(piece, tokens, one_line)

    corpus = static.corpus
    shown_start = max(origin.match_start, origin.match_end - match_shown)
    lead_start = shown_start
    if shown_start == origin.match_start:  # the whole match fits: some text before it too
        lead_start = max(origin.doc_start, shown_start - before)
    draft_end = origin.match_end + origin.drafted
    kept_end = origin.match_end + min(origin.accepted, origin.drafted)
    tail_end = min(origin.doc_end, draft_end + after)
    parts = ["…" if lead_start > origin.doc_start else ""]
    parts.append(text(corpus[lead_start:shown_start]))
    length = origin.match_end - origin.match_start
    marks = [
        ("match", _MATCH, f"matched: the context's last {length} tokens", shown_start,
         origin.match_end),
        ("kept", _KEPT, "drafted, accepted", origin.match_end, kept_end),
        ("rejected", _REJECTED, "drafted, rejected", kept_end, draft_end),
    ]  # fmt: skip
    for kind, style, title, start, end in marks:
        if end > start:
            parts.append(
                f'<mark class="sd-corpus-{kind}" style="{style}" title="{html.escape(title)}">'
                f"{text(corpus[start:end])}</mark>"
            )
    parts.append(text(corpus[draft_end:tail_end]))
    parts.append("…" if tail_end < origin.doc_end else " ⟂ (the document ends)")
    wrap = "normal" if one_line else "pre-wrap"
    return f'<span class="sd-corpus-snippet" style="white-space:{wrap}">{"".join(parts)}</span>'


def _draft_words(origin: Origin) -> str:
    if origin.drafted == 0:
        return "nothing was drafted from it this step"
    return (
        f"the draft is the {_n(origin.drafted)} token{'s' if origin.drafted > 1 else ''} after "
        f"it there, {_n(origin.accepted)} accepted"
    )


def corpus_line_html(
    static: StaticSuffixAutomaton | None, trace, step: int | None, piece: Callable[[int], str]
) -> str:
    """One line under the token stream: the corpus in a few words, and the selected step's
    document when the static automaton drafted it. Empty without a loaded automaton."""
    if static is None:
        return ""
    view = as_view(trace)
    facts = corpus_facts(static)
    used = "" if view.has_static else " (this run's method does not read it)"
    line = (
        f"<b>Static corpus</b>{used}: {what_words(facts)}; {_n(facts.documents)} documents, "
        f"{_n(facts.tokens)} tokens."
    )
    k = view.clamp(step)
    if view.has_static and k >= 0 and drafted_from_static(view.steps[k]):
        origin = step_origin(static, view, k)
        if isinstance(origin, Origin):
            verb = "drafted from" if origin.drafted else "matched, but drafted nothing, in"
            line += (
                f" Step {k} {verb} {where_words(origin, facts.documents)}: "
                f"{snippet_html(static, origin, piece, LINE_WINDOW, one_line=True)}"
            )
        else:
            line += f" Step {k}: {html.escape(origin)}."
    return f'<div class="sd-corpus-line" style="color:{MUTED};font-size:0.85em">{line}</div>'


def corpus_card_html(
    static: StaticSuffixAutomaton | None, trace, step: int | None, piece: Callable[[int], str]
) -> str:
    """The static tab's card: what the corpus is, its size, and the selected step's match
    in its document. Empty without a loaded automaton (the tab's figure says why)."""
    if static is None:
        return ""
    view = as_view(trace)
    facts = corpus_facts(static)
    rows = [
        f"<div><b>The static corpus</b>: {what_words(facts)}. Size: {size_words(facts)} "
        "(built once, then memory-mapped).</div>"
    ]
    if facts.distilled:
        rows.append(
            "<div>Text the model is likely to write again: its own greedy answers, never the "
            "Spec-Bench questions it is measured on (samdec/data/corpus/README.md).</div>"
        )
    k = view.clamp(step)
    if not view.has_static:
        rows.append("<div>This run's method does not read the static corpus.</div>")
    elif k >= 0:
        rows.append(f"<div>{_step_words(static, view, k, facts, piece)}</div>")
    return f'<div class="sd-corpus-card">{"".join(rows)}</div>'


def _step_words(static, view: TraceView, k: int, facts: CorpusFacts, piece) -> str:
    ev = view.steps[k]
    if not drafted_from_static(ev):
        drafter = "no drafter" if ev.drafter == "none" else f"the {ev.drafter} drafter"
        return (
            f"Step {k} did not draft from the corpus ({drafter}); the context's longest "
            f"match in it was {_n(ev.match_static)} tokens."
        )
    origin = step_origin(static, view, k)
    if not isinstance(origin, Origin):
        return f"Step {k}: {html.escape(origin)}."
    length = origin.match_end - origin.match_start
    return (
        f"Step {k}: the context's last {_n(length)} tokens were matched in "
        f"{where_words(origin, facts.documents)}; {_draft_words(origin)}.<br>"
        f"{snippet_html(static, origin, piece)}"
    )
