"""ModelRunner: the Runner (samdec.runner) of a loaded transformers model.

Everything the engine must not know lives behind it: which forward runs (forward.py's
lean one where it checks out, else transformers'), tree masks, the KV cache and its rollback,
whether the model honours a tree mask at all, and what a trace records about how it ran.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from .forward import LeanForward, has_sliding_layers, model_forward
from .kvcache import keep_path, new_cache
from .layouts import EXACT_ROWS, LAYOUT_REVISION, exactness, numerics_label
from .loading import LoadedModel
from .machine import omp_wait
from .masks import is_chain, tree_inputs
from .native import LOG


class ModelRunner:
    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.device = torch.device(loaded.device)
        self.vocab_size = int(self.model.get_output_embeddings().weight.shape[0])
        self.max_context = loaded.max_context
        self.eos_ids = loaded.eos_ids
        self._forward = model_forward(self.model, loaded.lean)  # lean where it checks out
        self._trees: bool | None = None
        # One forward pass at a time per model; re-entrant because a drafter may compute the
        # prompt's deferred top-k (`prefill`) from inside a locked section.
        self._lock = threading.RLock()
        self.facts = {
            "model": loaded.name,
            "device": str(self.device),
            "dtype": loaded.dtype,
            "layout": loaded.layout,
            "forward": loaded.forward_kind,
            "numerics": numerics_label(loaded.layout, loaded.dtype),
            "exact": exactness(loaded.layout, loaded.dtype),
        }
        # Every curve measured before a layout changed, on another thread count or OpenMP
        # waiting setting, is another machine's curve (the wait setting moves multi-token
        # costs by up to ~45% on a CPU).
        self.cost_key = (
            f"{loaded.name}|{self.device}|{loaded.dtype}|{loaded.layout}@{LAYOUT_REVISION}"
            f"|{loaded.forward_kind}|{torch.get_num_threads()}|{omp_wait()}"
        )

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def new_cache(self):
        return new_cache(self.model)

    def decode(self, ids: list[int], skip_special: bool = False) -> str:
        return self.loaded.tokenizer.decode(ids, skip_special_tokens=skip_special)

    def encode(self, prompt: str, chat: bool | None = None) -> list[int]:
        return self.loaded.encode_prompt(prompt, chat)

    def _call(self, ids: torch.Tensor, cache, **kwargs) -> torch.Tensor:
        return self._forward(ids, cache, **kwargs)[0]

    def verify(self, cache, tokens: list[int], parents: list[int]) -> torch.Tensor:
        ids = torch.tensor([tokens], dtype=torch.long, device=self.device)
        with self._lock, torch.no_grad():
            if is_chain(parents):  # the causal mask is right for a chain
                return self._call(ids, cache)
            past = cache.get_seq_length()
            return self._call(
                ids, cache, **tree_inputs(parents, past, self.model.dtype, self.device)
            )

    def commit(self, cache, kept: list[int], fed: int) -> None:
        keep_path(cache, kept, fed)

    def prefill(self, cache, ids: list[int], top_k: int = 0, rows: int = 0):
        prompt = torch.tensor([ids], device=self.device)
        with self._lock, torch.no_grad():
            if not top_k:
                self._call(prompt, cache, logits_to_keep=1)
                return None
            keep = max(1, min(len(ids), rows or len(ids)))
            forward = self._forward
            if not isinstance(forward, LeanForward):
                top = self._call(prompt, cache, logits_to_keep=keep).topk(top_k, dim=-1)
                table = top.indices.cpu().numpy()
                return lambda index: table[np.asarray(index)]
            hidden = forward.hidden(prompt, cache)[0, -keep:].clone()

        def rows_top_k(index: np.ndarray) -> np.ndarray:
            # The output layer on the kept hidden states, as this pass's logits would be: the
            # streamed kernel gives each row the same bits whichever rows it computes together.
            with self._lock, torch.no_grad():
                logits = forward.head(hidden[torch.as_tensor(index)])
                return logits.topk(top_k, dim=-1).indices.cpu().numpy()

        return rows_top_k

    @property
    def supports_trees(self) -> bool:
        """Does this model honour a 4D tree mask? Checked once against chain forwards."""
        if self._trees is None:
            # A 4D mask is used as-is for every layer, but sliding layers see a shorter past.
            self._trees = not has_sliding_layers(self.model.config) and self._tree_matches_chains()
        return self._trees

    def _tree_matches_chains(self) -> bool:
        """A 3-node tree's logits against the two chains it holds, each after the same past."""
        generator = torch.Generator().manual_seed(0)  # the same check at every load
        ctx = [int(t) for t in torch.randint(0, self.vocab_size, (12,), generator=generator)]
        a, b, c = ctx[-3:]

        def after_past(tokens: list[int], parents: list[int]) -> torch.Tensor:
            cache = self.new_cache()
            self.verify(cache, ctx[:8], list(range(-1, 6)))
            return self.verify(cache, tokens, parents)

        try:
            tree = after_past([ctx[8], a, b, c], [-1, 0, -1])
            chain_ab = after_past([ctx[8], a, b], [-1, 0])
            chain_c = after_past([ctx[8], c], [-1])
        except Exception as exc:  # a model that rejects a 4D mask
            LOG.warning("samdec: no draft trees for this model: a tree mask failed (%r)", exc)
            return False
        if self.loaded.layout in EXACT_ROWS:  # a tree's rows must be the chains' bits
            same = torch.equal(tree[:3], chain_ab) and torch.equal(tree[3], chain_c[1])
        else:
            tol = 1e-2 if self.model.dtype == torch.float32 else 1e-1
            same = bool(
                torch.allclose(tree[:3].float(), chain_ab.float(), atol=tol)
                and torch.allclose(tree[3].float(), chain_c[1].float(), atol=tol)
            )
        if not same:
            LOG.warning("samdec: no draft trees for this model: a tree's logits differ")
        return same
