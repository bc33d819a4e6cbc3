"""Sampling must not change the text: seeded speculative sampling is plain sampling.

1. The sampler alone (`samdec.sampling.accept_sampled`) on a small synthetic language model
   whose every next-token distribution is known, with a draft tree that has siblings on two
   levels: its 3-token outputs follow the exact distribution (chi-square), and each plausible
   bug below is rejected. The test's power against each bug is computed from that bug's own
   output distribution and must be at least 0.99, so a pass is not luck. (Measured with 4,000
   samples: noncentrality 3,714 / 1,882 / 1,592 / 1,876 for the four bugs against a critical
   value of 117 at 74 degrees of freedom: power 1.000 each; halving the samples halves them.)
2. The engine with a tiny random transformer: for 120 seeds, a tree drafter, a chain drafter
   and every draft policy write plain sampling's tokens exactly; drafts were made and siblings
   and second-level nodes were accepted; plain sampling's distribution is the model's.
3. The real bundled model on the 12 lossless-test prompts: `tests/test_lossless.py`.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from functools import cache

import numpy as np
import pytest
import torch
from scipy import stats

from samdec.cost import CostModel
from samdec.drafters import Draft
from samdec.engine import Engine
from samdec.runtime.runner import ModelRunner
from samdec.sampling import PositionNoise, accept_sampled, sampled_token
from samdec.stack import engine_for
from samdec.stepping import children_of
from tests.conftest import tiny_model

# --- 1. the sampler alone -------------------------------------------------------------------

V = 5  # vocabulary of the synthetic model
LENGTH = 3  # tokens per sample: 125 outcomes
N = 2000  # samples per chi-square test
ALPHA = 1e-3  # a correct sampler fails one run in a thousand


@cache
def next_probs(prefix: tuple[int, ...]) -> torch.Tensor:
    """The synthetic model: a fixed random distribution after every prefix (Dirichlet 0.7:
    neither flat nor near-deterministic)."""
    rng = np.random.default_rng(hash((17, *prefix)) % 2**32)
    return torch.tensor(rng.dirichlet([0.7] * V), dtype=torch.float64)


def exact_distribution() -> dict[tuple[int, ...], float]:
    out = {}
    for seq in itertools.product(range(V), repeat=LENGTH):
        out[seq] = math.prod(float(next_probs(seq[:i])[t]) for i, t in enumerate(seq))
    return out


def two_level_tree(prefix: tuple[int, ...]) -> Draft:
    """The model's two likeliest tokens, and under each its two likeliest: siblings on two
    levels (nodes parents-first, as drafters list them)."""
    first = next_probs(prefix).topk(2).indices.tolist()
    tokens, parents = list(first), [-1, -1]
    for i, tok in enumerate(first):
        tokens += next_probs((*prefix, tok)).topk(2).indices.tolist()
        parents += [i, i]
    return Draft(tokens, parents, "recycling", reason="test tree")


def sample(sampler, seed: int, stats_: Counter) -> tuple[int, ...]:
    """One LENGTH-token sample: draft the tree, let `sampler` verify it, repeat."""
    noise, out = PositionNoise(seed), []
    while len(out) < LENGTH:
        prefix = tuple(out)
        draft = two_level_tree(prefix)
        context = [prefix] + [None] * len(draft)  # context after each input (0 = start token)
        for i, parent in enumerate(draft.parents):
            context[i + 1] = (*context[parent + 1], draft.tokens[i])
        path, bonus = sampler(draft, lambda node, c=context: next_probs(c[node]), noise, len(out))
        stats_["steps"] += 1
        stats_["accepted"] += len(path)
        stats_["second_sibling"] += any(draft.parents.index(draft.parents[c]) != c for c in path)
        stats_["second_level"] += len(path) > 1
        out += [draft.tokens[c] for c in path] + [bonus]
    return tuple(out[:LENGTH])


def histogram(sampler, n: int, first_seed: int = 0) -> tuple[Counter, Counter]:
    counts, stats_ = Counter(), Counter()
    for seed in range(first_seed, first_seed + n):
        counts[sample(sampler, seed, stats_)] += 1
    return counts, stats_


def cells(probs: dict) -> list[list[tuple[int, ...]]]:
    """Chi-square cells: every outcome expected >= 5 times alone, the rarer ones pooled."""
    big = [[k] for k, p in probs.items() if p * N >= 5]
    rare = [k for k, p in probs.items() if p * N < 5]
    return big + ([rare] if rare else [])


def chi2_pvalue(counts: Counter, probs: dict, n: int) -> float:
    groups = cells(probs)
    expected = np.array([sum(probs[k] for k in g) * n for g in groups])
    observed = np.array([sum(counts[k] for k in g) for g in groups])
    stat = float(((observed - expected) ** 2 / expected).sum())
    return float(stats.chi2.sf(stat, len(groups) - 1))


def power_against(bug_counts: Counter, m: int, probs: dict) -> float:
    """P(the N-sample test rejects at ALPHA) when samples come from the bug's distribution,
    estimated from m samples of the bug: noncentral chi-square with noncentrality
    N * sum((q - p)^2 / p), less the (cells - 1) / m that sampling noise in q adds."""
    groups = cells(probs)
    p = np.array([sum(probs[k] for k in g) for g in groups])
    q = np.array([sum(bug_counts[k] for k in g) for g in groups]) / m
    df = len(groups) - 1
    lam = max(0.0, N * (float(((q - p) ** 2 / p).sum()) - df / m))
    return float(stats.ncx2.sf(stats.chi2.isf(ALPHA, df), df, lam))


# Plausible bugs, each a sampler with the same interface as accept_sampled.


def noise_reused_across_steps(draft, probs_at, noise, position):
    """Noise keyed by the depth within the step, not the output position: every step starts
    again from position 0's noise."""
    return accept_sampled(draft, probs_at, noise, 0)


def bonus_from_full_distribution(draft, probs_at, noise, position):
    """After the drafted children are rejected, the bonus is drawn afresh from the node's full
    distribution, not from the residual (which excludes the rejected tokens)."""
    path, _ = accept_sampled(draft, probs_at, noise, position)
    probs = probs_at(path[-1] + 1 if path else 0)
    fresh = noise.gumbel(10_000 + position + len(path), probs.numel())
    return path, sampled_token(probs, fresh)


def rejection_sampler(renormalise: bool = True, residual_bonus: bool = True):
    """The classic scheme: accept child x with probability p(x) / (mass not yet rejected),
    remove it on rejection, draw the bonus from what is left. The flags switch in two bugs."""

    def sampler(draft, probs_at, noise, position):
        rng = torch.Generator().manual_seed(noise.seed * 1009 + position)
        children, path, node = children_of(draft), [], 0
        while True:
            probs = probs_at(node).clone()
            full = probs.clone()
            for c in children[node]:
                tok = draft.tokens[c]
                mass = float(probs.sum()) if renormalise else 1.0
                if float(torch.rand((), generator=rng, dtype=torch.float64)) * mass < float(
                    probs[tok]
                ):
                    path.append(c)
                    node = c + 1
                    break
                probs[tok] = 0.0
            else:
                left = probs if residual_bonus else full
                return path, int(torch.multinomial(left, 1, generator=rng))

    return sampler


BUGS = {
    "noise reused across steps": noise_reused_across_steps,
    "bonus from the full distribution (Gumbel)": bonus_from_full_distribution,
    "no renormalisation after a rejected sibling": rejection_sampler(renormalise=False),
    "bonus from the full distribution (rejection)": rejection_sampler(residual_bonus=False),
}


@pytest.fixture(scope="module")
def exact():
    probs = exact_distribution()
    assert abs(sum(probs.values()) - 1) < 1e-12
    top = max(probs.values())
    assert 0.02 < top < 0.5 and sum(p * N >= 5 for p in probs.values()) > 40
    return probs


@pytest.mark.parametrize(
    "sampler", [accept_sampled, rejection_sampler()], ids=["gumbel-max", "rejection"]
)
def test_correct_samplers_give_the_exact_distribution(exact, sampler):
    counts, seen = histogram(sampler, N)
    assert chi2_pvalue(counts, exact, N) > ALPHA
    # It really speculated: most steps accepted drafts, including second siblings and
    # nodes on the second level of the tree.
    assert seen["accepted"] > seen["steps"]
    assert seen["second_sibling"] > N / 20 and seen["second_level"] > N / 20


@pytest.mark.parametrize("bug", list(BUGS))
def test_each_plausible_bug_is_rejected_with_power_at_least_0_99(exact, bug):
    counts, _ = histogram(BUGS[bug], N)
    assert chi2_pvalue(counts, exact, N) < ALPHA, f"{bug} was not detected"
    m = 2 * N
    bug_counts, _ = histogram(BUGS[bug], m, first_seed=N)
    power = power_against(bug_counts, m, exact)
    assert power >= 0.99, f"{bug}: the test would catch it only with probability {power:.3f}"


def test_a_drafted_token_is_accepted_with_its_probability():
    """Acceptance is exactly p(x) for one child and p(x) + p(y) for two siblings."""
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    for tokens, expected in (([2], 0.3), ([3, 1], 0.6)):
        draft = Draft(tokens, [-1] * len(tokens), "recycling", reason="test")
        n = 20_000
        hits = sum(
            bool(accept_sampled(draft, lambda _: probs, PositionNoise(s), 0)[0]) for s in range(n)
        )
        assert abs(hits / n - expected) < 4 * math.sqrt(expected * (1 - expected) / n)


def test_noise_depends_on_seed_and_position_only():
    a, b = PositionNoise(7), PositionNoise(7)
    assert torch.equal(a.gumbel(3, 50), b.gumbel(3, 50))
    assert not torch.equal(a.gumbel(3, 50), a.gumbel(4, 50))
    assert not torch.equal(a.gumbel(3, 50), PositionNoise(8).gumbel(3, 50))


# --- 2. the engine, tiny transformer --------------------------------------------------------

PROMPT = [1, 2, 3, 1, 2]
TINY_VOCAB = 8
TINY_NEW = 3


class FixedTree:
    """Always drafts the same tree: two children of the root, each with two children."""

    name = "fixed-tree"
    topk = 0

    def start(self, prompt_ids):
        pass

    def observe(self, new_tokens, verified=None):
        pass

    def propose(self, max_tokens):
        tokens, parents = [4, 1, 2, 4, 3, 1], [-1, -1, 0, 0, 1, 1]
        n = min(max_tokens, len(tokens))
        return Draft(tokens[:n], parents[:n], "recycling", reason="test tree")


@pytest.fixture(scope="module")
def tiny():
    return tiny_model("llama", vocab=TINY_VOCAB, seed=3, sharpen=20.0)


def tiny_exact(loaded, temperature: float) -> dict[tuple[int, ...], float]:
    seqs = list(itertools.product(range(TINY_VOCAB), repeat=TINY_NEW))
    ids = torch.tensor([PROMPT + list(s) for s in seqs])
    with torch.no_grad():
        logp = torch.log_softmax(loaded.model(ids).logits.double() / temperature, dim=-1)
    return {
        s: math.exp(sum(float(logp[row, len(PROMPT) - 1 + j, t]) for j, t in enumerate(s)))
        for row, s in enumerate(seqs)
    }


VARIANTS = {
    "tree, fixed policy": dict(drafter=FixedTree, draft_policy="fixed"),
    "tree, cost policy": dict(drafter=FixedTree, draft_policy="cost"),
    "chain (dynamic automaton)": dict(method="sam-dynamic", l_threshold=1, draft_policy="fixed"),
    "recycling": dict(method="recycling", draft_policy="fixed"),
}


def test_seeded_sampling_writes_plain_samplings_tokens(tiny):
    engine = engine_for(tiny, cost=CostModel())
    seen = Counter()
    for seed in range(120):
        settings = dict(max_new_tokens=8, temperature=0.9, seed=seed)
        plain = engine.generate(PROMPT, method="ar", **settings).token_ids
        for name, variant in VARIANTS.items():
            variant = dict(variant)
            if "drafter" in variant:
                variant["drafter"] = variant["drafter"]()
            trace = engine.generate(PROMPT, **variant, **settings)
            assert trace.token_ids == plain, f"{name}, seed {seed}"
            for s in trace.steps:
                seen[name, "drafted"] += len(s.draft_tokens)
                seen[name, "accepted"] += s.accepted
                kept = s.accepted_indices
                seen[name, "second level"] += any(s.draft_parents[i] >= 0 for i in kept)
                seen[name, "second sibling"] += any(
                    s.draft_parents.index(s.draft_parents[i]) != i for i in kept
                )
    for name in VARIANTS:
        assert seen[name, "drafted"] > 0 and seen[name, "accepted"] > 0, name
    # The fixed policy verifies the whole tree (the cost policy, on this default cost table,
    # keeps its first node).
    assert seen["tree, fixed policy", "second level"] > 0
    assert seen["tree, fixed policy", "second sibling"] > 0


def test_negative_control_rejection_sampling_does_not_reproduce_the_text(tiny):
    """The identity above is not automatic: the classic rejection sampler, correct in
    distribution, writes other tokens than plain sampling under the same seed."""

    class Rejection(Engine):
        def _accept(self, draft, logits, config, noise, position):
            from samdec.sampling import target_probs

            def probs_at(node):
                return target_probs(logits[node], config.temperature, config.top_p)

            return rejection_sampler()(draft, probs_at, noise, position)

    engine, classic = (
        engine_for(tiny, cost=CostModel()),
        Rejection(ModelRunner(tiny), cost=CostModel()),
    )
    differ = 0
    for seed in range(40):
        settings = dict(max_new_tokens=8, temperature=0.9, seed=seed)
        plain = engine.generate(PROMPT, method="ar", **settings).token_ids
        differ += classic.generate(PROMPT, drafter=FixedTree(), **settings).token_ids != plain
    assert differ > 10


def test_plain_sampling_has_the_models_distribution(tiny):
    engine = engine_for(tiny, cost=CostModel())
    probs = tiny_exact(tiny, 0.8)
    n = 2500
    counts = Counter(
        tuple(engine.generate(PROMPT, max_new_tokens=TINY_NEW, temperature=0.8, seed=s).token_ids)
        for s in range(n)
    )
    assert 0.02 < max(probs.values()) < 0.6
    groups = [[k] for k, p in probs.items() if p * n >= 5]
    groups.append([k for k, p in probs.items() if p * n < 5])
    expected = np.array([sum(probs[k] for k in g) * n for g in groups])
    observed = np.array([sum(counts[k] for k in g) for g in groups])
    stat = float(((observed - expected) ** 2 / expected).sum())
    assert stats.chi2.sf(stat, len(groups) - 1) > ALPHA


def test_top_p_sampling_stays_in_the_nucleus(tiny):
    engine = engine_for(tiny, cost=CostModel())
    firsts = {
        engine.generate(
            PROMPT, drafter=FixedTree(), max_new_tokens=3, temperature=1.0, top_p=0.5, seed=s
        ).token_ids[0]
        for s in range(300)
    }
    with torch.no_grad():
        p = torch.softmax(tiny.model(torch.tensor([PROMPT])).logits[0, -1].double(), -1)
    order = torch.argsort(p, descending=True).tolist()
    cut = next(i for i in range(len(order)) if float(p[order[: i + 1]].sum()) >= 0.5)
    assert firsts <= set(order[: cut + 1])


def test_an_unseeded_run_records_the_seed_that_repeats_it(tiny):
    engine = engine_for(tiny, cost=CostModel())
    first = engine.generate(PROMPT, drafter=FixedTree(), max_new_tokens=6, temperature=1.0)
    seed = first.summary.config["seed"]
    assert isinstance(seed, int)
    again = engine.generate(PROMPT, method="ar", max_new_tokens=6, temperature=1.0, seed=seed)
    assert again.token_ids == first.token_ids
