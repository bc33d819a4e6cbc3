"""The Spec-Bench benchmark's blocks: `python -m samdec bench` (samdec/bench.py's results.json).

`specbench` renders one run in full (methods, per question, per step, decoding alone, the
benchmark issue's targets); `layouts` the short runs of one question set per weight layout;
`headline` the README's few sentences from the same run as `specbench`.
"""

from __future__ import annotations

import statistics

from readme_format import num, provenance, share, table, when_and_where, x

PLAIN = ("ar", "hf-generate")  # plain decoding, two implementations (samdec.bench.PLAIN)


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


def headline(arts: dict) -> str:
    """The README's headline: what `sam` gained over the baselines in the Spec-Bench run above,
    and whether every output was plain decoding's."""
    res = arts["specbench.json"]
    cfg, methods = res["config"], res["methods"]
    sam = methods["sam"]
    plain = max((m for m in PLAIN if m in methods), key=lambda m: methods[m]["tokens_per_s"])
    gains = [f"{x(sam['speedup'])} the faster plain baseline (`{plain}`)"]
    if sam.get("decode_speedup") is not None:
        gains.append(f"{x(sam['decode_speedup'])} with the prompt's prefill left out")
    if sam.get("speedup_vs_stock") is not None:
        gains.append(f"{x(sam['speedup_vs_stock'])} transformers' stock `generate`")
    plds = [m for m in methods if m.split(":")[0] == "pld"]
    if plds:
        best = max(plds, key=lambda m: methods[m]["tokens_per_s"])
        ratio = sam["tokens_per_s"] / methods[best]["tokens_per_s"]
        gains.append(f"{x(ratio)} prompt lookup decoding (`{best}`)")
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
        f"({', '.join(s for s in setting if s)}): {sam['tokens_per_s']:.1f} tokens/s, "
        f"{', '.join(gains)}; {exact}. From `benchmarks/specbench.json` "
        f"({when_and_where(res)})."
    )
