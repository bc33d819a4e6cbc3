"""Check the replay against real runs: predicted vs measured MAT and speedup, and grid speed.

    python scripts/validate_tuning.py --per-category 2 --max-new-tokens 256

For each question: one recorded greedy run (samdec.tuning.record), then for each setting a real
engine run. MAT must match exactly for the SAM drafters; speedup is compared with the measured
speedup over plain decoding (the recorded run's own time). Then times a 10 x 10 grid over the
recordings. Run it on a quiet machine: timings of concurrent processes mean nothing.
The JSON (`--out`) holds the run's receipt (command, machine, date, versions), its settings,
every question's row and the summary; the README's validation table is rendered from
`--out benchmarks/tuning_validation.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from samdec.config import DecodeConfig
from samdec.corpus import load_default_static
from samdec.questions import load_questions, pick
from samdec.receipts import receipt
from samdec.runtime.loading import load_model
from samdec.stack import engine_for
from samdec.tuning import Grid, Recording, record, replay, sweep

SETTINGS = [
    ("sam", 5, 5, "cost"),
    ("sam", 0, 2, "cost"),
    ("sam", 2, 1, "cost"),
    ("sam", 5, 5, "fixed"),
    ("sam", 8, 3, "fixed"),
    ("sam+recycling", 5, 5, "cost"),
]


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-category", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--out", default="results/validate_tuning.json")
    ap.add_argument("--ids", default="", help="only these question ids (comma-separated)")
    return ap.parse_args()


def chosen_questions(args: argparse.Namespace) -> list:
    if args.ids:
        wanted = {int(x) for x in args.ids.split(",")}
        return [q for q in load_questions() if q.question_id in wanted]
    return pick(load_questions(), args.per_category)


def validate_question(engine, static, q, max_new_tokens: int) -> tuple[Recording, list[dict]]:
    """One recorded run of a question, and each setting's measured vs predicted MAT and speedup."""
    ids = engine.encode(q.turns[0])
    engine.generate(ids, method="ar", max_new_tokens=4)  # warm-up for this prompt length
    rec = record(engine, ids, max_new_tokens)
    ar = engine.generate(ids, method="ar", max_new_tokens=max_new_tokens)
    ar_ms = ar.summary.prefill_ms + ar.summary.decode_ms
    rows = []
    for method, bias, threshold, policy in SETTINGS:
        config = DecodeConfig(
            method=method,
            l_bias=bias,
            l_threshold=threshold,
            draft_policy=policy,
            max_new_tokens=max_new_tokens,
        )
        trace = engine.generate(ids, config)
        pred = replay(rec, config, engine.cost, static, engine.vocab_size)
        measured_ms = trace.summary.prefill_ms + trace.summary.decode_ms
        r = {
            "question": q.question_id,
            "category": q.category,
            "setting": f"{method} l_bias={bias} l_threshold={threshold} {policy}",
            "mat_measured": trace.summary.mat,
            "mat_predicted": pred.mat,
            "speedup_measured": ar_ms / measured_ms,
            "speedup_predicted": pred.speedup,
            "identical": trace.token_ids == rec.token_ids,
        }
        rows.append(r)
        print(
            f"{q.question_id:4d} {r['setting']:40s} MAT {r['mat_measured']:.2f}/"
            f"{r['mat_predicted']:.2f} speedup {r['speedup_measured']:.2f}/"
            f"{r['speedup_predicted']:.2f}",
            flush=True,
        )
    return rec, rows


def summarize(rows: list[dict]) -> dict[str, dict]:
    """Per setting: how many questions, how many exact MATs, mean measured/predicted speedup."""
    summary = {}
    for setting in dict.fromkeys(r["setting"] for r in rows):
        rs = [r for r in rows if r["setting"] == setting]
        meas = sum(r["speedup_measured"] for r in rs) / len(rs)
        pred = sum(r["speedup_predicted"] for r in rs) / len(rs)
        summary[setting] = {
            "questions": len(rs),
            "mat_exact": sum(abs(r["mat_measured"] - r["mat_predicted"]) < 1e-9 for r in rs),
            "speedup_measured": meas,
            "speedup_predicted": pred,
            "relative_error": abs(pred - meas) / meas,
        }
    return summary


def print_table(summary: dict[str, dict]) -> None:
    print("| setting | questions | MAT exact | measured speedup | predicted | error |")
    print("|---|---|---|---|---|---|")
    for setting, s in summary.items():
        print(
            f"| {setting} | {s['questions']} | {s['mat_exact']}/{s['questions']} | "
            f"{s['speedup_measured']:.2f}x | {s['speedup_predicted']:.2f}x | "
            f"{s['relative_error']:.0%} |"
        )


def main() -> None:
    args = parse_args()
    stamp = receipt()
    loaded = load_model()
    static = load_default_static(loaded.tokenizer)
    engine = engine_for(loaded, static=static)
    rows = []
    recordings = []
    questions = chosen_questions(args)
    for q in questions:
        rec, q_rows = validate_question(engine, static, q, args.max_new_tokens)
        recordings.append(rec)
        rows += q_rows
    start = time.perf_counter()
    grid = sweep(
        recordings,
        DecodeConfig(method="sam", max_new_tokens=args.max_new_tokens),
        Grid(range(10), range(1, 11)),
        engine.cost,
        static,
        engine.vocab_size,
    )
    grid_s = time.perf_counter() - start
    summary = summarize(rows)
    out = {
        "receipt": stamp,
        "config": {
            "per_category": args.per_category,
            "max_new_tokens": args.max_new_tokens,
            "question_ids": [q.question_id for q in questions],
            "settings": [list(s) for s in SETTINGS],
        },
        "rows": rows,
        "summary": summary,
        "grid": {"settings": len(grid), "recordings": len(recordings), "seconds": grid_s},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print_table(summary)
    print(f"grid: {len(grid)} settings x {len(recordings)} recordings in {grid_s:.1f} s")


if __name__ == "__main__":
    main()
