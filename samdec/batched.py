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

import inspect
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
    import torch
    from transformers import DynamicCache

    device = model.device
    # transformers 5.x renamed the forward's cache argument; older models take the old name.
    cache_kw = (
        "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    )
    pending = iter(prompts)
    exhausted = False
    # Live rows: every row's last token is in its answer but not yet fed to the cache.
    keys: list[Any] = []
    answers: list[list[int]] = []
    cache = mask = last = None
    refill_at = max(1, batch_size // 4)

    def consume(row_keys, row_answers, tokens, finished):
        """Append each row's new token; return the rows still going, collect the finished."""
        keep = []
        for row, token in enumerate(tokens.tolist()):
            if token not in eos_ids:
                row_answers[row].append(token)
            if token in eos_ids or len(row_answers[row]) >= max_new_tokens:
                finished.append((row_keys[row], row_answers[row]))
            else:
                keep.append(row)
        return keep

    def select(cache, mask, tokens, keep):
        index = torch.tensor(keep, device=device)
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

    while True:
        finished: list[tuple[Any, list[int]]] = []
        free = batch_size - len(keys)
        if not exhausted and (free >= refill_at or not keys):
            group = []
            while len(group) < free:
                item = next(pending, None)
                if item is None:
                    exhausted = True
                    break
                group.append(item)
            if group:
                ids, new_mask = left_padded([x for _, x in group], pad_id, device)
                new_cache = DynamicCache(config=model.config)
                out = model(
                    input_ids=ids,
                    attention_mask=new_mask,
                    position_ids=(new_mask.cumsum(-1) - 1).clamp(min=0),
                    **{cache_kw: new_cache},
                    use_cache=True,
                    logits_to_keep=1,
                )
                if not _plain_layers(new_cache):
                    raise ValueError(
                        "batched refill needs a full-attention cache (no sliding window)"
                    )
                new_keys = [key for key, _ in group]
                new_answers: list[list[int]] = [[] for _ in group]
                new_last = out.logits[:, -1].argmax(-1)
                keep = consume(new_keys, new_answers, new_last, finished)
                if keep:
                    if len(keep) < len(group):
                        new_mask, new_last = select(new_cache, new_mask, new_last, keep)
                    new_keys = [new_keys[r] for r in keep]
                    new_answers = [new_answers[r] for r in keep]
                    if cache is None:
                        cache, mask, last = new_cache, new_mask, new_last
                    else:
                        width = max(mask.shape[1], new_mask.shape[1])
                        for old, new in zip(cache.layers, new_cache.layers, strict=True):
                            old.keys = torch.cat(
                                [_left_pad(old.keys, width), _left_pad(new.keys, width)]
                            )
                            old.values = torch.cat(
                                [_left_pad(old.values, width), _left_pad(new.values, width)]
                            )
                        mask = torch.cat(
                            [
                                torch.nn.functional.pad(mask, (width - mask.shape[1], 0)),
                                torch.nn.functional.pad(new_mask, (width - new_mask.shape[1], 0)),
                            ]
                        )
                        last = torch.cat([last, new_last])
                    keys += new_keys
                    answers += new_answers
        if keys:
            mask = torch.cat([mask, mask.new_ones(len(keys), 1)], dim=1)
            out = model(
                input_ids=last[:, None],
                attention_mask=mask,
                position_ids=mask.sum(-1, keepdim=True) - 1,
                **{cache_kw: cache},
                use_cache=True,
            )
            last = out.logits[:, -1].argmax(-1)
            keep = consume(keys, answers, last, finished)
            if not keep:
                keys, answers, cache, mask, last = [], [], None, None, None
            elif len(keep) < len(keys):
                mask, last = select(cache, mask, last, keep)
                keys = [keys[r] for r in keep]
                answers = [answers[r] for r in keep]
        yield from finished
        if not keys and exhausted:
            return
