"""Compare: plain decoding, prompt lookup decoding (method pld) and the chosen method on the
same prompt, one after the other in the engine's loop; checks the outputs are identical, token
for token, and draws the runs on one wall-clock axis, step by step (visuals.wallclock_figure).
For a SAM method it also sets each step an automaton drafted beside what prompt lookup would
have drafted correctly at the same text (samdec.compare_drafts, visuals.duel_figure).

Greedy or sampled: a sampled comparison gives every run one seed, and since each position's
randomness comes from the seed and the position alone (samdec.sampling), all must still agree
token for token."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import gradio as gr

import visuals as V
from samdec.compare_drafts import draft_duels, summarize_duels
from samdec.config import SEED_MAX
from samdec.methods import method

from . import runtime as rt
from .common import accordion_row, error_notice
from .controls import Controls
from .device import gpu_compare
from .request import prepare, read_request

COMPARE_MAX_TOKENS = 256
PLAIN_NAME = "plain decoding (ar)"
PLD_NAME = "prompt lookup (pld, samdec)"
# The settings a comparison reads.
COMPARE_INPUTS = (
    "prompt", "model", "method", "max_new_tokens", "l_bias", "l_threshold",
    "draft_policy", "draft_len", "use_static", "temperature", "seed",
)  # fmt: skip


def build() -> tuple[gr.Button, gr.HTML, gr.Plot, gr.Plot, gr.Plot]:
    title = "Compare: plain decoding · prompt lookup decoding · this method"
    with accordion_row(title, elem_id="sd-compare"), gr.Column():
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                button = gr.Button("Run the comparison on this prompt", elem_id="sd-compare-btn")
                table = gr.HTML(V.compare_html([]), elem_id="sd-compare-table")
            plot = gr.Plot(
                V.compare_figure([]), show_label=False, elem_id="sd-compare-plot", scale=2
            )
        timeline = gr.Plot(V.wallclock_figure([]), show_label=False, elem_id="sd-compare-timeline")
        duels = gr.Plot(V.duel_figure([]), show_label=False, elem_id="sd-compare-duels")
    return button, table, plot, timeline, duels


def wire(
    controls: Controls,
    button: gr.Button,
    table: gr.HTML,
    plot: gr.Plot,
    timeline: gr.Plot,
    duels: gr.Plot,
) -> None:
    def on_click(data: dict):
        return compare_panels(controls.values(data, COMPARE_INPUTS))

    button.click(
        on_click,
        inputs=controls.inputs(COMPARE_INPUTS),
        outputs=[table, plot, timeline, duels],
        api_visibility="private",
        concurrency_limit=None,  # the runtime's Admission bounds the model work
        concurrency_id="model",
    )


def compare_panels(values: Mapping[str, Any]) -> tuple[str, Any, Any, Any]:
    """(table HTML, speed figure, wall-clock lanes, automaton drafts vs prompt lookup), or an
    error notice and empty figures."""
    try:
        runs, note = compare_runs(values)
    except Exception as exc:
        notice = error_notice(exc, "The comparison")
        return notice, V.compare_figure([]), V.wallclock_figure([]), V.duel_figure([])
    rows = compare_rows(runs)
    duels = [d.to_dict() for d in runs["duels"]]
    return (
        V.compare_html(rows, note),
        V.compare_figure(rows),
        V.wallclock_figure(lanes(runs)),
        V.duel_figure(duels, "No step drafted from a suffix automaton in this run."),
    )


def run_compare(values: Mapping[str, Any]) -> tuple[list[dict], str]:
    """Rows of {name, tokens, steps, mat, tokens_per_s, identical, colour, token_ids}, and a
    note. Raises UserError."""
    runs, note = compare_runs(values)
    return compare_rows(runs), note


def compare_runs(values: Mapping[str, Any]) -> tuple[dict, str]:
    """The runs of `gpu_compare` on the request in `values`, and a note. Raises UserError."""
    request = read_request(values)
    n = min(request.config.max_new_tokens, COMPARE_MAX_TOKENS)
    prepared = prepare(request, max_new_tokens=n)
    config = prepared.config
    if config.temperature > 0 and config.seed is None:  # every run needs the same seed
        config = replace(config, seed=secrets.randbelow(SEED_MAX + 1))
    with rt.RUNTIME.admission.turn():
        runs = gpu_compare(prepared.spec, prepared.ids, config)
    runs["duels"] = duels_of(runs.get("ours"), runs["eos_ids"], config)
    how = (
        "Greedy"
        if config.temperature == 0
        else f"Sampled at temperature {config.temperature:g}, seed {config.seed}: each "
        "position's randomness comes from the seed and the position alone, so every run "
        "must agree token for token"
    )
    note = (
        f"{how}; {n} new tokens at most, on {prepared.loaded.name} ({prepared.loaded.device}); "
        "speedup relative to plain decoding. Runs share the machine with other users, so "
        "timings vary."
    )
    if n < request.config.max_new_tokens:
        note += f" Capped at {COMPARE_MAX_TOKENS} tokens."
    if runs["ours"] is not None and method(config.method).automata:
        note += " " + summarize_duels(runs["duels"]).words()
    return runs, " ".join([note, *prepared.notes])


def duels_of(ours, eos_ids, config) -> list:
    """The steps of a SAM run drafted by an automaton, beside prompt lookup with the same
    settings at the same text ([] for a method without the automata)."""
    if ours is None or not method(ours.summary.method).automata:
        return []
    return draft_duels(
        ours.prompt_ids, ours.steps, config.pld_ngram, config.pld_tokens, frozenset(eos_ids)
    )


def lanes(runs: dict) -> list[tuple[str, Any]]:
    """The wall-clock lanes of a comparison, named as in its table."""
    out = [(PLAIN_NAME, runs["ar"])]
    if runs["pld"] is not None:
        out.append((PLD_NAME, runs["pld"]))
    if runs["ours"] is not None:
        out.append((_ours_name(runs["ours"]), runs["ours"]))
    return out


def _ours_name(trace) -> str:
    return f"{trace.summary.method} (samdec)"


def compare_rows(runs: dict) -> list[dict]:
    ar = runs["ar"]
    rows = [_row(PLAIN_NAME, ar, None, V.COLOURS["model"])]
    if runs["pld"] is not None:
        pld = runs["pld"]
        rows.append(_row(PLD_NAME, pld, pld.token_ids == ar.token_ids, V.COLOURS["pld"]))
    if runs["ours"] is not None:
        ours = runs["ours"]
        rows.append(
            _row(_ours_name(ours), ours, ours.token_ids == ar.token_ids, V.COLOURS["dynamic"])
        )
    return rows


def _row(name: str, trace, identical: bool | None, colour: str) -> dict:
    s = trace.summary
    return {
        "name": name,
        "tokens": s.new_tokens,
        "steps": s.steps,
        "mat": s.mat,
        "tokens_per_s": s.tokens_per_s,
        "identical": identical,
        "colour": colour,
        "token_ids": trace.token_ids,
    }
