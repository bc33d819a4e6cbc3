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

import json
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .data import data_path, require
from .drafters.base import Draft
from .drafters.graft import GRAFT_KEY_BASE, GRAFTED

# Verify cost measured here (CPU, bundled model, ~300 tokens of context), ms by tokens verified.
# Used until the engine calibrates on the actual device.
CPU_DEFAULT_COST = {1: 57.0, 2: 66.0, 4: 109.0, 8: 126.0, 16: 187.0, 32: 222.0, 64: 400.0}
CALIBRATION_SIZES = (1, 2, 4, 8, 16, 32, 64)


@dataclass
class CostModel:
    """Milliseconds to verify q tokens, piecewise linear between measured points."""

    points: dict[int, float] = field(default_factory=lambda: dict(CPU_DEFAULT_COST))
    device: str = "cpu (default table)"

    def __post_init__(self) -> None:
        sizes = sorted(self.points)
        self._q = np.array(sizes, dtype=np.float64)
        # Taken as never falling as q grows. On a CPU the true curve does dip (bundled model,
        # 2026-11-27: 2 tokens 62 ms, 3 tokens 78 ms, 5 tokens 56 ms). A dense as-measured
        # curve was tried: no faster for `sam`, ~5% slower for `sam+recycling` (6 Spec-Bench
        # questions, same machine), so this conservative envelope stays.
        self._ms = np.maximum.accumulate(np.array([self.points[s] for s in sizes]))
        self._table = self.__call__(np.arange(0, 1025))

    def __call__(self, q):
        q = np.asarray(q, dtype=np.float64)
        slope = (
            (self._ms[-1] - self._ms[-2]) / (self._q[-1] - self._q[-2]) if len(self._q) > 1 else 0
        )
        beyond = self._ms[-1] + (q - self._q[-1]) * slope
        return np.where(q > self._q[-1], beyond, np.interp(q, self._q, self._ms))

    def table(self, max_q: int) -> np.ndarray:
        """cost[q] for q = 0..max_q (cached for the hot path)."""
        return self._table[: max_q + 1] if max_q < len(self._table) else self(np.arange(max_q + 1))

    def to_dict(self) -> dict:
        return {"device": self.device, "points": {str(k): v for k, v in self.points.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> CostModel:
        return cls({int(k): float(v) for k, v in data["points"].items()}, data.get("device", "?"))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: Path) -> CostModel:
        return cls.from_dict(json.loads(path.read_text()))


def calibrate(forward_ms, sizes=CALIBRATION_SIZES, repeats: int = 3, device: str = "") -> CostModel:
    """Measure a CostModel with `forward_ms(q)`, a callable that times one q-token verification."""
    forward_ms(1)  # warm-up: first calls allocate
    points = {q: statistics.median(forward_ms(q) for _ in range(repeats)) for q in sizes}
    return CostModel(points, device=device or "measured")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0


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


# Match-length buckets: acceptance depends strongly on how long the retrieved match is.
_BUCKET_EDGES = np.array([1, 2, 3, 4, 5, 7, 10, 15, 25, 40])
PRIORS_PATH = data_path("policy_priors.json")
PRIOR_SIZE = 64  # positions fitted by scripts/fit_priors.py
_fitted: dict | None = None


def match_bucket(length: int) -> int:
    return int(np.searchsorted(_BUCKET_EDGES, length, side="right"))


def num_buckets() -> int:
    return len(_BUCKET_EDGES) + 1


def fitted_priors() -> dict:
    """Acceptance rates fitted on the distilled corpus (scripts/fit_priors.py); they ship.

    A missing or damaged file raises (naming it): without it every draft length would quietly
    change, which is the one thing a packaging mistake must not do.
    """
    global _fitted
    if _fitted is None:
        path = require(PRIORS_PATH, "the draft length policy's fitted priors")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            _fitted = {
                source: {b: (rates, data["positions"][source][b]) for b, rates in table.items()}
                for source, table in data["rates"].items()
            }
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a policy priors file ({exc!r})") from None
    return _fitted


def prior_rates(source: str, bucket: int, size: int) -> np.ndarray:
    """Prior chance that node i is accepted before any evidence (then learned per request).

    Retrieval drafts use rates fitted on the model's own answers to training prompts
    (samdec/data/policy_priors.json), blended with a geometric guess from the match length
    where a bucket was seen too rarely; Token Recycling uses its rank priors; a recycling tree
    with a short match grafted in (source "recycling+dynamic" / "recycling+static") both.
    """
    if source.startswith(GRAFTED):
        return _grafted_prior(source.removeprefix(GRAFTED), bucket, size)
    guess = _geometric_prior(source, bucket, size)
    fitted = fitted_priors().get(source, {}).get(str(bucket))
    if fitted and source != "recycling":
        rates, positions = fitted
        out = np.zeros(size)
        n = min(size, len(rates))
        out[:n] = rates[:n]
        out[n:] = rates[n - 1]  # beyond the fitted positions: the last fitted rate
        weight = positions / (positions + 20.0)  # a bucket seen a handful of times stays a guess
        return weight * out + (1 - weight) * guess
    return guess


def _grafted_prior(retrieval: str, bucket: int, size: int) -> np.ndarray:
    """Template nodes keep the rank priors. The grafted node at chain position i is accepted
    exactly when the match's first i + 1 tokens are, the event the retrieval priors of this
    source and match bucket estimate, so it starts at that rate rather than at zero: the cut
    keeps it when the match, short as it is, usually continues right (dynamic matches of 3
    tokens: 0.60 at the first position in the shipped priors), and drops it when not (static
    matches of 1 token: 0.10)."""
    out = prior_rates("recycling", 0, size)
    n = max(0, size - GRAFT_KEY_BASE)
    out[GRAFT_KEY_BASE:] = prior_rates(retrieval, bucket, n)
    return out


def _geometric_prior(source: str, bucket: int, size: int) -> np.ndarray:
    if source == "recycling":
        from .drafters.recycling import RANK_PRIOR, make_template

        t = make_template()
        prior = np.ones(len(t))
        for i in range(len(t)):  # path probability: the product of rank priors from the root
            p = t.parents[i]
            prior[i] = RANK_PRIOR[t.ranks[i]] * (prior[p] if p >= 0 else 1.0)
        out = np.zeros(size)
        out[: min(size, len(t))] = prior[:size]
        return out
    length = _BUCKET_EDGES[bucket - 1] if bucket > 0 else 0
    alpha = 1.0 - 1.0 / (1.0 + 0.35 * length)  # longer matches continue correctly more often
    return alpha ** np.arange(1, size + 1)


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
