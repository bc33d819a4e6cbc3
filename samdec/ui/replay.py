"""Replay and inspect: the step slider, play/pause, a click on a token, the step inspector,
the per-step charts, and the trace as a file (download, or open one to replay it).

Handlers take the session and the step and return updates by panel name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

import visuals as V
from samdec.trace import Trace

from .automaton_view import keep_tab, select_tab
from .common import by_component
from .panels import STEP_PANELS, Session, notice_html, render

SPEEDS = {"0.5× (slow)": 1.2, "1×": 0.6, "2×": 0.3, "4× (fast)": 0.15}
MAX_TRACE_BYTES = 20_000_000  # an uploaded trace larger than this is refused


@dataclass
class ReplayControls:
    slider: gr.Slider
    play: gr.Button
    pause: gr.Button
    speed: gr.Dropdown
    download: gr.DownloadButton
    upload: gr.UploadButton
    timer: gr.Timer


def build_controls() -> ReplayControls:
    """The row under the output: step slider, play/pause, speed, download and open."""
    with gr.Row(elem_id="sd-replay", equal_height=True):
        slider = gr.Slider(
            0, 1, value=0, step=1, label="Step (drag to replay)", scale=5,
            interactive=True, elem_id="sd-step-slider",
        )  # fmt: skip
        play = gr.Button("▶ Play", scale=0, min_width=112, elem_id="sd-play", size="md")
        pause = gr.Button("❚❚ Pause", scale=0, min_width=112, elem_id="sd-pause", size="md")
        speed = gr.Dropdown(list(SPEEDS), value="1×", label="Speed", scale=0, min_width=110)
        with gr.Column(scale=0, min_width=150):
            download = gr.DownloadButton(
                "⬇ Trace JSON", interactive=False, elem_id="sd-download", size="sm"
            )
            upload = gr.UploadButton(
                "⬆ Open a trace", file_types=[".json"], size="sm", elem_id="sd-upload"
            )
    timer = gr.Timer(0.6, active=False)
    return ReplayControls(slider, play, pause, speed, download, upload, timer)


def build_inspector() -> gr.HTML:
    gr.HTML('<div class="sd-panel-title">Step inspector</div>')
    return gr.HTML(V.inspector_html(V.TraceView([], [])), elem_id="sd-inspector")


def build_charts() -> dict[str, gr.Plot]:
    """Match lengths and the drafter and tokens per step; under them what a verify pass costs
    on this machine (the selected step on the curve) and acceptance by draft depth."""
    with gr.Row(equal_height=False):
        match_plot = gr.Plot(show_label=False, elem_id="sd-match-plot")
        steps_plot = gr.Plot(show_label=False, elem_id="sd-steps-plot")
    with gr.Row(equal_height=False):
        cost_plot = gr.Plot(show_label=False, elem_id="sd-cost-plot")
        acceptance_plot = gr.Plot(show_label=False, elem_id="sd-acceptance-plot")
    return {
        "match_plot": match_plot,
        "steps_plot": steps_plot,
        "cost_plot": cost_plot,
        "acceptance_plot": acceptance_plot,
    }


def wire(
    rc: ReplayControls, outputs: Mapping[str, Any], session: gr.State, max_states: gr.Slider
) -> None:
    """`outputs`: the step panels, notice, stats and session, by name."""
    panels = [outputs[n] for n in STEP_PANELS]
    out = {**outputs, "slider": rc.slider, "timer": rc.timer}
    quiet = dict(api_visibility="private", show_progress="hidden")

    def shown(update: dict) -> dict:  # a newly selected step: its automaton's tab too
        return by_component(out, select_tab(update))

    rc.slider.input(
        lambda s, k, m: shown(show_step(s, k, m)),
        inputs=[session, rc.slider, max_states], outputs=panels,
        trigger_mode="always_last", **quiet,
    )  # fmt: skip
    max_states.release(  # the same step, redrawn: the tab stays the visitor's
        lambda s, k, m: by_component(out, keep_tab(show_step(s, k, m))),
        inputs=[session, rc.slider, max_states], outputs=panels, **quiet,
    )  # fmt: skip

    def on_click(s: Any, m: Any, evt: gr.EventData) -> dict:  # gradio fills evt by its type
        return shown(click_step(s, m, evt))

    outputs["stream"].click(
        on_click, inputs=[session, max_states], outputs=[rc.slider, *panels], **quiet
    )
    rc.play.click(play, inputs=[session, rc.slider], outputs=[rc.timer, rc.slider], **quiet)
    rc.pause.click(lambda: gr.Timer(active=False), outputs=[rc.timer], **quiet)
    rc.speed.change(
        lambda s: gr.Timer(value=SPEEDS.get(s, 0.6)), inputs=[rc.speed], outputs=[rc.timer], **quiet
    )
    rc.timer.tick(
        lambda s, k, m: shown(tick(s, k, m)),
        inputs=[session, rc.slider, max_states], outputs=[rc.timer, rc.slider, *panels],
        trigger_mode="always_last", **quiet,
    )  # fmt: skip
    names = ("notice", "stats", "slider", "session", *STEP_PANELS)
    rc.upload.upload(
        lambda path, s, m: shown(open_trace(path, s, m)),
        inputs=[rc.upload, session, max_states], outputs=[out[n] for n in names],
        api_visibility="private",
    )  # fmt: skip


def show_step(session: Any, step: Any, max_states: Any) -> dict:
    if not isinstance(session, Session) or not session.has_steps:
        return {}
    return render(session, step, max_states)


def click_step(session: Any, max_states: Any, evt: Any) -> dict:
    """A click on a token of the stream: that token's step."""
    data = getattr(evt, "_data", None) or {}
    if not isinstance(data, dict) or "step" not in data:
        return {}
    try:
        step = int(data["step"])
    except (TypeError, ValueError):
        return {}
    update = show_step(session, step, max_states)
    if update:
        update["slider"] = step
    return update


def play(session: Any, step: Any):
    if not isinstance(session, Session) or not session.has_steps:
        return gr.Timer(active=False), step
    last = session.view.num_steps - 1
    start = 0 if int(step or 0) >= last else int(step or 0)
    return gr.Timer(active=True), start


def tick(session: Any, step: Any, max_states: Any) -> dict:
    """One tick of the play timer: the next step, or stop at the last."""
    if not isinstance(session, Session) or not session.has_steps:
        return {"timer": gr.Timer(active=False)}
    nxt = int(step or 0) + 1
    if nxt > session.view.num_steps - 1:
        return {"timer": gr.Timer(active=False)}
    return {**show_step(session, nxt, max_states), "slider": nxt}


def open_trace(path: Any, session: Any, max_states: Any) -> dict:
    """Replay a downloaded trace JSON."""
    session = session if isinstance(session, Session) else Session()
    try:
        trace = read_trace(path)
    except ValueError as exc:
        message = f"Could not open that file as a samdec trace: {exc}"
        gr.Warning(message)
        return {"notice": notice_html([message], "error"), "session": session}
    session.view = V.TraceView.from_trace(trace)
    model = str(trace.summary.config.get("model", ""))
    session.model = "bundled" if model.startswith("bundled") else model
    n = len(trace.steps)
    return {
        **show_step(session, n - 1, max_states),
        "notice": notice_html([f"Replaying {Path(str(path)).name}: {n} steps."]),
        "stats": V.stats_html(session.view),
        "slider": gr.Slider(minimum=0, maximum=max(n - 1, 1), value=n - 1, interactive=True),
        "session": session,
    }


def read_trace(path: Any) -> Trace:
    """The Trace of an uploaded file; ValueError saying what is wrong."""
    try:
        file = Path(str(path))
        if file.stat().st_size > MAX_TRACE_BYTES:
            raise ValueError(f"it is larger than {MAX_TRACE_BYTES // 1_000_000} MB")
        data = json.loads(file.read_text(encoding="utf-8"))
        trace = Trace.from_dict(data)
        trace.validate()
    except ValueError:
        raise
    except Exception as exc:  # a missing key, a wrong type, an unreadable file
        raise ValueError(f"it is not a trace ({type(exc).__name__})") from None
    if not trace.steps:
        raise ValueError("the trace has no steps")
    return trace
