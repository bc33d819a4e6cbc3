"""Command line: `python -m samdec generate "PROMPT" ...` (see `python -m samdec --help`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .config import METHODS, POLICIES


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


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="bundled", help="'bundled' (default), a hub id or a path")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument(
        "--static",
        default="default",
        help="static automaton file (.sam), 'default' for the shipped corpus, 'none' for none",
    )


def build_parser() -> CleanParser:
    parser = CleanParser(prog="python -m samdec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=CleanParser)

    g = sub.add_parser("generate", help="generate text with SAM-Decoding (or plain decoding)")
    g.add_argument("prompt", help="the user prompt (the chat template is applied for chat models)")
    g.add_argument("--method", default="sam", choices=METHODS)
    g.add_argument("--max-new-tokens", type=positive_int, default=256)
    g.add_argument("--l-bias", type=non_negative_int, default=5)
    g.add_argument("--l-threshold", type=non_negative_int, default=5)
    g.add_argument("--draft-policy", default="cost", choices=POLICIES)
    g.add_argument("--draft-len", type=positive_int, default=40)
    g.add_argument("--temperature", type=non_negative_float, default=0.0)
    g.add_argument("--top-p", type=non_negative_float, default=1.0)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    g.add_argument("--endpos", choices=["first", "last"], default="first")
    g.add_argument(
        "--carry-recycling",
        action="store_true",
        help="keep Token Recycling's table across requests (off: each request starts empty)",
    )
    g.add_argument("--raw", action="store_true", help="do not apply the chat template")
    g.add_argument("--json", action="store_true", help="print one JSON object: text, ids, steps")
    add_model_args(g)
    c = sub.add_parser("corpus", help="make a static corpus: distil answers, build an automaton")
    csub = c.add_subparsers(dest="corpus_command", required=True, parser_class=CleanParser)
    d = csub.add_parser("distill", help="append the model's greedy answers to prompts (resumable)")
    d.add_argument("--prompts", nargs="+", required=True, help="GSM8K JSONL / Code Alpaca JSON")
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
    b.add_argument("--endpos", choices=["first", "last"], default="first")
    b.add_argument("--model", default="bundled", help="whose tokenizer to use")
    bn = sub.add_parser("bench", help="benchmark methods against plain decoding and PLD")
    bn.add_argument(
        "--questions", default=None, help="Spec-Bench JSONL (default: the shipped copy)"
    )
    bn.add_argument("--per-category", type=positive_int, default=10)
    bn.add_argument("--max-new-tokens", type=positive_int, default=256)
    bn.add_argument(
        "--methods",
        default="ar,hf-generate,pld,sam,sam-dynamic,recycling,sam+recycling,sam:fixed",
        help="comma-separated; NAME:fixed / NAME:cost picks the draft policy",
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

    t = sub.add_parser("tune", help="predict MAT and speedup over an l_bias x l_threshold grid")
    t.add_argument("--questions", default=None, help="Spec-Bench JSONL (default: the shipped copy)")
    t.add_argument("--prompt", action="append", default=[], help="tune on this prompt instead")
    t.add_argument("--per-category", type=positive_int, default=2)
    t.add_argument("--max-new-tokens", type=positive_int, default=256)
    t.add_argument("--method", default="sam", choices=[m for m in METHODS if m != "ar"])
    t.add_argument("--l-bias", default="0-9", help="values: '0-9' or '0,2,5'")
    t.add_argument("--l-threshold", default="1-10", help="values: '1-10' or '1,3,5'")
    t.add_argument("--policies", default="cost", help="comma-separated: cost,fixed")
    t.add_argument("--draft-len", default="40", help="max draft length(s): '40' or '8,16,40'")
    t.add_argument("--recordings", default=None, help="reuse (or write) recorded runs here")
    t.add_argument("--out", default="results/tune.json")
    add_model_args(t)
    return parser


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

    from .automaton import StaticSuffixAutomaton

    if not Path(spec).is_file():
        raise FileNotFoundError(f"static automaton file not found: {spec}")
    return StaticSuffixAutomaton.load(spec)


def cmd_generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .config import DecodeConfig
    from .engine import Engine
    from .models import load_model

    config = DecodeConfig(
        method=args.method,
        max_new_tokens=args.max_new_tokens,
        l_bias=args.l_bias,
        l_threshold=args.l_threshold,
        draft_policy=args.draft_policy,
        draft_len=args.draft_len,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        stop_strings=args.stop,
        endpos=args.endpos,
        carry_recycling=args.carry_recycling,
    )
    config.validate()
    if not args.prompt.strip():
        raise ValueError("the prompt is empty")
    if args.static not in ("default", "none") and not Path(args.static).is_file():
        raise FileNotFoundError(f"static automaton file not found: {args.static}")
    loaded = load_model(args.model, device=args.device)
    uses_static = args.method in ("sam", "sam+recycling")
    static = load_static(args.static, loaded.tokenizer) if uses_static else None
    cost = "calibrate" if args.draft_policy == "cost" and args.method != "ar" else "default"
    engine = Engine(loaded, static=static, cost=cost)
    ids = engine.encode(args.prompt, chat=False if args.raw else None)
    if args.json:
        trace = engine.generate(ids, config)
        print(json.dumps(trace.to_dict(), ensure_ascii=False))
        return 0
    run = engine.stream(ids, config)
    for event in run:
        sys.stdout.write("".join(event.new_pieces))
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
    from .models import load_model

    if args.corpus_command == "distill":
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        loaded = load_model(args.model, device=args.device)
        sources = [corpus.read_prompts(Path(p)) for p in args.prompts]
        added = corpus.distill(
            loaded,
            corpus.interleave(*sources),
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


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import bench, questions
    from .engine import Engine
    from .models import load_model

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        name, policy = bench.parse_method(m)
        if name not in (*METHODS, *bench.BASELINES) or policy not in (None, *POLICIES):
            raise ValueError(f"unknown method {m!r}")
    if "ar" not in methods:
        methods.insert(0, "ar")  # the reference for speedup and identity
    qs = questions.load_questions(args.questions or questions.SPEC_BENCH)
    if args.categories:
        wanted = set(args.categories.split(","))
        qs = [q for q in qs if q.category in wanted]
    qs = questions.pick(qs, args.per_category)
    if not qs:
        raise ValueError("no questions selected")
    loaded = load_model(args.model, device=args.device)
    static = load_static(args.static, loaded.tokenizer)
    engine = Engine(loaded, static=static)
    config = {
        "model": loaded.name,
        "device": loaded.device,
        "static_tokens": static.num_tokens if static is not None else 0,
        "command": "python -m samdec bench " + " ".join(sys.argv[2:]),
    }
    results = bench.run_bench(
        engine,
        qs,
        methods,
        args.max_new_tokens,
        Path(args.out),
        turns=args.turns,
        config=config,
        resume=args.resume,
    )
    print(bench.markdown_table(results))
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from . import questions, tuning
    from .config import DecodeConfig
    from .engine import Engine
    from .models import load_model

    biases = int_values(args.l_bias, "--l-bias")
    thresholds = int_values(args.l_threshold, "--l-threshold")
    policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
    if not policies or any(p not in POLICIES for p in policies):
        raise ValueError(f"--policies: choose from {POLICIES}")
    loaded = load_model(args.model, device=args.device)
    static = load_static(args.static, loaded.tokenizer)
    engine = Engine(loaded, static=static)
    rec_path = Path(args.recordings) if args.recordings else None
    if rec_path is not None and rec_path.is_file():
        data = json.loads(rec_path.read_text())
        recordings = [tuning.recording_from_dict(d) for d in data["recordings"]]
        print(f"tune: {len(recordings)} recorded runs from {rec_path}", file=sys.stderr)
    else:
        if args.prompt:
            prompts = [engine.encode(p) for p in args.prompt]
        else:
            qs = questions.load_questions(args.questions or questions.SPEC_BENCH)
            prompts = [engine.encode(q.turns[0]) for q in questions.pick(qs, args.per_category)]
        recordings = []
        for i, ids in enumerate(prompts, 1):
            recordings.append(tuning.record(engine, ids, args.max_new_tokens))
            print(f"tune: recorded {i}/{len(prompts)}", file=sys.stderr)
        if rec_path is not None:
            rec_path.parent.mkdir(parents=True, exist_ok=True)
            payload = {"recordings": [tuning.recording_to_dict(r) for r in recordings]}
            rec_path.write_text(json.dumps(payload))
    draft_lens = tuple(int_values(args.draft_len, "--draft-len"))
    if min(draft_lens) < 1:
        raise ValueError("--draft-len: lengths must be >= 1")
    base = DecodeConfig(method=args.method, max_new_tokens=args.max_new_tokens)
    start = time.perf_counter()
    rows = tuning.sweep(
        recordings,
        base,
        biases,
        thresholds,
        engine.cost,
        static,
        engine.vocab_size,
        policies,
        draft_lens,
    )
    seconds = time.perf_counter() - start
    best = max(rows, key=lambda r: r["speedup"])
    # The paper's (5, 5), with the draft lengths of the best setting, for a like-for-like view.
    paper = next(
        (
            r
            for r in rows
            if (r["l_bias"], r["l_threshold"]) == (5, 5)
            and (r["draft_policy"], r["draft_len"]) == (best["draft_policy"], best["draft_len"])
        ),
        None,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "method": args.method,
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
    }
    out.write_text(json.dumps(result, indent=1))
    try:  # the heatmap needs plotly (the app's dependency), not the engine
        from visuals import tuning_heatmap

        out.with_suffix(".html").write_text(tuning_heatmap(rows).to_html(include_plotlyjs="cdn"))
    except ImportError:
        pass
    print(
        f"{len(rows)} settings x {len(recordings)} runs in {seconds:.1f} s. Best: "
        f"l_bias={best['l_bias']} l_threshold={best['l_threshold']} "
        f"({best['draft_policy']}, draft_len {best['draft_len']}): "
        f"predicted {best['speedup']:.2f}x, MAT {best['mat']:.2f}"
        + (f"; paper (5, 5): {paper['speedup']:.2f}x, MAT {paper['mat']:.2f}" if paper else "")
    )
    return 0


COMMANDS = {"generate": cmd_generate, "corpus": cmd_corpus, "bench": cmd_bench, "tune": cmd_tune}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .models import ModelLoadError

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
