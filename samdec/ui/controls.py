"""The prompt and the decoding settings: each control is bound to its setting by name.

`Controls.by_name` maps request names (`prompt`, `model` and `DecodeConfig` fields) to their
components, each labelled with its field's label. Handlers take the controls as a set and read
the values back by name, so two controls of the same type can never be swapped by position.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

import visuals as V
from samdec.config import DecodeConfig, label
from samdec.methods import TABLE
from samdec.runtime.loading import split_numerics

from .request import MAX_NEW_TOKENS

log = logging.getLogger("samdec.app")

# The order the page offers the methods in (the richest first).
METHOD_ORDER = (
    "sam+recycling",
    "sam+graft",
    "sam",
    "sam-dynamic",
    "sam-static",
    "recycling",
    "pld",
    "ar",
)


@dataclass
class Controls:
    by_name: dict[str, Any]  # request name -> component
    max_states: gr.Slider  # a view setting, not a decoding one
    generate: gr.Button
    stop: gr.Button

    def inputs(self, names: Iterable[str] | None = None) -> set:
        """The controls of these names (all by default), for an event's `inputs` set."""
        names = self.by_name if names is None else names
        return {self.by_name[n] for n in names}

    def values(self, data: Mapping[Any, Any], names: Iterable[str] | None = None) -> dict:
        """The values gradio passed for a set of inputs, by request name."""
        names = self.by_name if names is None else names
        return {n: data[self.by_name[n]] for n in names if self.by_name[n] in data}


def load_examples(path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [e for e in data["examples"] if e.get("prompt")]
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("the examples file is missing or unreadable: no examples")
        return []


def model_label(spec: str) -> str:
    """A model's name in the menu: a half-precision spec says it is fast and not exact, an
    integer one which numbers it computes."""
    from samdec.runtime.layouts import INTEGER_NUMERICS

    base, dtype = split_numerics(spec)
    if dtype == "integer":
        return f"{base} · {INTEGER_NUMERICS}"
    if dtype == "float32" or (dtype is None and base == "bundled"):
        return f"{base} · float32, exact to transformers"
    return f"{base} · {dtype} (fast, not exact)" if dtype in ("bfloat16", "float16") else spec


def build_controls(examples: list[dict], models: tuple[str, ...] = ("bundled",)) -> Controls:
    """The left column: prompt, buttons, method, length, examples and the settings.
    `models`: the operator's list, the only ones offered."""
    c: dict[str, Any] = {}
    c["prompt"] = gr.Textbox(
        label="Prompt",
        lines=5,
        max_lines=10,
        placeholder="Ask something: the chat template is applied for you.",
        value=examples[0]["prompt"] if examples else "",
        elem_id="sd-prompt",
    )
    with gr.Row():
        generate = gr.Button("Generate", variant="primary", elem_id="sd-generate")
        stop = gr.Button("Stop", variant="stop", elem_id="sd-stop", scale=0)
    c["method"] = gr.Dropdown(
        [(TABLE[m].label, m) for m in METHOD_ORDER],
        value="sam+recycling",
        label=label("method"),
        elem_id="sd-method",
    )
    c["max_new_tokens"] = gr.Slider(
        1, MAX_NEW_TOKENS, value=96, step=1, label=label("max_new_tokens"), elem_id="sd-max-new"
    )
    if examples:
        _examples(examples, c)
    with gr.Accordion("Decoding settings", open=False, elem_id="sd-settings"):
        c.update(_drafting_settings())
        c.update(_sampling_settings())
        c["use_static"] = gr.Checkbox(
            value=True, label=label("use_static"), info="off: the dynamic automaton only"
        )
        c["model"] = gr.Dropdown(
            [(model_label(m), m) for m in models],
            value=models[0],
            label="Model",
            info="the models this server offers (bundled: SmolLM2-135M-Instruct)",
        )
        max_states = gr.Slider(
            8,
            80,
            value=V.automaton.DEFAULT_MAX_STATES,
            step=1,
            label="States drawn in the automaton view",
        )
    return Controls(c, max_states, generate, stop)


def _examples(examples: list[dict], c: dict[str, Any]) -> None:
    # The note rides along as a fourth input, so choosing an example shows its note (or
    # clears the last one) with no handler of its own.
    note = gr.Markdown(example_note(examples[0]), elem_id="sd-example-note", render=False)
    rows = [
        [
            e["prompt"],
            e.get("method", "sam+recycling"),
            e.get("max_new_tokens", 96),
            example_note(e),
        ]
        for e in examples
    ]
    gr.Examples(
        examples=rows,
        inputs=[c["prompt"], c["method"], c["max_new_tokens"], note],
        example_labels=[e["label"] for e in examples],
        label="Examples (Spec-Bench categories)",
        examples_per_page=12,
    )
    note.render()


def example_note(example: dict) -> str:
    """What the page says under the examples while this one is chosen ("" without a note)."""
    note = str(example.get("note") or "").strip()
    return f"**{example['label']}**: {note}" if note else ""


def _drafting_settings() -> dict[str, Any]:
    d = DecodeConfig  # the shipped defaults, chosen on training prompts (config.py)
    return {
        "l_bias": gr.Slider(
            0, 32, value=d.l_bias, step=1, label=label("l_bias"),
            info="taken off the static match before the two are compared", elem_id="sd-l-bias",
        ),
        "l_threshold": gr.Slider(
            0, 32, value=d.l_threshold, step=1, label=label("l_threshold"),
            info="if max(dynamic, static - l_bias) is shorter, Token Recycling drafts",
            elem_id="sd-l-threshold",
        ),
        "draft_policy": gr.Radio(
            [("cost-aware", "cost"), ("fixed length", "fixed")], value=d.draft_policy,
            label=label("draft_policy"),
            info="how many drafted tokens to verify: cost-aware verifies only what is expected "
            "to pay on this device",
        ),
        "draft_len": gr.Slider(
            1, 128, value=d.draft_len, step=1, label=label("draft_len"),
            info="the draft limit: the most tokens one step may verify (either policy)",
        ),
    }  # fmt: skip


def _sampling_settings() -> dict[str, Any]:
    with gr.Row():
        temperature = gr.Slider(
            0, 2, value=0, step=0.05, label=label("temperature"), info="0 = greedy", min_width=140
        )
        seed = gr.Number(value=0, precision=0, label=label("seed"), minimum=0, min_width=90)
    return {"temperature": temperature, "seed": seed}
