"""The KV cache: one that appends in place, and the rollback after a verify step.

transformers' `DynamicLayer` appends a step's keys and values with `torch.cat`, a copy of the
layer's whole cache, twice a layer, every forward pass: after the linear layers the largest op
of a short step, and it grows with the context. `GrowingLayer` keeps spare room after the
cached tokens, doubling it when full, so a step copies only its own rows. `keys` and `values`
stay what transformers reads: views of the cached tokens, cropped and rewritten in place by
`keep_path`. Attention reads the same numbers in the same order, so outputs are unchanged
(tests/test_kvcache.py).
"""

from __future__ import annotations

import inspect

import torch
from transformers.cache_utils import DynamicLayer

# Room made at the first write beyond what it holds: a prompt plus a few hundred new tokens.
MIN_ROOM = 512


class GrowingLayer(DynamicLayer):
    """`DynamicLayer` whose `keys`/`values` are views of buffers with room to grow."""

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self.room_keys = self.room_values = None

    def _holds_views(self) -> bool:
        """Whether keys/values are still the first rows of the buffers (crop keeps them so;
        code that assigns new tensors, e.g. a batch select, does not)."""
        room = self.room_keys
        return (
            room is not None
            and self.keys.data_ptr() == room.data_ptr()
            and self.keys.stride() == room.stride()
            and self.values.data_ptr() == self.room_values.data_ptr()
        )

    def _make_room(self, length: int, needed: int, like: torch.Tensor) -> None:
        capacity = max(2 * needed, MIN_ROOM)
        shape = (*like.shape[:-2], capacity, like.shape[-1])
        keys, values = like.new_empty(shape), like.new_empty(shape)
        if length:
            keys[..., :length, :] = self.keys
            values[..., :length, :] = self.values
        self.room_keys, self.room_values = keys, values

    def room_for(self, tokens: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The key and value buffers, with room for `tokens` more after the cached ones (`like`:
        a tensor shaped as what will be written, but for its length)."""
        length = self.get_seq_length()
        if not self._holds_views() or length + tokens > self.room_keys.shape[-2]:
            self._make_room(length, length + tokens, like)
        return self.room_keys, self.room_values

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        length = self.get_seq_length()
        end = length + key_states.shape[-2]
        self.room_for(key_states.shape[-2], key_states)
        self.room_keys[..., length:end, :] = key_states
        self.room_values[..., length:end, :] = value_states
        self.keys = self.room_keys[..., :end, :]
        self.values = self.room_values[..., :end, :]
        return self.keys, self.values


def growing(cache):
    """`cache` (a transformers `DynamicCache`) with its plain layers appending in place; sliding
    -window and other layers, which manage their own storage, stay as they are."""
    cache.layers = [
        GrowingLayer() if type(layer) is DynamicLayer else layer for layer in cache.layers
    ]
    return cache


def cache_keyword(model) -> str:
    """The forward's cache argument: transformers 5.x renamed it; older models take the old name."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def new_cache(model):
    """An empty cache for `model` that appends in place and can roll back a rejected draft."""
    from transformers import DynamicCache

    cache = growing(DynamicCache(config=model.config))
    # Sliding-window layers drop old entries unless told to keep them until the next crop,
    # which a rejected draft needs.
    cache.activate_past_recording()
    return cache


def keep_path(cache, kept: list[int], fed: int) -> None:
    """Of the `fed` entries the last forward wrote, keep those at `kept`, in order (the
    verified path of a draft tree), and drop the rest: llama.cpp's seq_rm, for one sequence."""
    if kept != list(range(len(kept))):
        for layer in cache.layers:
            base = layer.keys.shape[-2] - fed  # sliding layers hold less than the context
            src = torch.tensor([base + i for i in kept], device=layer.keys.device)
            dst = slice(base, base + len(kept))
            layer.keys[..., dst, :] = layer.keys[..., src, :]
            layer.values[..., dst, :] = layer.values[..., src, :]
    # Always crop, even by 0: sliding-window layers trim back to their window here.
    cache.crop(len(kept) - fed)
