"""The in-place KV cache: the same logits as transformers' own cache through every way the
engine uses a cache (prefill, chain and tree steps, rollback, growth), and no copy per step."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer

from samdec.runtime import kvcache
from samdec.runtime.kvcache import GrowingLayer, growing
from tests.conftest import tiny_model


class StaleLengthLayer(GrowingLayer):
    """A plausible bug: new rows written where the layer last stopped writing, a position a
    crop (a rejected draft) does not move back; the views still have the right lengths."""

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
            self._make_room(0, 4096, key_states)
            self.written = 0
        start, self.written = self.written, self.written + key_states.shape[-2]
        self.room_keys[..., start : self.written, :] = key_states
        self.room_values[..., start : self.written, :] = value_states
        end = self.get_seq_length() + key_states.shape[-2]
        self.keys, self.values = self.room_keys[..., :end, :], self.room_values[..., :end, :]
        return self.keys, self.values


def replay(model, cache, seed: int) -> list[torch.Tensor]:
    """A decoding-like session: prefill, then steps of 1-8 tokens, each rolled back by a
    random number of rejected tokens, some kept along a tree path."""
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    vocab = model.config.vocab_size
    outs = []
    with torch.no_grad():
        outs.append(
            model(
                input_ids=torch.randint(0, vocab, (1, 5), generator=gen), past_key_values=cache
            ).logits
        )
        for _ in range(25):
            fed = rng.randint(1, 8)
            ids = torch.randint(0, vocab, (1, fed), generator=gen)
            outs.append(model(input_ids=ids, past_key_values=cache, use_cache=True).logits)
            path = sorted(rng.sample(range(fed), rng.randint(1, fed)))
            kvcache.keep_path(cache, path, fed)
    return outs


@pytest.mark.parametrize("room", [4, 512])  # growing many times; never growing
def test_logits_equal_transformers_cache_bit_for_bit(monkeypatch, room):
    monkeypatch.setattr(kvcache, "MIN_ROOM", room)
    model = tiny_model("llama", vocab=64, seed=1).model
    plain = replay(model, DynamicCache(config=model.config), seed=7)
    grown = replay(model, growing(DynamicCache(config=model.config)), seed=7)
    assert all(torch.equal(a, b) for a, b in zip(plain, grown, strict=True))


def test_the_stale_length_bug_is_caught():
    model = tiny_model("llama", vocab=64, seed=1).model
    plain = replay(model, DynamicCache(config=model.config), seed=7)
    buggy = DynamicCache(config=model.config)
    buggy.layers = [StaleLengthLayer() for _ in buggy.layers]
    assert not all(
        torch.equal(a, b) for a, b in zip(plain, replay(model, buggy, seed=7), strict=True)
    )


def test_a_step_writes_into_the_room_it_has():
    model = tiny_model("llama", vocab=64, seed=1).model
    cache = growing(DynamicCache(config=model.config))
    with torch.no_grad():
        model(input_ids=torch.arange(10).unsqueeze(0), past_key_values=cache)
        layer = cache.layers[0]
        room = layer.room_keys.data_ptr()
        for step in range(20):
            model(input_ids=torch.tensor([[step % 64]]), past_key_values=cache)
            if step % 3 == 0:
                cache.crop(-1)
    assert layer.room_keys.data_ptr() == room  # no copy of the cache in 20 steps
    assert layer.keys.data_ptr() == room and cache.get_seq_length() == 10 + 20 - 7


def test_keys_replaced_from_outside_are_taken_in():
    model = tiny_model("llama", vocab=64, seed=2).model
    ids = torch.randint(0, 64, (1, 9), generator=torch.Generator().manual_seed(0))
    cache = growing(DynamicCache(config=model.config))
    with torch.no_grad():
        model(input_ids=ids[:, :6], past_key_values=cache)
        for layer in cache.layers:  # as code that selects or reorders a batch does
            layer.keys, layer.values = layer.keys.clone(), layer.values.clone()
        after = model(input_ids=ids[:, 6:], past_key_values=cache).logits
        whole = model(input_ids=ids).logits[:, 6:]
    assert torch.allclose(after, whole, atol=1e-5)
    assert all(layer.keys.data_ptr() == layer.room_keys.data_ptr() for layer in cache.layers)


def test_only_plain_layers_are_replaced():
    model = tiny_model("gemma3", vocab=64, seed=0).model  # sliding-window layers
    before = [type(layer) for layer in DynamicCache(config=model.config).layers]
    after = [type(layer) for layer in growing(DynamicCache(config=model.config)).layers]
    assert after == [GrowingLayer if kind is DynamicLayer else kind for kind in before]
    assert DynamicSlidingWindowLayer in after
