"""Speculative sampling must give exactly the distribution of plain sampling.

A tiny random model (vocab 8) lets us compute the exact probability of every 3-token
continuation and compare it with thousands of speculative samples (chi-square). A negative
control shows the test can fail: samples from a slightly different distribution are rejected.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from samdec.drafters import Draft
from samdec.engine import Engine
from samdec.policy import CostModel
from tests.conftest import tiny_model

PROMPT = [1, 2, 3, 1, 2]
N_NEW = 3
VOCAB = 8


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


def exact_distribution(loaded, temperature: float) -> dict[tuple[int, ...], float]:
    seqs = list(itertools.product(range(VOCAB), repeat=N_NEW))
    ids = torch.tensor([PROMPT + list(s) for s in seqs])
    with torch.no_grad():
        logp = torch.log_softmax(loaded.model(ids).logits.double() / temperature, dim=-1)
    out = {}
    for row, s in enumerate(seqs):
        out[s] = math.exp(
            sum(float(logp[row, len(PROMPT) - 1 + j, tok]) for j, tok in enumerate(s))
        )
    return out


def chi2_pvalue(counts: dict, probs: dict, n: int) -> float:
    """Pearson chi-square, cells with expected count < 5 pooled; Wilson-Hilferty p-value."""
    stat, df, pooled_obs, pooled_exp = 0.0, -1, 0.0, 0.0
    for key, p in probs.items():
        exp, obs = p * n, counts.get(key, 0)
        if exp < 5:
            pooled_obs, pooled_exp = pooled_obs + obs, pooled_exp + exp
            continue
        stat += (obs - exp) ** 2 / exp
        df += 1
    if pooled_exp > 0:
        stat += (pooled_obs - pooled_exp) ** 2 / pooled_exp
        df += 1
    z = ((stat / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    return 0.5 * math.erfc(z / math.sqrt(2))


@pytest.fixture(scope="module")
def tiny():
    return tiny_model("llama", vocab=VOCAB, seed=3, sharpen=20.0)


def sample_counts(engine, n, temperature, method="ar", drafter=None, top_p=1.0):
    counts: dict[tuple[int, ...], int] = {}
    for seed in range(n):
        trace = engine.generate(
            PROMPT,
            method=method,
            drafter=drafter,
            max_new_tokens=N_NEW,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            draft_policy="fixed",
        )
        key = tuple(trace.token_ids)
        counts[key] = counts.get(key, 0) + 1
    return counts


N_SAMPLES = 2500


def test_distribution_is_not_degenerate(tiny):
    probs = exact_distribution(tiny, 1.0)
    assert abs(sum(probs.values()) - 1) < 1e-9
    top = sorted(probs.values(), reverse=True)
    # Neither near-deterministic nor uniform: the test below has something to detect.
    assert 0.02 < top[0] < 0.6 and sum(p > 1 / 512 for p in top) > 20


def test_speculative_tree_sampling_matches_exact_distribution(tiny):
    engine = Engine(tiny, cost=CostModel())
    probs = exact_distribution(tiny, 1.0)
    counts = sample_counts(engine, N_SAMPLES, 1.0, drafter=FixedTree())
    assert chi2_pvalue(counts, probs, N_SAMPLES) > 1e-3


def test_speculative_chain_sampling_matches_exact_distribution(tiny):
    engine = Engine(tiny, cost=CostModel())
    probs = exact_distribution(tiny, 0.8)
    counts = sample_counts(engine, N_SAMPLES, 0.8, method="sam-dynamic")
    assert chi2_pvalue(counts, probs, N_SAMPLES) > 1e-3


def test_top_p_sampling_stays_in_the_nucleus(tiny):
    engine = Engine(tiny, cost=CostModel())
    counts = sample_counts(engine, 300, 1.0, drafter=FixedTree(), top_p=0.5)
    with torch.no_grad():
        p = torch.softmax(tiny.model(torch.tensor([PROMPT])).logits[0, -1].double(), -1)
    order = torch.argsort(p, descending=True).tolist()
    nucleus, mass = set(), 0.0
    for tok in order:
        nucleus.add(tok)
        mass += float(p[tok])
        if mass >= 0.5:
            break
    assert {k[0] for k in counts} <= nucleus


def test_negative_control_detects_a_different_distribution(tiny):
    """The chi-square check rejects samples drawn at another temperature."""
    engine = Engine(tiny, cost=CostModel())
    probs = exact_distribution(tiny, 1.0)
    counts = sample_counts(engine, N_SAMPLES, 0.85, drafter=FixedTree())
    assert chi2_pvalue(counts, probs, N_SAMPLES) < 1e-3


def test_same_seed_same_sample(tiny):
    engine = Engine(tiny, cost=CostModel())
    a = engine.generate(PROMPT, max_new_tokens=6, temperature=1.0, seed=7, drafter=FixedTree())
    b = engine.generate(PROMPT, max_new_tokens=6, temperature=1.0, seed=7, drafter=FixedTree())
    assert a.token_ids == b.token_ids
    assert np.all(np.array(a.token_ids) < VOCAB)
