"""The automaton playground: the online construction of a suffix automaton, event by event.

Pure: each function takes a `samdec.teaching_automaton.Playground` (the recorded construction of
one short text) and `k`, the number of its events applied so far (0 = only the root,
len(events) = the whole text), and returns a plotly figure, HTML or a sentence.

* `playground_figure` (visuals.playground_plot): the automaton after k events; what the k-th
  event changed is drawn thick in amber (`CHANGED`).
* `describe_event` (visuals.playground_sentences): one sentence for a learner about the k-th
  event.
* `playground_event_html`, `playground_state_html`, `playground_match_html`
  (visuals.playground_html): where we are (event, symbol, state count) with that sentence; what
  a state stands for; the walk the dynamic drafter takes after the last symbol read.
* the helpers the app's handlers share with them (visuals.playground_model): `clamp`, `quote`,
  `longest`, `state_index`, `focus_state`.

This module is the playground's one entry point, so callers need not know how it is split.
`sep` joins symbols when a sentence quotes them ("" for letters and tokens, " " for words).
"""

from __future__ import annotations

from .playground_html import (
    KIND_LABELS,
    playground_event_html,
    playground_match_html,
    playground_state_html,
)
from .playground_model import ROOT, clamp, focus_state, longest, quote, state_index
from .playground_plot import CHANGED, playground_figure
from .playground_sentences import describe_event

__all__ = [
    "CHANGED",
    "KIND_LABELS",
    "ROOT",
    "clamp",
    "describe_event",
    "focus_state",
    "longest",
    "playground_event_html",
    "playground_figure",
    "playground_match_html",
    "playground_state_html",
    "quote",
    "state_index",
]
