"""The benchmark: every method on the same questions, interleaved, against honest baselines.

Speedup is a ratio of throughputs measured in the same run on the same questions. The plain
decoding baseline `ar` is the faster of two implementations: this engine's loop with no drafts
and transformers' `generate(do_sample=False)`; both are reported. `hf-pld` is transformers'
prompt lookup decoding (`generate(prompt_lookup_num_tokens=10)`, transformers' documented
setting), the baseline a user would reach for; `hf-pld:N` is the same with N draft tokens (for
the N that suits the device, chosen on training prompts by `scripts/tune_pld.py`). `pld` is the
engine's own prompt lookup drafter, an ordinary method.

Those speedups cross loops (transformers' `generate` loop is not the engine's), so each drafting
method's `drafting_gain` divides it by plain decoding in its own loop instead, with a bootstrap
interval over questions (samdec/drafting_gain.py); `sam_vs_pld` compares `sam` with the
engine's `pld` in the same loop. Files from before the rename (config without "hf_pld_named")
call transformers' prompt lookup `pld`: `as_current` renames it.

Methods are written NAME or NAME:POLICY (e.g. `sam:fixed` is the paper's fixed 40-token drafts).

MAT (mean accepted tokens) is Spec-Bench's: all new tokens of a method over all its
verification steps, pooled over the questions; `mat_question_mean` is the mean of the
per-question ratios, which weighs a short answer as much as a long one.
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .baselines import HF_PLD, PLD_MAX_TOKENS, PLD_TOKENS, hf_generate, pld_settings
from .config import POLICIES
from .drafting_gain import comparison, drafting_gains
from .methods import METHODS
from .methods import method as method_row
from .questions import Question
from .receipts import receipt

# transformers' generate, by bench name: whether it runs prompt lookup decoding.
HF_BASELINES = {"hf-generate": False, HF_PLD: True, "hf-stock": False}
BASELINES = ("ar", *HF_BASELINES)
# Plain decoding on the same model, two implementations: the faster one is the reference for
# speedup (what drafting adds).
PLAIN = ("ar", "hf-generate")
# Plain `generate` on the model exactly as transformers loads it (stock weight layout): what a
# user would otherwise run, so kernel gains show apart from drafting gains (`speedup_vs_stock`).
STOCK = "hf-stock"
# Set in the config of results files that name transformers' prompt lookup `hf-pld`; older files
# call it `pld`, the name the engine's own drafter has now.
HF_PLD_NAMED = "hf_pld_named"


@dataclass
class Run:
    question_id: int
    category: str
    tokens: int
    seconds: float
    steps: int
    token_ids: list[int] = field(repr=False, default_factory=list)
    # Of `seconds`, the prompt's forward pass: the same work for every method, which dilutes
    # every speedup. None where it is not measured apart (transformers' baselines; files from
    # before it was recorded).
    prefill_seconds: float | None = None


def parse_method(spec: str) -> tuple[str, str | None]:
    """NAME[:SUFFIX] -> (NAME, SUFFIX or None); the suffix is a draft policy, or hf-pld's N."""
    name, _, policy = spec.partition(":")
    return name, (policy or None)


def pld_tokens(spec: str) -> int | None:
    """The draft length of a transformers prompt lookup spec (`hf-pld`: 10, `hf-pld:N`: N); None
    for other methods."""
    name, suffix = parse_method(spec)
    if name != HF_PLD:
        return None
    return PLD_TOKENS if suffix is None else int(suffix)


def check_method(spec: str) -> None:
    """ValueError naming the choices unless `spec` is a baseline, hf-pld:N or METHOD[:POLICY]."""
    name, policy = parse_method(spec)
    if name in HF_BASELINES and policy is None:
        return
    if name == HF_PLD:
        if policy is not None and policy.isdecimal() and 1 <= int(policy) <= PLD_MAX_TOKENS:
            return
        raise ValueError(
            f"bad method {spec!r}: {HF_PLD}:N takes N draft tokens, a whole number from 1 to "
            f"{PLD_MAX_TOKENS} (plain `{HF_PLD}` drafts {PLD_TOKENS})"
        )
    try:
        drafts = method_row(name).drafts
    except ValueError:
        drafts = None
    if drafts is None or policy not in (None, *POLICIES) or (policy and not drafts):
        # `pld:N` was transformers' prompt lookup before the engine had a `pld` of its own.
        moved = (
            f" (transformers' prompt lookup with N draft tokens is {HF_PLD}:N now)"
            if name == "pld" and policy and policy.isdecimal()
            else ""
        )
        raise ValueError(
            f"unknown method {spec!r}; choose from {', '.join((*METHODS, *HF_BASELINES))}, "
            f"with :{' or :'.join(POLICIES)} after a drafting method, or {HF_PLD}:N "
            f"(N draft tokens, 1-{PLD_MAX_TOKENS}){moved}"
        )


def rotated(items: list, i: int) -> list:
    """`items` starting at position i mod len: run order rotates so drift hits every item alike."""
    k = i % len(items) if items else 0
    return items[k:] + items[:k]


class Runner:
    """Runs one method on one question (first turn, or every turn as one conversation)."""

    def __init__(
        self, engine, max_new_tokens: int, turns: str = "first", stock: Callable | None = None
    ) -> None:
        self.engine = engine
        self.max_new_tokens = max_new_tokens
        self.turns = turns
        self.stock = stock  # () -> the stock-layout model, for STOCK (loaded once, by the caller)

    def __call__(self, method: str, q: Question) -> Run:
        turns = q.turns if self.turns == "all" else q.turns[:1]
        messages: list[dict[str, str]] = []
        total = Run(q.question_id, q.category, 0, 0.0, 0, [], 0.0)
        for turn in turns:
            messages.append({"role": "user", "content": turn})
            ids = self.engine.runner.loaded.encode_chat(messages)
            tokens, seconds, steps, prefill = self._one(method, ids)
            total.tokens += len(tokens)
            total.seconds += seconds
            total.steps += steps
            total.prefill_seconds = (
                None
                if prefill is None or total.prefill_seconds is None
                else total.prefill_seconds + prefill
            )
            total.token_ids += tokens
            # The next turn sees this method's own answer (identical for lossless methods).
            answer = self.engine.runner.decode(tokens, skip_special=True)
            messages.append({"role": "assistant", "content": answer})
        return total

    def _one(self, method: str, ids: list[int]) -> tuple[list[int], float, int, float | None]:
        """(new tokens, seconds, verification steps, of the seconds the prefill's)."""
        name, policy = parse_method(method)
        if name in HF_BASELINES:
            if name == STOCK and self.stock is None:
                raise ValueError(f"{STOCK} needs the stock-layout model (run_bench's `stock`)")
            tokens, seconds = hf_generate(
                self.stock() if name == STOCK else self.engine.runner.model,
                ids,
                self.max_new_tokens,
                prompt_lookup=HF_BASELINES[name],
                pld_tokens=pld_tokens(method) or PLD_TOKENS,
            )
            return tokens, seconds, 0, None
        from .config import DecodeConfig

        config = DecodeConfig(method=name, max_new_tokens=self.max_new_tokens)
        if policy:
            config.draft_policy = policy
        trace = self.engine.generate(ids, config)
        s = trace.summary
        return trace.token_ids, (s.prefill_ms + s.decode_ms) / 1000.0, s.steps, s.prefill_ms / 1e3


def pooled_mat(rs: list[Run]) -> float | None:
    """All tokens over all verification steps (Spec-Bench's MAT); None without steps."""
    steps = sum(r.steps for r in rs)
    return sum(r.tokens for r in rs if r.steps) / steps if steps else None


def question_mean_mat(rs: list[Run]) -> float | None:
    """The mean over questions of each question's tokens per step; None without steps."""
    ratios = [r.tokens / r.steps for r in rs if r.steps]
    return statistics.mean(ratios) if ratios else None


def decode_tokens_per_s(rs: list[Run]) -> float | None:
    """Tokens a second of decoding alone (the prefill's seconds left out); None unless every
    run measured its prefill."""
    if not rs or any(r.prefill_seconds is None for r in rs):
        return None
    secs = sum(r.seconds - r.prefill_seconds for r in rs)
    return sum(r.tokens for r in rs) / secs if secs > 0 else None


def aggregate(runs: dict[str, list[Run]], categories: list[str]) -> dict[str, Any]:
    """Per-method throughput, speedup against the faster plain baseline, MAT, identity.

    `mat` is pooled (tokens / steps over all questions); `mat_question_mean` the mean of the
    questions' ratios. transformers' baselines count no steps: both are None for them.
    `decode_speedup`: decoding alone against `ar`'s decoding alone, where both measured their
    prefill (it is the same forward pass for every method of the engine).
    """

    def tps(rs: list[Run]) -> float:
        secs = sum(r.seconds for r in rs)
        return sum(r.tokens for r in rs) / secs if secs else 0.0

    ar_decode = decode_tokens_per_s(runs.get("ar", []))

    def baseline(cat: str | None) -> float:
        cands = [
            tps([r for r in runs.get(b, []) if cat is None or r.category == cat]) for b in PLAIN
        ]
        return max(cands) if cands else 0.0

    reference = {r.question_id: r.token_ids for r in runs.get("ar", [])}
    stock = tps(runs.get(STOCK, []))
    out: dict[str, Any] = {}
    for method, rs in runs.items():
        if not rs:
            continue
        base = baseline(None)
        same = [r.token_ids == reference[r.question_id] for r in rs if r.question_id in reference]
        per_cat = {}
        for cat in categories:
            crs = [r for r in rs if r.category == cat]
            if not crs:
                continue
            cbase = baseline(cat)
            per_cat[cat] = {
                "tokens_per_s": tps(crs),
                "speedup": tps(crs) / cbase if cbase else None,
                "mat": pooled_mat(crs),
                "mat_question_mean": question_mean_mat(crs),
                "questions": len(crs),
            }
        out[method] = {
            "tokens_per_s": tps(rs),
            "speedup": tps(rs) / base if base else None,
            "speedup_vs_stock": tps(rs) / stock if stock else None,
            "mat": pooled_mat(rs),
            "mat_question_mean": question_mean_mat(rs),
            "identical": sum(same) / len(same) if same else None,
            "questions": len(rs),
            "new_tokens": sum(r.tokens for r in rs),
            "per_category": per_cat,
            "median_seconds": statistics.median(r.seconds for r in rs),
            "prefill_seconds": (
                None
                if any(r.prefill_seconds is None for r in rs)
                else sum(r.prefill_seconds for r in rs)
            ),
            "decode_tokens_per_s": (decode := decode_tokens_per_s(rs)),
            "decode_speedup": decode / ar_decode if decode and ar_decode else None,
        }
    add_gains(out, run_dicts(runs), categories)
    return out


def run_dicts(runs: dict[str, list[Run]]) -> dict[str, list[dict[str, Any]]]:
    """The runs as a results file holds them, less their token ids (samdec.drafting_gain's
    input)."""
    return {m: [asdict(r) | {"token_ids": None} for r in rs] for m, rs in runs.items()}


def add_gains(methods: dict[str, Any], runs: dict[str, list[dict]], categories: list[str]) -> None:
    """Each method's drafting gain over its own loop (samdec.drafting_gain) into its aggregate
    (`methods`, as `aggregate` makes it), overall and per category, in place."""
    gains = drafting_gains(runs, categories)
    for method, m in methods.items():
        g = gains.get(method) or {}
        m["drafting_gain"] = g.get("drafting_gain")
        m["decode_drafting_gain"] = g.get("decode_drafting_gain")
        for cat, cg in g.get("per_category", {}).items():
            m["per_category"].setdefault(cat, {}).update(cg)


def hf_pld_named(results: dict[str, Any]) -> dict[str, Any]:
    """`results` with transformers' prompt lookup named `hf-pld` / `hf-pld:N`: a file without
    HF_PLD_NAMED in its config was written when it was `pld` / `pld:N` (the engine's drafter
    has that name now). A copy where renamed; the file itself is never edited."""
    config = results.get("config", {})
    if config.get(HF_PLD_NAMED):
        return results

    def new(spec: str) -> str:
        name, suffix = parse_method(spec)
        return spec if name != "pld" else HF_PLD + (f":{suffix}" if suffix else "")

    def keys(d: dict) -> dict:
        return {new(k): v for k, v in d.items()}

    config = {**config, "methods": [new(m) for m in config.get("methods", [])], HF_PLD_NAMED: True}
    if "pld_methods" in config:
        config["pld_methods"] = keys(config["pld_methods"])
    out = {**results, "config": config, "methods": keys(results.get("methods", {}))}
    if "runs" in results:
        out["runs"] = keys(results["runs"])
    return out


def as_current(results: dict[str, Any]) -> dict[str, Any]:
    """A results file as this code writes it: `hf-pld` named so (hf_pld_named), and the drafting
    gains and `sam_vs_pld` computed from its runs where the file predates them."""
    res = hf_pld_named(results)
    runs = res.get("runs", {})
    if runs and any("drafting_gain" not in m for m in res.get("methods", {}).values()):
        cats = sorted({r["category"] for rs in runs.values() for r in rs})
        methods = copy.deepcopy(res["methods"])
        add_gains(methods, runs, cats)
        res = {**res, "methods": methods, "sam_vs_pld": comparison(runs, cats)}
    return res


def with_interval(gain: dict[str, Any] | None) -> str:
    """A ratio and its interval, as "1.22x [1.15-1.30]"; a dash for None."""
    if gain is None:
        return "–"
    return f"{gain['ratio']:.2f}x [{gain['low']:.2f}-{gain['high']:.2f}]"


def markdown_table(results: dict[str, Any]) -> str:
    """The results as a Markdown table; MAT is pooled (all tokens / all verification steps).
    The drafting gain is over the method's own loop, with its 95% interval over questions."""
    methods = results["methods"]
    cats = sorted({c for m in methods.values() for c in m["per_category"]})
    head = (
        "| method | tokens/s | speedup | drafting gain (own loop) | vs stock generate | MAT | "
        "identical | " + " | ".join(cats) + " |"
    )
    lines = [head, "|" + "---|" * (7 + len(cats))]
    for name, m in methods.items():

        def fmt(x, spec=".2f"):
            return "–" if x is None else format(x, spec)

        cells = [fmt(m["per_category"].get(c, {}).get("speedup"), ".2f") + "x" for c in cats]
        lines.append(
            f"| {name} | {m['tokens_per_s']:.1f} | {fmt(m['speedup'])}x | "
            f"{with_interval(m.get('drafting_gain'))} | {fmt(m.get('speedup_vs_stock'))}x | "
            f"{fmt(m['mat'])} | "
            f"{fmt(m['identical'], '.0%') if m['identical'] is not None else '–'} | "
            + " | ".join(cells)
            + " |"
        )
    versus = results.get("sam_vs_pld")
    if versus and versus["gain_ratio"]:
        lines += [
            "",
            f"sam's drafting gain over pld's (one loop): {with_interval(versus['gain_ratio'])}, "
            f"{versus['verdict']}",
        ]
    return "\n".join(lines)


def chart_html(results: dict[str, Any]) -> str:
    import plotly.graph_objects as go

    methods = results["methods"]
    cats = sorted({c for m in methods.values() for c in m["per_category"]})
    fig = go.Figure()
    for name, m in methods.items():
        if name in PLAIN:
            continue
        fig.add_bar(
            name=name,
            x=[*cats, "overall"],
            y=[m["per_category"].get(c, {}).get("speedup") for c in cats] + [m["speedup"]],
        )
    fig.add_hline(y=1.0, line_dash="dash", annotation_text="plain decoding")
    fig.update_layout(
        title=f"Speedup over plain greedy decoding ({results['machine'].get('cpu', '')})",
        barmode="group",
        yaxis_title="speedup (x)",
        template="plotly_white",
    )
    return fig.to_html(include_plotlyjs="cdn", full_html=True)


def write_results(out: Path, results: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=2))
    tmp.replace(out)  # atomic: an interrupt never leaves a half-written results file


# Settings that must match for a resumed run to continue the same experiment. ("pld_methods"
# follows from "methods" and "pld", and files written before it existed resume as well.)
RESUME_KEYS = (
    "max_new_tokens",
    "methods",
    "question_ids",
    "turns",
    "pld",
    "model",
    "static_tokens",
)


def load_finished(out: Path, config: dict[str, Any]):
    """(runs, finished question ids, earlier sittings) of an interrupted results file.

    A file from before `hf-pld` was named so resumes under the new names (hf_pld_named): its
    `pld` rows are transformers', and are never mixed with the engine's `pld`.
    """
    previous = hf_pld_named(json.loads(out.read_text()))
    for key in RESUME_KEYS:
        if previous.get("config", {}).get(key) != config.get(key):
            raise ValueError(
                f"cannot resume {out}: its {key} differs from this run's "
                "(same settings, or a new --out)"
            )
    runs = {m: [Run(**r) for r in rs] for m, rs in previous.get("runs", {}).items()}
    runs = {m: runs.get(m, []) for m in config["methods"]}
    finished = set.intersection(*({r.question_id for r in rs} for rs in runs.values()))
    # A question cut off half-way runs again with every method, so its methods share a moment.
    runs = {m: [r for r in rs if r.question_id in finished] for m, rs in runs.items()}
    sittings = previous.get("sittings") or [
        {"date": previous["config"].get("date"), "machine": previous.get("machine")}
    ]
    return runs, finished, sittings


def new_results(
    engine,
    questions: list[Question],
    methods: list[str],
    max_new_tokens: int,
    turns: str,
    config: dict[str, Any] | None,
) -> dict[str, Any]:
    """The results of a sitting before any question ran: receipt, machine, settings, a sitting.

    config["pld"] is plain `hf-pld`'s setting; config["pld_methods"] each hf-pld spec's in
    `methods`.
    """
    this = receipt()
    results: dict[str, Any] = {
        "receipt": this,
        "machine": this["machine"],  # receipts.machine_info(), where it always was
        "config": {
            "max_new_tokens": max_new_tokens,
            "methods": methods,
            "questions": len(questions),
            "question_ids": [q.question_id for q in questions],
            "turns": turns,
            "pld": pld_settings(),  # plain hf-pld's (the key kept for resuming older files)
            HF_PLD_NAMED: True,
            "pld_methods": {
                m: pld_settings(n) for m in methods if (n := pld_tokens(m)) is not None
            },
            "cost_model": engine.cost.to_dict(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            **(config or {}),
        },
        "methods": {},
        "complete": False,
    }
    # One entry per sitting; a resumed run says so, with each sitting's machine, cost curve,
    # command and commit (the top-level receipt is the latest sitting's).
    results["sittings"] = [
        {
            "date": results["config"]["date"],
            "machine": results["machine"],
            "cost_model": results["config"]["cost_model"],
            "command": this["command"],
            "commit": this["commit"],
        }
    ]
    return results


def _record(results: dict[str, Any], runs: dict[str, list[Run]], categories: list[str]) -> None:
    results["methods"] = aggregate(runs, categories)
    results["sam_vs_pld"] = comparison(run_dicts(runs), categories)
    results["runs"] = {m: [asdict(r) for r in rs] for m, rs in runs.items()}


def _speedups(results: dict[str, Any]) -> dict[str, str]:
    """The progress bar's postfix: each drafting method's speedup so far."""
    return {
        m: f"{v['speedup']:.2f}x"
        for m, v in results["methods"].items()
        if v.get("speedup") and m not in PLAIN
    }


def _write_all(out: Path, results: dict[str, Any]) -> None:
    """results.json, its Markdown table and its chart."""
    write_results(out, results)
    out.with_suffix(".md").write_text(markdown_table(results) + "\n")
    out.with_suffix(".html").write_text(chart_html(results))


def run_bench(
    engine,
    questions: list[Question],
    methods: list[str],
    max_new_tokens: int,
    out: Path,
    turns: str = "first",
    config: dict[str, Any] | None = None,
    progress: bool = True,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    resume: bool = False,
    stock: Callable | None = None,
) -> dict[str, Any]:
    """Run every method on every question, interleaved; write `out` after each question.

    `stock`: () -> the model as transformers loads it, for the STOCK baseline.

    `resume` continues an interrupted run of the same settings from `out`: questions that every
    method finished are kept, the rest run again (all methods of a question run together).
    """
    from tqdm import tqdm

    runner = Runner(engine, max_new_tokens, turns, stock)
    categories = sorted({q.category for q in questions})
    runs: dict[str, list[Run]] = {m: [] for m in methods}
    results = new_results(engine, questions, methods, max_new_tokens, turns, config)
    done: set[int] = set()
    if resume and out.is_file():
        runs, done, sittings = load_finished(out, results["config"])
        results["sittings"] = sittings + results["sittings"]
    todo = [q for q in questions if q.question_id not in done]
    # Warm-up: first calls pay for allocation and compilation, not decoding.
    if todo:
        for m in methods:
            Runner(engine, 8, stock=stock)(m, todo[0])
    bar = tqdm(
        total=len(questions) * len(methods),
        initial=len(done) * len(methods),
        disable=not progress,
        desc="bench",
    )
    try:
        for qi, q in enumerate(questions):
            if q.question_id in done:
                continue
            # Rotate the order per question so drift and caching hit every method alike.
            for m in rotated(methods, qi):
                runs[m].append(runner(m, q))
                bar.update(1)
            _record(results, runs, categories)
            bar.set_postfix(_speedups(results))
            write_results(out, results)
            if on_result:
                on_result(results)
        results["complete"] = True
    except KeyboardInterrupt:
        results["interrupted"] = True
    finally:
        bar.close()
        _record(results, runs, categories)
        _write_all(out, results)
    return results
