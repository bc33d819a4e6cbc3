"""The automaton view: the dynamic automaton of this text and the static one of the corpus,
each at the state the drafter matched at the selected step. Its contents come from
`panels.render`; this section only lays the tabs out."""

from __future__ import annotations

import gradio as gr


def build() -> dict[str, gr.components.Component]:
    gr.HTML(
        '<div class="sd-panel-title">Automaton view <small>· the state the '
        "drafter matched, at the selected step</small></div>"
    )
    with gr.Tabs():
        with gr.Tab("Dynamic automaton (this text)", elem_id="sd-tab-dynamic"):
            dyn_plot = gr.Plot(show_label=False, elem_id="sd-dyn-plot")
            dyn_strip = gr.HTML(elem_id="sd-dyn-strip")
        with gr.Tab("Static automaton (corpus)", elem_id="sd-tab-static"):
            static_plot = gr.Plot(show_label=False, elem_id="sd-static-plot")
            static_strip = gr.HTML(elem_id="sd-static-strip")
    return {
        "dyn_plot": dyn_plot,
        "dyn_strip": dyn_strip,
        "static_plot": static_plot,
        "static_strip": static_strip,
    }
