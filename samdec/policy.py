"""How many draft tokens to verify: the paper's fixed length, or a cost-aware choice.

Verifying q tokens in one forward pass costs c(q). On a GPU c is nearly flat up to ~64 tokens,
so long drafts are free; on a CPU c(32) is ~4x c(1), so a long draft that is mostly wrong makes
decoding *slower* than plain decoding. The cost-aware policy keeps the first m draft nodes that
maximise expected tokens per second:

    value(m) = (1 + sum_{i<m} r_i) / c(1 + m)

where r_i is the chance that node i ends up accepted (its whole path matched), learned online
per drafter source and match-length bucket. m = 0 (plain decoding) is always a candidate, which
is what keeps the policy from ever losing much to plain decoding.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .cost import CostModel
from .drafters.base import GRAFTED, Draft
from .drafters.priors import match_bucket, prior_rates


class FixedLength:
    """The paper's policy: verify up to `draft_len` draft tokens, whatever they cost."""

    name = "fixed"

    def __init__(self, draft_len: int = 40) -> None:
        self.draft_len = draft_len

    def reset(self) -> None:
        pass

    def limit(self, draft_budget: int) -> int:
        return min(self.draft_len, draft_budget)

    def cut(self, draft: Draft) -> Draft:
        return draft.prefix(self.draft_len) if draft.is_chain else draft

    def record(self, draft: Draft, accepted_indices: list[int]) -> None:
        pass


def make_policy(config, cost: CostModel) -> CostAware | FixedLength:
    """The length policy a DecodeConfig asks for."""
    if config.draft_policy == "fixed":
        return FixedLength(config.draft_len)
    return CostAware(cost, max_len=config.draft_len)


class CostAware:
    """Keep the draft prefix that maximises expected tokens per millisecond."""

    name = "cost"

    def __init__(self, cost: CostModel, max_len: int = 40, prior_weight: float = 4.0) -> None:
        self.cost = cost
        self.max_len = max_len
        self.prior_weight = prior_weight
        self.size = 128  # node keys: chain positions or tree-template nodes
        self._cost = cost.table(self.size + 1)
        self.reset()

    def reset(self) -> None:
        self._trials: dict[tuple[str, int], np.ndarray] = {}
        self._hits: dict[tuple[str, int], np.ndarray] = {}
        self._priors: dict[tuple[str, int], np.ndarray] = {}

    def limit(self, draft_budget: int) -> int:
        return min(self.max_len if self.max_len else self.size, draft_budget, self.size)

    def _key(self, draft: Draft) -> tuple[str, int]:
        if draft.graft_source:  # a recycling tree with a short match grafted in: both priors
            return GRAFTED + draft.graft_source, match_bucket(draft.match_length)
        bucket = match_bucket(draft.match_length) if draft.source != "recycling" else 0
        return draft.source, bucket

    def rates(self, source: str, bucket: int) -> np.ndarray:
        key = (source, bucket)
        if key not in self._priors:
            self._priors[key] = prior_rates(source, bucket, self.size)
            self._trials[key] = np.zeros(self.size)
            self._hits[key] = np.zeros(self.size)
        w = self.prior_weight
        return (self._hits[key] + w * self._priors[key]) / (self._trials[key] + w)

    def cut(self, draft: Draft) -> Draft:
        if len(draft) == 0:
            return draft
        rates = self.rates(*self._key(draft))[np.asarray(draft.node_keys[: self.size])]
        n = len(rates)
        expected = 1.0 + np.concatenate(([0.0], np.cumsum(rates)))  # tokens per step, m=0..n
        value = expected / self._cost[1 : n + 2]
        m = int(np.argmax(value))
        kept = draft.prefix(m)
        kept = replace(kept) if kept is draft else kept  # the drafter's draft stays as offered
        kept.expected_tokens, kept.expected_offered = float(expected[m]), float(expected[n])
        return kept

    def record(self, draft: Draft, accepted_indices: list[int]) -> None:
        if len(draft) == 0:
            return
        key = self._key(draft)
        self.rates(*key)  # make sure the arrays exist
        keys = np.asarray(draft.node_keys)
        keys = keys[keys < self.size]
        self._trials[key][keys] += 1
        if accepted_indices:
            hit = np.asarray(draft.node_keys)[accepted_indices]
            self._hits[key][hit[hit < self.size]] += 1
