"""The automaton view: the dynamic automaton of this text and the static one of the corpus,
each at the state the drafter matched at the selected step. Its contents come from
`panels.render`; this section lays the tabs out, and turns the tab `render` names (the
automaton that drafted the step, `TAB`) into the update that selects it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gradio as gr

from .panels import AUTOMATON_TAB as TAB


def build() -> dict[str, gr.components.Component]:
    gr.HTML(
        '<div class="sd-panel-title">Automaton view <small>· the state the '
        "drafter matched, at the selected step</small></div>"
    )
    with gr.Tabs(elem_id="sd-automaton-tabs") as tabs:
        with gr.Tab("Dynamic automaton (this text)", id="dynamic", elem_id="sd-tab-dynamic"):
            dyn_plot = gr.Plot(show_label=False, elem_id="sd-dyn-plot")
            dyn_strip = gr.HTML(elem_id="sd-dyn-strip")
        with gr.Tab("Static automaton (corpus)", id="static", elem_id="sd-tab-static"):
            static_plot = gr.Plot(show_label=False, elem_id="sd-static-plot")
            static_strip = gr.HTML(elem_id="sd-static-strip")
            # what the corpus is, and the document the selected step's static draft came from
            static_corpus = gr.HTML(elem_id="sd-static-corpus")
    return {
        "dyn_plot": dyn_plot,
        "dyn_strip": dyn_strip,
        "static_plot": static_plot,
        "static_strip": static_strip,
        "static_corpus": static_corpus,
        TAB: tabs,
    }


def select_tab(update: Mapping[str, Any]) -> dict[str, Any]:
    """`update` with the tab's name (if it names one) turned into the update selecting it."""
    out = dict(update)
    if out.get(TAB) in ("dynamic", "static"):
        out[TAB] = gr.Tabs(selected=out[TAB])
    else:
        out.pop(TAB, None)
    return out


def keep_tab(update: Mapping[str, Any]) -> dict[str, Any]:
    """`update` without a tab switch: for re-renderings of the step already shown (a new
    "states shown" value, the live run's refreshes), where a switch would undo the visitor's
    own choice of tab."""
    return {name: value for name, value in update.items() if name != TAB}
