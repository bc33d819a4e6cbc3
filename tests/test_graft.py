"""The grafted method (`sam+graft`): the merge against a brute-force reference, the drafter,
the length policy's priors for grafted nodes, the trace field, and every menu that lists it.
Model-free (the lossless run is in test_lossless.py, the replay in test_tuning.py)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from samdec.config import DecodeConfig
from samdec.cost import CostModel
from samdec.drafters import SAM, TokenRecycling, Verified, build_drafter, merge_chain
from samdec.drafters.base import Draft, chain
from samdec.drafters.graft import GRAFT_KEY_BASE, GRAFT_KEYS, best_first, graft_chain
from samdec.drafters.priors import prior_rates
from samdec.drafters.recycling import make_template
from samdec.methods import METHODS, TABLE
from samdec.policy import CostAware

ALPHABET = (0, 1, 2)


def random_tree(rng: random.Random, size: int) -> tuple[list[int], list[int]]:
    """A parents-first tree over ALPHABET with no two equal siblings (as recycling drafts)."""
    tokens: list[int] = []
    parents: list[int] = []
    for _ in range(size):
        parent = rng.randrange(-1, len(tokens))
        token = rng.choice(ALPHABET)
        if (parent, token) not in zip(parents, tokens, strict=True):
            tokens.append(token)
            parents.append(parent)
    return tokens, parents


def root_paths(tokens: list[int], parents: list[int]) -> list[tuple[int, ...]]:
    """The token path from the root to each node (the reference: what a tree means)."""
    paths: list[tuple[int, ...]] = []
    for token, parent in zip(tokens, parents, strict=True):
        paths.append((*(paths[parent] if parent >= 0 else ()), token))
    return paths


def family():
    """Every chain of up to 3 tokens over ALPHABET against 60 random trees of up to 7 nodes."""
    rng = random.Random(13)
    trees = [random_tree(rng, rng.randrange(0, 8)) for _ in range(60)]
    chains = [list(c) for n in range(4) for c in itertools.product(ALPHABET, repeat=n)]
    return itertools.product(trees, chains)


def assert_is_the_union(tokens, parents, tree_paths, chain_tokens):
    assert all(-1 <= p < i for i, p in enumerate(parents)), "parents first"
    paths = root_paths(tokens, parents)
    assert len(set(paths)) == len(paths), "two equal siblings"
    wanted = set(tree_paths) | {tuple(chain_tokens[:k]) for k in range(1, len(chain_tokens) + 1)}
    assert set(paths) == wanted


def test_merge_keeps_the_tree_and_adds_exactly_the_missing_chain_prefixes():
    for (tokens, parents), chain_tokens in family():
        got_tokens, got_parents, at = merge_chain(tokens, parents, chain_tokens)
        assert (got_tokens[: len(tokens)], got_parents[: len(parents)]) == (tokens, parents)
        assert_is_the_union(got_tokens, got_parents, root_paths(tokens, parents), chain_tokens)
        # `at` chain tokens were already a root path; the rest are the new nodes, in chain order.
        assert tuple(chain_tokens[:at]) in {(), *root_paths(tokens, parents)}
        assert got_tokens[len(tokens) :] == chain_tokens[at:]


def test_grafted_draft_is_best_first_with_keys_of_its_own():
    for (tokens, parents), chain_tokens in family():
        tree = Draft(tokens, parents, "recycling" if tokens else "none")
        draft = graft_chain(tree, chain(chain_tokens, "dynamic", match_length=3), max_tokens=64)
        assert_is_the_union(draft.tokens, draft.parents, root_paths(tokens, parents), chain_tokens)
        paths = root_paths(draft.tokens, draft.parents)
        old_key = dict(zip(root_paths(tokens, parents), tree.node_keys, strict=True))
        for i, path in enumerate(paths):
            grafted = i in draft.graft_nodes
            # A tree node keeps its template key; a grafted one is keyed by its chain position.
            want = GRAFT_KEY_BASE + len(path) - 1 if grafted else old_key[path]
            assert draft.node_keys[i] == want
        assert (draft.graft_source == "dynamic") == bool(draft.graft_nodes)


def test_best_first_takes_the_best_node_whose_parent_is_listed():
    rng = random.Random(5)
    for _ in range(200):
        _, parents = random_tree(rng, rng.randrange(1, 12))
        scores = np.array([rng.random() for _ in parents])
        order = best_first(parents, scores)
        assert sorted(order) == list(range(len(parents)))
        listed: set[int] = set()
        for node in order:
            ready = [i for i, p in enumerate(parents) if i not in listed and (p < 0 or p in listed)]
            assert scores[node] == max(scores[i] for i in ready)
            listed.add(node)


def short_match_sam(graft: bool = True, l_threshold: int = 5) -> tuple[SAM, TokenRecycling]:
    """The text ends in `1 2`, seen before followed by `3 9`: a dynamic match of 2 tokens.
    Recycling's table says 2 -> (4, 5) and 4 -> (6, 7)."""
    rec = TokenRecycling(vocab_size=50, k=2)
    sam = SAM(static=None, auxiliary=rec, l_threshold=l_threshold, graft=graft)
    sam.start([1, 2, 3, 9, 8, 1, 2])
    rec.observe([], Verified(np.array([2, 4]), np.array([[4, 5], [6, 7]])))
    return sam, rec


def test_short_match_is_grafted_into_the_recycling_tree():
    sam, rec = short_match_sam()
    tree = rec.propose(10)
    draft = sam.propose(10)
    assert (draft.source, draft.rule_source, draft.graft_source) == (
        "recycling",
        "recycling",
        "dynamic",
    )
    paths = set(root_paths(draft.tokens, draft.parents))
    assert set(root_paths(tree.tokens, tree.parents)) <= paths
    assert {(3,), (3, 9), (3, 9, 8), (3, 9, 8, 1), (3, 9, 8, 1, 2)} <= paths
    assert len(draft.graft_nodes) == 5 and "5 dynamic tokens grafted" in draft.reason
    # sam+recycling drafts the tree alone.
    plain, plain_rec = short_match_sam(graft=False)
    assert plain.propose(10).tokens == plain_rec.propose(10).tokens == tree.tokens


def test_long_match_and_no_match_draft_as_sam_recycling():
    sam, _ = short_match_sam(l_threshold=2)  # the 2-token match drafts on its own
    draft = sam.propose(10)
    assert (draft.source, draft.tokens, draft.graft_nodes) == ("dynamic", [3, 9, 8, 1, 2], [])
    sam, rec = short_match_sam()
    sam.observe([44])  # nothing before ends in 44: no match
    rec.observe([], Verified(np.array([44]), np.array([[4, 5]])))
    draft = sam.propose(10)
    assert draft.graft_nodes == [] and draft.tokens == rec.propose(10).tokens


def test_grafted_node_gets_the_retrieval_prior_and_the_cut_can_keep_it():
    policy = CostAware(CostModel())
    for source, bucket in itertools.product(("dynamic", "static"), (1, 2, 3, 4)):
        rates = policy.rates("recycling+" + source, bucket)
        grafted = rates[GRAFT_KEY_BASE : GRAFT_KEY_BASE + GRAFT_KEYS]
        assert np.all(grafted > 0)
        np.testing.assert_allclose(grafted, prior_rates(source, bucket, GRAFT_KEYS))
        np.testing.assert_allclose(rates[:GRAFT_KEY_BASE], prior_rates("recycling", 0, 70))
    sam, _ = short_match_sam()
    kept = policy.cut(sam.propose(40))
    assert kept.graft_nodes, "the cut dropped every grafted node"
    assert policy.rates("recycling+dynamic", 2)[kept.node_keys[kept.graft_nodes[0]]] > 0


def test_graft_keys_fit_between_the_template_and_the_policy_size():
    assert len(make_template()) <= GRAFT_KEY_BASE
    assert CostAware(CostModel()).size >= GRAFT_KEY_BASE + GRAFT_KEYS


def test_the_factory_grafts_only_for_the_grafted_method():
    for name, spec in TABLE.items():
        drafter, _ = build_drafter(DecodeConfig(method=name), None, vocab_size=50)
        assert getattr(drafter, "graft", False) == spec.graft
    drafter, note = build_drafter(DecodeConfig(method="sam+graft"), None, 50, tree_ok=False)
    assert not drafter.graft and "nothing is grafted" in note


def test_trace_validates_grafted_counts():
    from samdec.trace import StepEvent, Trace, summarize

    def trace_with(grafted: int, grafted_accepted: int) -> Trace:
        step = StepEvent(0, 3, 2, 0, 2, -1, 1, "recycling", "", [3, 9], [-1, 0], [0], 7,
                         [3, 7], 1.0, 1.0, grafted=grafted,
                         grafted_accepted=grafted_accepted)  # fmt: skip
        return Trace("", [3, 7], [step], summarize("sam+graft", 3, [step], 2, 1, 1, "eos", {}))

    trace_with(2, 1).validate()
    for bad in ((3, 0), (1, 2), (2, 2), (-1, 0)):
        with pytest.raises(ValueError, match="grafted"):
            trace_with(*bad).validate()
    with pytest.raises(ValueError, match="grafted"):
        Trace.from_dict({**trace_with(2, 1).to_dict(), "steps": [
            {**trace_with(2, 1).steps[0].to_dict(), "grafted": "2"}]}).validate()  # fmt: skip


def test_every_menu_offers_the_grafted_method():
    from samdec.__main__ import build_parser, generate_config
    from samdec.bench import check_method

    assert "sam+graft" in METHODS and TABLE["sam+graft"].graft
    args = build_parser().parse_args(["generate", "hi", "--method", "sam+graft"])
    assert generate_config(args).method == "sam+graft"
    check_method("sam+graft:cost")
    pytest.importorskip("gradio")
    from samdec.ui.controls import METHOD_ORDER

    assert sorted(METHOD_ORDER) == sorted(METHODS)
