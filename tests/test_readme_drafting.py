"""The README headline's drafting gains, and `sam` against the engine's `pld` in one loop.

The Spec-Bench block of a file from before the rename (transformers' prompt lookup shown as
`hf-pld`, drafting gains over each method's own loop) is tested with the other blocks in
tests/test_readme.py.
"""

from __future__ import annotations

import json

from samdec.bench import with_interval
from samdec.drafting_gain import ratio
from tests.test_readme import method, rr, run, specbench_artifact


def gain_of(runs: list[dict], loop: list[dict]) -> str:
    """The bench's own drafting gain with its interval, as the tables print it."""
    return with_interval(ratio(runs, loop))


def test_a_current_run_compares_sam_with_the_engines_pld_in_one_loop(tmp_path):
    from samdec.drafting_gain import comparison

    qs = [(q, "qa" if q < 5 else "rag") for q in range(1, 9)]
    ar = [run(q, c, 10, 2.0, 10) for q, c in qs]
    # qa: sam 1.6x pld on every question; rag: the same pooled speed, pld's noisier
    pld = [run(q, c, 10, 1.6 if c == "qa" else (1.0, 2.0)[q % 2], 8) for q, c in qs]
    sam = [run(q, c, 10, 1.0 if c == "qa" else 1.5, 5) for q, c in qs]
    hf = [run(q, c, 10, 3.0, 0) for q, c in qs]
    runs = {"ar": ar, "hf-generate": hf, "pld": pld, "sam": sam}
    cats = {"qa": 1.0, "rag": 1.0}
    artifact = specbench_artifact() | {"runs": runs}
    artifact["config"] |= {"questions": 8, "hf_pld_named": True, "pld_methods": {}}
    artifact["methods"] = {m: method(1.0, 1.0, 1.0, 1.0, cats) for m in runs}
    (tmp_path / "specbench.json").write_text(json.dumps(artifact))
    body = rr.render_block("specbench", tmp_path)
    assert "transformers' prompt lookup" not in body.split("|")[0]  # none ran; `pld` is ours
    assert f"| pld | 1.0 | 1.00x | {gain_of(pld, ar)} over `ar` |" in body
    assert "| `qa` | 1.60x [1.60-1.60] | sam drafts better than pld here |" in body
    assert "| `rag` | 1.00x [" in body and "| within noise |" in body
    versus = comparison(runs, ["qa", "rag"])
    overall = f"| `sam` drafts better than the engine's `pld` | {gain_of(sam, pld)} |"
    assert overall in body
    verdict = {"within noise": "within noise"}.get(versus["verdict"], "met")
    assert f"{overall} {verdict} |" in body
    headline = rr.render_block("headline", tmp_path)
    assert (
        f"the engine's `pld` gained {gain_of(pld, ar)} in the same loop, so `sam`'s gain over "
        f"`pld`'s is {gain_of(sam, pld)} ({versus['verdict']})"
    ) in headline


def test_the_headline_renders_sams_gains_and_exactness(tmp_path):
    artifact = specbench_artifact()
    artifact["config"] |= {"dtype": "float32", "layout": "streamed"}
    artifact["methods"]["ar"] |= {"speedup_vs_stock": 2.5}
    (tmp_path / "specbench.json").write_text(json.dumps(artifact))
    body = rr.render_block("headline", tmp_path)
    sam_gain = gain_of(artifact["runs"]["sam"], artifact["runs"]["ar"])
    assert body.startswith(
        "`sam` on 3 Spec-Bench questions (at most 10 new tokens, float32, greedy, `streamed` "
        f"layout): 8.6 tokens/s, a drafting gain of {sam_gain} over the engine's plain loop "
        "`ar`; the engine's `pld` was not in this run; transformers' prompt lookup (`hf-pld`) "
        "gained 1.19x [1.19-1.19] over its own loop's plain `generate`; `ar` alone runs 2.50x "
        "transformers' stock `generate`: the runtime's gain, not SAM's; every method's output "
        "was plain decoding's"
    )
    assert "1.63x" not in body  # no speedup across loops in the headline
    assert "From `benchmarks/specbench.json` (2026-11-28 19:40 UTC, AMD EPYC, 2 CPUs" in body
    assert body.endswith("commit 0123456).")
    artifact["methods"]["sam"]["identical"] = 0.5
    (tmp_path / "specbench.json").write_text(json.dumps(artifact))
    body = rr.render_block("headline", tmp_path)
    assert "the least faithful method wrote plain decoding's output on 50% of them" in body
