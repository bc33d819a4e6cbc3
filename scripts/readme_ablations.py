"""The ablations block: scripts/ablations.py's sweeps of l_bias, l_threshold and draft size, the
automata removed one at a time, and the few settings it timed; its plots are SVG files written
beside benchmarks/README.md (readme_plots), and its comparison with the paper is worded from
the numbers.
"""

from __future__ import annotations

from readme_format import provenance, table, x
from readme_plots import line_chart

FIGURE_DIR = "ablations"  # under benchmarks/, beside the README that shows them
NAMES = {"l_bias": "l_bias", "l_threshold": "l_threshold", "draft_len": "draft size"}
# Where the paper's ablations peak (MAT and speedup alike), on its GPU models.
PAPER_BEST = {"l_bias": 5, "l_threshold": 5, "draft_len": 40}
METRICS = {
    "mat": ("MAT (tokens per step)", None),
    "speedup": ("predicted speedup (x)", (1.0, "plain decoding")),
}


def ablation_figures(art: dict) -> dict[str, str]:
    """{path under benchmarks/: SVG text}: MAT and predicted speedup along each sweep."""
    out = {}
    for vary, sweep in art["sweeps"].items():
        for metric, (y_label, reference) in METRICS.items():
            title = f"{y_label.split(' (')[0]} by {NAMES[vary]}"
            series = [(s["label"], s[metric]) for s in sweep["series"]]
            chart = line_chart(title, NAMES[vary], y_label, sweep["x"], series, reference)
            out[f"{FIGURE_DIR}/{vary}_{metric}.svg"] = chart
    return out


def peak(xs: list, ys: list[float]) -> tuple[int, bool]:
    """(the x of the highest y (the first, on a tie), whether the curve is flat: within 1%)."""
    top = max(ys)
    return xs[ys.index(top)], top - min(ys) <= 0.01 * abs(top)


def series_at(sweep: dict, setting: dict) -> dict:
    """The sweep's series whose fixed settings are `setting`'s."""
    for s in sweep["series"]:
        if all(setting[k] == v for k, v in s["fixed"].items()):
            return s
    raise ValueError(f"no series at {setting}")


def _where(name: str, xs: list, ys: list[float]) -> str:
    at, flat = peak(xs, ys)
    return "is flat (within 1%)" if flat else f"peaks at {name} {at}"


def sweep_verdict(vary: str, sweep: dict, paper: dict, ours: dict) -> str:
    """One sentence: where MAT and predicted speedup peak along `vary`, at the paper's other
    settings and at ours, and whether that is where the paper's peak."""
    xs, name, best = sweep["x"], NAMES[vary], PAPER_BEST[vary]
    p, o = series_at(sweep, paper), series_at(sweep, ours)
    step = xs[1] - xs[0] if len(xs) > 1 else 0
    peaks = [peak(xs, p[m]) for m in ("mat", "speedup")]
    agrees = all(not flat and abs(at - best) <= step for at, flat in peaks)
    verdict = (
        f"as in the paper (its best: {best}, within one step)"
        if agrees
        else f"unlike the paper, where both peak at {best}"
    )
    return (
        f"Sweeping {name}: at the paper's other settings MAT {_where(name, xs, p['mat'])} "
        f"and predicted speedup {_where(name, xs, p['speedup'])}, {verdict}; at ours "
        f"({o['label'].rsplit(' (', 1)[0]}) predicted speedup {_where(name, xs, o['speedup'])}."
    )


def why_draft_size(sweep: dict, paper: dict) -> str:
    """The reason the best draft size moves, when it moved below the paper's."""
    at, flat = peak(sweep["x"], series_at(sweep, paper)["speedup"])
    if flat or at >= PAPER_BEST["draft_len"]:
        return ""
    return (
        " Why: on the paper's GPU verifying a few dozen tokens costs about as much as one, so a "
        "long draft is nearly free; on this CPU each verified token adds to the step (the "
        "verify-cost table above), so a shorter fixed draft pays off."
    )


def removal_verdict(values: dict[str, float], what: str) -> str:
    """One sentence: does each automaton help (`values` of sam, sam-dynamic, sam-static), and
    which one more; the paper found both help, the dynamic one more."""
    full, no_static, no_dynamic = values["sam"], values["sam-dynamic"], values["sam-static"]
    static_helps, dynamic_helps = full > no_static, full > no_dynamic
    if static_helps and dynamic_helps:
        helps = "both automata help"
    elif static_helps or dynamic_helps:
        helps = f"only the {'static' if static_helps else 'dynamic'} automaton helps"
    else:
        helps = "neither automaton helps"
    more = (
        "the dynamic one more"
        if no_dynamic < no_static
        else "the static one more"
        if no_static < no_dynamic
        else "both the same"
    )
    agrees = static_helps and dynamic_helps and no_dynamic < no_static
    return (
        f"Removing the static automaton (`sam-dynamic`) takes {what} from {full:.2f} to "
        f"{no_static:.2f}, removing the dynamic one (`sam-static`) to {no_dynamic:.2f}: {helps}"
        + (f", {more}" if static_helps and dynamic_helps else "")
        + (", as in the paper." if agrees else "; the paper found both help, the dynamic one more.")
    )


def why_removal(mat: dict[str, float]) -> str:
    if mat["sam-static"] < mat["sam-dynamic"]:
        return (
            " A small model's answers repeat their own earlier text and the prompt, which only "
            "the dynamic automaton sees; the static corpus holds other prompts' answers."
        )
    return (
        " Here the static corpus (this model's answers to other prompts) matches more often than "
        "the request's own text."
    )


def sweep_table(art: dict) -> str:
    rows = []
    for vary, sweep in art["sweeps"].items():
        for s in sweep["series"]:
            mat_at, _ = peak(sweep["x"], s["mat"])
            best_at, _ = peak(sweep["x"], s["speedup"])
            top = max(s["speedup"])
            rows.append([NAMES[vary], s["label"], mat_at, f"{best_at} ({x(top)})"])
    head = ["sweep", "other settings", "best by MAT", "best by predicted speedup"]
    return table(head, rows)


def removal_table(art: dict) -> str:
    by = {(r["method"], r["setting"]): r for r in art["removal"]}
    rows = []
    for method in dict.fromkeys(r["method"] for r in art["removal"]):
        ours, paper = by[(method, "ours")], by[(method, "paper")]
        rows.append(
            [f"`{method}`"]
            + [f"{r['mat']:.2f}" for r in (ours, paper)]
            + [x(r["speedup"]) for r in (ours, paper)]
            + ["exact" if ours["exact"] else "approximate"]
        )
    head = ["method", "MAT, ours", "MAT, paper's", "predicted speedup, ours", "paper's"]
    return table([*head, "replayed MAT"], rows)


def measured_table(rows: list[dict]) -> str:
    body = [
        [
            f"`{r['name']}`",
            f"{r['mat']:.2f}",
            f"{r['predicted_mat']:.2f}",
            x(r["speedup"]),
            x(r["predicted_speedup"]),
            "yes" if r["identical"] else "no",
        ]
        for r in rows
    ]
    head = ["setting", "measured MAT", "replayed MAT", "measured speedup", "predicted"]
    return table([*head, "output = `ar`'s"], body)


def ablations(arts: dict) -> str:
    a = arts["ablations.json"]
    cfg, paper, ours = a["config"], a["paper"], a["ours"]
    images = " ".join(f"![{path.rsplit('/', 1)[1][:-4]}]({path})" for path in ablation_figures(a))
    mat = {r["method"]: r["mat"] for r in a["removal"] if r["setting"] == "ours"}
    speed = {r["method"]: r["speedup"] for r in a["removal"] if r["setting"] == "ours"}
    speed_words = "predicted speedup"
    measured = a.get("measured")
    if measured:
        timed = {r["name"]: r["speedup"] for r in measured["rows"]}
        if all(m in timed for m in ("sam", "sam-dynamic", "sam-static")):
            speed, speed_words = timed, "measured speedup"
    verdicts = [
        sweep_verdict(v, s, paper, ours) + (why_draft_size(s, paper) if v == "draft_len" else "")
        for v, s in a["sweeps"].items()
    ]
    removal = (
        removal_verdict(mat, "MAT") + why_removal(mat) + " " + removal_verdict(speed, speed_words)
    )
    parts = [
        f"{provenance(a, 'ablations.json')}: {len(cfg['question_ids'])} Spec-Bench questions, "
        f"at most {cfg['max_new_tokens']} new tokens ({a['new_tokens']} recorded), replayed on "
        f"this machine's verify-cost curve ({a['layout']} layout); MAT is exact for the SAM "
        "drafters, speedup a prediction.",
        images,
        "\n".join(f"- {v}" for v in verdicts),
        sweep_table(a),
        "The automata removed, at our settings (`samdec/config.py`) and at the paper's "
        f"(l_bias {paper['l_bias']}, l_threshold {paper['l_threshold']}, fixed "
        f"{paper['draft_len']}-token drafts); no method pairs Token Recycling with one "
        "automaton, so with it only the full method and recycling alone compare:",
        removal_table(a),
        removal,
    ]
    if measured:
        parts += [
            f"Timed on {len(measured['question_ids'])} of the questions, interleaved, the "
            "order rotated per question; speedup over `ar` in the same run:",
            measured_table(measured["rows"]),
        ]
    return "\n\n".join(parts)
