"""Render the README's measured numbers from the committed artifacts under benchmarks/.

    python scripts/render_readme.py            # rewrite the generated blocks of README.md
    python scripts/render_readme.py --check    # exit 1 and print a diff when README.md is stale,
                                               # or name a measured number outside the blocks

A generated block is `<!-- receipt: NAME -->` ... `<!-- /receipt -->`. NAME picks one function
below that turns the artifacts it reads into Markdown: the tables and every sentence that
carries a number, with the command, date and machine of the run. A block whose artifact is not
committed yet says how to make it, and carries no number. tests/test_readme.py checks that the
README is what this renders and that no measured-looking number stands outside a block.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import statistics
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BENCH = ROOT / "benchmarks"
BLOCK = re.compile(r"<!-- receipt: ([\w-]+) -->\n.*?<!-- /receipt -->", re.S)
PLAIN = ("ar", "hf-generate")  # plain decoding, two implementations (samdec.bench.PLAIN)

# -----------------------------------------------------------------------------
# formatting


def x(v: float) -> str:
    return f"{v:.2f}x"


def share(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return "–" if v is None else f"{v:.0%}"


def num(v, spec: str = ".2f") -> str:
    return "–" if v is None else format(v, spec)


def table(head: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def date(text: str) -> str:
    """'2026-11-28 17:37 UTC' from an ISO date with a time zone; other forms as they are."""
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        return text
    return d.strftime("%Y-%m-%d %H:%M UTC") if d.utcoffset() is not None else text


def receipt_of(artifact: dict) -> dict:
    """The artifact's receipt; files from before receipts give their own command, date, machine."""
    if "receipt" in artifact:
        return artifact["receipt"]
    return {k: artifact[k] for k in ("command", "date", "machine")}


def machine(m: dict) -> str:
    cpus = m.get("cpu_count") or m.get("cpus")
    where = m.get("cpu") or m.get("platform", "").split("-")[0] or "unknown CPU"
    text = f"{where}, {cpus} CPUs"
    return text + (f", GPU {m['gpu']}" if m.get("gpu") else "")


def provenance(artifact: dict, name: str) -> str:
    """'`COMMAND` (`benchmarks/NAME`; DATE, MACHINE, torch V (threads), commit C)'."""
    r = receipt_of(artifact)
    bits = [date(r["date"]), machine(r["machine"])]
    torch = r.get("packages", {}).get("torch") or r["machine"].get("torch")
    if torch:
        m = r["machine"]
        spin = f", GOMP_SPINCOUNT {m['gomp_spincount']}" if m.get("gomp_spincount") else ""
        threads = f" ({m['torch_threads']} threads, OMP_WAIT_POLICY {m['omp_wait_policy']}{spin})"
        bits.append(f"torch {torch}" + (threads if "omp_wait_policy" in m else ""))
    if "receipt" not in artifact:
        bits.append("no package versions: the file predates receipts")
    if r.get("commit"):
        dirty = "+changes" if r["commit"].endswith("+changes") else ""
        bits.append(f"commit {r['commit'][:7]}{dirty}")
    return f"`{r['command']}` (`benchmarks/{name}`; {', '.join(bits)})"


# -----------------------------------------------------------------------------
# load test: the app as it ships, the same with PASSIVE OpenMP threads, and two memory runs of
# scripts/load_test.py from before receipts existed

LOAD_RUNS = {
    "load_test_default_malloc_5_rounds.json": "with glibc's default malloc arenas (before the app "
    "capped them at start-up)",
    "load_test_malloc_arena_max_2.json": "with `MALLOC_ARENA_MAX=2` in the server's environment",
}


def rss(a: dict) -> list[float]:
    """The server's memory, MB: before the load, then after each round."""
    return [a["server_rss_mb"]["before"], *a["server_rss_mb"]["after_each_round"]]


def server_waits(a: dict) -> str:
    """How the server's OpenMP threads waited, where the file says (newer runs do)."""
    if "server_env" not in a:
        return ""
    set_ = [f"{k}={v}" for k, v in a["server_env"].items() if v is not None]
    return f"; the server with {', '.join(set_)}" if set_ else "; the server as app.py sets it up"


def load_test(arts: dict) -> str:
    a = arts["load_test.json"]
    before, *after = rss(a)
    memory = f"{before:,.0f} MB before, " + ", ".join(
        f"{v:,.0f} after round {i}" for i, v in enumerate(after, 1)
    )
    row = [a["requests"], a["ok"], a["errors"], a["busy"], f"{a['identical']} / {a['requests']}"]
    solo = f"{a['solo_median_s']:.2f} s" if "solo_median_s" in a else "–"
    row += [solo, f"{a['p50_s']:.1f} s", f"{a['p95_s']:.1f} s", memory]
    head = ["requests", "ok", "errors", "busy", "identical to the solo run"]
    head += ["one request alone, median", "under load: latency p50", "p95", "server memory"]
    parts = [
        f"{provenance(a, 'load_test.json')}: {a['clients']} clients, {a['requests']} requests "
        f"in {a['rounds']} rounds, {a['max_new_tokens']} new tokens each{server_waits(a)}.",
        table(head, [row]),
    ]
    if b := arts.get("load_test_passive.json"):
        parts.append(
            f"The same load with `OMP_WAIT_POLICY=PASSIVE` (the app's setting before it spun "
            f"briefly): one request alone {b['solo_median_s']:.2f} s (median), under load p50 "
            f"{b['p50_s']:.1f} s, p95 {b['p95_s']:.1f} s, {b['identical']} / {b['requests']} "
            f"identical; {provenance(b, 'load_test_passive.json')}."
        )
    for name, how in LOAD_RUNS.items():
        if b := arts.get(name):
            steps = " -> ".join(f"{v:,.0f}" for v in rss(b))
            parts.append(
                f"Server memory {how}, MB before the load and after each of {b['rounds']} rounds "
                f"of {b['requests'] // b['rounds']} requests: {steps}; {provenance(b, name)}."
            )
    return "\n\n".join(parts)


# -----------------------------------------------------------------------------
# the benchmark: python -m samdec bench (samdec/bench.py's results.json)


def tps(runs: list[dict]) -> float:
    seconds = sum(r["seconds"] for r in runs)
    return sum(r["tokens"] for r in runs) / seconds if seconds else 0.0


def per_question(runs: list[dict], ar: list[dict]) -> list[float]:
    """Each question's tokens/s over `ar`'s on the same question."""
    ref = {r["question_id"]: r for r in ar}
    return [tps([r]) / tps([ref[r["question_id"]]]) for r in runs if r["question_id"] in ref]


def categories(m: dict) -> dict:
    return m.get("categories", m.get("per_category", {}))


def method_table(methods: dict) -> str:
    cats = sorted({c for m in methods.values() for c in categories(m)})
    stock = any(m.get("speedup_vs_stock") is not None for m in methods.values())
    rows = []
    for name, m in methods.items():
        cells = [num(categories(m).get(c, {}).get("speedup")) + "x" for c in cats]
        row = [name, f"{m['tokens_per_s']:.1f}", num(m["speedup"]) + "x"]
        row += [num(m.get("speedup_vs_stock")) + "x"] if stock else []
        rows.append([*row, num(m["mat"]), share(m["identical"]), *cells])
    head = ["method", "tokens/s", "speedup", *(["vs stock generate"] if stock else [])]
    return table([*head, "MAT", "identical", *cats], rows)


def question_table(runs: dict) -> str:
    rows = []
    for name, rs in runs.items():
        s = per_question(rs, runs["ar"]) if name != "ar" else []
        if s:
            rows.append([name, x(statistics.median(s)), f"{x(min(s))} - {x(max(s))}"])
    return table(["method", "median", "min - max"], rows)


def step_table(runs: dict) -> str:
    rows = []
    for name, rs in runs.items():
        steps = sum(r["steps"] for r in rs)
        if steps:
            tokens, seconds = sum(r["tokens"] for r in rs), sum(r["seconds"] for r in rs)
            rows.append([name, steps, f"{tokens / steps:.2f}", f"{seconds * 1e3 / steps:.1f}"])
    return table(["method", "steps", "tokens per step", "ms per step"], rows)


def decode_table(methods: dict) -> str | None:
    """Decoding alone, for the methods that timed their prefill apart; None if none did."""
    timed = {n: m for n, m in methods.items() if m.get("decode_tokens_per_s") is not None}
    if "ar" not in timed:
        return None
    rows = [
        [name, f"{m['prefill_seconds']:.1f}", f"{m['decode_tokens_per_s']:.1f}",
         num(m.get("decode_speedup")) + "x"]
        for name, m in timed.items()
    ]  # fmt: skip
    return table(["method", "prefill s", "decoding tokens/s", "vs `ar` decoding"], rows)


def category_ratios(runs: list[dict], ref: list[dict]) -> dict[str, float]:
    """Per category: tokens/s of `runs` over tokens/s of `ref`."""
    cats = sorted({r["category"] for r in runs})
    return {
        c: tps([r for r in runs if r["category"] == c])
        / tps([r for r in ref if r["category"] == c])
        for c in cats
    }


def target(goal: str, measured: str, met: bool) -> list[str]:
    return [goal, measured, "met" if met else "missed"]


def targets(methods: dict, runs: dict) -> str:
    """The benchmark issue's targets against this run (rows whose methods ran)."""
    same = {m: v["identical"] for m, v in methods.items() if v["identical"] is not None}
    low = min(same, key=same.get)
    seen = f"all {len(same)} methods" if same[low] == 1 else f"lowest {share(same[low])} (`{low}`)"
    rows = [target("`identical` = 100% for every method", seen, same[low] == 1)]
    if "sam" in runs and "ar" in runs:
        sam, ar = runs["sam"], runs["ar"]
        by_cat = category_ratios(sam, ar)
        worst = min(by_cat, key=by_cat.get)
        rows.append(
            target(
                "`sam` >= 1.1x `ar` in every category",
                f"worst {x(by_cat[worst])} (`{worst}`)",
                by_cat[worst] >= 1.1,
            )
        )
        plain = max((m for m in PLAIN if m in runs), key=lambda m: tps(runs[m]))
        ratio = tps(sam) / tps(runs[plain])
        rows.append(
            target(f"`sam` >= 1.6x the faster plain baseline (`{plain}`)", x(ratio), ratio >= 1.6)
        )
        if "hf-stock" in runs:
            ratio = tps(sam) / tps(runs["hf-stock"])
            rows.append(target("`sam` >= 2.0x stock `generate`", x(ratio), ratio >= 2.0))
        plds = [m for m in runs if m.split(":")[0] == "pld"]
        if plds:
            best = max(plds, key=lambda m: tps(runs[m]))
            ratio = tps(sam) / tps(runs[best])
            rows.append(target(f"`sam` >= 1.35x the best PLD (`{best}`)", x(ratio), ratio >= 1.35))
    sam_x = methods.get("sam", {}).get("speedup")
    for combo in ("sam+recycling", "sam+graft"):
        if sam_x is not None and combo in methods:
            both = methods[combo]["speedup"]
            rows.append(target(f"`{combo}` >= `sam`", f"{x(both)} vs {x(sam_x)}", both >= sam_x))
    return table(["target (benchmark issue)", "measured", "verdict"], rows)


def specbench(arts: dict) -> str:
    res = arts["specbench.json"]
    cfg, methods, runs = res["config"], res["methods"], res.get("runs", {})
    plain = {m: methods[m]["tokens_per_s"] for m in PLAIN if m in methods}
    best = max(plain, key=plain.get)
    others = ", ".join(f"`{m}` {v:.1f} tokens/s" for m, v in plain.items() if m != best)
    # Each prompt lookup method the run holds, with its settings (files from before
    # "pld_methods" existed name plain `pld`'s only).
    plds = cfg.get("pld_methods") or {"pld": cfg.get("pld", {})}
    pld = "; ".join(
        f"`{m}` is `generate({', '.join(f'{k}={v}' for k, v in setting.items())})`"
        for m, setting in plds.items()
    )
    head = (
        f"{provenance(res, 'specbench.json')}: {cfg['questions']} Spec-Bench questions, at most "
        f"{cfg['max_new_tokens']} new tokens, `{cfg.get('turns', 'first')}` turn"
        + (f", the `{cfg['layout']}` weight layout" if cfg.get("layout") else "")
        + f"; {pld}. The faster plain baseline was `{best}` at {plain[best]:.1f} tokens/s"
        + (f" ({others})." if others else ".")
    )
    if not res.get("complete", True):
        head += " The run did not finish: these are the questions it completed."
    parts = [head, method_table(methods)]
    if "ar" in runs:
        parts += ["Per question, tokens/s against `ar` on the same question:", question_table(runs)]
    parts += ["Per verification step, over all questions (seconds include prefill):"]
    parts += [step_table(runs)]
    decoding = decode_table(methods)
    if decoding:
        ar = methods["ar"]
        whole = ar["new_tokens"] / ar["tokens_per_s"]
        parts += [
            "Decoding alone: the prompt's forward pass (prefill) is the same work for every "
            f"method, {ar['prefill_seconds'] / whole:.0%} of `ar`'s time in this run, so it "
            "dilutes every speedup above; here it is left out:",
            decoding,
        ]
    points = cfg.get("cost_model", {}).get("points")
    if points:  # what the cost-aware policy priced drafts with: this machine's, at the run
        ms = sorted((int(k), v) for k, v in points.items())
        curve = ", ".join(f"{k}: {v:.1f}" for k, v in ms)
        eight = dict(ms).get(8)
        parts += [
            f"The run's verify-cost curve (ms a step by tokens verified, the engine's own "
            f"calibration): {curve}"
            + (f"; 8 tokens cost {eight / ms[0][1]:.2f}x one." if eight and ms[0][0] == 1 else ".")
        ]
    return "\n\n".join([*parts, targets(methods, runs)])


LAYOUT_RUNS = ("layouts/streamed.json", "layouts/stock.json", "layouts/packed.json")


def layouts(arts: dict) -> str:
    """Short benchmark runs of the same questions, one per weight layout."""
    done = [(f, arts[f]) for f in LAYOUT_RUNS if arts.get(f)]
    rows = []
    for _, a in done:
        m = a["methods"]
        rows.append(
            [
                f"`{a['config']['layout']}`",
                f"{m['ar']['tokens_per_s']:.1f}",
                f"{m['sam']['tokens_per_s']:.1f}",
                num(m["sam"]["mat"]),
                f"{m['sam+recycling']['tokens_per_s']:.1f}",
                num(m["sam+recycling"]["mat"]),
                share(min(v["identical"] for v in m.values())),
            ]
        )
    cfg = done[0][1]["config"]
    head = (
        f"The same {cfg['questions']} Spec-Bench questions, at most {cfg['max_new_tokens']} new "
        "tokens, in each layout, one run after another, alone: "
        + "; ".join(provenance(a, f) for f, a in done)
        + "."
    )
    cols = ["layout", "`ar` tokens/s", "`sam` tokens/s", "`sam` MAT", "`sam+recycling` tokens/s"]
    return "\n\n".join([head, table([*cols, "its MAT", "identical"], rows)])


# -----------------------------------------------------------------------------
# scripts/tune_pld.py and the sampling MAT measurement


def pld_tuning(arts: dict) -> str:
    a = arts["pld_tuning.json"]
    cfg = a["config"]
    prompts = cfg["prompts"] if isinstance(cfg["prompts"], int) else len(cfg["prompts"])
    rows = [
        [
            r["num_tokens"] or "plain `generate`",
            f"{r['tokens_per_s']:.1f}",
            x(r["speedup"]),
            share(r["identical"]),
        ]
        for r in a["results"]
    ]
    return "\n\n".join(
        [
            f"{provenance(a, 'pld_tuning.json')}: {prompts} prompts from {cfg['source']}, at most "
            f"{cfg['max_new_tokens']} new tokens.",
            table(["`prompt_lookup_num_tokens`", "tokens/s", "speedup", "identical"], rows),
            f"Chosen: {a['chosen']} (`pld:{a['chosen']}` in the benchmark).",
        ]
    )


def _setting(r: dict) -> str:
    policy = "cost-aware" if r["draft_policy"] == "cost" else "fixed length"
    return f"({r['l_bias']}, {r['l_threshold']}), {policy}, draft length {r['draft_len']}"


def defaults_tuning(arts: dict) -> str:
    a = arts["defaults_tuning.json"]
    sources = sorted({p.split(":", 1)[0] for p in a["prompts"]})
    rows = []  # predicted speedup: over plain decoding, both costed with the same curve
    for name, m in a["methods"].items():
        for label, r in (("best", m["best"]), ("chosen", m["at_chosen"]), ("paper", m["at_paper"])):
            if r is not None:
                rows.append([f"`{name}`", label, _setting(r), f"{r['mat']:.2f}", x(r["speedup"])])
    return "\n\n".join(
        [
            f"{provenance(a, 'defaults_tuning.json')}: {len(a['prompts'])} corpus prompts "
            f"({', '.join(sources)}), answers left out of the static automaton, at most "
            f"{a['max_new_tokens']} new tokens ({a['new_tokens']} recorded), predicted with "
            f"this machine's verify-cost curve ({a['layout']} layout).",
            table(["method", "which", "(l_bias, l_threshold), length", "MAT", "speedup"], rows),
            f"Chosen, the defaults in `samdec/config.py`: {_setting(a['chosen'])}.",
        ]
    )


def sampling_mat(arts: dict) -> str:
    a = arts["sampling_mat.json"]
    cfg, same = a["config"], a["identical_across_methods"]
    questions = cfg["questions"] if isinstance(cfg["questions"], int) else len(cfg["questions"])
    rows = [[m, num(r["before"]["mat"]), num(r["after"]["mat"])] for m, r in a["results"].items()]
    head = ["method", "MAT before (rejection sampling)", "MAT after (per-position Gumbel-max)"]
    return "\n\n".join(
        [
            f"{provenance(a, 'sampling_mat.json')}: {questions} questions, at most "
            f"{cfg['max_new_tokens']} new tokens, temperature {cfg['temperature']}, "
            f"seed {cfg['seed']}, {cfg.get('draft_policy', 'cost')} draft policy.",
            table(head, rows),
            f"Runs (question, method) that wrote plain sampling's tokens for the same seed: "
            f"{share(same['before'])} before, {share(same['after'])} after.",
        ]
    )


# -----------------------------------------------------------------------------
# the suffix automaton: scripts/bench_automaton.py and scripts/bench_build_text.py


def automaton(arts: dict) -> str:
    a = arts["automaton.json"]
    m, cfg = a["results"], a["config"]
    yes = {True: "yes", False: "no"}
    step = m["both_step_us_median"]
    rows = [
        [
            "build >= 1,000,000 tokens/s",
            f"{m['build_tokens_per_s'] / 1e6:.2f} M tokens/s "
            f"({m['build_cpu_tokens_per_s'] / 1e6:.2f} M tokens/s CPU time)",
            yes[m["build_tokens_per_s"] >= 1e6],
        ],
        [
            "<= 100 bytes per corpus token once built",
            f"{m['bytes_per_token']:.1f} bytes "
            f"({m['states_per_token']:.2f} states, {m['edges_per_token']:.2f} edges per token)",
            yes[m["bytes_per_token"] <= 100],
        ],
        [
            "a saved automaton loads in <= 1 s",
            f"{m['load_ms']:.1f} ms (memory-mapped; "
            f"{m['file_mib']:,.0f} MiB file, saved in {m['save_s']:.1f} s)",
            yes[m["load_ms"] <= 1e3],
        ],
        [
            "one step's automaton work <= 50 us median",
            f"{step:.1f} us (dynamic "
            f"{m['dynamic_step_us']['median']:.1f} + static {m['static_step_us']['median']:.1f})",
            yes[step <= 50],
        ],
        [
            "build memory",
            f"peak RSS {m['peak_rss_after_build_mib']:,.0f} MiB after the build, "
            f"{m['peak_rss_before_build_mib']:,.0f} before",
            "–",
        ],
    ]
    return "\n\n".join(
        [
            f"{provenance(a, 'automaton.json')}: {m['corpus_tokens']:,} tokens in "
            f"{m['documents']:,} documents, vocabulary {cfg['vocab']:,}, `endpos={cfg['endpos']}`.",
            table(["target (engine issue)", "measured", "met"], rows),
        ]
    )


def build_text(arts: dict) -> str:
    a = arts["build_text.json"]
    m, cfg = a["results"], a["config"]
    roots = ", ".join(f"`{r}`" for r in cfg["root"])
    return (
        f"{provenance(a, 'build_text.json')}: {m['tokens']:,} tokens of `*{cfg['suffix']}` "
        f"files under {roots} ({m['documents']:,} files as documents, bundled tokenizer, "
        f"tokenized in {m['tokenize_s']:.0f} s): build {m['build_s']:.1f} s = "
        f"{m['build_tokens_per_s'] / 1e6:.2f} M tokens/s, {m['states'] / 1e6:.1f} M states, saved "
        f"file {m['file_bytes'] / 1e9:.2f} GB ({m['bytes_per_token']:.0f} bytes/token), peak "
        f"resident memory of the whole process {m['peak_rss_gb']:.1f} GB "
        f"({m['peak_rss_after_tokenize_gb']:.1f} GB of it reached while tokenizing)."
    )


# -----------------------------------------------------------------------------
# scripts/validate_tuning.py


def tuning_validation(arts: dict) -> str:
    a = arts["tuning_validation.json"]
    cfg, summary, grid = a["config"], a["summary"], a["grid"]
    rows = []
    for setting, s in summary.items():
        errs = [
            abs(r["speedup_predicted"] - r["speedup_measured"]) / r["speedup_measured"]
            for r in a["rows"]
            if r["setting"] == setting
        ]
        exact = f"{s['mat_exact']}/{s['questions']}" + " (approximate)" * ("recycling" in setting)
        rows.append(
            [
                setting,
                s["questions"],
                exact,
                x(s["speedup_measured"]),
                x(s["speedup_predicted"]),
                f"{s['relative_error']:.1%}",
                f"{max(errs):.0%}",
            ]
        )
    best = max(summary, key=lambda k: summary[k]["speedup_measured"])
    head = ["setting", "questions", "predicted MAT = measured", "measured speedup", "predicted"]
    return "\n\n".join(
        [
            f"{provenance(a, 'tuning_validation.json')}: {len(cfg['question_ids'])} Spec-Bench "
            f"questions, at most {cfg['max_new_tokens']} new tokens.",
            table([*head, "error", "worst question"], rows),
            f"Fastest measured: `{best}` ({x(summary[best]['speedup_measured'])}). A grid of "
            f"{grid['settings']} settings over the {grid['recordings']} recorded answers took "
            f"{grid['seconds']:.1f} s.",
        ]
    )


# -----------------------------------------------------------------------------
# what a verification step costs: scripts/verify_cost.py

PARTS = {
    "decoder_linears_ms": "decoder layers' linear layers",
    "output_layer_ms": "output layer",
    "attention_ms": "attention",
    "rest_ms": "the rest (norms, rotary embeddings, cache, Python)",
}


def arithmetic_floor(a: dict, sizes: list[str]) -> dict | None:
    """The table's last row, a float32 step's multiply-adds alone at the machine's measured
    matmul rate, and what it says of the speed issue's bound (k <= 8 at most 1.2x k = 1)."""
    if "matmul_gflops" not in a:  # artifacts from before the script measured it
        return None
    gflops, macs = a["matmul_gflops"], a["rows"][0]["multiply_adds_per_token"]
    floor_ms = {k: 2 * macs * int(k) / (gflops * 1e6) for k in sizes}
    fastest = min(r["verify_ms"]["1"] for r in a["rows"] if r["dtype"] == "float32")
    row = ["multiply-adds alone, float32", *(f"{floor_ms[k]:.1f}" for k in sizes), "–", "–", "–"]
    text = (
        f"The last row is arithmetic alone: a token costs {macs / 1e6:.0f} M multiply-adds (every "
        f"linear layer once, attention over {a['context_tokens']} keys), and the machine's "
        f"float32 matrix multiply (torch's, 2048 x 2048, both cores) runs at {gflops:.0f} GFLOP/s. "
        f"So no float32 step of 8 tokens can take less than {floor_ms['8']:.1f} ms here, "
        f"{x(floor_ms['8'] / fastest)} the cheapest 1-token step ({fastest:.1f} ms), whatever "
        "its weights' layout: "
        + (
            "the speed issue's bound of 1.2x is out of reach for exact float32 on this machine "
            "unless a 1-token step gets slower."
            if floor_ms["8"] > 1.2 * fastest
            else "arithmetic leaves room for the speed issue's bound of 1.2x here."
        )
    )
    return {"row": row, "text": text}


def verify_cost(arts: dict) -> str:
    a = arts["verify_cost.json"]
    rows = a["rows"]
    sizes = list(rows[0]["verify_ms"])
    curve = [
        [f"{r['layout']}, {r['dtype']}"]
        + [f"{r['verify_ms'][k]:.0f}" for k in sizes]
        + [x(max(r["ratio_to_one"][k] for k in sizes if int(k) <= 8))]
        + [f"{r['weight_bytes'] / 1e6:.0f}", f"{r['weights_gbs_at_1']:.1f}"]
        for r in rows
    ]
    floor = arithmetic_floor(a, sizes)
    if floor:
        curve.append(floor["row"])
    head = [
        "layout, dtype",
        *sizes,
        "k <= 8 vs k = 1 (worst)",
        "weights read a step, MB",
        "weights GB/s at k = 1",
    ]
    parts = [
        [f"{r['layout']}, {r['dtype']}", k]
        + [f"{b[name]:.1f}" for name in PARTS]
        + [f"{b['total_ms']:.1f}"]
        for r in rows
        for k, b in r["breakdown"].items()
    ]
    return "\n\n".join(
        [
            f"{provenance(a, 'verify_cost.json')}: ms to verify k tokens in one forward pass "
            f"with {a['context_tokens']} tokens of context (median); the weights are read "
            "once a step, in the bytes each layout stores them in; the machine's measured "
            f"read bandwidth: {a['read_bandwidth_gbs']:.1f} GB/s.",
            table(head, curve),
            *([floor["text"]] if floor else []),
            "Where a step's time goes (ms; each part replayed alone with the step's shapes, the "
            "rest is the remainder):",
            table(["layout, dtype", "k", *PARTS.values(), "total"], parts),
        ]
    )


# -----------------------------------------------------------------------------
# blocks: name -> (artifacts read, the first required; the command that makes it; renderer)

BLOCKS = {
    "load-test": (
        ("load_test.json", "load_test_passive.json", *LOAD_RUNS),
        "python scripts/load_test.py --clients 8 --requests 40 --rounds 2",
        load_test,
    ),
    "specbench": (
        ("specbench.json",),
        "python -m samdec bench --per-category 10 --max-new-tokens 256 "
        "--out benchmarks/specbench.json",
        specbench,
    ),
    "pld-tuning": (
        ("pld_tuning.json",),
        "python scripts/tune_pld.py --out benchmarks/pld_tuning.json",
        pld_tuning,
    ),
    "defaults-tuning": (
        ("defaults_tuning.json",),
        "python scripts/tune_defaults.py --per-source 8 --max-new-tokens 256 "
        "--out benchmarks/defaults_tuning.json",
        defaults_tuning,
    ),
    "sampling-mat": (
        ("sampling_mat.json",),
        "python scripts/sampling_mat.py --out benchmarks/sampling_mat.json",
        sampling_mat,
    ),
    "automaton": (
        ("automaton.json",),
        "python scripts/bench_automaton.py --out benchmarks/automaton.json",
        automaton,
    ),
    "build-text": (
        ("build_text.json",),
        "python scripts/bench_build_text.py --out benchmarks/build_text.json",
        build_text,
    ),
    "layouts": (
        LAYOUT_RUNS,
        "python -m samdec bench --per-category 3 --max-new-tokens 256 "
        "--methods ar,sam,sam+recycling --layout LAYOUT --out benchmarks/layouts/LAYOUT.json",
        layouts,
    ),
    "verify-cost": (
        ("verify_cost.json",),
        "python scripts/verify_cost.py --out benchmarks/verify_cost.json",
        verify_cost,
    ),
    "tuning-validation": (
        ("tuning_validation.json",),
        "python scripts/validate_tuning.py --per-category 2 --max-new-tokens 256 "
        "--out benchmarks/tuning_validation.json",
        tuning_validation,
    ),
}


def load(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def render_block(name: str, bench: Path = BENCH) -> str:
    if name not in BLOCKS:
        raise ValueError(f"README block {name!r} is not one of {', '.join(BLOCKS)}")
    files, command, fn = BLOCKS[name]
    arts = {f: load(bench / f) for f in files}
    if arts[files[0]] is None:
        how = f": `{command}`." if command else f" (`benchmarks/{files[0]}`)."
        return "Not measured in a committed run yet" + how
    return fn(arts)


def render(text: str, bench: Path = BENCH) -> str:
    """`text` with every generated block rendered anew from the artifacts in `bench`."""

    def fill(m: re.Match) -> str:
        body = render_block(m.group(1), bench)
        return f"<!-- receipt: {m.group(1)} -->\n\n{body}\n\n<!-- /receipt -->"

    return BLOCK.sub(fill, text)


# -----------------------------------------------------------------------------
# numbers outside the blocks

# A measured-looking number: digits with a unit of time, speed, size or ratio, or a decimal.
MEASURED = re.compile(
    r"\d[\d,]*(?:\.\d+)?(?:x\b|%|\s*(?:M\s+)?tokens/s\b|\s*tokens\s+per\s+(?:second|step|position)"
    r"|\s*(?:[µu]s|ms|s|seconds?|minutes?|hours?|[KMG]i?B|bytes)\b)|\b\d+\.\d+"
)
# Phrases that look measured but are settings or names, not measurements. Keep this short.
ALLOWED = (
    "arXiv 2411.10666",  # the paper's arXiv id
    "Apache-2.0",  # a licence's name
    "refused above 20 MB",  # the app's size limit for uploaded traces (a setting)
    "any more (30 s)",  # how long an unread stream lives (a setting)
    "idle ones for 6 hours",  # how long an idle session is kept (a setting)
)
# Front matter (the Space's settings), fenced code, web addresses and the generated blocks.
HIDDEN = re.compile(r"\A---\n.*?\n---\n|^```.*?^```|https?://[^\s)]+|" + BLOCK.pattern, re.S | re.M)


def stray_numbers(text: str) -> list[str]:
    """'line N: MATCH' for each measured-looking number outside blocks, code and front matter."""
    text = HIDDEN.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for phrase in ALLOWED:
        words = r"\s+".join(map(re.escape, phrase.split()))
        text = re.sub(words, lambda m: "\n" * m.group(0).count("\n"), text)
    return [
        f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r}"
        for m in MEASURED.finditer(text)
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 with a diff if README is stale")
    ap.add_argument("--readme", type=Path, default=README)
    ap.add_argument("--bench", type=Path, default=BENCH, help="the artifacts' folder")
    args = ap.parse_args()
    text = args.readme.read_text()
    new = render(text, args.bench)
    stray = stray_numbers(new)
    if args.check:
        diff = difflib.unified_diff(
            text.splitlines(True), new.splitlines(True), "README.md", "rendered from benchmarks/"
        )
        sys.stdout.writelines(diff)
        for line in stray:
            print(f"measured-looking number outside a generated block, {line}")
        return int(new != text or bool(stray))
    if new != text:
        args.readme.write_text(new)
    for line in stray:
        print(f"warning: measured-looking number outside a generated block, {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
