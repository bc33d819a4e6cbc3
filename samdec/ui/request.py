"""A decoding request as the app receives it (from the page or the API), checked in one place.

The settings are `samdec.config.DecodeConfig` fields, read by name: the page binds each control
to its field name and the API endpoints take keyword arguments of the same names, so a control
can never be wired to the wrong setting by position. No gradio in this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from samdec.config import DecodeConfig
from samdec.drafters.factory import uses_static
from samdec.runtime.loading import NOT_EXACT

from . import runtime as rt
from .errors import UserError

MAX_NEW_TOKENS = 1024  # a public server's cap on one request
MAX_PROMPT_CHARS = 100_000
CONFIG_FIELDS = tuple(f.name for f in fields(DecodeConfig))


@dataclass
class Request:
    prompt: str
    model: str
    config: DecodeConfig


@dataclass
class Prepared:
    """A request with what it needs loaded: the model, the prompt's token ids, notes."""

    request: Request
    spec: str  # the checked model spec
    loaded: Any  # samdec.runtime.loading.LoadedModel
    ids: list[int]
    settings: dict[str, Any]  # the config as a finished trace will record it
    notes: list[str]

    @property
    def config(self) -> DecodeConfig:
        return self.request.config


def read_request(values: Mapping[str, Any]) -> Request:
    """A checked request from values by name: `prompt`, `model` and DecodeConfig fields
    (others are ignored: the page also sends view settings). Raises UserError."""
    prompt = values.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise UserError("Please type a prompt first (it is empty).")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UserError(f"The prompt is too long ({len(prompt):,} characters; at most 100,000).")
    settings = {k: v for k, v in values.items() if k in CONFIG_FIELDS}
    try:
        config = DecodeConfig.from_values(settings, limits={"max_new_tokens": MAX_NEW_TOKENS})
    except ValueError as exc:
        raise UserError(str(exc)) from None
    model = rt.RUNTIME.offered(values.get("model"))
    return Request(prompt, model, config)


def prepare(request: Request, **changes: Any) -> Prepared:
    """Load the request's model and encode its prompt; `changes` override config fields.
    While the first model is being prepared, waits a bounded time for it (Runtime.ready).
    Raises UserError."""
    config = replace(request.config, **changes) if changes else request.config
    request = replace(request, config=config)
    runtime = rt.RUNTIME
    runtime.ready(request.model)
    loaded = runtime.loaded(request.model)
    ids = loaded.encode_prompt(request.prompt)
    if len(ids) >= loaded.max_context:
        raise UserError(
            f"The prompt is {len(ids):,} tokens long, but this model reads at most "
            f"{loaded.max_context:,}. Please shorten it."
        )
    static, missing = runtime.static(request.model)
    used = uses_static(config) and static is not None
    notes = []
    if uses_static(config) and static is None:
        notes.append(f"{missing}: decoding uses the dynamic automaton only.")
    if loaded.dtype != "float32":
        notes.append(NOT_EXACT.format(dtype=loaded.dtype))
    settings = {
        **config.to_dict(),
        "use_static": used,
        "static_corpus": static.num_tokens if used else 0,
        "model": loaded.name,
        "device": str(loaded.device),
        "dtype": loaded.dtype,
    }
    return Prepared(request, request.model, loaded, ids, settings, notes)
