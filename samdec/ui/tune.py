"""Tune l_bias and l_threshold: one recorded run of this prompt, replayed for every setting,
shown as a heatmap of predicted speedup; one click applies the best setting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gradio as gr

import visuals as V
from samdec.config import POLICY_LABELS
from samdec.methods import method

from . import runtime as rt
from .common import accordion_row, error_notice
from .compare import COMPARE_MAX_TOKENS
from .controls import Controls
from .device import gpu_tune
from .panels import notice_html
from .request import prepare, read_request

TUNE_INPUTS = (
    "prompt",
    "model",
    "method",
    "max_new_tokens",
    "draft_policy",
    "draft_len",
    "use_static",
)


def build() -> tuple[gr.Button, gr.HTML, gr.Button, gr.State, gr.Plot]:
    title = "Tune l_bias and l_threshold: predicted from one run, no re-decoding"
    with accordion_row(title, elem_id="sd-tune", open=False):
        with gr.Column(scale=2):
            button = gr.Button("Predict the best setting for this prompt", elem_id="sd-tune-btn")
            summary = gr.HTML(summary_html([], ""), elem_id="sd-tune-summary")
            apply = gr.Button("Apply the best setting", elem_id="sd-tune-apply")
            best = gr.State(None)
        plot = gr.Plot(
            V.empty_figure("l_bias x l_threshold"),
            show_label=False,
            elem_id="sd-tune-plot",
            scale=3,
        )
    return button, summary, apply, best, plot


def wire(controls: Controls, button, summary, apply, best, plot) -> None:
    button.click(
        lambda data: tune_panels(controls.values(data, TUNE_INPUTS)),
        inputs=controls.inputs(TUNE_INPUTS),
        outputs=[summary, plot, best],
        api_visibility="private",
        concurrency_limit=None,  # the runtime's Admission bounds the model work
        concurrency_id="model",
    )
    apply.click(
        apply_best,
        inputs=[best],
        outputs=[controls.by_name["l_bias"], controls.by_name["l_threshold"]],
        api_visibility="private",
    )


def tune_panels(values: Mapping[str, Any]) -> tuple[str, Any, list[int] | None]:
    """(summary HTML, heatmap, [best l_bias, best l_threshold]) or an error and None."""
    try:
        rows, note = run_tune(values)
    except Exception as exc:
        return error_notice(exc, "The prediction"), V.empty_figure(""), None
    top = max(rows, key=lambda r: r["speedup"])
    return summary_html(rows, note), V.tuning_heatmap(rows), [top["l_bias"], top["l_threshold"]]


def run_tune(values: Mapping[str, Any]) -> tuple[list[dict], str]:
    """Sweep rows for this prompt, and a note. Raises UserError."""
    values = dict(values)
    if not method(str(values.get("method"))).rule:
        values["method"] = "sam"  # l_bias and l_threshold only steer the SAM drafter
    request = read_request({**values, "temperature": 0.0, "seed": None})
    n = min(request.config.max_new_tokens, COMPARE_MAX_TOKENS)
    prepared = prepare(request, max_new_tokens=n)
    with rt.RUNTIME.admission.turn():
        rows, seconds = gpu_tune(prepared.spec, prepared.ids, prepared.config)
    config = prepared.config
    note = (
        f"{config.method}, {POLICY_LABELS.get(config.draft_policy, config.draft_policy)} "
        f"length policy, {n} tokens of greedy output on "
        f"{prepared.loaded.name}: one recorded run replayed for {len(rows)} settings in "
        f"{seconds:.1f} s, each step costed with the verify-cost curve measured on this "
        "machine. Exact for the SAM drafters; Token Recycling is approximated."
    )
    return rows, " ".join([note, *prepared.notes])


def summary_html(rows: list[dict], note: str) -> str:
    if not rows:
        return notice_html([note or "Run the prediction to see which setting suits this prompt."])
    top = max(rows, key=lambda r: r["speedup"])
    paper = next((r for r in rows if (r["l_bias"], r["l_threshold"]) == (5, 5)), None)
    lines = [
        f"Best: l_bias {top['l_bias']}, l_threshold {top['l_threshold']} — predicted "
        f"{top['speedup']:.2f}x, MAT {top['mat']:.2f}."
    ]
    if paper:
        lines.append(
            f"Paper default (5, 5): predicted {paper['speedup']:.2f}x, MAT {paper['mat']:.2f}."
        )
    lines.append(note)
    return notice_html(lines)


def apply_best(best):
    if not best:
        gr.Warning("Predict the best setting first.")
        return gr.update(), gr.update()
    return best[0], best[1]
