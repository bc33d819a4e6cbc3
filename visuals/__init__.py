"""Pure rendering of SAM-Decoding traces: trace / automaton snapshot -> plotly figure or HTML.

No torch, no gradio: everything here takes plain data (a `samdec.trace.Trace`, its dict or
JSON, or a run in progress as `TraceView.from_events`) and returns a `plotly.graph_objects.Figure`
or an HTML string, so it can be tested without a model or a browser. The automaton playground
(`playground_*`) draws a `samdec.teaching_automaton.Playground`: a construction replayed event
by event.
"""

from .acceptance_chart import acceptance_figure
from .automaton import AutomatonView, automaton_figure, dynamic_view, match_strip_html, static_view
from .charts import compare_figure, match_figure, steps_figure
from .cost_chart import cost_figure
from .draft_duels import duel_figure
from .explainer import HOW_IT_WORKS
from .figures import empty_figure
from .inspector import compare_html, inspector_html
from .palette import COLOURS, LABELS, SOURCES, TINTS, css_variables
from .playground import (
    describe_event,
    playground_event_html,
    playground_figure,
    playground_match_html,
    playground_state_html,
)
from .stream import legend_html, stats_html, stream_html
from .timeline import wallclock_figure
from .tuning import tuning_heatmap
from .view import TokenSpan, TraceView, as_view

__all__ = [
    "COLOURS",
    "HOW_IT_WORKS",
    "LABELS",
    "SOURCES",
    "TINTS",
    "AutomatonView",
    "TokenSpan",
    "TraceView",
    "acceptance_figure",
    "as_view",
    "automaton_figure",
    "compare_figure",
    "compare_html",
    "cost_figure",
    "css_variables",
    "describe_event",
    "duel_figure",
    "dynamic_view",
    "empty_figure",
    "inspector_html",
    "legend_html",
    "match_figure",
    "match_strip_html",
    "playground_event_html",
    "playground_figure",
    "playground_match_html",
    "playground_state_html",
    "static_view",
    "stats_html",
    "steps_figure",
    "stream_html",
    "tuning_heatmap",
    "wallclock_figure",
]
