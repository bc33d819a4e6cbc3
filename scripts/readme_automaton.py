"""The suffix automaton's blocks: scripts/bench_automaton.py (synthetic corpus, the engine
issue's targets) and scripts/bench_build_text.py (real text at scale)."""

from __future__ import annotations

from readme_format import provenance, table


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
