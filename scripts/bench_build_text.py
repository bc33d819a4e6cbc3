"""Build a static automaton over tens of millions of tokens of *real* text, timed.

    python scripts/bench_build_text.py                      # 20M tokens of Python source
    python scripts/bench_build_text.py --tokens 5e6 --root /usr/share/doc

The text is whatever large public text the machine has; by default the Python sources of this
interpreter's standard library and installed packages (hundreds of MB of real, repetitive
text, the kind retrieval drafting feeds on). Files are read in sorted order until the token
target is reached; each file is one document. Prints tokenize time, build time and throughput,
bytes per token, the saved file size and the peak resident memory of the whole process.
`--out benchmarks/build_text.json` also writes those numbers as JSON, with the run's receipt
(command, machine, date, versions); the README's paragraph is rendered from it.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled
from samdec.corpus import tokenize_documents
from samdec.receipts import receipt
from samdec.runtime.loading import load_model
from samdec.static_automaton import StaticSuffixAutomaton


def source_files(roots: list[Path], suffix: str):
    for root in roots:
        yield from sorted(root.rglob(f"*{suffix}"))


def read_texts(roots: list[Path], suffix: str):
    for path in source_files(roots, suffix):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if text.strip():
            yield text


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux


def main() -> int:
    default_roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=float, default=20e6)
    ap.add_argument("--root", type=Path, nargs="+", default=default_roots)
    ap.add_argument("--suffix", default=".py")
    ap.add_argument("--out", type=Path, default=None, help="also write the numbers as JSON")
    args = ap.parse_args()
    target = int(args.tokens)

    tokenizer = load_model().tokenizer
    start = time.perf_counter()
    docs, total, nbytes = [], 0, 0
    for ids in tokenize_documents(tokenizer, read_texts(args.root, args.suffix), batch=64):
        docs.append(ids[: target - total])
        total += len(docs[-1])
        if total >= target:
            break
    tokenize_s = time.perf_counter() - start
    if total < target:
        print(f"only {total:,} tokens under {args.root}", file=sys.stderr)
    rss_before = peak_rss_gb()

    StaticSuffixAutomaton.build([[1, 2, 1, 2]])  # numba compiles here, not inside the timing
    start = time.perf_counter()
    sam = StaticSuffixAutomaton.build(docs)
    build_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "text.sam"
        sam.save(path)
        nbytes = path.stat().st_size
    numbers = {
        "documents": len(docs),
        "tokens": total,
        "tokenize_s": tokenize_s,
        "build_s": build_s,
        "build_tokens_per_s": total / build_s,
        "states": int(sam.num_states),
        "file_bytes": nbytes,
        "bytes_per_token": nbytes / total,
        "peak_rss_gb": peak_rss_gb(),
        "peak_rss_after_tokenize_gb": rss_before,
    }
    print_numbers(numbers, args)
    if args.out:
        config = {"tokens": target, "root": [str(r) for r in args.root], "suffix": args.suffix}
        report = {"receipt": receipt(), "config": config, "results": numbers}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"-> {args.out}")
    return 0


def print_numbers(m: dict, args: argparse.Namespace) -> None:
    print(f"text: *{args.suffix} under {', '.join(map(str, args.root))}")
    print(f"documents {m['documents']:,}, tokens {m['tokens']:,} ", end="")
    print(f"(tokenized in {m['tokenize_s']:.1f} s)")
    print(
        f"build {m['build_s']:.1f} s = {m['build_tokens_per_s'] / 1e6:.2f} M tokens/s, "
        f"{m['states']:,} states"
    )
    print(f"saved file {m['file_bytes'] / 1e9:.2f} GB = {m['bytes_per_token']:.0f} bytes/token")
    print(f"peak RSS {m['peak_rss_gb']:.2f} GB (after tokenizing: ", end="")
    print(f"{m['peak_rss_after_tokenize_gb']:.2f} GB)")


if __name__ == "__main__":
    raise SystemExit(main())
