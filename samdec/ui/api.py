"""The named API endpoints for gradio_client: /generate, /compare and /automaton_steps.

The decoding endpoints' parameters have the names of the settings (`DecodeConfig` fields), and
the values go through the same `read_request` as the page's; /automaton_steps reads its text
as the automaton playground does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator, Iterator

import gradio as gr

from samdec.config import DecodeConfig
from samdec.trace import Trace

from . import runtime as rt
from .common import api_error
from .compare import run_compare
from .device import decode_in_background
from .errors import UserError
from .playground import steps_data
from .request import Prepared, prepare, read_request


def register() -> None:
    """Call inside the Blocks."""
    # No gradio limit: the runtime's Admission bounds the model work and answers "busy".
    gr.api(generate, api_name="generate", concurrency_limit=None, concurrency_id="model")
    gr.api(compare, api_name="compare", concurrency_limit=None, concurrency_id="model")
    gr.api(automaton_steps, api_name="automaton_steps")


def generate(
    prompt: str,
    method: str = "sam+recycling",
    max_new_tokens: int = 64,
    l_bias: int = DecodeConfig.l_bias,  # the shipped defaults (chosen on training prompts)
    l_threshold: int = DecodeConfig.l_threshold,
    draft_policy: str = DecodeConfig.draft_policy,
    draft_len: int = DecodeConfig.draft_len,
    temperature: float = 0.0,
    seed: int | None = None,
    use_static: bool = True,
    model: str = "bundled",
) -> Iterator[tuple[str, str, str]]:
    """Generate with SAM-Decoding.

    Streams (text so far, "", notes) while decoding and ends with (text, trace, notes): the
    generated text, the full step trace as JSON (see samdec.trace.Trace.to_dict) and notes
    about the run (e.g. a missing static corpus). A cancelled call stops the decoding.
    """
    values = dict(locals())  # the parameters, by name
    try:
        prepared = prepare(read_request(values))
        with rt.RUNTIME.admission.turn() as cancel:
            trace = yield from _stream(prepared, cancel)
    except Exception as exc:
        raise api_error(exc, "Generation") from None
    # Out of the turn before the answer: the caller's next request may start at once.
    notes = [
        *prepared.notes,
        *([trace.summary.config["note"]] if "note" in trace.summary.config else []),
    ]
    yield trace.text, trace.to_json(ensure_ascii=False), "\n".join(str(n) for n in notes)


def _stream(prepared: Prepared, cancel: threading.Event) -> Generator[tuple, None, Trace]:
    """(text so far, "", notes) while decoding; returns the trace."""
    notes = "\n".join(prepared.notes)
    pieces: list[str] = []
    p = prepared
    for batch in decode_in_background(p.spec, p.ids, p.config, cancel):
        kind, item = batch[-1]
        if kind == "error":
            raise item
        if kind == "done":
            return item
        if kind == "stopped":
            break
        pieces.extend(piece for _, ev in batch for piece in ev.new_pieces)
        yield "".join(pieces), "", notes
    raise UserError("The generation was stopped.")


def compare(
    prompt: str,
    method: str = "sam+recycling",
    max_new_tokens: int = 64,
    model: str = "bundled",
    temperature: float = 0.0,
    seed: int | None = None,
) -> str:
    """Compare plain decoding, prompt lookup decoding (method pld) and `method` on one prompt,
    all in the engine's loop; with temperature > 0 every run shares one seed and must still
    agree token for token. Returns JSON: {"runs": [{name, tokens, steps, mat, tokens_per_s,
    identical, token_ids}], "note": str}; for a SAM method the note also counts the steps
    its automata drafted further than prompt lookup would have at the same text."""
    values = dict(locals())
    try:
        rows, note = run_compare(values)
    except Exception as exc:
        raise api_error(exc, "Comparison") from None
    for row in rows:
        row.pop("colour", None)
    return json.dumps({"runs": rows, "note": note})


def automaton_steps(text: str, unit: str = "letters") -> str:
    """The online construction of the suffix automaton of `text`, step by step, as JSON.

    `unit`: "letters" (one symbol per character, the default), "words" or "tokens" (the
    model's tokens, each token's text as its symbol); at most 64 symbols. Returns
    {"symbols", "unit", "events", "num_states", "num_transitions", "states"}: the events in
    order (add_symbol, create_state, add_transition, follow_link, found_transition, clone,
    redirect, set_link, match; see samdec.teaching_automaton), and the finished automaton's states,
    each {id, length, link, firstpos, endpos (every end position), clone_of (-1 if not a
    clone), longest, shortest, transitions: {symbol: state}}.
    """
    try:
        return json.dumps(steps_data(text, unit), ensure_ascii=False)
    except Exception as exc:
        raise api_error(exc, "The automaton steps") from None
