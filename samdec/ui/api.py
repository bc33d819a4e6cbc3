"""The named API endpoints for gradio_client: /generate and /compare.

Their parameters have the names of the settings (`DecodeConfig` fields), and the values go
through the same `read_request` as the page's.
"""

from __future__ import annotations

import json

import gradio as gr

from .common import api_error
from .compare import run_compare
from .device import gpu_generate
from .request import prepare, read_request


def register() -> None:
    """Call inside the Blocks."""
    gr.api(generate, api_name="generate", concurrency_limit=4, concurrency_id="decode")
    gr.api(compare, api_name="compare", concurrency_limit=1, concurrency_id="compare")


def generate(
    prompt: str,
    method: str = "sam+recycling",
    max_new_tokens: int = 64,
    l_bias: int = 5,
    l_threshold: int = 5,
    draft_policy: str = "cost",
    draft_len: int = 40,
    temperature: float = 0.0,
    seed: int | None = None,
    use_static: bool = True,
    model: str = "bundled",
) -> tuple[str, str, str]:
    """Generate with SAM-Decoding.

    Returns (text, trace, notes): the generated text, the full step trace as JSON (see
    samdec.trace.Trace.to_dict) and notes about the run (e.g. a missing static corpus).
    """
    values = dict(locals())  # the parameters, by name
    try:
        prepared = prepare(read_request(values))
        trace = gpu_generate(prepared.spec, prepared.ids, prepared.config)
    except Exception as exc:
        raise api_error(exc, "Generation") from None
    notes = list(prepared.notes)
    if trace.summary.config.get("note"):
        notes.append(str(trace.summary.config["note"]))
    return trace.text, trace.to_json(ensure_ascii=False), "\n".join(notes)


def compare(
    prompt: str,
    method: str = "sam+recycling",
    max_new_tokens: int = 64,
    model: str = "bundled",
) -> str:
    """Compare plain decoding, transformers' prompt lookup decoding and `method` (greedy) on
    one prompt. Returns JSON: {"runs": [{name, tokens, steps, mat, tokens_per_s, identical,
    token_ids}], "note": str}."""
    values = dict(locals())
    try:
        rows, note = run_compare(values)
    except Exception as exc:
        raise api_error(exc, "Comparison") from None
    for row in rows:
        row.pop("colour", None)
    return json.dumps({"runs": rows, "note": note})
