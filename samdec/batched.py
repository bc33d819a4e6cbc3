"""Batched greedy generation with refilling, for distilling a corpus fast on any device.

`model.generate` on a batch runs until its longest answer ends: rows that finished early keep
being computed. Answers here range from a few dozen tokens to the cap, so half the work went to
finished rows. This loop keeps the batch full instead: a finished row leaves the KV cache at
once, and new prompts join whenever a quarter of the slots are free (prefilled on their own,
then their cache is left-padded to the running width and stacked under the others).

Rows of different lengths share one cache through left padding: the 2-D attention mask hides
the padding and each row's position ids count only its real tokens, so every row computes what
it would alone (up to float rounding in batched matmuls). Leading columns that no live row uses
any more are cut off, so the width tracks the longest live row rather than the whole run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


def _left_pad(tensor, width: int):
    """Zero-pad the sequence axis (-2) of a (batch, heads, seq, dim) tensor on the left."""
    import torch

    missing = width - tensor.shape[-2]
    if missing <= 0:
        return tensor
    pad = tensor.new_zeros(*tensor.shape[:-2], missing, tensor.shape[-1])
    return torch.cat([pad, tensor], dim=-2)


def left_padded(rows: list[list[int]], pad_id: int, device=None):
    """(input ids, attention mask) of token rows padded on the left to a common width."""
    import torch

    width = max(len(row) for row in rows)
    ids = torch.tensor([[pad_id] * (width - len(row)) + row for row in rows], device=device)
    mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in rows], device=device)
    return ids, mask


def _plain_layers(cache) -> bool:
    from transformers.cache_utils import DynamicLayer

    return all(type(layer) is DynamicLayer for layer in cache.layers)


def supports_refill(model) -> bool:
    """Whether the model's cache is plain full attention, so rows can be stacked and cut."""
    from transformers import DynamicCache

    return _plain_layers(DynamicCache(config=model.config))


def _take(pending: Iterator, n: int) -> tuple[list, bool]:
    """Up to n items from an iterator, and whether it ran out."""
    group: list = []
    while len(group) < n:
        item = next(pending, None)
        if item is None:
            return group, True
        group.append(item)
    return group, False


class _LiveRows:
    """The rows being decoded: keys, answers so far, one shared KV cache, mask and last tokens.

    Every row's last token is in its answer but not yet fed to the cache.
    """

    def __init__(self, model, eos_ids: set[int], pad_id: int, max_new_tokens: int) -> None:
        self.model = model
        self.device = model.device
        self.eos_ids = eos_ids
        self.pad_id = pad_id
        self.max_new_tokens = max_new_tokens
        from .runtime.kvcache import cache_keyword

        self.cache_kw = cache_keyword(model)
        self.keys: list[Any] = []
        self.answers: list[list[int]] = []
        self.cache = self.mask = self.last = None

    def __len__(self) -> int:
        return len(self.keys)

    def _consume(self, row_keys, row_answers, tokens, finished) -> list[int]:
        """Append each row's new token; return the rows still going, collect the finished."""
        keep = []
        for row, token in enumerate(tokens.tolist()):
            if token not in self.eos_ids:
                row_answers[row].append(token)
            if token in self.eos_ids or len(row_answers[row]) >= self.max_new_tokens:
                finished.append((row_keys[row], row_answers[row]))
            else:
                keep.append(row)
        return keep

    def _select(self, cache, mask, tokens, keep):
        """Keep only rows `keep` of a cache (in place), its mask and its tokens."""
        import torch

        index = torch.tensor(keep, device=self.device)
        cache.batch_select_indices(index)
        mask, tokens = mask[index], tokens[index]
        # Cut columns no live row uses any more, so the width follows the longest live row.
        first_used = int(mask.any(0).nonzero()[0])
        if first_used:
            mask = mask[:, first_used:]
            for layer in cache.layers:
                layer.keys = layer.keys[..., first_used:, :]
                layer.values = layer.values[..., first_used:, :]
        return mask, tokens

    def admit(self, group: list[tuple[Any, list[int]]], finished: list) -> None:
        """Prefill new prompts on their own, then stack the rows still going under the live ones."""
        from transformers import DynamicCache

        ids, new_mask = left_padded([x for _, x in group], self.pad_id, self.device)
        new_cache = DynamicCache(config=self.model.config)
        out = self.model(
            input_ids=ids,
            attention_mask=new_mask,
            position_ids=(new_mask.cumsum(-1) - 1).clamp(min=0),
            **{self.cache_kw: new_cache},
            use_cache=True,
            logits_to_keep=1,
        )
        if not _plain_layers(new_cache):
            raise ValueError("batched refill needs a full-attention cache (no sliding window)")
        new_keys = [key for key, _ in group]
        new_answers: list[list[int]] = [[] for _ in group]
        new_last = out.logits[:, -1].argmax(-1)
        keep = self._consume(new_keys, new_answers, new_last, finished)
        if not keep:
            return
        if len(keep) < len(group):
            new_mask, new_last = self._select(new_cache, new_mask, new_last, keep)
        self._stack(new_cache, new_mask, new_last)
        self.keys += [new_keys[r] for r in keep]
        self.answers += [new_answers[r] for r in keep]

    def _stack(self, new_cache, new_mask, new_last) -> None:
        """Left-pad the live rows and the new ones to a common width and stack them."""
        import torch

        if self.cache is None:
            self.cache, self.mask, self.last = new_cache, new_mask, new_last
            return
        width = max(self.mask.shape[1], new_mask.shape[1])
        for old, new in zip(self.cache.layers, new_cache.layers, strict=True):
            old.keys = torch.cat([_left_pad(old.keys, width), _left_pad(new.keys, width)])
            old.values = torch.cat([_left_pad(old.values, width), _left_pad(new.values, width)])
        pad = torch.nn.functional.pad
        self.mask = torch.cat(
            [
                pad(self.mask, (width - self.mask.shape[1], 0)),
                pad(new_mask, (width - new_mask.shape[1], 0)),
            ]
        )
        self.last = torch.cat([self.last, new_last])

    def step(self, finished: list) -> None:
        """One decoding step for every live row; rows that finish leave the batch."""
        import torch

        mask = torch.cat([self.mask, self.mask.new_ones(len(self.keys), 1)], dim=1)
        out = self.model(
            input_ids=self.last[:, None],
            attention_mask=mask,
            position_ids=mask.sum(-1, keepdim=True) - 1,
            **{self.cache_kw: self.cache},
            use_cache=True,
        )
        self.mask, self.last = mask, out.logits[:, -1].argmax(-1)
        keep = self._consume(self.keys, self.answers, self.last, finished)
        if not keep:
            self.keys, self.answers, self.cache, self.mask, self.last = [], [], None, None, None
        elif len(keep) < len(self.keys):
            self.mask, self.last = self._select(self.cache, self.mask, self.last, keep)
            self.keys = [self.keys[r] for r in keep]
            self.answers = [self.answers[r] for r in keep]


def greedy_answers(
    model,
    prompts: Iterable[tuple[Any, list[int]]],
    eos_ids: set[int],
    pad_id: int,
    max_new_tokens: int,
    batch_size: int = 32,
) -> Iterator[tuple[Any, list[int]]]:
    """Yield (key, answer token ids) for each (key, prompt ids), in order of completion.

    The answer stops before the first EOS token or at max_new_tokens. Needs a model whose cache
    is plain full attention (the bundled llama); `supports_refill` tells.
    """
    rows = _LiveRows(model, eos_ids, pad_id, max_new_tokens)
    pending = iter(prompts)
    exhausted = False
    refill_at = max(1, batch_size // 4)
    while True:
        finished: list[tuple[Any, list[int]]] = []
        free = batch_size - len(rows)
        if not exhausted and (free >= refill_at or not rows):
            group, exhausted = _take(pending, free)
            if group:
                rows.admit(group, finished)
        if rows:
            rows.step(finished)
        yield from finished
        if not rows and exhausted:
            return
