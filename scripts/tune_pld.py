"""Choose prompt lookup decoding's draft length for this device, on training prompts only.

    python scripts/tune_pld.py --prompts 12 --max-new-tokens 128 --out benchmarks/pld_tuning.json

transformers documents `prompt_lookup_num_tokens=10`; on a slow CPU a shorter draft can win,
since every rejected draft token still costs verification work. The prompts come from the
shipped corpus (GSM8K, Code Alpaca, Self-Instruct: evenly from each source, fixed seed), never from
Spec-Bench, which stays the evaluation set. Per prompt: plain `generate` and PLD at each
candidate N, in an order that rotates per prompt, after one warm-up. Greedy, float32, the
bundled model. Prints a table and the bench method to use (`hf-pld:N`). Run it on a quiet machine:
timings of concurrent processes mean nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from samdec.baselines import PLD_MAX_TOKENS, PLD_NGRAM, hf_generate
from samdec.bench import rotated, write_results
from samdec.corpus import DEFAULT_CORPUS, interleave
from samdec.receipts import receipt

SEED = 0


def pick_prompts(k: int, corpus: Path = DEFAULT_CORPUS, seed: int = SEED) -> list[dict]:
    """k corpus rows, alternating between the sources (the id's prefix), each shuffled by `seed`."""
    by_source: dict[str, list[dict]] = {}
    with open(corpus) as f:
        for line in f:
            row = json.loads(line)
            by_source.setdefault(row["id"].split(":", 1)[0], []).append(row)
    rng = random.Random(seed)
    for rows in by_source.values():
        rng.shuffle(rows)
    return interleave(*(by_source[s] for s in sorted(by_source)))[:k]


def tune(model, prompts: list[list[int]], candidates: list[int], max_new_tokens: int) -> dict:
    """Pooled tokens/s, speedup over plain `generate` and identity for N = 0 (plain) and each N."""
    settings = [0, *candidates]

    def run(ids: list[int], n: int, new: int) -> tuple[list[int], float]:
        return hf_generate(model, ids, new, prompt_lookup=n > 0, pld_tokens=n)

    for n in settings:  # warm-up: first calls pay for allocation, not decoding
        run(prompts[0], n, 8)
    tokens = dict.fromkeys(settings, 0)
    seconds = dict.fromkeys(settings, 0.0)
    same = dict.fromkeys(settings, 0)
    for i, ids in enumerate(prompts):
        outs = {}
        for n in rotated(settings, i):
            outs[n], secs = run(ids, n, max_new_tokens)
            tokens[n] += len(outs[n])
            seconds[n] += secs
        for n in settings:
            same[n] += outs[n] == outs[0]
    tps = {n: tokens[n] / seconds[n] if seconds[n] else 0.0 for n in settings}
    results = [
        {
            "num_tokens": n,
            "tokens_per_s": tps[n],
            "speedup": tps[n] / tps[0] if tps[0] else None,
            "identical": same[n] / len(prompts),
        }
        for n in settings
    ]
    return {"results": results, "chosen": max(candidates, key=lambda n: tps[n])}


def candidate_list(text: str) -> list[int]:
    try:
        values = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise SystemExit(f"--candidates: whole numbers separated by commas, got {text!r}") from None
    if not values or not all(1 <= n <= PLD_MAX_TOKENS for n in values):
        raise SystemExit(f"--candidates: numbers from 1 to {PLD_MAX_TOKENS}, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=12, help="training prompts, from both sources")
    ap.add_argument("--candidates", default="1,2,3,4,5,6,8,10", help="draft lengths N to try")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "mps"])
    ap.add_argument("--out", default="benchmarks/pld_tuning.json")
    args = ap.parse_args(argv)
    candidates = candidate_list(args.candidates)
    if args.prompts < 1 or args.max_new_tokens < 1:
        raise SystemExit("--prompts and --max-new-tokens must be >= 1")

    import torch

    from samdec.runtime.loading import load_model

    this = receipt(None if argv is None else [__file__, *argv])
    loaded = load_model(args.model, device=args.device)
    model = loaded.model.to(torch.float32)
    rows = pick_prompts(args.prompts)
    encoded = [loaded.encode_chat([{"role": "user", "content": r["prompt"]}]) for r in rows]
    tuned = tune(model, encoded, candidates, args.max_new_tokens)
    out = {
        "receipt": this,
        "config": {
            "prompts": [r["id"] for r in rows],
            "max_new_tokens": args.max_new_tokens,
            "candidates": candidates,
            "source": f"{DEFAULT_CORPUS.name} (training prompts, even by source; seed {SEED})",
            "model": loaded.name,
            "layout": loaded.layout,
            "device": loaded.device,
            "dtype": "float32",
            "max_matching_ngram_size": PLD_NGRAM,
        },
        **tuned,
    }
    write_results(Path(args.out), out)
    print("| N | tokens/s | speedup | identical |\n|---|---|---|---|")
    for r in tuned["results"]:
        name = "plain generate" if r["num_tokens"] == 0 else str(r["num_tokens"])
        print(f"| {name} | {r['tokens_per_s']:.1f} | {r['speedup']:.2f}x | {r['identical']:.0%} |")
    print(f"\nbench method: hf-pld:{tuned['chosen']}   ({args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
