"""samdec.runtime.attention: the row kernel agrees with SDPA, gives a query row the same bits
whatever rows share its call, and is what a model runs everywhere (its own forward and the lean
one of samdec.runtime.forward).

End to end, the bundled model runs it (the streamed layout): test_lean.py checks its forward
against transformers' bit for bit, test_lossless.py its greedy output against `generate`.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from samdec.runtime import attention
from samdec.runtime import forward as lean
from samdec.runtime.layouts import apply_layout
from samdec.runtime.native import available as streamed_available
from tests.conftest import tiny_model

pytestmark = pytest.mark.skipif(
    not streamed_available(), reason="the row kernel needs AVX-512 and a C++ compiler"
)


def _inputs(batch=1, heads=6, groups=2, queries=3, keys=40, width=64, seed=0):
    """query (B, H, Q, D) and key/value views into roomier buffers, as a growing cache holds."""
    gen = torch.Generator().manual_seed(seed)
    query = torch.randn(batch, queries, heads, width, generator=gen).transpose(1, 2)
    room = torch.randn(2, batch, groups, keys + 7, width, generator=gen)
    return query, room[0, :, :, :keys], room[1, :, :, :keys]


def _chain_mask(batch, queries, keys):
    """A verify step's mask: the cache, then each new token sees the new ones up to itself."""
    mask = torch.ones(batch, 1, queries, keys, dtype=torch.bool)
    mask[:, :, :, keys - queries :] = torch.tril(torch.ones(queries, queries, dtype=torch.bool))
    return mask


def _tree_mask(queries, keys, seed=0):
    """Each new token sees the cache, itself and a random subset of the new tokens before it."""
    mask = _chain_mask(1, queries, keys)
    picks = torch.rand(queries, queries, generator=torch.Generator().manual_seed(seed)) < 0.5
    mask[0, 0, :, keys - queries :] &= picks | torch.eye(queries, dtype=torch.bool)
    return mask


def _sdpa(query, key, value, mask, causal, scale):
    out = F.scaled_dot_product_attention(
        query, key, value, attn_mask=mask, is_causal=causal, scale=scale, enable_gqa=True
    )
    return out.transpose(1, 2)


@pytest.mark.parametrize(
    "queries, keys, kind",
    [
        (1, 1, "none"),
        (1, 300, "none"),
        (3, 37, "chain"),
        (8, 310, "chain"),
        (5, 64, "tree"),
        (17, 17, "causal"),
        (40, 40, "causal"),
        (4, 50, "additive"),
    ],
)
def test_the_kernel_agrees_with_sdpa(queries, keys, kind):
    query, key, value = _inputs(queries=queries, keys=keys)
    mask = None
    if kind == "chain":
        mask = _chain_mask(1, queries, keys)
    elif kind == "tree":
        mask = _tree_mask(queries, keys)
    elif kind == "additive":  # float masks: 0 where a key is seen, a large negative where not
        mask = torch.where(_tree_mask(queries, keys), 0.0, torch.finfo(torch.float32).min)
        mask = mask + torch.rand(mask.shape) * 0.5 * (mask == 0)  # a bias where seen
    causal = kind == "causal"
    mine = attention.attend(query, key, value, mask, causal, 0.125)
    assert mine.shape == (1, queries, 6, 64) and mine.is_contiguous()
    torch.testing.assert_close(mine, _sdpa(query, key, value, mask, causal, 0.125))


def test_a_batch_with_padding_agrees_with_sdpa_and_rows_that_see_nothing_are_zero():
    query, key, value = _inputs(batch=2, queries=4, keys=30)
    mask = _chain_mask(2, 4, 30)
    mask[1, :, :, :5] = False  # the second sequence left-padded by 5
    mask[1, :, 0, :] = False  # and a query row that sees nothing at all
    mine = attention.attend(query, key, value, mask, False, 0.125)
    torch.testing.assert_close(mine, _sdpa(query, key, value, mask, False, 0.125))
    assert torch.equal(mine[1, 0], torch.zeros(6, 64))


def _rows_that_differ_alone(attend, queries=7, keys=250, seed=0) -> int:
    """How many rows of a verify step (a chain after `keys - queries` cached tokens) differ in
    any bit from the plain step that computes the row alone: its own query, the keys up to it,
    no mask."""
    query, key, value = _inputs(queries=queries, keys=keys, seed=seed)
    together = attend(query, key, value, _chain_mask(1, queries, keys))
    differ = 0
    for i in range(queries):
        seen = keys - queries + i + 1
        alone = attend(query[:, :, i : i + 1], key[:, :, :seen], value[:, :, :seen], None)
        differ += not torch.equal(alone[:, 0], together[:, i])
    return differ


def _row_kernel(query, key, value, mask):
    return attention.attend(query, key, value, mask, False, 0.125)


def _torch_sdpa(query, key, value, mask):
    return _sdpa(query, key, value, mask, False, 0.125)


@pytest.mark.parametrize("queries, keys", [(7, 250), (3, 40), (16, 310)])
def test_a_row_gets_the_same_bits_alone_and_beside_other_rows(queries, keys):
    """What makes speculation exact: a verify step's row equals the plain step's."""
    assert _rows_that_differ_alone(_row_kernel, queries, keys) == 0


def test_torch_sdpa_gives_rows_other_bits_beside_others():
    """Negative control: the check above fails on torch's own CPU attention, the one the
    model ran before (every row differed here, 2026-12-03)."""
    assert _rows_that_differ_alone(_torch_sdpa) > 0


def _rows_that_differ_from_one_head_alone(attend, queries, keys, width, causal=False) -> int:
    """How many (head, token) rows of one call differ in any bit from that head and token
    computed alone: its own query row, its group's keys and values, its mask row (under the
    causal cut, the keys up to it)."""
    heads, groups = 6, 2
    query, key, value = _inputs(heads=heads, groups=groups, queries=queries, keys=keys, width=width)
    mask = None if causal else _chain_mask(1, queries, keys)
    together = attend(query, key, value, mask, causal)
    differ = 0
    for h in range(heads):
        g = h // (heads // groups)
        for i in range(queries):
            seen = i + 1 if causal else keys
            row_mask = None if causal else mask[:, :, i : i + 1, :seen]
            alone = attend(query[:, h : h + 1, i : i + 1], key[:, g : g + 1, :seen],
                           value[:, g : g + 1, :seen], row_mask, False)  # fmt: skip
            differ += not torch.equal(alone[0, 0, 0], together[0, i, h])
    return differ


@pytest.mark.parametrize("width", [16, 64, 128, 80, 256])
@pytest.mark.parametrize("queries, keys, causal", [(1, 300, False), (5, 90, False), (9, 9, True)])
def test_a_heads_row_gets_the_same_bits_alone_and_beside_its_groups_other_heads(
    width, queries, keys, causal
):
    """The kernel takes a group's heads and a step's tokens a few rows at a call, sharing the
    loads of keys and values; under a causal cut the rows of a call see different numbers of
    keys. None of that may move a row's bits."""
    kernel = lambda q, k, v, m, c: attention.attend(q, k, v, m, c, 0.125)  # noqa: E731
    assert _rows_that_differ_from_one_head_alone(kernel, queries, keys, width, causal) == 0


def test_torch_sdpa_gives_a_heads_row_other_bits_beside_other_rows():
    """Negative control for the check above: torch's CPU attention fails it."""
    sdpa = lambda q, k, v, m, c: _sdpa(q, k, v, m, c, 0.125)  # noqa: E731
    assert _rows_that_differ_from_one_head_alone(sdpa, 5, 90, 64) > 0


def test_a_tree_row_and_a_batch_row_get_the_same_bits_alone():
    queries, keys = 7, 250
    query, key, value = _inputs(queries=queries, keys=keys)
    tree = _tree_mask(queries, keys, seed=3)
    together = attention.attend(query, key, value, tree, False, 0.125)
    for i in range(queries):
        row = attention.attend(query[:, :, i : i + 1], key, value, tree[:, :, i : i + 1], False,
                               0.125)  # fmt: skip
        assert torch.equal(row[:, 0], together[:, i]), i
    q2, k2, v2 = _inputs(batch=2, queries=3, keys=20, seed=5)
    both = attention.attend(q2, k2, v2, None, False, 0.125)
    assert torch.equal(attention.attend(q2[1:], k2[1:], v2[1:], None, False, 0.125)[0], both[1])


@pytest.mark.parametrize("kind", ["bool", "additive"])
@pytest.mark.parametrize("hidden", [1, 2, 9, 17])
def test_a_tree_row_gets_a_plain_steps_bits_whatever_keys_its_mask_hides(kind, hidden):
    """A draft tree's node sees the cache, its ancestors and itself; its siblings' keys lie
    between them, masked. Its output must be the bits of a step that holds only the keys it
    sees (plain decoding of that path), however many keys are hidden in between: the sums
    over keys may not depend on the lanes the hidden ones push the others into."""
    past, before = 37, 3  # cached keys, then ancestors; `hidden` siblings; then the row itself
    query, key, value = _inputs(queries=1, keys=past + before + hidden + 1, seed=11)
    seen = torch.ones(past + before + hidden + 1, dtype=torch.bool)
    seen[past + before : past + before + hidden] = False
    if kind == "bool":
        mask = seen.view(1, 1, 1, -1)
    else:  # transformers' additive mask: 0 where seen, the float's lowest value where not
        lowest = torch.tensor(torch.finfo(torch.float32).min)
        mask = torch.where(seen, torch.tensor(0.0), lowest).view(1, 1, 1, -1)
    in_tree = attention.attend(query, key, value, mask, False, 0.125)
    plain = attention.attend(query, key[:, :, seen], value[:, :, seen], None, False, 0.125)
    assert torch.equal(in_tree, plain)


@pytest.mark.parametrize("padding", [1, 5, 16, 23])
def test_left_padding_leaves_a_rows_bits_alone(padding):
    """Batched decoding pads shorter prompts on the left: masked slots in front of the keys.
    Each 16-key piece's sums are taken by a tree that treats every lane alike, so moving the
    keys along the lanes moves nothing in the result."""
    query, key, value = _inputs(queries=1, keys=200, seed=7)
    plain = attention.attend(query, key, value, None, False, 0.125)
    slots = torch.randn_like(key[:, :, :padding])  # whatever a padded slot holds
    padded_keys, padded_values = torch.cat([slots, key], dim=2), torch.cat([slots, value], dim=2)
    mask = torch.ones(1, 1, 1, 200 + padding, dtype=torch.bool)
    mask[..., :padding] = False
    padded = attention.attend(query, padded_keys, padded_values, mask, False, 0.125)
    assert torch.equal(padded, plain)


def test_what_the_kernel_cannot_take_is_refused_with_a_message():
    query, key, value = _inputs(width=24)
    with pytest.raises(RuntimeError, match="multiple of 16"):
        attention.attend(query, key, value, None, False, 0.125)
    query, key, value = _inputs()
    with pytest.raises(RuntimeError, match="float32"):
        attention.attend(query.double(), key.double(), value.double(), None, False, 0.125)
    with pytest.raises(RuntimeError, match="queries, keys"):
        attention.attend(query, key, value, torch.ones(1, 1, 2, 40, dtype=torch.bool), False, 1.0)


def _tiny_llama_of_width_16():
    """A tiny llama whose heads are 16 wide, the narrowest the kernel takes (same weights on
    every call)."""
    import transformers

    tiny = tiny_model("llama", vocab=64)
    config = tiny.model.config
    config.head_dim = 16
    torch.manual_seed(3)
    tiny.model = transformers.LlamaForCausalLM(config).eval()
    return tiny


def test_a_model_runs_it_in_its_own_forward_and_the_lean_one_bit_identically():
    tiny, twin = _tiny_llama_of_width_16(), _tiny_llama_of_width_16()
    apply_layout(tiny.model, "streamed")
    apply_layout(twin.model, "streamed")
    twin.model.set_attn_implementation("sdpa")
    assert tiny.model.config._attn_implementation == attention.NAME
    assert twin.model.config._attn_implementation == "sdpa"
    # forward_kind runs the lean forward's check: a prefill, chains and a tree, every logit equal
    # to the model's own forward, which now runs the row kernel too.
    assert tiny.forward_kind == "lean-cpp"
    ids = torch.randint(0, 64, (1, 30), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mine, theirs = tiny.model(input_ids=ids).logits, twin.model(input_ids=ids).logits
    torch.testing.assert_close(mine, theirs)  # the same attention in another order
    assert not torch.equal(mine, theirs)  # so really another kernel


def test_models_it_cannot_run_keep_sdpa():
    narrow = tiny_model("llama")  # heads 8 wide
    assert not attention.use_row_attention(narrow.model)
    assert narrow.model.config._attn_implementation == "sdpa"
    half = _tiny_llama_of_width_16().model.to(torch.bfloat16)
    assert not attention.use_row_attention(half)


def _row_attention_ignoring_the_mask(module, query, key, value, attention_mask, **kwargs):
    return _original_row_attention(module, query, key, value, None, **kwargs)


_original_row_attention = lean.row_attention_forward


def test_a_lean_forward_whose_row_attention_drops_the_mask_is_not_used(monkeypatch):
    tiny = _tiny_llama_of_width_16()
    apply_layout(tiny.model, "streamed")
    monkeypatch.setattr(lean, "native_layers", lambda model: None)  # the Python layers
    assert lean.lean_forward(tiny.model) is not None  # which check out as they are
    monkeypatch.setattr(lean, "row_attention_forward", _row_attention_ignoring_the_mask)
    assert lean.lean_forward(tiny.model) is None
