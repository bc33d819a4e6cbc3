"""The paper's ablations on the bundled model: l_bias, l_threshold, draft size, and each
automaton removed, predicted by the replay and, for a few settings, measured.

    python scripts/ablations.py --per-category 4 --max-new-tokens 256 --measure \
        --out benchmarks/ablations.json
    python scripts/ablations.py --quick --out /tmp/ablations.json      # a smoke test

Recording times the model (the replay's predicted speedup prices its prefill) and `--measure`
times every setting: run it alone, on a quiet machine; timings of concurrent processes mean
nothing.

For each Spec-Bench question (first turn, chat template, as the benchmark encodes it): one
recorded greedy run (samdec.tuning.record). The replay then predicts MAT (exact for the SAM
drafters) and speedup (on this machine's verify-cost curve) of the paper's sweeps: l_bias 0-10,
l_threshold 0-10 and draft size 10-70, each at the paper's settings (l_bias 5, l_threshold 5,
fixed 40-token drafts) and at ours (samdec/config.py), under both length policies; and of the
methods with an automaton removed. `--measure` times a few of them on fewer questions, run
interleaved and rotated like the benchmark, for measured speedup over `ar` beside the replay's
prediction. The JSON keeps the receipt; scripts/render_readme.py draws the plots from it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from samdec.bench import rotated
from samdec.config import DecodeConfig
from samdec.tuning import Grid, Recording, record, replay, sweep

PAPER = {"l_bias": 5, "l_threshold": 5, "draft_policy": "fixed", "draft_len": 40}
_DEFAULTS = DecodeConfig()
OURS = {k: getattr(_DEFAULTS, k) for k in PAPER}
SWEEPS = {
    "l_bias": list(range(11)),
    "l_threshold": list(range(11)),
    "draft_len": list(range(10, 71, 10)),
}
# Each sweep's series: the other rule parameters at the paper's values or at ours, each under
# both length policies (draft limit 40 where draft size is not what varies).
RULES = {"paper's": PAPER, "our": OURS}
POLICY_NAMES = {"fixed": "fixed", "cost": "cost-aware"}
# The automata removed one at a time; with Token Recycling as the auxiliary drafter only the
# full method and recycling alone have rows (no row pairs it with one automaton).
REMOVAL = ("sam", "sam-dynamic", "sam-static", "sam+recycling", "recycling")
# Timed with --measure: plain decoding, the paper's fixed draft sizes under our rule, and the
# removal methods at our defaults.
MEASURED_DRAFT_LENS = (10, 20, 40, 70)
QUICK = {"per_category": 1, "max_new_tokens": 32, "measure_per_category": 1}


@dataclass(frozen=True)
class Context:
    """What every replay needs besides the recordings."""

    cost: object  # samdec.cost.CostModel
    static: object | None  # the static automaton
    vocab_size: int
    max_new_tokens: int


def series_specs(vary: str) -> list[dict]:
    """The fixed settings of each series of the sweep over `vary`, with its label."""
    out = []
    for rule_name, rule in RULES.items():
        for policy in ("fixed", "cost"):
            fixed = {k: v for k, v in rule.items() if k not in (vary, "draft_policy", "draft_len")}
            fixed |= {"draft_policy": policy}
            if vary != "draft_len":
                fixed["draft_len"] = 40
            words = ", ".join(f"{k} {v}" for k, v in fixed.items() if k.startswith("l_"))
            label = f"{words}, {POLICY_NAMES[policy]}" if words else POLICY_NAMES[policy]
            out.append({"label": f"{label} ({rule_name} rule)", "fixed": fixed})
    return out


def run_sweep(recs: list[Recording], ctx: Context, vary: str, values: list[int]) -> dict:
    """MAT and predicted speedup along `values` of `vary`, one series per series_specs row."""
    base = DecodeConfig(method="sam", max_new_tokens=ctx.max_new_tokens)
    out = {"x": values, "series": []}
    for spec in series_specs(vary):
        s = spec["fixed"] | {vary: values}
        lists = {k: v if isinstance(v, list) else [v] for k, v in s.items()}
        grid = Grid(*(lists[key] for key in ("l_bias", "l_threshold", "draft_policy", "draft_len")))
        rows = sweep(recs, base, grid, ctx.cost, ctx.static, ctx.vocab_size)
        by_x = {r[vary]: r for r in rows}
        out["series"].append(
            spec
            | {
                "mat": [by_x[v]["mat"] for v in values],
                "speedup": [by_x[v]["speedup"] for v in values],
            }
        )
    return out


def pooled(recs: list[Recording], ctx: Context, config: DecodeConfig) -> dict:
    """Replay of one setting over every recording: pooled MAT and predicted speedup."""
    results = [replay(r, config, ctx.cost, ctx.static, ctx.vocab_size) for r in recs]
    steps = sum(x.steps for x in results)
    ms = sum(x.predicted_ms for x in results)
    return {
        "mat": sum(x.new_tokens for x in results) / steps if steps else 0.0,
        "speedup": sum(x.plain_ms for x in results) / ms if ms else 0.0,
    }


def removal(recs: list[Recording], ctx: Context) -> list[dict]:
    """Each method of REMOVAL at our settings and at the paper's."""
    rows = []
    for method in REMOVAL:
        for setting, values in (("ours", OURS), ("paper", PAPER)):
            config = DecodeConfig(method=method, max_new_tokens=ctx.max_new_tokens, **values)
            # Token Recycling's replay learns from the text only (samdec/tuning.py).
            exact = "recycling" not in method
            rows.append(
                {"method": method, "setting": setting, "exact": exact, **pooled(recs, ctx, config)}
            )
    return rows


def measured_settings() -> list[dict]:
    """The settings --measure times: name, method and the config's values."""
    out = [{"name": "ar", "method": "ar", **OURS}]
    for n in MEASURED_DRAFT_LENS:
        out.append(
            {
                "name": f"sam fixed {n}",
                "method": "sam",
                **OURS,
                "draft_policy": "fixed",
                "draft_len": n,
            }
        )
    out += [{"name": m, "method": m, **OURS} for m in REMOVAL]
    return out


def _config(setting: dict, max_new_tokens: int) -> DecodeConfig:
    values = {k: setting[k] for k in PAPER}
    return DecodeConfig(method=setting["method"], max_new_tokens=max_new_tokens, **values)


def measure(engine, prompts: list[list[int]], settings: list[dict], max_new_tokens: int) -> dict:
    """Every setting on every prompt, interleaved, the order rotated per prompt (as the
    benchmark runs them); per setting: tokens, seconds, steps and the outputs."""
    for s in settings:  # warm-up: first calls allocate and compile
        engine.generate(prompts[0], _config(s, 8))
    runs = {s["name"]: {"tokens": 0, "seconds": 0.0, "steps": 0, "outputs": []} for s in settings}
    for i, ids in enumerate(prompts):
        for s in rotated(settings, i):
            trace = engine.generate(ids, _config(s, max_new_tokens))
            r, summary = runs[s["name"]], trace.summary
            r["tokens"] += len(trace.token_ids)
            r["seconds"] += (summary.prefill_ms + summary.decode_ms) / 1000.0
            r["steps"] += summary.steps
            r["outputs"].append(trace.token_ids)
    return runs


def measured_rows(runs: dict, settings: list[dict], predicted: dict[str, dict]) -> list[dict]:
    """Per setting: measured MAT and speedup over `ar`, whether every output was `ar`'s, and
    the replay's prediction for the same setting and questions."""
    ar = runs["ar"]
    ar_tps = ar["tokens"] / ar["seconds"] if ar["seconds"] else 0.0
    rows = []
    for s in settings:
        r = runs[s["name"]]
        tps = r["tokens"] / r["seconds"] if r["seconds"] else 0.0
        rows.append(
            {
                **s,
                "tokens": r["tokens"],
                "seconds": r["seconds"],
                "steps": r["steps"],
                "mat": r["tokens"] / r["steps"] if r["steps"] else 0.0,
                "speedup": tps / ar_tps if ar_tps else 0.0,
                "identical": r["outputs"] == ar["outputs"],
                "predicted_mat": predicted[s["name"]]["mat"],
                "predicted_speedup": predicted[s["name"]]["speedup"],
            }
        )
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-category", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--measure", action="store_true", help="also time a few settings")
    ap.add_argument("--measure-per-category", type=int, default=1)
    ap.add_argument(
        "--quick", action="store_true", help="smoke test: 1 question a category, 32 tokens"
    )
    ap.add_argument("--out", type=Path, default=Path("results/ablations.json"))
    args = ap.parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    if args.per_category < 1 or args.max_new_tokens < 1 or args.measure_per_category < 1:
        ap.error("--per-category, --max-new-tokens and --measure-per-category must be at least 1")
    if args.measure_per_category > args.per_category:
        ap.error(
            "--measure-per-category must not exceed --per-category (measured questions are "
            "recorded too)"
        )
    return args


def record_all(engine, prompts: list[list[int]], max_new_tokens: int) -> list[Recording]:
    recs = []
    for i, ids in enumerate(prompts, 1):
        engine.generate(ids, DecodeConfig(method="ar", max_new_tokens=4))  # warm-up, this length
        recs.append(record(engine, ids, max_new_tokens))
        print(f"recorded {i}/{len(prompts)}", file=sys.stderr, flush=True)
    return recs


def ablate(recs: list[Recording], ctx: Context) -> dict:
    """Every sweep and the removal table over the recordings."""
    start = time.perf_counter()
    out = {"sweeps": {vary: run_sweep(recs, ctx, vary, values) for vary, values in SWEEPS.items()}}
    out["removal"] = removal(recs, ctx)
    out["replay_seconds"] = time.perf_counter() - start
    return out


def measure_part(engine, recs: list[Recording], prompts: list[list[int]], ctx: Context) -> dict:
    settings = measured_settings()
    predicted = {s["name"]: pooled(recs, ctx, _config(s, ctx.max_new_tokens)) for s in settings}
    runs = measure(engine, prompts, settings, ctx.max_new_tokens)
    return {"rows": measured_rows(runs, settings, predicted)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from samdec.corpus import load_default_static
    from samdec.questions import load_questions, pick
    from samdec.receipts import receipt
    from samdec.runtime.loading import load_model
    from samdec.stack import engine_for

    stamp = receipt(sys.argv if argv is None else [sys.argv[0], *argv])
    loaded = load_model()
    static = load_default_static(loaded.tokenizer)
    engine = engine_for(loaded, static=static)
    questions = pick(load_questions(), args.per_category)
    prompts = [loaded.encode_chat([{"role": "user", "content": q.turns[0]}]) for q in questions]
    recs = record_all(engine, prompts, args.max_new_tokens)
    ctx = Context(engine.cost, static, engine.vocab_size, args.max_new_tokens)
    result = ablate(recs, ctx)
    measured = None
    if args.measure:
        chosen = pick(questions, args.measure_per_category)
        index = [questions.index(q) for q in chosen]
        measured = measure_part(engine, [recs[i] for i in index], [prompts[i] for i in index], ctx)
        measured["question_ids"] = [q.question_id for q in chosen]
    artifact = {
        "receipt": stamp,
        "config": {
            "per_category": args.per_category,
            "max_new_tokens": args.max_new_tokens,
            "question_ids": [q.question_id for q in questions],
            "quick": args.quick,
        },
        "new_tokens": sum(len(r.token_ids) for r in recs),
        "cost_model": engine.cost.to_dict(),
        "layout": loaded.layout,
        "paper": PAPER,
        "ours": OURS,
        **result,
        "measured": measured,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(args.out.suffix + ".tmp")
    tmp.write_text(json.dumps(artifact, indent=1) + "\n", encoding="utf-8")
    tmp.replace(args.out)  # atomic: an interrupted run leaves no half-written artifact
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
