"""The Spec-Bench benchmark's blocks: `python -m samdec bench` (samdec/bench.py's results.json).

`specbench` renders one run in full (methods, drafting gains over their own loops, `sam`
against the engine's `pld`, per question, per step, decoding alone, the benchmark issue's
targets); `layouts` the short runs of one question set per weight layout; `headline` the
README's few sentences from the same run as `specbench`.

A results file is read through samdec.bench.as_current: files from before the engine had its
own `pld` name transformers' prompt lookup `pld` / `pld:N`, shown here as `hf-pld` / `hf-pld:N`,
and their drafting gains are computed from their runs by the bench's own arithmetic.
"""

from __future__ import annotations

import statistics

from readme_format import num, provenance, share, table, when_and_where, x

from samdec.bench import HF_PLD_NAMED, as_current, with_interval
from samdec.bootstrap import LEVEL, RESAMPLES

PLAIN = ("ar", "hf-generate")  # plain decoding, two implementations (samdec.bench.PLAIN)
STOCK_NOTE = (
    "`vs stock generate` divides by transformers' `generate` on the model exactly as "
    "transformers loads it: `ar`'s figure there is the runtime's gain (weight layout, kernels, "
    "loop), not SAM's; SAM's own is its drafting gain over `ar`."
)


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
        row = [name, f"{m['tokens_per_s']:.1f}", num(m["speedup"]) + "x", own_gain(m)]
        row += [num(m.get("speedup_vs_stock")) + "x"] if stock else []
        rows.append([*row, num(m["mat"]), share(m["identical"]), *cells])
    head = ["method", "tokens/s", "speedup", "drafting gain (own loop)"]
    head += ["vs stock generate"] if stock else []
    return table([*head, "MAT", "identical", *cats], rows)


def own_gain(m: dict, key: str = "drafting_gain") -> str:
    """'1.22x [1.15-1.30] over `ar`'; a dash for a plain loop."""
    gain = m.get(key)
    return "–" if gain is None else f"{with_interval(gain)} over `{gain['over']}`"


def gain_table(methods: dict) -> str:
    """Each drafting method's gain over its own loop, with its interval, overall and per
    category."""
    cats = sorted({c for m in methods.values() for c in categories(m)})
    rows = [
        [name, f"`{m['drafting_gain']['over']}`", with_interval(m["drafting_gain"])]
        + [with_interval(categories(m).get(c, {}).get("drafting_gain")) for c in cats]
        for name, m in methods.items()
        if m.get("drafting_gain")
    ]
    return table(["method", "its loop", "overall", *cats], rows)


def sam_vs_pld_table(comparison: dict) -> str:
    """`sam`'s drafting gain over the engine's `pld`'s, per category, with a verdict only where
    the interval excludes 1."""
    cats = comparison["per_category"]
    rows = [
        [f"`{c}`", with_interval(v["gain_ratio"]), v["verdict"]]
        for c, v in [*cats.items(), ("overall", comparison)]
    ]
    return table(["category", "`sam` gain / `pld` gain", "verdict"], rows)


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
         num(m.get("decode_speedup")) + "x", own_gain(m, "decode_drafting_gain")]
        for name, m in timed.items()
    ]  # fmt: skip
    head = ["method", "prefill s", "decoding tokens/s", "vs `ar` decoding"]
    return table([*head, "drafting gain, decoding alone"], rows)


def category_ratios(runs: list[dict], ref: list[dict]) -> dict[str, float]:
    """Per category: tokens/s of `runs` over tokens/s of `ref`."""
    cats = sorted({r["category"] for r in runs})
    return {
        c: tps([r for r in runs if r["category"] == c])
        / tps([r for r in ref if r["category"] == c])
        for c in cats
    }


def target(goal: str, measured: str, met: bool | None) -> list[str]:
    """A row of the targets table; `met` None: the interval straddles the goal."""
    return [goal, measured, "within noise" if met is None else "met" if met else "missed"]


def targets(methods: dict, runs: dict, sam_vs_pld: dict | None = None) -> str:
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
            runtime = tps(ar) / tps(runs["hf-stock"])
            rows.append(
                target(
                    "`sam` >= 2.0x stock `generate`",
                    f"{x(ratio)} (`ar` alone {x(runtime)}: the runtime's gain, not SAM's)",
                    ratio >= 2.0,
                )
            )
    if sam_vs_pld and sam_vs_pld["gain_ratio"]:
        # In one loop: both drafting gains over `ar`, so the loop is not what is compared.
        gain = sam_vs_pld["gain_ratio"]
        met = True if gain["low"] > 1 else False if gain["high"] < 1 else None
        rows.append(target("`sam` drafts better than the engine's `pld`", with_interval(gain), met))
    sam_x = methods.get("sam", {}).get("speedup")
    for combo in ("sam+recycling", "sam+graft"):
        if sam_x is not None and combo in methods:
            both = methods[combo]["speedup"]
            rows.append(target(f"`{combo}` >= `sam`", f"{x(both)} vs {x(sam_x)}", both >= sam_x))
    return table(["target (benchmark issue)", "measured", "verdict"], rows)


def hf_plds(cfg: dict, legacy: bool) -> str:
    """'; transformers' prompt lookup: `hf-pld:3` is `generate(...)`' for each one the run
    holds, with a word on the old name where the file predates it; '' where none ran."""
    # Files from before "pld_methods" existed name plain `pld`'s setting only.
    plds = cfg["pld_methods"] if "pld_methods" in cfg else {"hf-pld": cfg.get("pld", {})}
    if not plds:
        return ""
    said = "; ".join(
        f"`{m}` is `generate({', '.join(f'{k}={v}' for k, v in setting.items())})`"
        for m, setting in plds.items()
    )
    old = ", ".join(f"`{m.removeprefix('hf-')}`" for m in plds)
    renamed = f" (the file names it {old}, from before the engine had a `pld`)" if legacy else ""
    return f"; transformers' prompt lookup{renamed}: {said}"


def run_head(res: dict, legacy: bool) -> str:
    """The run's provenance, settings and plain baselines, in a sentence or two."""
    cfg, methods = res["config"], res["methods"]
    plain = {m: methods[m]["tokens_per_s"] for m in PLAIN if m in methods}
    best = max(plain, key=plain.get)
    others = ", ".join(f"`{m}` {v:.1f} tokens/s" for m, v in plain.items() if m != best)
    head = (
        f"{provenance(res, 'specbench.json')}: {cfg['questions']} Spec-Bench questions, at most "
        f"{cfg['max_new_tokens']} new tokens, `{cfg.get('turns', 'first')}` turn"
        + (f", the `{cfg['layout']}` weight layout" if cfg.get("layout") else "")
        + f"{hf_plds(cfg, legacy)}. The faster plain baseline was `{best}` at "
        f"{plain[best]:.1f} tokens/s" + (f" ({others})." if others else ".")
    )
    if not res.get("complete", True):
        head += " The run did not finish: these are the questions it completed."
    return head


def gain_parts(res: dict) -> list[str]:
    """The drafting gains over each method's own loop, and `sam` against the engine's `pld`."""
    methods = res["methods"]
    parts = []
    if any(m.get("drafting_gain") for m in methods.values()):
        parts += [
            "Drafting gain: each drafting method's tokens/s over plain decoding in its own loop "
            "(the engine's methods over `ar`, transformers' prompt lookup over `hf-generate`), "
            "so the loops' own speeds are not counted as drafting; in brackets a "
            f"{LEVEL:.0%} interval, a bootstrap over questions ({RESAMPLES:,} resamples of the "
            "question ids, both methods on the same ones):",
            gain_table(methods),
        ]
    comparison = res.get("sam_vs_pld")
    if comparison:
        parts += [
            "`sam` against the engine's `pld`, in the same loop (the ratio of their drafting "
            "gains over `ar`); a verdict only where the interval excludes 1:",
            sam_vs_pld_table(comparison),
        ]
    elif "sam" in methods:
        parts += ["The engine's `pld` was not in this run: no comparison of drafters in one loop."]
    return parts


def specbench(arts: dict) -> str:
    legacy = not arts["specbench.json"].get("config", {}).get(HF_PLD_NAMED)
    res = as_current(arts["specbench.json"])
    cfg, methods, runs = res["config"], res["methods"], res.get("runs", {})
    parts = [run_head(res, legacy), method_table(methods)]
    if any(m.get("speedup_vs_stock") is not None for m in methods.values()):
        parts += [STOCK_NOTE]
    parts += gain_parts(res)
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
    return "\n\n".join([*parts, targets(methods, runs, res.get("sam_vs_pld"))])


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


def headline(arts: dict) -> str:
    """The README's headline from the Spec-Bench run above: `sam`'s drafting gain over the
    engine's plain loop, against the engine's `pld` in the same loop; transformers' prompt
    lookup only by its gain over its own `generate`; the runtime's gain over stock `generate`
    apart; and whether every output was plain decoding's."""
    res = as_current(arts["specbench.json"])
    cfg, methods = res["config"], res["methods"]
    sam = methods["sam"]
    said = [
        f"{sam['tokens_per_s']:.1f} tokens/s, a drafting gain of {gained(sam)} over the engine's "
        "plain loop `ar`"
    ]
    if sam.get("decode_drafting_gain"):
        said[0] += (
            f" ({with_interval(sam['decode_drafting_gain'])} with the prompt's prefill left out)"
        )
    versus = res.get("sam_vs_pld")
    if versus and versus["gain_ratio"] and "pld" in methods:
        said.append(
            f"the engine's `pld` gained {gained(methods['pld'])} in the same loop, so `sam`'s "
            f"gain over `pld`'s is {with_interval(versus['gain_ratio'])} ({versus['verdict']})"
        )
    else:
        said.append("the engine's `pld` was not in this run")
    hf = [m for m in methods if m.partition(":")[0] == "hf-pld" and methods[m].get("drafting_gain")]
    if hf:
        best = max(hf, key=lambda m: methods[m]["drafting_gain"]["ratio"])
        said.append(
            f"transformers' prompt lookup (`{best}`) gained {gained(methods[best])} over its own "
            "loop's plain `generate`"
        )
    stock = methods.get("ar", {}).get("speedup_vs_stock")
    if stock is not None:
        said.append(
            f"`ar` alone runs {x(stock)} transformers' stock `generate`: the runtime's gain, "
            "not SAM's"
        )
    same = min(m["identical"] for m in methods.values() if m["identical"] is not None)
    exact = (
        "every method's output was plain decoding's, token for token, on every question"
        if same == 1
        else f"the least faithful method wrote plain decoding's output on {share(same)} of them"
    )
    setting = [f"at most {cfg['max_new_tokens']} new tokens", cfg.get("dtype"), "greedy"]
    setting += [f"`{cfg['layout']}` layout" if cfg.get("layout") else None]
    return (
        f"`sam` on {cfg['questions']} Spec-Bench questions "
        f"({', '.join(s for s in setting if s)}): {'; '.join(said)}; {exact}. Drafting gains "
        f"are over plain decoding in the method's own loop, with {LEVEL:.0%} bootstrap intervals "
        f"over questions. From `benchmarks/specbench.json` ({when_and_where(res)})."
    )


def gained(m: dict) -> str:
    """'1.22x [1.15-1.30]': its drafting gain over its own loop."""
    return with_interval(m.get("drafting_gain"))
