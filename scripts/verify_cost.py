"""What one verification step costs, and where its time goes, for the loaded model and device.

For each weight layout (and dtype) asked for, with CONTEXT tokens already in the cache:
- the cost of verifying k tokens in one forward pass, k = 1..64 (median of --repeats; every
  layout loaded at once and measured in turn, so a slow minute of the machine hits all alike);
- the weight bytes a step reads, the achieved GB/s at k = 1, against the machine's measured
  read bandwidth (a large tensor sum);
- the multiply-adds a token costs (every linear layer, and attention over CONTEXT keys), and
  how long k tokens' worth take at the machine's measured float32 matrix-multiply rate (torch's
  own kernel on large square matrices): a float32 step of k tokens cannot be cheaper, however
  its weights are stored;
- for the integer layout, the floor its arithmetic puts under each step at this CPU's measured
  vector peaks (scripts/vector_peak.cpp: vpdpbusd and float32 FMA instructions a second a core);
- where a k-token step's time goes: the decoder layers' linear layers, the output layer and
  attention, each replayed alone with the step's shapes, and the rest (norms, rotary
  embeddings, the cache, Python) as the remainder.

With --llamacpp, llama.cpp's own curve beside them, on the bundled GGUF: `llama-bench`'s pp k at
depth CONTEXT (a k-token forward pass after CONTEXT cached tokens: a verify of k tokens), built
by scripts/llamacpp_build.py, on torch's thread count, run once before samdec's curves and once
after (two sittings bracketing them; its row's curve is the median of both sittings' repetitions).

Run it alone: any concurrent CPU work makes a forward pass many times slower here.

    python scripts/verify_cost.py --out benchmarks/verify_cost.json
    python scripts/verify_cost.py --llamacpp --out benchmarks/verify_cost.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.append(str(Path(__file__).resolve().parent))  # scripts/llamacpp_build.py

import llamacpp_build
import torch
import torch.nn.functional as F

from samdec import receipts
from samdec.runtime.attention import attend, runs_row_attention
from samdec.runtime.layouts import LAYOUTS, PackedLinear, StreamedLinear, TransposedLinear
from samdec.runtime.loading import load_model
from samdec.runtime.runner import ModelRunner

SIZES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
BREAKDOWN_SIZES = (1, 8)
CONTEXT = 300


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: first calls allocate
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def read_bandwidth_gbs(repeats: int, size_mb: int = 1024) -> float:
    """GB/s of summing a tensor far bigger than the caches: what one pass over weights costs."""
    x = torch.ones(size_mb * (1 << 20) // 4, dtype=torch.float32)
    ms = median_ms(lambda: x.sum(), repeats)
    return x.numel() * 4 / (ms / 1000.0) / 1e9


def matmul_gflops(repeats: int, n: int = 2048) -> float:
    """GFLOP/s of torch's float32 matrix multiply on two n x n matrices, its fastest of
    `repeats` runs: about the best rate float32 multiply-adds reach on this machine (oneDNN's
    kernel with every core). The fastest, not the median, so that a floor computed from it is
    never too high (the median swung 140-173 GFLOP/s between runs here)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times) / 1e9


def measuring_tool(name: str, *flags: str):
    """scripts/<name>.cpp built here for this CPU: a function that runs it and reads its
    "name value" lines, or None (said) where it cannot be built."""
    folder = tempfile.TemporaryDirectory()
    binary = Path(folder.name) / name
    source = Path(__file__).resolve().parent / f"{name}.cpp"
    try:
        subprocess.run(
            ["c++", "-O2", "-march=native", *flags, str(source), "-o", str(binary)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"verify_cost: cannot build {source.name} here ({exc})")
        return None

    def run() -> dict[str, float]:
        _ = folder  # the binary's folder lives as long as this function
        try:
            out = subprocess.run([str(binary)], check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"verify_cost: {source.name} did not run here ({exc})")
            return {}
        pairs = (line.split() for line in out.stdout.splitlines())
        return {key: float(value) for key, value in pairs}

    return run


def vector_peaks() -> dict[str, float]:
    """Per core, the most vpdpbusd and float32 vfmadd231ps instructions a second
    (scripts/vector_peak.cpp, built here for this CPU); {} where it cannot be built or run."""
    run = measuring_tool("vector_peak")
    return run() if run else {}


def with_round_trip(work):
    """work()'s result and the ns one cache line takes from one core to the other and back
    (scripts/core_round_trip.cpp) before and after it, {} where that cannot be measured: the
    VM's two cores share a cache in some minutes and not in others."""
    run = measuring_tool("core_round_trip", "-pthread")
    trip = {"before": run().get("round_trip_ns")} if run else {}
    result = work()
    if run:
        trip["after"] = run().get("round_trip_ns")
    return result, trip


def integer_floor_ms(model, k: int, peaks: dict[str, float], threads: int) -> float:
    """The least a k-token step of the integer layout can cost in its two kinds of arithmetic
    alone, at `peaks` on every thread: one vpdpbusd per 64 of a linear's multiply-adds, one
    float32 FMA per 16 of attention's (scores and weighted values over CONTEXT + k keys).
    Memory, norms and everything else come on top."""
    linears, attention = token_multiply_adds(model, CONTEXT + k)
    seconds = k * linears / 64 / (peaks["vpdpbusd_per_s"] * threads)
    seconds += k * attention / 16 / (peaks["fma_per_s"] * threads)
    return seconds * 1000.0


def token_multiply_adds(model, context: int) -> tuple[int, int]:
    """(the linear layers', attention's) multiply-adds one token of a step costs: every linear
    layer's weights once (the output layer's too); attention's scores and weighted values over
    `context` keys."""
    cfg = model.config
    linears = sum(m.in_features * m.out_features for _, m in _linears(model))
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return linears, 2 * cfg.num_hidden_layers * cfg.num_attention_heads * head_dim * context


def multiply_adds_per_token(model, context: int = CONTEXT) -> int:
    """Multiply-adds one token of a step costs, linear layers and attention together."""
    return sum(token_multiply_adds(model, context))


def weight_bytes(model) -> int:
    """Bytes of weights one step reads: every linear layer's matrix and bias as its layout
    stores them (the streamed layout keeps de-quantised weights as their 4- or 8-bit codes; the
    embedding table is not read, only one row of it per token)."""
    total = 0
    for _, m in _linears(model):
        size = torch.empty((), dtype=_dtype_of(m)).element_size()
        if isinstance(m, StreamedLinear) and m.coded:
            total += m.codes.nbytes + m.scales.nbytes
        else:
            total += m.in_features * m.out_features * size
        total += m.bias.numel() * size if getattr(m, "bias", None) is not None else 0
    return total


def _dtype_of(m) -> torch.dtype:
    if isinstance(m, StreamedLinear):  # float32 rows, whatever its codes' scales are kept in
        return torch.float32
    for t in (*m.parameters(recurse=False), *m.buffers(recurse=False)):
        if t.is_floating_point():  # not the streamed layout's one-byte codes
            return t.dtype
    return torch.float32


class Step:
    """A k-token forward pass on top of CONTEXT cached tokens; the cache is cropped back."""

    def __init__(self, runner: ModelRunner) -> None:
        self.runner, self.cache = runner, runner.new_cache()
        with torch.no_grad():
            runner.prefill(self.cache, torch.randint(0, runner.vocab_size, (CONTEXT,)).tolist())

    def ms(self, ids: torch.Tensor) -> float:
        start = time.perf_counter()
        with torch.no_grad():
            self.runner.verify(self.cache, ids[0].tolist(), list(range(-1, ids.shape[1] - 2)))
        elapsed = (time.perf_counter() - start) * 1000.0
        self.cache.crop(-ids.shape[1])
        return elapsed


def interleaved_curves(steps: list[Step], sizes, repeats: int) -> list[dict[int, float]]:
    """Median ms per (row, k), the rows and sizes taken in turn within each repeat: a machine
    that slows down for a while slows every row alike (sequential rows differed by 10-20%
    here from one minute to the next)."""
    ids = {k: torch.randint(0, steps[0].runner.vocab_size, (1, k)) for k in sizes}
    times: list[dict[int, list[float]]] = [{k: [] for k in sizes} for _ in steps]
    for rep in range(repeats + 1):  # the first round warms up (first calls allocate)
        for k in sizes:
            for step, row in zip(steps, times, strict=True):
                elapsed = step.ms(ids[k])
                if rep:
                    row[k].append(elapsed)
    return [{k: statistics.median(row[k]) for k in sizes} for row in times]


def _linears(model) -> list[tuple[str, torch.nn.Module]]:
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear | TransposedLinear | PackedLinear | StreamedLinear)
    ]


def breakdown(model, k: int, total_ms: float, repeats: int) -> dict[str, float]:
    """Each part replayed alone with a k-token step's shapes; the rest is the remainder."""
    cfg = model.config
    layers = _linears(model)
    head = model.get_output_embeddings()
    decoder = [m for _, m in layers if m is not head]
    with torch.no_grad():
        xs = {m: torch.randn(1, k, m.in_features, dtype=_dtype_of(m)) for m in [*decoder, head]}
        linear_ms = median_ms(lambda: [m(xs[m]) for m in decoder], repeats)
        head_ms = median_ms(lambda: head(xs[head]), repeats)
        heads, groups = cfg.num_attention_heads, cfg.num_key_value_heads
        dim = cfg.hidden_size // heads
        dt = _dtype_of(head)
        q = torch.randn(1, heads, k, dim, dtype=dt)
        # Grouped key/value heads read in place, as the engine runs them on a CPU
        # (samdec.runtime.layouts.grouped_attention_on_cpu).
        keys = torch.randn(1, groups, CONTEXT + k, dim, dtype=dt)
        values = torch.randn(1, groups, CONTEXT + k, dim, dtype=dt)
        # The mask transformers builds: none for one token, else a boolean chain.
        mask = torch.ones(1, 1, k, CONTEXT + k, dtype=torch.bool).tril(CONTEXT) if k > 1 else None
        scale = dim**-0.5
        rows = runs_row_attention(model)

        def attention() -> None:  # the model's own: samdec.runtime.attention's row kernel, or SDPA
            for _ in range(cfg.num_hidden_layers):
                if rows:
                    attend(q, keys, values, mask, False, scale)
                else:
                    F.scaled_dot_product_attention(
                        q, keys, values, attn_mask=mask, scale=scale, enable_gqa=True
                    )

        attention_ms = median_ms(attention, repeats)
    rest = total_ms - linear_ms - head_ms - attention_ms
    return {
        "decoder_linears_ms": linear_ms,
        "output_layer_ms": head_ms,
        "attention_ms": attention_ms,
        "rest_ms": rest,  # norms, rotary embeddings, the cache, Python
        "total_ms": total_ms,
    }


def load_runner(spec: str, layout: str, dtype: str) -> ModelRunner:
    return ModelRunner(load_model(spec, device="cpu", dtype=dtype, layout=layout))


def describe(
    runner: ModelRunner, curve: dict[int, float], repeats: int, peaks=None, threads: int = 1
) -> dict:
    """A layout's row: its curve, weight bytes and breakdown; for the integer layout, with the
    machine's vector peaks, the floor its arithmetic puts under each step (`integer_floor_ms`)
    against its measured 1-token step."""
    loaded = runner.loaded
    nbytes = weight_bytes(loaded.model)
    parts = {
        k: breakdown(loaded.model, k, curve[k], repeats) for k in BREAKDOWN_SIZES if k in curve
    }
    return {
        "layout": loaded.layout,
        "dtype": loaded.dtype,
        "weight_bytes": nbytes,
        "multiply_adds_per_token": multiply_adds_per_token(loaded.model),
        "verify_ms": {str(k): v for k, v in curve.items()},
        "ratio_to_one": {str(k): v / curve[1] for k, v in curve.items()},
        "weights_gbs_at_1": nbytes / (curve[1] / 1000.0) / 1e9,
        "breakdown": {str(k): v for k, v in parts.items()},
        **(floors(loaded.model, curve, peaks, threads) if loaded.layout == "integer" else {}),
    }


def floors(model, curve: dict[int, float], peaks, threads: int) -> dict:
    if not peaks:
        return {}
    floor = {str(k): integer_floor_ms(model, k, peaks, threads) for k in curve}
    return {
        "arithmetic_floor_ms": floor,
        "floor_over_one": {k: v / curve[1] for k, v in floor.items()},
    }


# -----------------------------------------------------------------------------
# llama.cpp's own curve (--llamacpp)

LLAMACPP = llamacpp_build.NAME


def pp_curve(text: str, sizes, threads: int, depth: int = CONTEXT) -> dict:
    """One sitting of `llama-bench -o json`'s prompt-processing tests: pp k at `depth` on
    `threads` threads for each k in `sizes`, in ms (llama-bench's mean, its standard deviation,
    each repetition), and the build and model it reports. ValueError where the output is not
    llama-bench's JSON, lacks a size's pp test, or was measured at another depth (a curve at
    another depth is not comparable with samdec's) or on another number of threads."""
    by_k: dict[int, dict] = {}
    for t in llamacpp_build.bench_tests(text):
        if t.get("n_gen") != 0 or not t.get("n_prompt"):
            continue  # not a prompt-processing test
        k = t["n_prompt"]
        if t.get("n_depth") != depth:
            raise ValueError(
                f"llama-bench measured pp{k} at depth {t.get('n_depth')}, not {depth}: a curve "
                "at another depth is not comparable with samdec's"
            )
        if t.get("n_threads") != threads:
            raise ValueError(
                f"llama-bench ran pp{k} on {t.get('n_threads')} threads, not {threads}"
            )
        by_k[k] = t
    missing = [str(k) for k in sizes if k not in by_k]
    if missing:
        raise ValueError(
            "llama-bench's output has no prompt-processing (pp) test at depth "
            f"{depth} for k = {', '.join(missing)}"
        )
    try:
        avg = {str(k): by_k[k]["avg_ns"] / 1e6 for k in sizes}
        stddev = {str(k): by_k[k]["stddev_ns"] / 1e6 for k in sizes}
        samples = {str(k): [ns / 1e6 for ns in by_k[k]["samples_ns"]] for k in sizes}
    except (KeyError, TypeError) as exc:
        raise ValueError(f"llama-bench's pp tests lack their timings ({exc!r})") from None
    first = by_k[sizes[0]]
    return {
        "build_commit": first.get("build_commit", "unknown"),
        "model_type": first.get("model_type", ""),
        "test_time": first.get("test_time", ""),
        "avg_ms": avg,
        "stddev_ms": stddev,
        "samples_ms": samples,
    }


def llamacpp_command(sizes, threads: int, repeats: int) -> list[str]:
    """`llama-bench`'s pp k for every k in `sizes` at depth CONTEXT, on the bundled GGUF."""
    from samdec.runtime.bundled import gguf_path

    bench = str(llamacpp_build.binaries()["llama-bench"])
    flags = f"-n 0 -d {CONTEXT} -t {threads} -r {repeats} -o json".split()
    flags = ["-p", ",".join(map(str, sizes)), *flags, *llamacpp_build.tool_flags("llama-bench")]
    return [bench, "-m", str(gguf_path()), *flags]


def llamacpp_sitting(command, sizes, threads: int, when: str, run=llamacpp_build.run_tool) -> dict:
    """One run of llama-bench's curve (`when`: before or after samdec's curves); exits with a
    message naming what is wrong where its output is not the curve asked for."""
    text = run(command, "verify_cost")
    try:
        return {"when": when, **pp_curve(text, sizes, threads)}
    except ValueError as exc:
        sys.exit(f"verify_cost: {exc}")


def llamacpp_row(sittings: list[dict], command: list[str], threads: int, built: dict) -> dict:
    """llama.cpp's row beside samdec's: for each k, the median of both sittings' repetitions
    (samdec's rows are medians too), each sitting as llama-bench reported it, the command, the
    threads and the build's receipt. No breakdown and no weight bytes: llama.cpp's parts are not
    replayed here."""
    sizes = list(sittings[0]["samples_ms"])
    if any(list(s["samples_ms"]) != sizes for s in sittings):
        raise ValueError("llama-bench's sittings measured different sizes")
    samples = {k: [ms for s in sittings for ms in s["samples_ms"][k]] for k in sizes}
    curve = {k: statistics.median(v) for k, v in samples.items()}
    commits = sorted({s["build_commit"] for s in sittings})
    quant = (sittings[0]["model_type"].split() or ["?"])[-1]
    return {
        "layout": LLAMACPP,
        "dtype": f"{quant} (GGUF)",
        "device": "cpu",  # llama.cpp's CPU backend: never taken for a GPU curve (samdec.tuning)
        "system": f"llama-bench {'/'.join(commits)} ({built.get('package', 'llama.cpp')}'s "
        f"sources), pp k at depth {CONTEXT}, {threads} threads",
        **({"note": note} if (note := llamacpp_build.tool_note()) else {}),
        "command": ["llama-bench", *command[1:]],
        "threads": threads,
        "verify_ms": curve,
        "ratio_to_one": {k: v / curve["1"] for k, v in curve.items()},
        "samples_ms": samples,
        "sittings": sittings,
        "build": built,
    }


# -----------------------------------------------------------------------------
# the printout


def table(rows: list[dict], bandwidth: float) -> str:
    """The curves, one row each; "-" where a row has no weight bytes (llama.cpp's)."""
    sizes = list(rows[0]["verify_ms"])
    head = "| layout, dtype | " + " | ".join(sizes) + " | 8 vs 1 | GB/s at 1 |"
    lines = [head, "|" + "---|" * (len(sizes) + 3)]
    for r in rows:
        cells = " | ".join(f"{r['verify_ms'][s]:.0f}" for s in sizes)
        ratio = r["ratio_to_one"].get("8")
        gbs = r.get("weights_gbs_at_1")
        lines.append(
            f"| {r['layout']}, {r['dtype']} | {cells} | "
            f"{'-' if ratio is None else f'{ratio:.2f}x'} | "
            f"{'-' if gbs is None else f'{gbs:.1f} of {bandwidth:.1f}'} |"
        )
    return "\n".join(lines)


def printout(rows: list[dict], bandwidth: float, gflops: float) -> str:
    """What the script prints: the table, the float32 arithmetic floor, each breakdown (rows
    without one, llama.cpp's, have none to print)."""
    lines = [f"read bandwidth: {bandwidth:.1f} GB/s; context {CONTEXT} tokens; ms per step"]
    lines.append(table(rows, bandwidth))
    macs = next(r["multiply_adds_per_token"] for r in rows if "multiply_adds_per_token" in r)
    floor_8 = 2 * macs * 8 / (gflops * 1e6)
    lines.append(
        f"float32 matmul: {gflops:.0f} GFLOP/s; {macs / 1e6:.0f} M multiply-adds a token; "
        f"8 tokens' take {floor_8:.1f} ms at that rate"
    )
    for r in rows:
        for k, part in r.get("breakdown", {}).items():
            shares = ", ".join(f"{n[:-3]} {v:.1f}" for n, v in part.items())
            lines.append(f"{r['layout']}, {r['dtype']}, k={k}: {shares} (ms)")
    for r in rows:
        for k in ("4", "8"):
            if k in r.get("floor_over_one", {}):
                lines.append(
                    f"{r['layout']}, k={k}: its arithmetic alone at the vector peaks "
                    f"{r['arithmetic_floor_ms'][k]:.1f} ms, {r['floor_over_one'][k]:.2f}x its "
                    "measured 1-token step"
                )
    for r in rows:
        if "system" in r:
            lines.append(f"{r['layout']}: {r['system']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="bundled")
    ap.add_argument(
        "--rows",
        default=",".join([*(f"{layout}:float32" for layout in LAYOUTS), "stock:bfloat16"]),
        help="layout:dtype pairs to measure",
    )
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--out", type=Path)
    ap.add_argument(
        "--llamacpp",
        action="store_true",
        help="llama.cpp's own curve too (llama-bench, built once by scripts/llamacpp_build.py)",
    )
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    threads = torch.get_num_threads()
    built = llamacpp_build.build() if args.llamacpp else None
    command = llamacpp_command(sizes, threads, args.repeats) if args.llamacpp else None
    peaks = vector_peaks()
    bandwidth = read_bandwidth_gbs(args.repeats)
    gflops = matmul_gflops(3 * args.repeats)
    pairs = [row.split(":") for row in args.rows.split(",")]
    runners = [load_runner(args.model, layout, dtype) for layout, dtype in pairs]
    steps = [Step(r) for r in runners]
    sittings = [llamacpp_sitting(command, sizes, threads, "before")] if args.llamacpp else []
    curves, round_trip = with_round_trip(lambda: interleaved_curves(steps, sizes, args.repeats))
    rows = [
        describe(r, c, args.repeats, peaks, threads) for r, c in zip(runners, curves, strict=True)
    ]
    if args.llamacpp:
        sittings.append(llamacpp_sitting(command, sizes, threads, "after"))
        rows.append(llamacpp_row(sittings, command, threads, built))
    print(printout(rows, bandwidth, gflops))
    if round_trip:
        print(f"core to core and back: {round_trip} ns")
    if args.out:
        result = {
            "receipt": receipts.receipt(sys.argv),
            "context_tokens": CONTEXT,
            "threads": threads,
            "vector_peaks_per_core": peaks,
            "read_bandwidth_gbs": bandwidth,
            "core_round_trip_ns": round_trip,
            "matmul_gflops": gflops,
            "rows": rows,
        }
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
