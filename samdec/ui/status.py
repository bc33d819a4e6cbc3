"""The model status line under the header: what the app is preparing while it warms up, then
one line of facts about what runs the first model (kernel, layout, dtype, exactness).

The text is made by `status_text` (no gradio, testable with a fake runtime); a timer refreshes
it while the warm-up runs and stops once it has ended.
"""

from __future__ import annotations

import html

import gradio as gr

from . import runtime as rt

REFRESH_S = 1.0

# How each weight layout computes a step, as a visitor would name it.
KERNELS = {
    "streamed": "AVX-512 kernel",
    "packed": "oneDNN packed weights",
    "integer": "AVX-512 VNNI integer kernel",
}


def facts_line(loaded) -> str:
    """'SmolLM2-135M-Instruct · streamed layout, AVX-512 kernel · float32, exact by
    construction' for a LoadedModel."""
    from samdec.runtime.layouts import exactness, numerics_label

    name = loaded.name.split(":", 1)[-1].split(".")[0]  # bundled:NAME.Q4_1 -> NAME
    kernel = KERNELS.get(loaded.layout, "torch's kernels")
    device = "" if loaded.device == "cpu" else f" on {loaded.device}"
    exact = exactness(loaded.layout, loaded.dtype).split(":")[0]
    if loaded.layout == "integer":  # not float32's numbers, whatever the weights' dtype
        return f"{name} · integer layout, {kernel}{device} · {numerics_label('integer', '')}"
    return f"{name} · {loaded.layout} layout, {kernel}{device} · {loaded.dtype}, {exact}"


def status_text(runtime: rt.Runtime) -> tuple[str, bool]:
    """(the line, whether the warm-up is still running)."""
    status, first = runtime.warming, runtime.models[0]
    if status.running:
        return f"Preparing the model: {status.stage}…", True
    loaded = runtime._models.get(first)
    if loaded is None:
        if status.error:
            return f"{status.error} The first request will try again.", False
        return f"{first}: loads on the first request.", False
    others = len(runtime.models) - 1
    more = f" (and {others} more model{'s' * (others > 1)}, loaded on first use)" if others else ""
    return facts_line(loaded) + more, False


def status_html(runtime: rt.Runtime) -> tuple[str, bool]:
    text, running = status_text(runtime)
    kind = " sd-warming" if running else ""
    return f'<div class="sd-model-status{kind}">{html.escape(text)}</div>', running


def build() -> None:
    """The line and its timer (call inside the Blocks, under the header). The line is made
    afresh for each page load; the timer runs until the warm-up has ended."""
    line = gr.HTML(lambda: status_html(rt.RUNTIME)[0], elem_id="sd-model-status")
    timer = gr.Timer(REFRESH_S)

    def refresh() -> tuple[str, gr.Timer]:
        text, running = status_html(rt.RUNTIME)
        return text, gr.Timer(active=running)

    timer.tick(refresh, outputs=[line, timer], api_visibility="private", queue=False)
