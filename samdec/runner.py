"""The one seam between the decoding algorithm and a model: what the engine may ask of it.

The engine (samdec.engine) never sees a model, a tokenizer, a mask or a cache's insides; it
holds a Runner and an opaque cache, as gpt-fast's loop holds `model_forward` and llama.cpp's
holds `llama_decode` and `seq_rm`. samdec.runtime.runner.ModelRunner is the Runner of a
transformers model; tests/test_engine_fake.py drives the engine with a small fake one.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np
import torch

# The model's top-k next tokens at the prompt positions asked for (indices into the last rows
# the prefill kept), as an (n, k) array: computed when a drafter reads them, not before.
PromptTopK = Callable[[np.ndarray], np.ndarray]


class Runner(Protocol):
    vocab_size: int
    max_context: int  # positions the model attends to: prompt + output
    eos_ids: frozenset[int]  # tokens that end a generation
    # What a trace records about the model and how it runs: model, device, dtype, layout,
    # forward, and whether speculation is exact by construction there.
    facts: dict[str, str]
    # The key a measured verify-cost curve is valid for (samdec.runtime.calibration): it
    # changes with everything that changes what a forward pass costs.
    cost_key: str

    @property
    def lock(self) -> AbstractContextManager:
        """Held around every forward pass (re-entrant): one at a time per model."""
        ...

    @property
    def supports_trees(self) -> bool:
        """Whether `verify` takes draft trees (else only chains)."""
        ...

    def new_cache(self) -> Any:
        """An empty KV cache, opaque to the engine."""
        ...

    def prefill(
        self, cache: Any, ids: list[int], top_k: int = 0, rows: int = 0
    ) -> PromptTopK | None:
        """Fill `cache` with `ids`. With `top_k`: the model's top_k next tokens after each of
        the last `rows` ids, computed on demand (None without `top_k`)."""
        ...

    def verify(self, cache: Any, tokens: list[int], parents: list[int]) -> torch.Tensor:
        """Logits (len(tokens), vocab) of one forward pass over `tokens` after what `cache`
        holds: tokens[0] is the start token, tokens[i + 1] a draft node under parents[i] (-1:
        the start token). The cache then holds them all, until `commit`."""
        ...

    def commit(self, cache: Any, kept: list[int], fed: int) -> None:
        """Of the `fed` tokens the last `verify` wrote, keep those at indices `kept`, in order
        (a path from the start token), and drop the rest."""
        ...

    def decode(self, ids: list[int], skip_special: bool = False) -> str:
        """Text of token ids (without special tokens such as EOS, with `skip_special`)."""
        ...

    def encode(self, prompt: str, chat: bool | None = None) -> list[int]:
        """Token ids of a user prompt (in the model's chat template where it has one, unless
        `chat` says otherwise): the tools' way in; the engine itself takes ids."""
        ...
