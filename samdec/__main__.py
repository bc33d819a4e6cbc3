"""Command line: `python -m samdec generate "PROMPT" ...` (see `python -m samdec --help`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .config import ENDPOS, POLICIES, DecodeConfig
from .methods import METHODS, TABLE, method
from .runtime.layouts import INTEGER_NUMERICS, LAYOUT_CHOICES, NUMERICS
from .runtime.loading import DTYPES


class CleanParser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr and exit status 2, never a usage dump or traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="bundled", help="'bundled' (default), a hub id or a path")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument(
        "--dtype",
        default="auto",
        choices=DTYPES,
        help="auto: float32 on a CPU (exact). bfloat16 is a fast mode, not exact: greedy output "
        "may change with how many tokens a pass verifies, so it can differ from plain decoding",
    )
    p.add_argument(
        "--layout",
        default=None,
        choices=LAYOUT_CHOICES,
        help="how linear weights are stored (default: auto for float32 on a CPU: the fastest of "
        "stock, packed and streamed there, measured once per machine; stock elsewhere). "
        "integer: the GGUF's codes multiplied in integers (see --numerics)",
    )
    p.add_argument(
        "--numerics",
        default=None,
        choices=NUMERICS,
        help="float32 (default): exact to transformers' float32. integer: "
        f"{INTEGER_NUMERICS} (a CPU with AVX-512 VNNI, a GGUF model; the same as --layout "
        "integer)",
    )
    p.add_argument(
        "--static",
        default="default",
        help="static automaton file (.sam), 'default' for the shipped corpus, 'none' for none",
    )


def build_parser() -> CleanParser:
    parser = CleanParser(prog="python -m samdec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=CleanParser)
    add_generate(sub)
    add_corpus(sub)
    add_bench(sub)
    add_tune(sub)
    doc = sub.add_parser(
        "doctor", help="what this machine runs and why: kernels, layout, exactness"
    )
    doc.add_argument("--no-model", action="store_true", help="the machine only; load no model")
    doc.add_argument("--json", action="store_true", help="one JSON object")
    add_model_args(doc)
    add_prepare(sub)
    return parser


def add_prepare(sub) -> None:
    p = sub.add_parser(
        "prepare",
        help="do the one-time work for a model now (de-quantise, build and tune the kernel, "
        "time the layouts, build the static automaton, calibrate), so the app starts ready",
    )
    add_model_args(p)  # --static: 'default' is the app's corpus ($SAMDEC_CORPUS or shipped)


# generate's decoding settings: (flag, DecodeConfig field, help). They pass through as text;
# their defaults and every check come from DecodeConfig.from_values, as in the app and the API.
SETTINGS = (
    ("--method", "method", f"one of {', '.join(METHODS)}"),
    ("--max-new-tokens", "max_new_tokens", ""),
    ("--l-bias", "l_bias", "favour the dynamic automaton's match by this many tokens"),
    ("--l-threshold", "l_threshold", "shorter matches draft with Token Recycling (or nothing)"),
    ("--draft-policy", "draft_policy", f"one of {', '.join(POLICIES)}"),
    ("--draft-len", "draft_len", "the draft limit: the most tokens a step may verify"),
    ("--temperature", "temperature", "0 is greedy"),
    ("--top-p", "top_p", ""),
    ("--seed", "seed", "for sampling"),
    ("--endpos", "endpos", f"which earlier occurrence a draft continues: {' or '.join(ENDPOS)}"),
)


def add_generate(sub) -> None:
    g = sub.add_parser("generate", help="generate text with SAM-Decoding (or plain decoding)")
    g.add_argument("prompt", help="the user prompt (the chat template is applied for chat models)")
    defaults = DecodeConfig()
    for flag, name, text in SETTINGS:
        default = getattr(defaults, name)
        words = f"{text} (default: {default})" if text else f"default: {default}"
        g.add_argument(flag, dest=name, default=None, help=words)
    g.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    g.add_argument(
        "--carry-recycling",
        action="store_true",
        help="keep Token Recycling's table across requests (off: each request starts empty)",
    )
    g.add_argument("--raw", action="store_true", help="do not apply the chat template")
    g.add_argument("--json", action="store_true", help="print one JSON object: text, ids, steps")
    add_model_args(g)


def add_corpus(sub) -> None:
    c = sub.add_parser("corpus", help="make a static corpus: distil answers, build an automaton")
    csub = c.add_subparsers(dest="corpus_command", required=True, parser_class=CleanParser)
    d = csub.add_parser("distill", help="append the model's greedy answers to prompts (resumable)")
    d.add_argument(
        "--prompts", nargs="+", required=True, help="GSM8K / Self-Instruct JSONL, Code Alpaca JSON"
    )
    d.add_argument(
        "--hold-out-tuning",
        action="store_true",
        help="leave every 4th prompt of each file (by position) out, for tuning",
    )
    d.add_argument("--out", required=True, help="output JSONL (appended to; resumes)")
    d.add_argument("--max-new-tokens", type=positive_int, default=384)
    d.add_argument("--batch-size", type=positive_int, default=32)
    d.add_argument("--limit", type=positive_int, default=None, help="stop at this many answers")
    d.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads")
    d.add_argument("--model", default="bundled")
    d.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    b = csub.add_parser("build", help="tokenize texts / JSONL and save a static automaton")
    b.add_argument("inputs", nargs="+", help="JSONL(.gz) with an 'answer' or 'text' field, or text")
    b.add_argument("--out", required=True, help="the automaton file to write (.sam)")
    b.add_argument("--endpos", choices=ENDPOS, default="first")
    b.add_argument("--model", default="bundled", help="whose tokenizer to use")


def add_bench(sub) -> None:
    bn = sub.add_parser("bench", help="benchmark methods against plain decoding and PLD")
    bn.add_argument(
        "--questions", default=None, help="Spec-Bench JSONL (default: the shipped copy)"
    )
    bn.add_argument("--per-category", type=positive_int, default=10)
    bn.add_argument("--max-new-tokens", default="256")
    bn.add_argument(
        "--methods",
        default="ar,hf-generate,hf-pld:3,pld,sam,sam+recycling,sam+graft",
        help="comma-separated; NAME:fixed / NAME:cost picks the draft policy; pld is the "
        "engine's prompt lookup drafter; hf-pld:N is transformers' prompt lookup with N draft "
        "tokens (plain hf-pld: 10; hf-pld:3 was chosen on training prompts by "
        "scripts/tune_pld.py, benchmarks/pld_tuning.json); hf-stock is plain generate on the "
        "model as transformers loads it, left out by default: it loads a second copy of the "
        "model and is by far the slowest row, and it measures the runtime's gain, not "
        "drafting's",
    )
    bn.add_argument("--categories", default=None, help="comma-separated subset of categories")
    bn.add_argument("--out", default="results/results.json")
    bn.add_argument(
        "--turns",
        choices=["first", "all"],
        default="first",
        help="all: multi-turn questions run as one conversation (each turn sees the answer)",
    )
    bn.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run from --out (same settings); finished questions stay",
    )
    add_model_args(bn)


def add_tune(sub) -> None:
    t = sub.add_parser("tune", help="predict MAT and speedup over an l_bias x l_threshold grid")
    t.add_argument("--questions", default=None, help="Spec-Bench JSONL (default: the shipped copy)")
    t.add_argument("--prompt", action="append", default=[], help="tune on this prompt instead")
    t.add_argument("--per-category", type=positive_int, default=2)
    t.add_argument("--max-new-tokens", default="256")
    drafting = ", ".join(m.name for m in TABLE.values() if m.drafts)
    t.add_argument("--method", default="sam", help=f"a drafting method: {drafting}")
    t.add_argument("--l-bias", default="0-9", help="values: '0-9' or '0,2,5'")
    t.add_argument("--l-threshold", default="1-10", help="values: '1-10' or '1,3,5'")
    t.add_argument("--policies", default="cost", help="comma-separated: cost,fixed")
    t.add_argument("--draft-len", default="40", help="max draft length(s): '40' or '8,16,40'")
    t.add_argument("--recordings", default=None, help="reuse (or write) recorded runs here")
    t.add_argument("--out", default="results/tune.json")
    add_model_args(t)


def int_values(text: str, name: str) -> list[int]:
    """'0-9' or '0,2,5' -> a list of ints >= 0."""
    try:
        if "-" in text and "," not in text:
            lo, hi = (int(x) for x in text.split("-", 1))
            values = list(range(lo, hi + 1))
        else:
            values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{name}: expected '0-9' or '0,2,5', got {text!r}") from None
    if not values or min(values) < 0:
        raise ValueError(f"{name}: expected non-negative whole numbers, got {text!r}")
    return values


def load_static(spec: str, tokenizer):
    """The static automaton named on the command line, or None."""
    from . import corpus

    if spec == "none":
        return None
    if spec == "default":
        return corpus.load_default_static(tokenizer)
    from pathlib import Path

    from .static_automaton import StaticSuffixAutomaton

    if not Path(spec).is_file():
        raise FileNotFoundError(f"static automaton file not found: {spec}")
    return StaticSuffixAutomaton.load(spec)


def generate_config(args: argparse.Namespace) -> DecodeConfig:
    """The decoding settings given on the command line, checked by DecodeConfig."""
    values = {name: getattr(args, name) for _, name, _ in SETTINGS}
    values = {name: value for name, value in values.items() if value is not None}
    values["stop_strings"] = args.stop
    values["carry_recycling"] = args.carry_recycling
    return DecodeConfig.from_values(values)


def cmd_generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .drafters.factory import uses_static
    from .runtime.loading import load_model
    from .stack import engine_for

    config = generate_config(args)
    if not args.prompt.strip():
        raise ValueError("the prompt is empty")
    if args.static not in ("default", "none") and not Path(args.static).is_file():
        raise FileNotFoundError(f"static automaton file not found: {args.static}")
    loaded = load_model(args.model, args.device, args.dtype, args.layout)
    static = load_static(args.static, loaded.tokenizer) if uses_static(config) else None
    drafts = method(config.method).drafts
    cost = "calibrate" if config.draft_policy == "cost" and drafts else "default"
    engine = engine_for(loaded, static=static, cost=cost)
    ids = engine.encode(args.prompt, chat=False if args.raw else None)
    if args.json:
        trace = engine.generate(ids, config, details=True)
        print(json.dumps(trace.to_dict(), ensure_ascii=False))
        return 0
    run = engine.stream(ids, config)
    for event in run:
        sys.stdout.write("".join(engine.piece(t) for t in event.new_tokens))
        sys.stdout.flush()
    assert run.trace is not None
    s = run.trace.summary
    print(
        f"\n\n[{s.method}] {s.new_tokens} tokens in {s.steps} steps (MAT {s.mat:.2f}), "
        f"{s.tokens_per_s:.1f} tokens/s, stop: {s.stop_reason}",
        file=sys.stderr,
    )
    return 0


def cmd_corpus(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from . import corpus
    from .runtime.loading import load_model

    if args.corpus_command == "distill":
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        prompts = corpus.distill_prompts(args.prompts, Path(args.out), args.hold_out_tuning)
        loaded = load_model(args.model, device=args.device)
        added = corpus.distill(
            loaded,
            prompts,
            Path(args.out),
            max_new_tokens=args.max_new_tokens,
            batch_size=args.batch_size,
            limit=args.limit,
        )
        print(f"added {added} answers to {args.out}", file=sys.stderr)
        return 0
    loaded = load_model(args.model, device="cpu")
    start = time.perf_counter()
    sam = corpus.build_static(loaded.tokenizer, [Path(p) for p in args.inputs], Path(args.out))
    print(
        f"{args.out}: {sam.num_tokens} tokens, {sam.num_documents} documents, "
        f"{sam.num_states} states, {sam.nbytes / 1e6:.1f} MB, {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
    )
    return 0


def _stock_loader(args: argparse.Namespace):
    """() -> the model exactly as transformers loads it (stock layout), loaded on first use."""
    from functools import cache

    from .runtime.loading import load_model

    @cache
    def stock():
        return load_model(args.model, args.device, args.dtype, "stock").model

    return stock


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import bench, questions
    from .runtime.loading import load_model
    from .stack import engine_for

    max_new_tokens = DecodeConfig.from_values(
        {"max_new_tokens": args.max_new_tokens}
    ).max_new_tokens
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        bench.check_method(m)
    if "ar" not in methods:
        methods.insert(0, "ar")  # the reference for speedup and identity
    qs = questions.load_questions(args.questions or questions.SPEC_BENCH)
    if args.categories:
        wanted = set(args.categories.split(","))
        qs = [q for q in qs if q.category in wanted]
    qs = questions.pick(qs, args.per_category)
    if not qs:
        raise ValueError("no questions selected")
    loaded = load_model(args.model, args.device, args.dtype, args.layout)
    static = load_static(args.static, loaded.tokenizer)
    engine = engine_for(loaded, static=static)
    config = {
        "model": loaded.name,
        "device": loaded.device,
        # bfloat16 is the fast, not exact mode: `identical` is then against bf16 plain decoding
        "dtype": loaded.dtype,
        "layout": loaded.layout,
        "static_tokens": static.num_tokens if static is not None else 0,
        "command": "python -m samdec bench " + " ".join(sys.argv[2:]),
    }
    results = bench.run_bench(
        engine,
        qs,
        methods,
        max_new_tokens,
        Path(args.out),
        turns=args.turns,
        config=config,
        resume=args.resume,
        stock=_stock_loader(args) if bench.STOCK in methods else None,
    )
    print(bench.markdown_table(results))
    return 0


def tune_base(args: argparse.Namespace) -> DecodeConfig:
    """The settings every grid point shares, checked by DecodeConfig; the method must draft."""
    base = DecodeConfig.from_values({"method": args.method, "max_new_tokens": args.max_new_tokens})
    if not method(base.method).drafts:
        drafting = ", ".join(m.name for m in TABLE.values() if m.drafts)
        raise ValueError(f"--method: {base.method!r} never drafts; choose one of {drafting}")
    return base


def tune_recordings(args: argparse.Namespace, engine, max_new_tokens: int) -> list:
    """Recorded greedy runs: read from --recordings if it exists, else recorded (and saved)."""
    from pathlib import Path

    from . import questions, tuning

    rec_path = Path(args.recordings) if args.recordings else None
    if rec_path is not None and rec_path.is_file():
        data = json.loads(rec_path.read_text())
        recordings = [tuning.recording_from_dict(d) for d in data["recordings"]]
        print(f"tune: {len(recordings)} recorded runs from {rec_path}", file=sys.stderr)
        return recordings
    if args.prompt:
        prompts = [engine.encode(p) for p in args.prompt]
    else:
        qs = questions.load_questions(args.questions or questions.SPEC_BENCH)
        prompts = [engine.encode(q.turns[0]) for q in questions.pick(qs, args.per_category)]
    recordings = []
    for i, ids in enumerate(prompts, 1):
        recordings.append(tuning.record(engine, ids, max_new_tokens))
        print(f"tune: recorded {i}/{len(prompts)}", file=sys.stderr)
    if rec_path is not None:
        rec_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"recordings": [tuning.recording_to_dict(r) for r in recordings]}
        rec_path.write_text(json.dumps(payload))
    return recordings


def paper_row(rows: list[dict], best: dict) -> dict | None:
    """The paper's (5, 5), with the draft lengths of the best setting, for a like-for-like view."""
    return next(
        (
            r
            for r in rows
            if (r["l_bias"], r["l_threshold"]) == (5, 5)
            and (r["draft_policy"], r["draft_len"]) == (best["draft_policy"], best["draft_len"])
        ),
        None,
    )


def write_tune(out, result: dict) -> None:
    """The grid as JSON, and as a heatmap page when plotly is there."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    try:  # the heatmap needs plotly (the app's dependency), not the engine
        from visuals import tuning_heatmap

        page = tuning_heatmap(result["rows"]).to_html(include_plotlyjs="cdn")
        out.with_suffix(".html").write_text(page)
    except ImportError:
        pass


def cmd_tune(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from . import tuning
    from .runtime.loading import load_model
    from .stack import engine_for

    base = tune_base(args)
    biases = int_values(args.l_bias, "--l-bias")
    thresholds = int_values(args.l_threshold, "--l-threshold")
    draft_lens = tuple(int_values(args.draft_len, "--draft-len"))
    if min(draft_lens) < 1:
        raise ValueError("--draft-len: lengths must be >= 1")
    policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
    if not policies or any(p not in POLICIES for p in policies):
        raise ValueError(f"--policies: choose from {POLICIES}")
    loaded = load_model(args.model, args.device, args.dtype, args.layout)
    static = load_static(args.static, loaded.tokenizer)
    engine = engine_for(loaded, static=static)
    recordings = tune_recordings(args, engine, base.max_new_tokens)
    start = time.perf_counter()
    grid = tuning.Grid(biases, thresholds, policies, draft_lens)
    rows = tuning.sweep(recordings, base, grid, engine.cost, static, engine.vocab_size)
    seconds = time.perf_counter() - start
    best = max(rows, key=lambda r: r["speedup"])
    paper = paper_row(rows, best)
    write_tune(
        Path(args.out),
        {
            "method": base.method,
            "recordings": len(recordings),
            "grid_seconds": seconds,
            "cost_model": engine.cost.to_dict(),
            "rows": rows,
            "best": best,
            "paper_default": paper,
            "note": (
                "Exact MAT for the SAM drafters; Token Recycling is approximated (the replay "
                "learns only from positions on the text, not from rejected draft branches)."
            ),
        },
    )
    print(
        f"{len(rows)} settings x {len(recordings)} runs in {seconds:.1f} s. Best: "
        f"l_bias={best['l_bias']} l_threshold={best['l_threshold']} "
        f"({best['draft_policy']}, draft_len {best['draft_len']}): "
        f"predicted {best['speedup']:.2f}x, MAT {best['mat']:.2f}"
        + (f"; paper (5, 5): {paper['speedup']:.2f}x, MAT {paper['mat']:.2f}" if paper else "")
    )
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from . import doctor

    facts = doctor.report(args.model, args.device, args.dtype, args.layout, not args.no_model)
    print(json.dumps(facts, indent=1) if args.json else doctor.text(facts))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from . import prepare

    prepare.in_serving_environment(args.argv)
    report = prepare.prepare(args.model, args.device, args.dtype, args.layout, args.static)
    print(prepare.summary(report))
    return 1 if report.failed else 0


COMMANDS = {
    "generate": cmd_generate,
    "corpus": cmd_corpus,
    "bench": cmd_bench,
    "tune": cmd_tune,
    "doctor": cmd_doctor,
    "prepare": cmd_prepare,
}


def numerics_to_layout(parser: CleanParser, args: argparse.Namespace) -> None:
    """--numerics integer is the integer layout; float32 leaves the layout as asked, but not
    the integer one."""
    chosen = getattr(args, "numerics", None)
    if chosen is None:
        return
    layout = getattr(args, "layout", None)
    if chosen == "integer" and layout not in (None, "auto", "integer"):
        parser.error(f"--numerics integer runs the integer layout, not {layout}")
    if chosen == "float32" and layout == "integer":
        parser.error("--numerics float32 and --layout integer ask for different arithmetic")
    if chosen == "integer":
        args.layout = "integer"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    numerics_to_layout(parser, args)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # to run it again (prepare)
    from .runtime.loading import ModelLoadError

    try:
        return COMMANDS[args.command](args)
    except (ValueError, ModelLoadError, FileNotFoundError) as exc:
        print(f"samdec {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"samdec {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
