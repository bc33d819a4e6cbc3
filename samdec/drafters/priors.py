"""Prior acceptance rates of draft nodes, before a request has shown any: the length policy
starts from them and learns per request; the grafted drafter orders its tree by them.

Node keys index these rates: a chain's positions, a recycling template's nodes, or a grafted
chain's positions after the template's (samdec.drafters.base's node-key space).
"""

from __future__ import annotations

import json

import numpy as np

from ..data import data_path, require
from .base import GRAFT_KEY_BASE, GRAFTED
from .recycling import RANK_PRIOR, make_template

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
