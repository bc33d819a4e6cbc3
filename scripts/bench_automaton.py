"""Benchmark the suffix automata on a synthetic corpus that looks like tokenised text.

    python scripts/bench_automaton.py                 # 10M-token corpus
    python scripts/bench_automaton.py --tokens 20e6   # also checks build memory at 20M

Tokens are Zipf-distributed over a 49152 vocabulary, and ~30% of them are copies of earlier
spans (repeated phrases), so matches and automaton shape resemble natural text. Documents are
~300 tokens. Prints: build throughput, bytes per corpus token, save/load time, and the median
per-step time of advance(1-8 tokens) + draft(40) for the dynamic and the static automaton.
`--out benchmarks/automaton.json` also writes every printed number as JSON, with the run's
receipt (command, machine, date, versions); the README's automaton table is rendered from it.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
from samdec.automaton import DynamicSuffixAutomaton
from samdec.receipts import receipt
from samdec.static_automaton import StaticSuffixAutomaton


def synthetic_tokens(n: int, rng: np.random.Generator, vocab: int, source=None) -> np.ndarray:
    """Zipf tokens, then ~30% overwritten by copies of earlier spans (or spans of `source`)."""
    ranks = np.arange(1, vocab + 1)
    probs = 1.0 / (ranks + 2.7) ** 1.1  # Zipf-Mandelbrot, close to word frequencies
    tokens = rng.choice(vocab, size=n, p=probs / probs.sum()).astype(np.int32)
    dest = 0
    while True:
        dest += int(rng.geometric(1 / 30))  # gap of fresh tokens between copied phrases
        span = int(rng.geometric(1 / 12)) + 2
        if dest + span > n:
            return tokens
        if source is not None and rng.random() < 0.5:
            start = int(rng.integers(0, len(source) - span))
            tokens[dest : dest + span] = source[start : start + span]
        elif dest > span:
            near = rng.random() < 0.5  # half the copies come from the last few thousand tokens
            lo = max(0, dest - 5000) if near else 0
            start = int(rng.integers(lo, dest - span + 1))
            tokens[dest : dest + span] = tokens[start : start + span]
        dest += span


def split_documents(tokens: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    cuts = np.cumsum(rng.integers(150, 450, size=len(tokens) // 150 + 1))
    return np.split(tokens, cuts[cuts < len(tokens)])


def step_times(matchers: list, request: np.ndarray, prompt: int, rng) -> np.ndarray:
    """Seconds per step and matcher: advance by the tokens "accepted" this step (1-8), then
    draft 40, as a decoding loop would."""
    for matcher in matchers:
        matcher.advance(request[:prompt])
    times, i = [], prompt
    while i < len(request):
        chunk = request[i : i + int(rng.integers(1, 9))].tolist()
        times.append([])
        for matcher in matchers:
            start = time.perf_counter()
            matcher.advance(chunk)
            matcher.draft(40)
            times[-1].append(time.perf_counter() - start)
        i += len(chunk)
    return np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=float, default=10e6, help="corpus size in tokens")
    parser.add_argument("--vocab", type=int, default=49152)
    parser.add_argument("--endpos", choices=["first", "last"], default="first")
    parser.add_argument("--requests", type=int, default=20, help="requests of 3000 tokens")
    parser.add_argument("--out", default=None, help="also write the numbers as JSON, with receipt")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    # Compile (or load the compiled cache) before timing anything.
    StaticSuffixAutomaton.build([[1, 2, 1, 2]], endpos=args.endpos).cursor().advance([1, 2])
    warm = DynamicSuffixAutomaton(endpos=args.endpos)
    warm.advance([1, 2, 1, 2])

    t = time.perf_counter()
    corpus = synthetic_tokens(int(args.tokens), rng, args.vocab)
    documents = split_documents(corpus, rng)
    print(f"generated {len(corpus):,} tokens in {len(documents):,} documents "
          f"({time.perf_counter() - t:.1f} s)")  # fmt: skip
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t, cpu = time.perf_counter(), time.process_time()
    sam = StaticSuffixAutomaton.build(documents, endpos=args.endpos)
    build_s, build_cpu_s = time.perf_counter() - t, time.process_time() - cpu
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "corpus.sam"
        t = time.perf_counter()
        sam.save(path)
        save_s = time.perf_counter() - t
        t = time.perf_counter()
        loaded = StaticSuffixAutomaton.load(path)
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        loaded.verify()
        verify_s = time.perf_counter() - t
        file_mb = path.stat().st_size / 2**20

        times = []
        for _ in range(args.requests):
            request = synthetic_tokens(3000, rng, args.vocab, source=corpus)
            dynamic, cursor = DynamicSuffixAutomaton(endpos=args.endpos), loaded.cursor()
            times.append(step_times([dynamic, cursor], request, 1000, rng))
        dynamic_us, static_us = np.concatenate(times).T * 1e6
        del loaded

    n = sam.num_tokens
    numbers = {
        "corpus_tokens": int(n),
        "documents": len(documents),
        "states_per_token": float(sam.num_states / n),
        "edges_per_token": float(sam.num_edges / n),
        "build_s": build_s,
        "build_tokens_per_s": n / build_s,
        "build_cpu_s": build_cpu_s,
        "build_cpu_tokens_per_s": n / build_cpu_s,
        "peak_rss_before_build_mib": rss_before,
        "peak_rss_after_build_mib": rss_after,
        "bytes_per_token": float(sam.nbytes / n),
        "save_s": save_s,
        "file_mib": file_mb,
        "load_ms": load_s * 1e3,
        "verify_s": verify_s,
        "dynamic_step_us": _stats(dynamic_us),
        "static_step_us": _stats(static_us),
        "both_step_us_median": float(np.median(dynamic_us + static_us)),
    }
    print_rows(numbers, args)
    if args.out:
        write_json(args.out, vars(args), numbers)


def print_rows(m: dict, args: argparse.Namespace) -> None:
    rows = [
        ("corpus tokens (with separators)", f"{m['corpus_tokens']:,}"),
        ("states / edges per token", f"{m['states_per_token']:.2f} / {m['edges_per_token']:.2f}"),
        ("build (wall)", f"{m['build_s']:.2f} s = {m['build_tokens_per_s'] / 1e6:.2f} M tokens/s"),
        (
            "build (CPU time)",
            f"{m['build_cpu_s']:.2f} s = {m['build_cpu_tokens_per_s'] / 1e6:.2f} M tokens/s",
        ),
        (
            "peak RSS before / after build",
            f"{m['peak_rss_before_build_mib']:.0f} / {m['peak_rss_after_build_mib']:.0f} MiB",
        ),
        ("bytes per corpus token (nbytes / tokens)", f"{m['bytes_per_token']:.1f}"),
        ("save", f"{m['save_s']:.2f} s ({m['file_mib']:.0f} MiB file)"),
        ("load (memory-map)", f"{m['load_ms']:.2f} ms"),
        ("verify (optional full scan after load)", f"{m['verify_s']:.2f} s"),
        ("dynamic advance(1-8)+draft(40), median / p99", _quantiles(m["dynamic_step_us"])),
        ("static advance(1-8)+draft(40), median / p99", _quantiles(m["static_step_us"])),
        ("both together, median", f"{m['both_step_us_median']:.1f} us"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"\nendpos={args.endpos}, vocab={args.vocab}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def write_json(path: str, config: dict, numbers: dict) -> None:
    """The run as JSON: its receipt (command, machine, date, versions), settings and numbers."""
    config = {k: v for k, v in config.items() if k != "out"}
    report = {"receipt": receipt(), "config": config, "results": numbers}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=1) + "\n")
    print(f"-> {path}")


def _stats(us: np.ndarray) -> dict:
    return {"median": float(np.median(us)), "p99": float(np.quantile(us, 0.99)), "steps": len(us)}


def _quantiles(s: dict) -> str:
    return f"{s['median']:.1f} / {s['p99']:.1f} us ({s['steps']:,} steps)"


if __name__ == "__main__":
    main()
