"""Drafters and draft-length policies, without a model."""

from __future__ import annotations

import numpy as np
import pytest

from samdec.cost import CostModel
from samdec.drafters import SAM, DynamicSAM, TokenRecycling, Verified, choose_source, make_template
from samdec.drafters.base import Draft, chain
from samdec.policy import CostAware, FixedLength
from samdec.static_automaton import StaticSuffixAutomaton


@pytest.mark.parametrize(
    ("ls", "ld", "expected", "length"),
    [
        (0, 0, "recycling", 0),  # nothing matched
        (12, 8, "dynamic", 8),  # dynamic wins while within l_bias of static
        (13, 8, "dynamic", 8),  # 8 >= 13 - 5: still dynamic
        (14, 8, "static", 14),  # static longer by more than l_bias
        (9, 3, "recycling", 9),  # 9 - 5 = 4 > 3 picks static, but max 4 < l_threshold 5
        (10, 3, "static", 10),  # 10 - 5 = 5 >= l_threshold 5
        (4, 4, "recycling", 4),  # max(4, 4 - 5) below l_threshold
        (20, 4, "static", 20),
        (30, 25, "dynamic", 25),
    ],
)
def test_choose_source_follows_the_reference_rule(ls, ld, expected, length):
    source, got_length, reason = choose_source(ls, ld, 5, 5, has_static=True, has_auxiliary=True)
    assert (source, got_length) == (expected, length)
    assert "l_bias" in reason


def test_choose_source_without_static_or_auxiliary():
    assert choose_source(50, 2, 5, 5, has_static=False, has_auxiliary=False)[0] == "none"
    assert choose_source(0, 7, 5, 5, has_static=False, has_auxiliary=False)[0] == "dynamic"
    assert choose_source(9, 3, 5, 0, has_static=True, has_auxiliary=False)[0] == "static"


def test_dynamic_drafter_continues_an_earlier_occurrence():
    d = DynamicSAM()
    d.start([5, 6, 7, 8, 9, 5, 6])
    draft = d.propose(10)
    assert draft.source == "dynamic" and draft.match_dynamic == 2
    assert draft.tokens == [7, 8, 9, 5, 6]
    assert draft.parents == [-1, 0, 1, 2, 3]
    d.observe([7, 8])
    assert d.propose(2).tokens == [9, 5]


def test_sam_prefers_long_static_match_and_reports_both_lengths():
    static = StaticSuffixAutomaton.build([[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]])
    sam = SAM(static=static, l_bias=2, l_threshold=3)
    sam.start([50, 1, 2, 3, 4, 5, 6, 7])
    draft = sam.propose(3)
    assert (draft.source, draft.match_static, draft.match_dynamic) == ("static", 7, 0)
    assert draft.tokens == [8, 9, 10]
    sam.observe([8, 9])
    assert sam.propose(100).tokens == [10, 11, 12]  # never crosses the document end


def test_sam_falls_back_to_recycling_below_threshold():
    rec = TokenRecycling(vocab_size=20, k=2)
    sam = SAM(static=None, auxiliary=rec, l_threshold=5)
    sam.start([1, 2, 3])
    rec.observe([], Verified(np.array([3]), np.array([[4, 5]])))
    draft = sam.propose(10)
    assert draft.source == "recycling"
    assert draft.tokens[:2] == [4, 5] and draft.parents[:2] == [-1, -1]


def test_recycling_tree_walks_the_table_along_the_template():
    template = make_template(size=10, max_depth=3, k=2)
    rec = TokenRecycling(vocab_size=10, k=2, template=template)
    rec.start([0])
    table = {0: [1, 2], 1: [3, 4], 2: [5, 6], 3: [7, 8], 4: [9, 0], 5: [1, 1]}
    tokens = np.array(list(table))
    rec.observe([], Verified(tokens, np.array([table[t] for t in tokens])))
    draft = rec.propose(100)
    # Every node is the rank-th successor of its parent's token.
    for i, (tok, parent) in enumerate(zip(draft.tokens, draft.parents, strict=True)):
        parent_tok = 0 if parent < 0 else draft.tokens[parent]
        assert parent < i
        assert tok == table[parent_tok][template.ranks[draft.node_keys[i]]]
    # Nodes whose parent token has no table row are dropped, with their subtrees.
    assert all(draft.tokens[p] in table for p in draft.parents if p >= 0)
    assert rec.propose(3).tokens == draft.tokens[:3]


def test_recycling_table_resets_per_request_unless_carried():
    rec = TokenRecycling(vocab_size=10, k=2)
    rec.start([0])
    rec.observe([1], Verified(np.array([1]), np.array([[2, 3]])))
    assert rec.propose(5).tokens
    rec.start([1])
    assert rec.propose(5).tokens == []
    rec.carry_over = True
    rec.observe([1], Verified(np.array([1]), np.array([[2, 3]])))
    rec.start([1])
    assert rec.propose(5).tokens


def _deferred_differs(cls: type[TokenRecycling], seed: int) -> bool:
    """Run the same random requests through `cls` given the prompt's top-k deferred (rows
    computed as read) and through TokenRecycling given it at once; whether any draft, or the
    table once every row is written, differ. Also checks that rows are computed only for a
    draft, and each at most once."""
    rng = np.random.default_rng(seed)
    vocab, k = 12, 3
    lazy, eager = cls(vocab_size=vocab, k=k), TokenRecycling(vocab_size=vocab, k=k)
    for _ in range(3):
        lazy.carry_over = eager.carry_over = bool(rng.integers(2))
        prompt = rng.integers(0, vocab, size=int(rng.integers(2, 9)))
        top = rng.integers(0, vocab, size=(len(prompt), k))
        computed: list[int] = []

        def rows(index, top=top, computed=computed):
            computed.extend(index.tolist())
            return top[index]

        for drafter in (lazy, eager):
            drafter.start(list(prompt))
        eager.observe([], Verified(prompt, top))
        lazy.observe([], Verified(prompt, rows=rows))
        for _ in range(int(rng.integers(0, 6))):
            if rng.random() < 0.3:
                if lazy.propose(6).tokens != eager.propose(6).tokens:
                    return True
            else:
                tokens = rng.integers(0, vocab, size=int(rng.integers(1, 4)))
                step_top = rng.integers(0, vocab, size=(len(tokens), k))
                for drafter in (lazy, eager):
                    drafter.observe(list(tokens[-1:]), Verified(tokens, step_top))
            assert len(set(computed)) == len(computed), "a row computed twice"
        if not lazy.carry_over:
            assert lazy.pending is not None or not computed
    lazy.carry_over = eager.carry_over = True
    lazy.start([0]), eager.start([0])  # carried over: every pending row is written
    return not np.array_equal(lazy.table, eager.table)


def test_rows_computed_only_for_a_draft():
    rec = TokenRecycling(vocab_size=10, k=2)
    computed = []
    rec.start([1, 2, 3])
    table = np.array([[4, 5], [6, 7], [8, 9]])
    rec.observe([], Verified(np.array([1, 2, 3]), rows=lambda i: computed.append(i) or table[i]))
    rec.observe([4], Verified(np.array([3]), np.array([[1, 2]])))  # 3's newer prediction
    assert not computed
    rec.propose(1)  # reads the row of the last token, 4: nothing pending for it
    assert not computed
    rec.observe([1], Verified(np.array([1]), np.array([[2, 3]])))
    rec.start([2])  # a new request, not carried over: the prompt's rows are dropped
    assert not computed and rec.pending is None


class _ForgetsNewer(TokenRecycling):
    """A plausible bug: rows written since the prompt are not marked, so the prompt's row
    lands over them when a draft reads it."""

    def observe(self, new_tokens, verified=None):
        if verified is not None and not verified.deferred:
            kept = self.pending_row.copy()
            super().observe(new_tokens, verified)
            self.pending_row[:] = kept
        else:
            super().observe(new_tokens, verified)


def test_a_deferred_prompt_topk_drafts_what_an_eager_one_does():
    assert not any(_deferred_differs(TokenRecycling, seed) for seed in range(300))
    # The negative control: writing the prompt's rows over newer ones shows up in the same runs.
    assert any(_deferred_differs(_ForgetsNewer, seed) for seed in range(300))


def test_template_is_parents_first_and_best_first():
    t = make_template(size=70, max_depth=6, k=8)
    assert len(t) == 70 and int(t.depths.max()) <= 6
    for i in range(len(t)):
        assert t.parents[i] < i
        assert t.depths[i] == (1 if t.parents[i] < 0 else t.depths[t.parents[i]] + 1)


def test_fixed_policy_cuts_chains_only():
    pol = FixedLength(3)
    assert pol.cut(chain([1, 2, 3, 4, 5], "dynamic")).tokens == [1, 2, 3]
    tree = Draft([1, 2, 3, 4], [-1, -1, 0, 0], "recycling")
    assert len(pol.cut(tree)) == 4


def test_cost_policy_drafts_long_on_flat_cost_and_short_on_steep_cost():
    flat = CostAware(CostModel({1: 10.0, 64: 10.5}), max_len=40)
    steep = CostAware(CostModel({1: 10.0, 2: 20.0, 64: 640.0}), max_len=40)
    draft = chain(list(range(40)), "dynamic", match_length=30)
    assert len(flat.cut(draft)) >= 20
    assert len(steep.cut(draft)) <= 2


def test_cost_policy_learns_from_rejections():
    pol = CostAware(CostModel({1: 10.0, 2: 13.0, 8: 16.0, 64: 60.0}), max_len=40)
    draft = chain(list(range(40)), "static", match_length=6)
    before = len(pol.cut(draft))
    assert before > 0
    for _ in range(30):
        pol.record(pol.cut(draft), [])  # every draft rejected at its first token
    assert len(pol.cut(draft)) < before
    pol.reset()
    assert len(pol.cut(draft)) == before


def test_cost_model_interpolates_and_is_monotone():
    cost = CostModel({1: 10.0, 4: 8.0, 8: 20.0})  # noisy measurement: 4 cheaper than 1
    assert cost(1) == 10.0 and cost(4) == 10.0
    assert cost(6) == pytest.approx(15.0)
    assert cost(16) > cost(8)
