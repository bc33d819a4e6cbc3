"""Each drafting method's gain over plain decoding in its own loop, with noise intervals.

A speedup across decoding loops measures the loops as much as the drafting: transformers'
`generate` loop and the engine's differ in speed before anything is drafted. So a drafting
method is divided by the plain decoding of the loop it runs in: the engine's methods by `ar`,
transformers' prompt lookup (`hf-pld`, `hf-pld:N`) by `hf-generate`. (`hf-stock` is plain
decoding on the stock weight layout; no drafting method runs in that loop, so nothing is divided
by it.) The plain loops themselves have no drafting gain.

`sam` and the engine's `pld` run in the same loop, so the ratio of their gains over `ar` is the
ratio of their throughputs on the same questions (`ar` cancels): that is the comparison of the
two drafters, with a verdict only where its interval excludes 1.

Runs are the bench's, as dicts (`dataclasses.asdict(Run)`, or a results file's "runs").
"""

from __future__ import annotations

from typing import Any

from .baselines import HF_PLD
from .bootstrap import ratio_interval

PLAIN_LOOPS = ("ar", "hf-generate", "hf-stock")


def own_loop(method: str) -> str | None:
    """The plain decoding of the loop `method` runs in; None for a plain loop itself."""
    if method in PLAIN_LOOPS:
        return None
    return "hf-generate" if method.partition(":")[0] == HF_PLD else "ar"


def _pairs(runs: list[dict], category: str | None, decode: bool) -> dict | None:
    """question id -> (tokens, seconds) of `runs` (in `category`); decoding alone if `decode`,
    None then unless every run timed its prefill."""
    out = {}
    for r in runs:
        if category is not None and r["category"] != category:
            continue
        seconds = r["seconds"]
        if decode:
            if r.get("prefill_seconds") is None:
                return None
            seconds -= r["prefill_seconds"]
        out[r["question_id"]] = (r["tokens"], seconds)
    return out


def ratio(a: list[dict], b: list[dict], category: str | None = None, decode: bool = False):
    """Throughput of runs `a` over runs `b` on their shared questions, with its 95% bootstrap
    interval: {"ratio", "low", "high"}, or None where it is undefined."""
    pa, pb = _pairs(a, category, decode), _pairs(b, category, decode)
    if not pa or not pb:
        return None
    interval = ratio_interval(pa, pb)
    return interval.to_dict() if interval else None


def drafting_gains(runs: dict[str, list[dict]], categories: list[str]) -> dict[str, dict]:
    """Per method: "drafting_gain" (over its own loop, named in "over") and
    "decode_drafting_gain" (the same with the prompt's prefill left out, where both timed it),
    overall and per category; None for the plain loops and where the loop did not run."""
    out: dict[str, dict[str, Any]] = {}
    for method, rs in runs.items():
        loop = own_loop(method)
        base = runs.get(loop) if loop else None
        if not rs or not base:
            out[method] = {"drafting_gain": None, "decode_drafting_gain": None, "per_category": {}}
            continue

        def gains(cat: str | None, rs=rs, base=base, loop=loop) -> dict[str, Any]:
            whole, decode = ratio(rs, base, cat), ratio(rs, base, cat, decode=True)
            return {
                "drafting_gain": {"over": loop, **whole} if whole else None,
                "decode_drafting_gain": {"over": loop, **decode} if decode else None,
            }

        per_cat = {c: gains(c) for c in categories if any(r["category"] == c for r in rs)}
        out[method] = {**gains(None), "per_category": per_cat}
    return out


def verdict(interval: dict | None, a: str, b: str) -> str:
    """Which of `a` and `b` drafts better, by the interval of a's gain over b's; only where the
    interval excludes 1."""
    if interval is None:
        return "not measured"
    if interval["low"] > 1:
        return f"{a} drafts better than {b} here"
    if interval["high"] < 1:
        return f"{b} drafts better than {a} here"
    return "within noise"


def comparison(
    runs: dict[str, list[dict]], categories: list[str], a: str = "sam", b: str = "pld"
) -> dict[str, Any] | None:
    """`a`'s drafting gain over `b`'s, both in the engine's loop (their throughput ratio on the
    same questions), with intervals and verdicts, overall and per category; None unless both
    ran."""
    if not runs.get(a) or not runs.get(b):
        return None

    def one(cat: str | None) -> dict[str, Any]:
        whole = ratio(runs[a], runs[b], cat)
        return {
            "gain_ratio": whole,
            "decode_gain_ratio": ratio(runs[a], runs[b], cat, decode=True),
            "verdict": verdict(whole, a, b),
        }

    per_cat = {c: one(c) for c in categories if any(r["category"] == c for r in runs[a])}
    return {"methods": [a, b], **one(None), "per_category": per_cat}
