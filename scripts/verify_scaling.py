"""What a verify step costs on one thread and on all of torch's threads, window by window beside
the cores' round trip: how much of a k-token step the threads share out, and what sharing costs
when the VM puts its two cores on different chiplets.

Each window: the round trip of one cache line between the cores (scripts/core_round_trip.cpp),
then the median of a few steps of 1 and of `--tokens` tokens after CONTEXT cached ones
(scripts/verify_cost.py's `Step`), on all threads and on one, in one process (torch's thread
count changes between them). A window counts as "shared cache" where its round trip is under
SHARED_CACHE_NS (scripts/readme_verify_cost.py), else "apart".

What it answers for #34's bound (a step of 8 tokens at most 1.5x one): one thread's 8-token step
over the thread count is what the step would cost if the threads shared its work perfectly, with
no hand-over between them at all; set against 1.5x the measured 1-token step, it says how much
room the bound leaves for everything the sharing costs.

Run it alone: any concurrent CPU work makes a forward pass many times slower here.

    python scripts/verify_scaling.py --out benchmarks/verify_scaling.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))  # verify_cost.py, readme_verify_cost.py

import torch
from readme_verify_cost import SHARED_CACHE_NS
from verify_cost import CONTEXT, Step, load_runner, measuring_tool

from samdec import receipts

BOUND = 1.5  # #34: a step of 8 tokens at most this many times a 1-token step
MEASURES = ("one_all", "k_all", "one_single", "k_single")


def window(step: Step, ids: dict[int, torch.Tensor], k: int, threads: int, repeats: int) -> dict:
    """Median ms of 1- and k-token steps on `threads` threads and on one (names: MEASURES)."""
    got = {}
    for count, label in ((threads, "all"), (1, "single")):
        torch.set_num_threads(count)
        for size, name in ((1, "one"), (k, "k")):
            reps = repeats if count > 1 else max(3, repeats // 2)  # one thread: slower steps
            got[f"{name}_{label}"] = statistics.median(step.ms(ids[size]) for _ in range(reps))
    torch.set_num_threads(threads)
    return got


def state_of(round_trip_ns: float | None) -> str:
    if round_trip_ns is None:
        return "unknown"
    return "shared cache" if round_trip_ns < SHARED_CACHE_NS else "apart"


def summary(windows: list[dict], threads: int) -> dict:
    """Per state of the cores: how many windows, the median of each measure, the step split
    perfectly (one thread's k-token step / threads), the bound (BOUND x the 1-token step) and
    the k-token step's ratio to the 1-token step."""
    by_state: dict[str, list[dict]] = {}
    for w in windows:
        by_state.setdefault(state_of(w["round_trip_ns"]), []).append(w)
    out = {}
    for state, ws in by_state.items():
        med = {m: statistics.median(w[m] for w in ws) for m in MEASURES}
        out[state] = {
            "windows": len(ws),
            "median_ms": med,
            "k_over_one": med["k_all"] / med["one_all"],
            "perfect_split_ms": med["k_single"] / threads,
            "bound_ms": BOUND * med["one_all"],
            "perfect_split_over_one": med["k_single"] / threads / med["one_all"],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layout", default="integer")
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--windows", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    threads = torch.get_num_threads()
    trip = measuring_tool("core_round_trip", "-pthread")
    runner = load_runner("bundled", args.layout, "float32")
    torch.manual_seed(0)
    step = Step(runner)
    ids = {k: torch.randint(0, runner.vocab_size, (1, k)) for k in (1, args.tokens)}
    window(step, ids, args.tokens, threads, 3)  # warm-up: first calls allocate
    windows = []
    for _ in range(args.windows):
        ns = trip().get("round_trip_ns") if trip else None
        windows.append(
            {"round_trip_ns": ns, **window(step, ids, args.tokens, threads, args.repeats)}
        )
        w = windows[-1]
        print(
            f"round trip {ns} ns: {args.tokens} tokens {w['k_all']:.2f} ms on {threads} threads, "
            f"{w['k_single']:.2f} on one; 1 token {w['one_all']:.2f} and {w['one_single']:.2f}",
            flush=True,
        )
    result = summary(windows, threads)
    for state, s in result.items():
        print(
            f"{state} ({s['windows']} windows): {args.tokens} tokens {s['k_over_one']:.2f}x one; "
            f"split perfectly {s['perfect_split_ms']:.2f} ms against the bound's "
            f"{s['bound_ms']:.2f} ({s['perfect_split_over_one']:.2f}x one)"
        )
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "receipt": receipts.receipt(sys.argv),
                    "layout": args.layout,
                    "context_tokens": CONTEXT,
                    "tokens": args.tokens,
                    "threads": threads,
                    "shared_cache_below_ns": SHARED_CACHE_NS,
                    "bound": BOUND,
                    "states": result,
                    "windows": windows,
                },
                indent=1,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
