"""Choose the default l_bias, l_threshold and length policy on training prompts, never Spec-Bench.

    python scripts/tune_defaults.py --per-source 8 --max-new-tokens 256 \
        --out benchmarks/defaults_tuning.json

The prompts are rows of the shipped corpus (the model's answers to GSM8K, Code Alpaca and
Self-Instruct prompts), taken evenly from each source with a fixed seed. Their answers would
be found verbatim by the static automaton, so the tuning runs against an automaton built from
the corpus *without* those rows: the static drafter sees what it would see on a new prompt.

For each prompt: one recorded greedy run (`samdec.tuning.record`). Then, for each drafting
method, the replay tuner predicts steps, MAT and speedup of every (length policy, draft
length, l_bias, l_threshold) on this machine's verify-cost curve (exact MAT for the SAM
drafters). The default settings are the best predicted setting of `sam`, the default method;
the JSON keeps every method's best and the whole grid, and `tests/test_tuning.py` checks that
samdec.config's defaults are the ones chosen here. Recording times the model: run it alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from samdec.config import DecodeConfig
from samdec.corpus import DEFAULT_CORPUS, cached_static, interleave
from samdec.methods import TABLE
from samdec.receipts import receipt
from samdec.runtime.cachefiles import cache_root
from samdec.runtime.loading import load_model
from samdec.stack import engine_for
from samdec.tuning import Grid, record, recording_from_dict, recording_to_dict, sweep

SEED = 0
# The grid for `sam` (the defaults are chosen on it), and a coarser one for the other methods:
# a replay of one setting over one 256-token recording takes ~30 ms here (2x with recycling).
L_BIASES = [0, 1, 2, 3, 5, 8]
L_THRESHOLDS = [1, 2, 3, 4, 5, 6, 8, 10]
COARSE = ([0, 2, 5], [2, 3, 5, 8])
POLICIES = ("cost", "fixed")
DRAFT_LENS = (8, 16, 40)


def pick_rows(per_source: int, corpus: Path = DEFAULT_CORPUS, seed: int = SEED) -> list[dict]:
    """`per_source` corpus rows from each source (the id's prefix), shuffled by `seed`."""
    by_source: dict[str, list[dict]] = {}
    with open(corpus, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            by_source.setdefault(row["id"].split(":", 1)[0], []).append(row)
    picked = []
    for source in sorted(by_source):
        rows = by_source[source]
        random.Random(f"{seed}:{source}").shuffle(rows)  # one source's picks ignore the others
        picked.append(rows[:per_source])
    return interleave(*picked)


def corpus_without(rows: list[dict], corpus: Path = DEFAULT_CORPUS) -> Path:
    """The corpus minus `rows`, written once to the cache folder (named by what it leaves out)."""
    left_out = {r["id"] for r in rows}
    digest = hashlib.sha1("\n".join(sorted(left_out)).encode()).hexdigest()[:12]
    name = f"tuning-{len(left_out)}-{digest}.jsonl"
    out = cache_root() / "tuning" / name
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(corpus, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
            for line in src:
                if json.loads(line)["id"] not in left_out:
                    dst.write(line)
    return out


def recordings(engine, rows: list[dict], max_new_tokens: int, path: Path | None) -> list:
    """Recorded greedy runs, by corpus id; those already in `path` are reused, the rest added."""
    saved: dict = {}
    if path is not None and path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("max_new_tokens") == max_new_tokens:
            saved = data["by_id"]
    for i, row in enumerate(rows, 1):
        if row["id"] not in saved:
            rec = record(engine, engine.encode(row["prompt"]), max_new_tokens)
            saved[row["id"]] = recording_to_dict(rec)
            print(f"recorded {i}/{len(rows)}: {row['id']}", file=sys.stderr, flush=True)
            if path is not None:  # after each run: an interrupted session keeps its work
                path.parent.mkdir(parents=True, exist_ok=True)
                payload = {"max_new_tokens": max_new_tokens, "by_id": saved}
                path.write_text(json.dumps(payload), encoding="utf-8")
    return [recording_from_dict(saved[row["id"]]) for row in rows]


def tune_method(
    name: str, recs: list, engine, static, max_new_tokens: int, also: dict | None = None
) -> dict:
    """The method's grid (and the setting `also`, when the grid lacks it), best first."""
    base = DecodeConfig(method=name, max_new_tokens=max_new_tokens)
    biases, thresholds = (L_BIASES, L_THRESHOLDS) if name == "sam" else COARSE
    common = (engine.cost, static, engine.vocab_size)
    start = time.perf_counter()
    rows = sweep(recs, base, Grid(biases, thresholds, POLICIES, DRAFT_LENS), *common)
    if also is not None and at(rows, also) is None:
        keys = ("l_bias", "l_threshold", "draft_policy", "draft_len")
        rows += sweep(recs, base, Grid(*([also[key]] for key in keys)), *common)
    best = max(rows, key=lambda r: r["speedup"])
    seconds = time.perf_counter() - start
    print(
        f"{name}: {len(rows)} settings in {seconds:.0f} s; best "
        f"l_bias {best['l_bias']}, l_threshold {best['l_threshold']}, {best['draft_policy']} "
        f"{best['draft_len']}: {best['speedup']:.2f}x, MAT {best['mat']:.2f}",
        file=sys.stderr,
    )
    return {"best": best, "rows": rows, "seconds": seconds}


def at(rows: list[dict], setting: dict) -> dict | None:
    """The grid row of `setting` (l_bias, l_threshold, draft_policy, draft_len)."""
    return next((r for r in rows if all(r[k] == v for k, v in setting.items())), None)


GRID = {
    "l_bias": L_BIASES,
    "l_threshold": L_THRESHOLDS,
    "other_methods": {"l_bias": COARSE[0], "l_threshold": COARSE[1]},
    "draft_policy": list(POLICIES),
    "draft_len": list(DRAFT_LENS),
}


def compared(result: dict, chosen: dict, paper: dict) -> dict:
    """A method's best setting, and its rows at the chosen and at the paper's settings."""
    rows = result["rows"]
    return {
        "best": result["best"],
        "at_chosen": at(rows, chosen),
        "at_paper": at(rows, paper),
        "seconds": result["seconds"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-source", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--recordings", type=Path, default=Path("results/defaults_recordings.json"))
    ap.add_argument("--out", type=Path, default=Path("results/defaults_tuning.json"))
    args = ap.parse_args(argv)
    rows = pick_rows(args.per_source)
    loaded = load_model("bundled")
    static = cached_static(loaded.tokenizer, corpus_without(rows))
    engine = engine_for(loaded, static=static)
    recs = recordings(engine, rows, args.max_new_tokens, args.recordings)
    results = {"sam": tune_method("sam", recs, engine, static, args.max_new_tokens)}
    chosen = results["sam"]["best"]
    setting = {k: chosen[k] for k in ("l_bias", "l_threshold", "draft_policy", "draft_len")}
    paper = {"l_bias": 5, "l_threshold": 5, "draft_policy": "fixed", "draft_len": 40}
    for m in (m.name for m in TABLE.values() if m.rule and m.name != "sam"):
        results[m] = tune_method(m, recs, engine, static, args.max_new_tokens, setting)
    summary = {
        "receipt": receipt(sys.argv),
        "prompts": [r["id"] for r in rows],
        "max_new_tokens": args.max_new_tokens,
        "new_tokens": sum(len(r.token_ids) for r in recs),
        "cost_model": engine.cost.to_dict(),
        "layout": loaded.layout,
        "grid": GRID,
        "chosen": setting,
        "paper": paper,
        # The whole grid for the method the defaults are chosen on; for the others, their best
        # setting and how they do at the chosen and the paper's settings.
        "grid_rows": results["sam"]["rows"],
        "methods": {m: compared(r, setting, paper) for m, r in results.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"chosen: {summary['chosen']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
