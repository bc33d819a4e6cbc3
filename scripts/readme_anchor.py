"""The anchor block: llama.cpp's plain decoding and n-gram lookup beside samdec's `ar` and `sam`,
same prompts, same machine, same sitting (scripts/anchor_llamacpp.py)."""

from __future__ import annotations

from statistics import mean

from llamacpp_build import NAME
from readme_format import num, provenance, share, table, when_and_where, x

NUMERICS = {
    "float32": "exact float32",
    "integer": "GGUF integer numerics (exact to itself, not to transformers' float32)",
}


def spread(values: list[float]) -> str:
    """'85.1' for one round, '85.1-99.8' (lowest-highest) for several."""
    lo, hi = min(values), max(values)
    return f"{lo:.1f}" if len(values) == 1 or f"{lo:.1f}" == f"{hi:.1f}" else f"{lo:.1f}-{hi:.1f}"


def label(row: dict) -> str:
    if row["system"] == NAME:
        note = f"; {row['note']}" if row.get("note") else ""
        return f"llama.cpp (its own GGUF integer products{note})"
    return f"samdec, {NUMERICS.get(row['numerics'], row['numerics'])}"


def versus(row: dict, llama: dict) -> str:
    """samdec's plain and speculative decoding over llama.cpp's (ratios of the round means)."""
    if row is llama:
        return "–"
    return " / ".join(
        x(mean(row[kind]["decode_tokens_per_s"]) / mean(llama[kind]["decode_tokens_per_s"]))
        for kind in ("plain", "speculative")
    )


def anchor_rows(rows: list[dict]) -> list[list[str]]:
    llama = rows[0]
    out = []
    for row in rows:
        plain, spec = row["plain"], row["speculative"]
        gain = mean(spec["decode_tokens_per_s"]) / mean(plain["decode_tokens_per_s"])
        out.append(
            [
                label(row),
                f"{spread(plain['decode_tokens_per_s'])} (`{plain['name']}`)",
                f"{spread(spec['decode_tokens_per_s'])} (`{spec['name']}`)",
                x(gain),
                f"{num(spec['tokens_per_pass'])} ({spec['new_tokens']:,} in {spec['passes']:,})",
                spread(row["prefill_tokens_per_s"]),
                share(row["identical"]),
                versus(row, llama),
            ]
        )
    return out


def setting(a: dict) -> str:
    c, b = a["config"], a["build"]
    rounds = c["rounds"]
    ids = c["question_ids"]
    match = a["rows"][0].get("prompt_tokens_match")
    return (
        f"{len(ids)} of MT-Bench's coding questions (Spec-Bench ids {ids[0]}-{ids[-1]}, first "
        f"turn, the chat template), {c['tokens']} new tokens each, greedy, {c['threads']} threads, "
        f"the bundled GGUF; {rounds} round{'s' if rounds > 1 else ''}, each running every system "
        f"once in a rotated order (a range is the lowest and highest round). llama.cpp is "
        f"`{b['package']}`'s vendored llama.cpp (commit {b['llama_cpp_commit'][:10]}), built "
        f"with `{' '.join(b['cmake_flags'])}` by {b['compiler']}. It tokenizes the chat-templated "
        "text itself: "
        + (
            "each prompt came to as many tokens as samdec's."
            if match
            else "some prompts did not come to as many tokens as samdec's (see the artifact's "
            "runs), so the two systems did not decode the same prompts."
        )
    )


def anchor(arts: dict) -> str:
    a = arts["anchor.json"]
    head = [
        "system, numerics",
        "plain decoding, tokens/s",
        "speculative decoding, tokens/s",
        "its gain",
        "tokens a pass (tokens in passes)",
        "prefill, tokens/s",
        "identical to plain",
        "against llama.cpp, plain / speculative",
    ]
    return (
        f"{provenance(a, 'anchor.json')}: {setting(a)}\n\n"
        + table(head, anchor_rows(a["rows"]))
        + "\n\nDecoding tokens/s leave the prefill out. "
        f"`llama-bench`'s plain decoding generates at the prompts' mean depth "
        f"({a['config']['depth']} tokens of context); its gain divides the speculative row by "
        "the plain one (round means). llama.cpp's plain output is not generated here, so its "
        "identity is not checked; samdec's is `sam`'s against `ar`'s in the same run."
    )


def anchor_headline(arts: dict) -> str:
    """README.md's sentence: samdec's modes against llama.cpp, plain and speculative."""
    a = arts["anchor.json"]
    llama, *ours = a["rows"]

    def speeds(row: dict) -> str:
        plain, spec = row["plain"], row["speculative"]
        return (
            f"{spread(plain['decode_tokens_per_s'])} tokens/s plain (`{plain['name']}`), "
            f"{spread(spec['decode_tokens_per_s'])} speculative (`{spec['name']}`)"
        )

    parts = [f"{label(row)}: {speeds(row)}" for row in ours]
    note = f" ({llama['note']})" if llama.get("note") else ""
    return (
        f"Against llama.cpp on the same CPU, decoding alone (prefill left out), greedy, "
        f"{len(a['config']['question_ids'])} coding prompts, {a['config']['tokens']} new tokens: "
        f"llama.cpp{note} {speeds(llama)}; "
        + "; ".join(parts)
        + f". From `benchmarks/anchor.json` ({when_and_where(a)})."
    )
