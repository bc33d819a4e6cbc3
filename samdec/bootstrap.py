"""Noise intervals for throughput ratios: a paired bootstrap over questions.

A ratio of two methods' throughputs (summed tokens over summed seconds, each) measured on the
same questions varies with which questions happened to be asked. Resampling the question ids
with replacement, and recomputing both throughputs on the same resampled questions, shows how
far: the 2.5th and 97.5th percentiles of the resampled ratios are a 95% interval. Pure (numpy
only), so the bench, the renderers and the tests share it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

RESAMPLES = 2000
SEED = 0
LEVEL = 0.95


class Interval(NamedTuple):
    ratio: float  # on the questions as measured
    low: float
    high: float

    def excludes_one(self) -> bool:
        return self.low > 1.0 or self.high < 1.0

    def to_dict(self) -> dict[str, float]:
        return {"ratio": self.ratio, "low": self.low, "high": self.high}


def ratio_interval(
    a: Mapping[int, tuple[float, float]],
    b: Mapping[int, tuple[float, float]],
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> Interval | None:
    """Throughput of `a` over throughput of `b`, with a percentile bootstrap interval.

    `a` and `b` map question id -> (tokens, seconds). Only the questions both hold count, so the
    ratio is paired; None when there are none, or a throughput is undefined (no seconds, or `b`
    wrote no tokens).
    """
    ids = sorted(a.keys() & b.keys())
    if not ids:
        return None
    ta, sa = np.array([a[i] for i in ids], dtype=np.float64).T
    tb, sb = np.array([b[i] for i in ids], dtype=np.float64).T
    point = _ratio(ta.sum(), sa.sum(), tb.sum(), sb.sum())
    if point is None:
        return None
    # RandomState, not default_rng: its stream is frozen across numpy versions (NEP 19), so a
    # committed results file renders the same interval on any machine.
    idx = np.random.RandomState(seed).randint(0, len(ids), size=(resamples, len(ids)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = (ta[idx].sum(1) / sa[idx].sum(1)) / (tb[idx].sum(1) / sb[idx].sum(1))
    ratios = ratios[np.isfinite(ratios)]
    if not len(ratios):
        return None
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return Interval(point, float(low), float(high))


def _ratio(ta: float, sa: float, tb: float, sb: float) -> float | None:
    if sa <= 0 or sb <= 0 or tb <= 0:
        return None
    return float((ta / sa) / (tb / sb))
