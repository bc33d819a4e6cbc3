"""A browser session's state, and every step-dependent panel rendered by name.

`render` is the one place that turns (session, step) into panel contents; the sections that
own those panels map the names to their components. No gradio in this module.
"""

from __future__ import annotations

import html
import logging
import threading
from typing import Any

import visuals as V
from visuals.corpus_card import corpus_card_html, corpus_line_html

from . import runtime as rt

log = logging.getLogger("samdec.app")

# Which automaton's tab to show, "dynamic" or "static" (only for a step that names one).
AUTOMATON_TAB = "automaton_tab"
# The panels that follow the selected step, by name (the keys of `render`'s result).
STEP_PANELS = (
    "stream",
    "dyn_plot",
    "dyn_strip",
    "static_plot",
    "static_strip",
    "static_corpus",
    "corpus_line",
    "match_plot",
    "steps_plot",
    "cost_plot",
    "acceptance_plot",
    "inspector",
    AUTOMATON_TAB,
)


class Session:
    """One browser session: its last trace and the Stop switch of its running generation."""

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self.view: V.TraceView | None = None  # the one trace a session keeps
        self.model = "bundled"
        self.file: str | None = None

    def __deepcopy__(self, memo: dict) -> Session:  # gr.State copies its initial value
        return Session()

    @property
    def has_steps(self) -> bool:
        return self.view is not None and bool(self.view.steps)


def notice_html(messages: list[str], kind: str = "info") -> str:
    if not messages:
        return ""
    items = "".join(f"<div>{html.escape(str(m))}</div>" for m in messages)
    return f'<div class="sd-notice sd-{kind}">{items}</div>'


def render(session: Session, step: int | None, max_states: Any, running: bool = False) -> dict:
    """Every step-dependent panel for step `step` of the session's trace, by panel name; {} if
    rendering fails (logged: a drawing bug must not stop a generation or take the page down)."""
    try:
        return _render(session, step, max_states, running)
    except Exception:
        log.exception("rendering step %s failed", step)
        return {}


def _render(session: Session, step: int | None, max_states: Any, running: bool) -> dict:
    view = session.view
    if view is None or not view.steps:
        return {}
    k = view.clamp(step)
    piece = view.piece_fn(rt.RUNTIME.piece_fn(session.model))
    states = int(max_states or V.automaton.DEFAULT_MAX_STATES)
    dyn = V.dynamic_view(view, k, max_states=states)
    return {
        "stream": V.stream_html(
            view, selected=k, upto=None if running else k, running=running, piece=piece
        ),
        "dyn_plot": V.automaton_figure(dyn, piece, title="Dynamic automaton"),
        "dyn_strip": V.match_strip_html(dyn, view, piece),
        **_static_panels(session, k, states, piece),
        "match_plot": V.match_figure(view, k),
        "steps_plot": V.steps_figure(view, k),
        "cost_plot": V.cost_figure(view, k),
        "acceptance_plot": V.acceptance_figure(view),
        "inspector": V.inspector_html(view, k),
        **_automaton_tab(view, k),
    }


def _automaton_tab(view: V.TraceView, k: int) -> dict:
    """The automaton tab that explains step `k` ("dynamic" or "static"), when one does: the
    visitor sees the drafter's own automaton without hunting for it."""
    tab = V.automaton.drafting_automaton(view.steps[k])
    return {AUTOMATON_TAB: tab} if tab else {}


def _static_panels(session: Session, k: int, states: int, piece) -> dict:
    view = session.view
    automaton = rt.RUNTIME.static_if_loaded(session.model)
    corpus = {  # what the corpus is, and the document a static draft came from
        "corpus_line": corpus_line_html(automaton, view, k, piece),
        "static_corpus": corpus_card_html(automaton, view, k, piece),
    }
    if view.has_static and automaton is not None:
        static = V.static_view(automaton, view, k, max_states=states)
        return {
            "static_plot": V.automaton_figure(static, piece, title="Static automaton"),
            "static_strip": V.match_strip_html(static, view, piece),
            **corpus,
        }
    why = (
        "This run did not use a static automaton (method or corpus setting)."
        if not view.has_static
        else "The static automaton of this trace is not loaded."
    )
    return {
        "static_plot": V.empty_figure(why),
        "static_strip": '<div class="sd-strip sd-empty">–</div>',
        **corpus,
    }


def showcase_step(view: V.TraceView) -> int:
    """The step to show first after a generation: the one that kept the most drafted tokens
    (the latest of equals), or the last step if no draft was ever accepted."""
    if not view.steps:
        return 0
    best = max(view.steps, key=lambda ev: (ev.accepted, ev.step))
    return best.step if best.accepted > 0 else len(view.steps) - 1
