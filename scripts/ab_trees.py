"""Two checkouts of samdec, side by side in one sitting: the same Spec-Bench questions through
each tree's own `python -m samdec bench`, in turns, and the same prompts through each tree's
CLI, greedy and seeded. For a change that must not change what decoding writes, nor slow it.

    python scripts/ab_trees.py --before /tmp/before --after . --rounds 2 \\
        --out benchmarks/layers_ab.json

Each tree runs its own code (its own folder first on PYTHONPATH); the trees take turns, so a
slow moment of the machine slows both alike. Run it alone on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from samdec.receipts import receipt

METHODS = "ar,sam"
# Prompts for the greedy and seeded identity check through each tree's command line.
PROMPTS = (
    "Explain step by step: a train travels 120 km in 1.5 hours. What is its average speed?",
    "Write a Python function that returns the n-th Fibonacci number, with a docstring.",
)
SAMPLED = ({"temperature": 0.8, "seed": 3}, {"temperature": 1.0, "seed": 11})


def run(tree: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-m", "samdec", *args], cwd=tree, env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise SystemExit(f"{tree}: samdec {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return out


def bench(tree: Path, out: Path, per_category: int, max_new: int) -> dict:
    run(tree, "bench", "--per-category", str(per_category), "--max-new-tokens", str(max_new),
        "--methods", METHODS, "--out", str(out))  # fmt: skip
    return json.loads(out.read_text())


def generations(tree: Path, max_new: int) -> list[dict]:
    """Token ids of every prompt, greedy and with each seed, for `sam` and `ar`."""
    rows = []
    for prompt in PROMPTS:
        for settings in ({}, *SAMPLED):
            for method in ("ar", "sam"):
                flags = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
                out = run(tree, "generate", prompt, "--method", method, "--json",
                          "--max-new-tokens", str(max_new), *flags)  # fmt: skip
                trace = json.loads(out.stdout)
                rows.append({"prompt": prompt, "method": method, **settings,
                             "token_ids": trace["token_ids"]})  # fmt: skip
    return rows


def summary(result: dict) -> dict:
    return {
        name: {k: row[k] for k in ("tokens_per_s", "decode_tokens_per_s", "speedup", "mat")}
        for name, row in result["methods"].items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--per-category", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--work", type=Path, default=Path("results/ab"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    sittings: dict[str, list] = {name: [] for name in trees}
    for round_ in range(args.rounds):
        order = list(trees) if round_ % 2 == 0 else list(reversed(trees))
        for name in order:
            out = args.work / f"{name}_{round_}.json"
            result = bench(trees[name], out, args.per_category, args.max_new_tokens)
            sittings[name].append(
                {"receipt": result["receipt"], "methods": summary(result), "runs": result["runs"]}
            )
            print(f"round {round_} {name}: {summary(result)}", file=sys.stderr, flush=True)
    texts = {name: generations(tree, 96) for name, tree in trees.items()}
    same_bench = all(
        [r["token_ids"] for r in a["runs"][m]] == [r["token_ids"] for r in b["runs"][m]]
        for a in sittings["before"]
        for b in sittings["after"]
        for m in a["runs"]
    )
    same_cli = [a["token_ids"] == b["token_ids"] for a, b in zip(*texts.values(), strict=True)]
    for s in (*sittings["before"], *sittings["after"]):
        del s["runs"]
    artifact = {
        "receipt": receipt(),
        "what": "the same Spec-Bench questions and CLI prompts through two checkouts, in turns",
        "per_category": args.per_category,
        "max_new_tokens": args.max_new_tokens,
        "sittings": sittings,
        "bench_outputs_identical": same_bench,
        "cli_outputs_identical": sum(same_cli),
        "cli_outputs": len(same_cli),
        "cli_settings": [{k: r[k] for k in r if k != "token_ids"} for r in texts["after"]],
    }
    args.out.write_text(json.dumps(artifact, indent=1) + "\n")
    print(json.dumps({k: artifact[k] for k in ("bench_outputs_identical", "cli_outputs_identical",
                                                "cli_outputs")}))  # fmt: skip


if __name__ == "__main__":
    main()
