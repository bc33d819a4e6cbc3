"""The automaton view: the states and transitions around the current match, and the text strip
under them.

This module is the view's one entry point, so callers need not know how it is split by job:

* visuals.automaton_states: which states to show (`AutomatonView`, `dynamic_view`,
  `static_view`, `drafting_automaton`, the state budget `DEFAULT_MAX_STATES`);
* visuals.automaton_layout: where they go (rows, arcs in lanes, label spots);
* visuals.automaton_plot: how they are drawn (`automaton_figure`);
* visuals.match_strip: the match in the text (`match_strip_html`).
"""

from __future__ import annotations

from .automaton_plot import automaton_figure
from .automaton_states import (
    DEFAULT_MAX_STATES,
    AutomatonView,
    drafting_automaton,
    dynamic_view,
    static_view,
)
from .match_strip import match_strip_html

__all__ = [
    "DEFAULT_MAX_STATES",
    "AutomatonView",
    "automaton_figure",
    "drafting_automaton",
    "dynamic_view",
    "match_strip_html",
    "static_view",
]
