"""Tune l_bias and l_threshold: one recorded run of this prompt, replayed for every setting,
shown as a heatmap of predicted speedup on this machine's verify-cost curve and, beside it, on a
flat curve (and a GPU's measured one where an artifact holds it): what the same drafts would
gain on other hardware. One click applies the best setting for this machine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gradio as gr

import visuals as V
from samdec.config import POLICY_LABELS
from samdec.methods import method
from visuals.tuning import PANEL_TITLES, hardware_note, row_at, tuning_comparison

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
    "l_bias",  # the run's own setting, marked on the grid
    "l_threshold",
)


def build() -> tuple[gr.Button, gr.HTML, gr.Button, gr.State, gr.Plot]:
    title = "Tune l_bias and l_threshold: predicted from one run, no re-decoding"
    with accordion_row(title, elem_id="sd-tune", open=False), gr.Column():
        with gr.Row():
            button = gr.Button("Predict the best setting for this prompt", elem_id="sd-tune-btn")
            apply = gr.Button("Apply the best setting", elem_id="sd-tune-apply")
        summary = gr.HTML(summary_html([], ""), elem_id="sd-tune-summary")
        best = gr.State(None)
        plot = gr.Plot(
            V.empty_figure("l_bias x l_threshold"), show_label=False, elem_id="sd-tune-plot"
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
    """(summary HTML, heatmaps, [best l_bias, best l_threshold] on this machine) or an error
    and None."""
    try:
        panels, note = run_tune(values)
    except Exception as exc:
        return error_notice(exc, "The prediction"), V.empty_figure(""), None
    setting = _setting(values)
    top = max(panels[0]["rows"], key=lambda r: r["speedup"])
    return (
        summary_html(panels, note, setting),
        tuning_comparison(panels, setting),
        [top["l_bias"], top["l_threshold"]],
    )


def _setting(values: Mapping[str, Any]) -> tuple[int, int] | None:
    """The run's own (l_bias, l_threshold), as the controls hold it (None if unreadable)."""
    try:
        return int(values["l_bias"]), int(values["l_threshold"])
    except (KeyError, TypeError, ValueError):
        return None


def run_tune(values: Mapping[str, Any]) -> tuple[list[dict], str]:
    """One panel of sweep rows per verify-cost curve (this machine's first), and a note.
    Raises UserError."""
    values = dict(values)
    if not method(str(values.get("method"))).rule:
        values["method"] = "sam"  # l_bias and l_threshold only steer the SAM drafter
    request = read_request({**values, "temperature": 0.0, "seed": None})
    n = min(request.config.max_new_tokens, COMPARE_MAX_TOKENS)
    prepared = prepare(request, max_new_tokens=n)
    with rt.RUNTIME.admission.turn():
        panels, seconds = gpu_tune(prepared.spec, prepared.ids, prepared.config)
    note = tune_note(prepared.config, n, panels, prepared.loaded.name, seconds)
    return panels, " ".join([note, *prepared.notes])


def tune_note(config, cap: int, panels: list[dict], model: str, seconds: float) -> str:
    """What was replayed: the method and policy, the recorded run's real length (not the
    cap), the model, how many settings on how many curves."""
    rows = panels[0]["rows"] if panels else []
    got = rows[0]["new_tokens"] if rows else 0
    ended = "the cap" if got >= cap else f"it ended before the cap of {cap}"
    return (
        f"{config.method}, {POLICY_LABELS.get(config.draft_policy, config.draft_policy)} "
        f"length policy, {got} tokens of greedy output ({ended}) on {model}: one recorded run "
        f"replayed for {len(rows)} settings on {len(panels)} verify-cost curves in "
        f"{seconds:.1f} s; on this machine each step is costed with the curve measured here. "
        "Exact for the SAM drafters; Token Recycling is approximated."
    )


def summary_html(panels: list[dict], note: str, setting=None) -> str:
    rows = panels[0]["rows"] if panels else []
    if not rows:
        return notice_html([note or "Run the prediction to see which setting suits this prompt."])
    top = max(rows, key=lambda r: r["speedup"])
    lines = [
        f"Best: l_bias {top['l_bias']}, l_threshold {top['l_threshold']} on this machine — "
        f"predicted {top['speedup']:.2f}x, MAT {top['mat']:.2f}."
    ]
    mine = row_at(rows, setting)
    if mine:
        lines.append(
            f"Your setting ({setting[0]}, {setting[1]}): predicted {mine['speedup']:.2f}x, "
            f"MAT {mine['mat']:.2f}."
        )
    elif setting is not None:
        lines.append(f"Your setting ({setting[0]}, {setting[1]}) is outside the grid.")
    paper = row_at(rows, (5, 5))
    if paper:
        lines.append(
            f"Paper default (5, 5): predicted {paper['speedup']:.2f}x, MAT {paper['mat']:.2f}."
        )
    for panel in panels[1:]:
        other = max(panel["rows"], key=lambda r: r["speedup"])
        lines.append(
            f"On the {PANEL_TITLES.get(panel['kind'], panel['kind'])}: best "
            f"l_bias {other['l_bias']}, l_threshold {other['l_threshold']} — "
            f"{other['speedup']:.2f}x, MAT {other['mat']:.2f}."
        )
    lines += [hardware_note(panels, setting), note]
    return notice_html([line for line in lines if line])


def apply_best(best):
    if not best:
        gr.Warning("Predict the best setting first.")
        return gr.update(), gr.update()
    return best[0], best[1]
