"""The page: assembles the sections. Each section builds its own part and wires its handlers;
this module only places them and hands each what it needs from the others."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

import visuals as V

from . import api, automaton_view, compare, live, playground, replay, status, tune
from . import runtime as rt
from .controls import build_controls, load_examples
from .panels import Session
from .replay import MAX_TRACE_BYTES

SESSION_TTL_S = 6 * 3600
MAX_SESSIONS = 500  # each holds at most one trace (<= MAX_NEW_TOKENS steps): ~1 MB at most

ASSETS = Path(__file__).resolve().parents[2] / "assets"

HEADER = """
<div class="sd-header">
  <h1>samdec · see speculative decoding work</h1>
  <span class="sd-sub">SAM-Decoding (<a href="https://arxiv.org/abs/2411.10666"
  target="_blank">arXiv 2411.10666</a>): draft with suffix automata, verify in one forward
  pass, never change the output.</span>
</div>
"""


def build_demo(assets: Path = ASSETS) -> gr.Blocks:
    """The page, for the models of the process's runtime (`runtime.configure`)."""
    with gr.Blocks(title="samdec: SAM-Decoding, visualised") as demo:
        # A closed tab's session is dropped after an hour; a live one after SESSION_TTL_S.
        session = gr.State(Session(), time_to_live=SESSION_TTL_S)
        gr.HTML(HEADER + V.legend_html())
        status.build()
        with gr.Accordion("How it works (2-minute read)", open=True, elem_id="sd-explainer"):
            gr.HTML(V.HOW_IT_WORKS)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                examples = load_examples(assets / "examples.json")
                controls = build_controls(examples, rt.RUNTIME.models)
            with gr.Column(scale=9, min_width=600):
                output = live.build_output()
                # under the tokens: the static corpus, and a static draft's document
                corpus_line = gr.HTML(elem_id="sd-corpus-line")
                replay_controls = replay.build_controls()
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=520):
                automaton = automaton_view.build()
            with gr.Column(scale=2, min_width=380):
                inspector = replay.build_inspector()
        charts = replay.build_charts()
        playground_parts = playground.build()
        compare_parts = compare.build()
        tune_parts = tune.build()

        panels = {
            "notice": output.notice,
            "stats": output.stats,
            "stream": output.stream,
            "corpus_line": corpus_line,
            **automaton,
            **charts,
            "inspector": inspector,
            "slider": replay_controls.slider,
            "download": replay_controls.download,
            "session": session,
        }
        live.wire(controls, panels, session)
        replay.wire(replay_controls, panels, session, controls.max_states)
        compare.wire(controls, *compare_parts)
        tune.wire(controls, *tune_parts)
        playground.wire(playground_parts, controls.by_name["prompt"])
        api.register()
        demo.unload(live.on_unload)
    # Model work is bounded by the runtime's Admission (it answers "busy" at once); this queue
    # only orders the light events (replay, rendering).
    demo.queue(default_concurrency_limit=8, max_size=64)
    return demo


def theme() -> gr.themes.Base:
    return gr.themes.Soft(
        primary_hue="blue",
        neutral_hue="slate",
        font=["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "sans-serif"],
        font_mono=["JetBrains Mono", "ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    )


def launch_kwargs(assets: Path = ASSETS) -> dict:
    """What `demo.launch` needs besides the address: the stylesheet, the theme, and the
    bounds on what visitors can leave on the server (sessions kept, upload size)."""
    css = assets / "style.css"
    return {
        "css": css.read_text(encoding="utf-8") if css.is_file() else "",
        "theme": theme(),
        "state_session_capacity": MAX_SESSIONS,
        "max_file_size": MAX_TRACE_BYTES,
    }
