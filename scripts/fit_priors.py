"""Fit the cost-aware policy's prior acceptance rates from the distilled corpus.

    python scripts/fit_priors.py            # writes samdec/data/policy_priors.json

For each answer of the bundled model in the default corpus (its own greedy outputs to GSM8K and
Code Alpaca prompts: training prompts, never Spec-Bench), walk the automata over prompt + answer
as decoding would and record, at every position, the match length L and how many of the drafted
tokens equal what the model actually wrote next. The prior rate r_i of (source, bucket(L)) is
P(more than i draft tokens accepted). For the static automaton the answers are split in two
halves: the automaton of one half drafts for the other, so no answer retrieves itself. Prompt
lookup (source "pld") is walked the same way, with its default n-gram size and drafts as long
as the fitted positions, bucketed by the n-gram size that matched.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from samdec.automaton import DynamicSuffixAutomaton
from samdec.corpus import DEFAULT_CORPUS
from samdec.drafters.priors import PRIOR_SIZE, PRIORS_PATH, match_bucket, num_buckets
from samdec.drafters.prompt_lookup import PromptLookup
from samdec.receipts import receipt
from samdec.runtime.loading import load_model
from samdec.static_automaton import StaticSuffixAutomaton

DRAFT = PRIOR_SIZE


def accepted(draft: np.ndarray, truth: list[int]) -> int:
    n = 0
    for a, b in zip(draft.tolist(), truth, strict=False):
        if a != b:
            break
        n += 1
    return n


def walk(matcher, prompt: list[int], answer: list[int], counts, source: str) -> None:
    matcher.advance(prompt)
    for i in range(len(answer)):
        length = matcher.match_length
        if length > 0:
            k = accepted(matcher.draft(DRAFT), answer[i : i + DRAFT])
            hist = counts[source][match_bucket(length)]
            hist[min(k, DRAFT)] += 1
        matcher.advance([answer[i]])


def walk_prompt_lookup(prompt: list[int], answer: list[int], counts, eos_ids) -> None:
    """As `walk`, for prompt lookup: a step that drafts nothing is not counted (the length
    policy never sees an empty draft)."""
    lookup = PromptLookup(num_tokens=DRAFT, eos_ids=eos_ids)
    lookup.start(prompt)
    for i in range(len(answer)):
        draft = lookup.propose(DRAFT)
        if len(draft):
            k = accepted(np.asarray(draft.tokens), answer[i : i + DRAFT])
            counts["pld"][match_bucket(draft.match_length)][min(k, DRAFT)] += 1
        lookup.observe([answer[i]])


def main() -> None:
    loaded = load_model()
    tok = loaded.tokenizer
    rows = [json.loads(line) for line in DEFAULT_CORPUS.open(encoding="utf-8") if line.strip()]
    pairs = [
        (loaded.encode_prompt(r["prompt"]), tok(r["answer"], add_special_tokens=False)["input_ids"])
        for r in rows
    ]
    counts = {s: np.zeros((num_buckets(), DRAFT + 1)) for s in ("dynamic", "static", "pld")}
    for prompt, answer in pairs:
        walk(DynamicSuffixAutomaton(), prompt, answer, counts, "dynamic")
        walk_prompt_lookup(prompt, answer, counts, loaded.eos_ids)
    halves = (pairs[0::2], pairs[1::2])
    for held_out, indexed in (halves, halves[::-1]):
        static = StaticSuffixAutomaton.build([a for _, a in indexed])
        for prompt, answer in held_out:
            walk(static.cursor(), prompt, answer, counts, "static")
    out = {
        "about": (
            "P(more than i draft tokens accepted | source, match-length bucket), fitted by "
            "scripts/fit_priors.py on the bundled model's answers in the default corpus"
        ),
        "receipt": {**receipt(), "fitted_on": f"{DEFAULT_CORPUS.name}, {len(pairs)} answers"},
        "answers": len(pairs),
        "rates": {},
        "positions": {},
    }
    for source, hist in counts.items():
        out["rates"][source] = {}
        out["positions"][source] = {}
        for bucket in range(num_buckets()):
            n = hist[bucket].sum()
            if n == 0:
                continue
            # P(accepted > i) = 1 - CDF(i)
            survive = 1.0 - np.cumsum(hist[bucket])[:DRAFT] / n
            out["rates"][source][str(bucket)] = [round(float(x), 4) for x in survive]
            out["positions"][source][str(bucket)] = int(n)
    PRIORS_PATH.write_text(json.dumps(out, indent=1))
    for source in out["rates"]:
        for bucket, rates in out["rates"][source].items():
            n = out["positions"][source][bucket]
            print(f"{source:8s} bucket {bucket:>2s} n={n:6d} r0={rates[0]:.2f} r3={rates[3]:.2f}")


if __name__ == "__main__":
    main()
