"""The anchor: llama.cpp beside samdec on the same prompts, the same machine, the same sitting.

    python scripts/anchor_llamacpp.py --out benchmarks/anchor.json
    python scripts/anchor_llamacpp.py --prompts 2 --tokens 16 --rounds 1 --out /tmp/anchor.json

What a CPU user would run instead of samdec is llama.cpp. Its `llama-bench` and `llama-lookup`
are built once from the sources PyPI's `llama-cpp-python` sdist vendors (scripts/
llamacpp_build.py, into the samdec cache), then each round runs, in an order that rotates by
round so drift hits every system alike:

- `llama-bench`: plain decoding, `tg` of --tokens tokens at the prompts' mean depth (`-d`);
- `llama-lookup`: n-gram lookup with 3-token drafts, greedy, on each prompt;
- `python -m samdec bench` with `ar` and `sam` (exact float32), and again with
  `--numerics integer` where the bench offers that option.

All on the bundled GGUF, --threads threads (2). The prompts are MT-Bench's coding questions
(Spec-Bench ids 121-130, first turn): code, and never in samdec's static corpus (Spec-Bench is
for evaluation only). Both systems see the same tokens: the text given to `llama-lookup` is the
bundled tokenizer's chat template applied as samdec applies it, special tokens parsed; the
artifact records both systems' prompt token counts, and says where they differ.

Decoding tokens/s leave the prefill out on both sides. `llama-lookup`'s "decoded" window starts
after the pass over the prompt's last token, which yields the first new token: that token is left
out of its count (samdec's decoding window holds that pass). Tokens per pass: new tokens over
the passes that made them, that first pass included (samdec's `steps`; for `llama-lookup`,
n_predict - n_accept). Run it alone on the machine: anything else running makes every number
smaller.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (str(ROOT), str(HERE)):
    if path not in sys.path:
        sys.path.append(path)
from llamacpp_build import (  # noqa: E402
    NAME,
    bench_tests,
    binaries,
    build,
    run_tool,
    tool_flags,
    tool_note,
)

QUESTION_IDS = tuple(range(121, 131))  # MT-Bench's coding questions, in Spec-Bench
DRAFT = 3  # llama-lookup's draft length (its n-gram drafts; the setting)
SAMDEC = ("ar", "sam")
INTEGER = "integer"  # the value of samdec bench's --numerics for the GGUF's integer products


# -----------------------------------------------------------------------------
# parsing the tools' output


LOOKUP_LINES = {
    "encoded": re.compile(r"encoded\s+(\d+) tokens in\s+([\d.]+) seconds"),
    "decoded": re.compile(r"decoded\s+(\d+) tokens in\s+([\d.]+) seconds"),
}
LOOKUP_COUNTS = ("n_draft", "n_predict", "n_drafted", "n_accept")


def parse_lookup(text: str) -> dict:
    """`llama-lookup`'s closing statistics: prompt tokens and seconds, new tokens and decoding
    seconds, drafted and accepted tokens. ValueError naming what is missing."""
    out: dict = {}
    for name, pattern in LOOKUP_LINES.items():
        m = pattern.search(text)
        if m is None:
            raise ValueError(f"llama-lookup's output has no '{name} N tokens in S seconds' line")
        out[f"{name}_tokens"], out[f"{name}_seconds"] = int(m.group(1)), float(m.group(2))
    for name in LOOKUP_COUNTS:
        m = re.search(rf"^.*\b{name}\s*=\s*(\d+)\s*$", text, re.M)
        if m is None:
            raise ValueError(f"llama-lookup's output has no '{name} = N' line")
        out[name] = int(m.group(1))
    return out


def parse_llama_bench(text: str) -> dict:
    """The `tg` test of `llama-bench -o json`'s output: its settings, mean tokens/s and the
    per-repetition ones, and the build it reports. ValueError when there is none."""
    tg = [t for t in bench_tests(text) if t.get("n_gen", 0) > 0 and t.get("n_prompt", 0) == 0]
    if not tg:
        raise ValueError("llama-bench's output has no text-generation (tg) test")
    t = tg[0]
    keep = (
        "n_gen",
        "n_depth",
        "n_threads",
        "avg_ts",
        "stddev_ts",
        "samples_ts",
        "flash_attn",
        "type_k",
        "build_commit",
        "build_number",
        "cpu_info",
        "model_type",
        "backends",
    )
    return {k: t[k] for k in keep if k in t}


# -----------------------------------------------------------------------------
# the prompts


def chat_prompts(n: int) -> list[dict]:
    """The first `n` of MT-Bench's coding questions: id, text, the chat-templated text given to
    llama-lookup and the token ids samdec decodes from (its own chat template)."""
    from samdec.questions import SPEC_BENCH, load_questions
    from samdec.runtime.loading import load_tokenizer

    by_id = {q.question_id: q for q in load_questions(SPEC_BENCH)}
    tokenizer = load_tokenizer()
    out = []
    for qid in QUESTION_IDS[:n]:
        messages = [{"role": "user", "content": by_id[qid].turns[0]}]
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
        out.append({"question_id": qid, "turn": by_id[qid].turns[0], "text": text, "ids": ids})
    return out


def questions_file(prompts: list[dict], folder: Path) -> Path:
    """The prompts as a Spec-Bench question file, for `python -m samdec bench --questions`."""
    path = folder / "questions.jsonl"
    rows = [
        {"question_id": p["question_id"], "category": "coding", "turns": [p["turn"]]}
        for p in prompts
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# -----------------------------------------------------------------------------
# running the three systems


def llama_bench(gguf: Path, tokens: int, depth: int, threads: int) -> dict:
    """`llama-bench`'s plain decoding: `tokens` tokens generated at `depth` tokens of context
    (its default repetitions), no prompt test."""
    flags = f"-p 0 -n {tokens} -d {depth} -t {threads} -o json".split()
    command = [str(binaries()["llama-bench"]), "-m", str(gguf), *flags, *tool_flags("llama-bench")]
    return {"command": command[1:], **parse_llama_bench(run_tool(command))}


def lookup_command(gguf: Path, prompt_file: Path, tokens: int, threads: int, ctx: int) -> list:
    """llama-lookup, greedy, DRAFT-token drafts. It stops once it has made more than its -n
    tokens (drafts accepted past it count too), so -n is one less than `tokens`; the prompt
    file's text is taken as it is (--no-escape: code keeps its backslashes)."""
    draft = f"--spec-draft-n-max {DRAFT}"  # this version's name for --draft, now refused
    flags = f"--no-escape -n {tokens - 1} {draft} --temp 0 -t {threads} -tb {threads}"
    command = [str(binaries()["llama-lookup"]), "-m", str(gguf), "-f", str(prompt_file)]
    return [*command, *flags.split(), "-c", str(ctx), *tool_flags("llama-lookup")]


def llama_lookup(gguf: Path, prompts: list[dict], tokens: int, threads: int, work: Path) -> dict:
    """llama-lookup on each prompt (one process each, the model loaded each time), and the
    totals: decoding tokens/s and tokens per pass as the module's docstring defines them."""
    ctx = 256 * (-(-(max(len(p["ids"]) for p in prompts) + tokens + DRAFT + 64) // 256))
    runs = []
    for p in prompts:
        prompt_file = work / f"prompt-{p['question_id']}.txt"
        prompt_file.write_text(p["text"] + "\n")  # -f drops one closing newline
        command = lookup_command(gguf, prompt_file, tokens, threads, ctx)
        run = parse_lookup(run_tool(command))
        runs.append({"question_id": p["question_id"], "samdec_prompt_tokens": len(p["ids"]), **run})
    return {"command": command[1:], **lookup_totals(runs), "runs": runs}


def lookup_totals(runs: list[dict]) -> dict:
    """Decoding tokens/s (the first new token, made in the prompt's window, left out), tokens
    per pass, prefill tokens/s over llama-lookup's runs, and whether its prompts' token counts
    are samdec's."""
    decoded = sum(r["decoded_tokens"] - 1 for r in runs)
    passes = sum(r["n_predict"] - r["n_accept"] for r in runs)
    return {
        "new_tokens": sum(r["n_predict"] for r in runs),
        "passes": passes,
        "tokens_per_pass": sum(r["n_predict"] for r in runs) / passes,
        "decode_tokens_per_s": decoded / sum(r["decoded_seconds"] for r in runs),
        "prefill_tokens_per_s": sum(r["encoded_tokens"] for r in runs)
        / sum(r["encoded_seconds"] for r in runs),
        "prompt_tokens_match": all(r["encoded_tokens"] == r["samdec_prompt_tokens"] for r in runs),
    }


def samdec_bench(setting: dict, out: Path, numerics: str | None) -> dict:
    """`python -m samdec bench` with ar and sam on the prompts, its torch and kernels on
    `threads` threads (OMP_NUM_THREADS); each method's decoding tokens/s, tokens per pass,
    prefill seconds, and identity with ar."""
    n, tokens, methods = len(setting["prompts"]), setting["tokens"], ",".join(SAMDEC)
    flags = f"--per-category {n} --max-new-tokens {tokens} --methods {methods}".split()
    command = ["-m", "samdec", "bench", "--questions", str(setting["questions"]), *flags]
    command += ["--numerics", numerics] if numerics else []
    env = {**os.environ, "OMP_NUM_THREADS": str(setting["threads"])}
    run = [sys.executable, *command, "--out", str(out)]
    done = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not out.is_file():
        sys.exit(f"anchor: samdec bench failed (status {done.returncode}):\n{done.stderr[-3000:]}")
    results = json.loads(out.read_text())
    keep = (
        "decode_tokens_per_s",
        "tokens_per_s",
        "mat",
        "new_tokens",
        "prefill_seconds",
        "identical",
        "decode_drafting_gain",
    )
    methods = {m: {k: results["methods"][m].get(k) for k in keep} for m in SAMDEC}
    return {
        "command": ["python", *command],
        "commit": results["receipt"]["commit"],
        "methods": methods,
        "steps": {m: sum(r["steps"] for r in results["runs"][m]) for m in SAMDEC},
    }


def numerics_choices() -> list[str] | None:
    """The values samdec bench's --numerics takes (from its --help); None where it has none."""
    done = subprocess.run(
        [sys.executable, "-m", "samdec", "bench", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if "--numerics" not in done.stdout:
        return None
    m = re.search(r"--numerics \{([^}]*)\}", done.stdout)
    return m.group(1).split(",") if m else [INTEGER]


# -----------------------------------------------------------------------------
# rounds and their summary


def one_round(i: int, setting: dict, work: Path) -> dict:
    """Every system once, in an order rotated by round `i`."""
    gguf, prompts, tokens, threads = (setting[k] for k in ("gguf", "prompts", "tokens", "threads"))
    steps = {
        "llama-bench": lambda: llama_bench(gguf, tokens, setting["depth"], threads),
        "llama-lookup": lambda: llama_lookup(gguf, prompts, tokens, threads, work),
    }
    for label, flag in setting["samdec_modes"].items():
        steps[f"samdec {label}"] = lambda flag=flag, label=label: samdec_bench(
            setting, work / f"bench-{label}-{i}.json", flag
        )
    names = list(steps)
    order = names[i % len(names) :] + names[: i % len(names)]
    out: dict = {"order": order}
    for name in order:
        print(f"anchor: round {i + 1}: {name}", file=sys.stderr)
        out[name] = steps[name]()
    return out


def samdec_row(label: str, rounds: list[dict], prompt_tokens: int) -> dict:
    """One numerics mode's row: ar's and sam's decoding tokens/s by round, sam's tokens per
    pass (pooled), the prefill's tokens/s (ar's and sam's prefills), sam's identity with ar."""
    runs = [r[f"samdec {label}"] for r in rounds]
    ms = [r["methods"] for r in runs]
    prefill = [
        2 * prompt_tokens / (m["ar"]["prefill_seconds"] + m["sam"]["prefill_seconds"]) for m in ms
    ]
    return {
        "system": "samdec",
        "numerics": label,
        "plain": {
            "name": "ar",
            "decode_tokens_per_s": [m["ar"]["decode_tokens_per_s"] for m in ms],
        },
        "speculative": {
            "name": "sam",
            "decode_tokens_per_s": [m["sam"]["decode_tokens_per_s"] for m in ms],
            "new_tokens": sum(m["sam"]["new_tokens"] for m in ms),
            "passes": sum(r["steps"]["sam"] for r in runs),
        },
        "prefill_tokens_per_s": prefill,
        "identical": min(m["sam"]["identical"] for m in ms),
    }


def llama_row(rounds: list[dict], tokens: int, depth: int) -> dict:
    lookups = [r["llama-lookup"] for r in rounds]
    return {
        "system": NAME,
        "numerics": "GGUF integer (its own)",
        **({"note": note} if (note := tool_note()) else {}),
        "plain": {
            "name": f"llama-bench tg{tokens} at depth {depth}",
            "decode_tokens_per_s": [r["llama-bench"]["avg_ts"] for r in rounds],
        },
        "speculative": {
            "name": f"llama-lookup, n-gram, {DRAFT}-token drafts",
            "decode_tokens_per_s": [x["decode_tokens_per_s"] for x in lookups],
            "new_tokens": sum(x["new_tokens"] for x in lookups),
            "passes": sum(x["passes"] for x in lookups),
        },
        "prefill_tokens_per_s": [x["prefill_tokens_per_s"] for x in lookups],
        "identical": None,  # llama.cpp's plain output is not generated here to compare with
        "prompt_tokens_match": all(x["prompt_tokens_match"] for x in lookups),
    }


def summarise(rounds: list[dict], setting: dict) -> list[dict]:
    """The table's rows: llama.cpp's, then each samdec numerics mode's."""
    prompt_tokens = sum(len(p["ids"]) - 1 for p in setting["prompts"])  # samdec prefills n - 1
    rows = [llama_row(rounds, setting["tokens"], setting["depth"])]
    rows += [samdec_row(label, rounds, prompt_tokens) for label in setting["samdec_modes"]]
    for row in rows:
        spec = row["speculative"]
        spec["tokens_per_pass"] = spec["new_tokens"] / spec["passes"] if spec["passes"] else None
    return rows


# -----------------------------------------------------------------------------


def samdec_modes() -> dict[str, str | None]:
    """samdec's numerics modes to run, by label: exact float32 always, integer where the bench
    offers it (said on stderr where it does not: the row is missing, not silently absent)."""
    choices = numerics_choices()
    if choices is None:
        print("anchor: samdec bench has no --numerics: float32 only", file=sys.stderr)
        return {"float32": None}
    floats = [c for c in choices if c != INTEGER]
    return {"float32": floats[0] if floats else None, INTEGER: INTEGER}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=8, help=f"1-{len(QUESTION_IDS)} (default 8)")
    ap.add_argument("--tokens", type=int, default=128, help="new tokens a prompt (default 128)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2, help="every system once a round")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "anchor.json")
    args = ap.parse_args(argv)
    if not 1 <= args.prompts <= len(QUESTION_IDS) or args.tokens < 2 or args.rounds < 1:
        ap.error(f"--prompts takes 1-{len(QUESTION_IDS)}, --tokens 2 or more, --rounds 1 or more")
    from samdec.receipts import receipt
    from samdec.runtime.bundled import gguf_path

    built = build()
    work = Path(tempfile.mkdtemp(prefix="samdec-anchor-"))
    prompts = chat_prompts(args.prompts)
    setting = {
        "gguf": gguf_path(),
        "prompts": prompts,
        "tokens": args.tokens,
        "threads": args.threads,
        "questions": questions_file(prompts, work),
        "depth": round(sum(len(p["ids"]) for p in prompts) / len(prompts)),
        "samdec_modes": samdec_modes(),
    }
    rounds = [one_round(i, setting, work) for i in range(args.rounds)]
    rows = summarise(rounds, setting)
    if not rows[0]["prompt_tokens_match"]:
        print("anchor: llama-lookup's prompt token counts differ from samdec's", file=sys.stderr)
    result = {
        "receipt": receipt(),
        "build": built,
        "config": {
            "question_ids": [p["question_id"] for p in prompts],
            "prompts": "MT-Bench coding questions (Spec-Bench), first turn, chat template",
            "prompt_tokens": [len(p["ids"]) for p in prompts],
            "depth": setting["depth"],
            "tokens": args.tokens,
            "threads": args.threads,
            "rounds": args.rounds,
            "draft": DRAFT,
            "greedy": True,
            "samdec_modes": setting["samdec_modes"],
            "gguf": Path(setting["gguf"]).name,
        },
        "rows": rows,
        "rounds": rounds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
