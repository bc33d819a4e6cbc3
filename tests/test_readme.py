"""Every measured number in the documents comes from a committed artifact under benchmarks/.

README.md carries the headline numbers, benchmarks/README.md every table, docs/*.md none: all
of them in generated blocks that scripts/render_readme.py renders from the artifacts. These
tests fail when a document and the artifacts disagree, when a measured-looking number stands
outside a block, when a quoted artifact has no receipt, a receipt that does not name its
machine and date, or one that says it was made from uncommitted code, and when the README
outgrows a newcomer's page.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("render_readme", ROOT / "scripts/render_readme.py")
rr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rr)
fmt = sys.modules["readme_format"]  # loaded by render_readme from beside it

DOCUMENTS = {path: path.read_text() for path in rr.documents()}
README = DOCUMENTS[rr.README]
BENCH_README = DOCUMENTS[rr.BENCH_README]
# Artifacts from before receipts: they carry their own command, date and machine instead.
PRE_RECEIPT = {
    "load_test_default_malloc_5_rounds.json",
    "load_test_malloc_arena_max_2.json",
}
# Quoted artifacts whose receipts say they were made from uncommitted code ("+changes"). Each
# is to be re-run from a clean tree and its line here deleted; nothing may be added.
RERUN_PENDING = {
    "layouts/packed.json",
    "layouts/stock.json",
    "layouts/streamed.json",
}


def block_body(text: str, name: str) -> str:
    m = re.search(rf"<!-- receipt: {name} -->\n(.*?)<!-- /receipt -->", text, re.S)
    assert m, f"no {name} block"
    return m.group(1)


# -----------------------------------------------------------------------------
# the committed documents against the committed artifacts


@pytest.mark.parametrize("path", list(DOCUMENTS), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_document_is_what_the_artifacts_render(path):
    text = DOCUMENTS[path]
    rendered = rr.render(text)
    diff = "".join(difflib.unified_diff(text.splitlines(True), rendered.splitlines(True)))
    assert rendered == text, "run python scripts/render_readme.py\n" + diff


def test_check_command_passes_on_the_documents_and_fails_on_a_stale_copy(tmp_path):
    script = [sys.executable, str(ROOT / "scripts/render_readme.py"), "--check"]
    ok = subprocess.run(script, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    stale = tmp_path / "README.md"
    body = block_body(BENCH_README, "load-test")
    row = next(r for r in body.splitlines() if r.startswith("| 80 |"))
    stale_row = row.replace("| 80 / 80 |", "| 79 / 80 |", 1)
    assert stale_row != row
    stale.write_text(BENCH_README.replace(row, stale_row, 1))
    bad = subprocess.run([*script, str(stale)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert "-" + stale_row in bad.stdout
    assert "+" + row in bad.stdout


def test_every_block_appears_once_where_it_belongs():
    """The headlines in README.md, every table in benchmarks/README.md, no block in docs/."""
    headlines = ["headline", "anchor-headline"]
    assert rr.blocks_in(README) == headlines
    assert sorted(rr.blocks_in(BENCH_README)) == sorted(set(rr.BLOCKS) - set(headlines))
    for path, text in DOCUMENTS.items():
        opened, closed = text.count("<!-- receipt: "), text.count("<!-- /receipt -->")
        assert opened == closed == len(rr.blocks_in(text)), path
        if path.parent == rr.DOCS:
            assert opened == 0, f"{path}: numbers belong in benchmarks/README.md"
    with pytest.raises(ValueError, match="not one of"):
        rr.render("<!-- receipt: no-such-block -->\n<!-- /receipt -->")


@pytest.mark.parametrize("path", list(DOCUMENTS), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_measured_number_outside_the_generated_blocks(path):
    assert rr.stray_numbers(DOCUMENTS[path]) == []


def test_every_artifact_a_block_reads_has_a_receipt():
    read = [f for block in rr.BLOCKS.values() for f in block.files]
    present = [f for f in read if (rr.BENCH / f).is_file()]
    assert "load_test.json" in present and "specbench.json" in present
    for name in present:
        artifact = json.loads((rr.BENCH / name).read_text())
        if name in PRE_RECEIPT:
            assert artifact["command"] and artifact["date"] and artifact["machine"], name
            continue
        r = artifact.get("receipt")
        assert r, f"benchmarks/{name} has no receipt (samdec.receipts.receipt)"
        for key in ("command", "date", "machine", "packages", "commit"):
            assert r.get(key), f"benchmarks/{name}: receipt without {key}"


def test_every_rendered_block_names_its_artifacts_machine_and_date():
    for text in DOCUMENTS.values():
        for name in rr.blocks_in(text):
            body = block_body(text, name)
            for f in rr.BLOCKS[name].files:
                artifact = rr.load(rr.BENCH / f)
                if artifact is None:
                    continue
                r = fmt.receipt_of(artifact)
                assert f"`benchmarks/{f}`" in body, (name, f)
                assert fmt.date(r["date"]) in body, (name, f)
                assert fmt.machine(r["machine"]) in body, (name, f)


def test_every_quoted_artifact_was_made_from_committed_code():
    quoted = rr.quoted_artifacts(DOCUMENTS.values())
    assert "specbench.json" in quoted
    dirty = set(rr.uncommitted(quoted))
    assert dirty <= RERUN_PENDING, (
        f"made from uncommitted code: {sorted(dirty - RERUN_PENDING)}; re-run from a clean tree"
    )
    # A re-run artifact leaves the list, and the list never names what is not quoted.
    assert dirty == RERUN_PENDING, f"clean now, delete from RERUN_PENDING: {RERUN_PENDING - dirty}"


def test_the_commit_rule():
    def art(commit):
        return {"receipt": {"commit": commit}} if commit is not None else {"receipt": {}}

    assert fmt.made_from_committed_code(art("58b6f7fe5342eb2de26b157bf2dcbc700b026b82"))
    assert fmt.made_from_committed_code(art("58b6f7f"))
    for bad in ("58b6f7fe5342eb2de26b157bf2dcbc700b026b82+changes", "unknown", "", None):
        assert not fmt.made_from_committed_code(art(bad)), bad


# -----------------------------------------------------------------------------
# the README as a newcomer's page


def test_the_readme_is_short_and_keeps_the_space_front_matter():
    assert len(README.splitlines()) <= 250
    front = README.split("\n---\n", 1)[0]
    assert front.startswith("---\ntitle: samdec") and "app_file: app.py" in front


def test_the_readme_gives_the_two_commands_and_ci_runs_its_test_command():
    run, test = (
        "bash scripts/setup.sh && python app.py",
        "bash scripts/setup.sh --dev && python -m pytest",
    )
    assert f"```bash\n{run}\n```" in README
    assert f"```bash\n{test}\n```" in README
    assert test in (ROOT / ".ci/run").read_text().splitlines()


def test_the_readme_states_the_drafter_choice_rule_of_the_reference_code():
    rule = README.split("## The drafter-choice rule\n", 1)[1].split("\n## ", 1)[0]
    assert "static' = match_static - l_bias" in rule
    assert "if max(match_dynamic, static') >= l_threshold:" in rule
    assert "dynamic automaton if match_dynamic >= static', else from the static one" in rule
    assert "the auxiliary drafter (Token Recycling) drafts, or nothing without one" in rule
    assert "A match of length 0 never drafts" in " ".join(rule.split())


# -----------------------------------------------------------------------------
# the renderer scripts stay small


def test_the_renderer_is_split_into_small_modules():
    paths = [ROOT / "scripts/render_readme.py", *sorted((ROOT / "scripts").glob("readme_*.py"))]
    assert len(paths[0].read_text().splitlines()) < 600
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                assert length <= 80, f"{path.name}: {node.name} has {length} lines"


# -----------------------------------------------------------------------------
# negative controls


def test_a_changed_digit_in_a_rendered_number_fails():
    body = block_body(BENCH_README, "load-test")
    number = re.search(r"\d+\.\d", body).group(0)  # the first measured decimal, e.g. p50
    changed = number[:-1] + str((int(number[-1]) + 1) % 10)
    stale = BENCH_README.replace(body, body.replace(number, changed, 1))
    assert stale != BENCH_README
    assert rr.render(stale) != stale
    assert rr.render(stale) == BENCH_README


def test_a_changed_headline_number_in_the_readme_fails():
    body = block_body(README, "headline")
    number = re.search(r"\d+\.\d+x", body).group(0)
    stale = README.replace(body, body.replace(number, "9.99x", 1))
    assert stale != README and rr.render(stale) == README


def test_a_changed_artifact_changes_the_documents(tmp_path):
    bench = tmp_path / "benchmarks"
    shutil.copytree(rr.BENCH, bench)
    artifact = json.loads((bench / "load_test.json").read_text())
    artifact["p95_s"] += 1.0
    (bench / "load_test.json").write_text(json.dumps(artifact))
    assert rr.render(BENCH_README, bench) != BENCH_README
    artifact = json.loads((bench / "specbench.json").read_text())
    artifact["methods"]["sam"]["tokens_per_s"] += 1.0
    (bench / "specbench.json").write_text(json.dumps(artifact))
    assert rr.render(README, bench) != README


def test_an_artifact_from_uncommitted_code_is_named(tmp_path):
    artifact = json.loads((rr.BENCH / "specbench.json").read_text())
    artifact["receipt"]["commit"] += "+changes"
    (tmp_path / "specbench.json").write_text(json.dumps(artifact))
    assert rr.quoted_artifacts([README], tmp_path) == ["specbench.json"]
    assert rr.uncommitted(["specbench.json"], tmp_path) == ["specbench.json"]
    short = artifact["receipt"]["commit"][:7]
    assert f"commit {short}+changes" in rr.render_block("headline", tmp_path)


@pytest.mark.parametrize(
    "pasted",
    [
        "It decodes 31.4 tokens/s here.",
        "That is 1.47x faster.",
        "A step takes 49 ms.",
        "The build peaks at 2.9 GB.",
        "Only 8% of drafts are accepted.",
        "Loading took 12 s.",
        "MAT was 1.82 on this run.",
        "Uploads are refused above 30 MB now.",  # the allowed phrase is exact, not a pattern
    ],
)
def test_a_number_pasted_into_prose_is_caught(pasted):
    anchor = "## How it is built\n"
    for text in (README, BENCH_README.replace("## The suffix automaton", anchor, 1)):
        assert anchor in text
        assert rr.stray_numbers(text.replace(anchor, f"{pasted}\n\n{anchor}")), pasted
        # The same sentence inside a code fence is not prose.
        fenced = text.replace(anchor, f"```\n{pasted}\n```\n\n{anchor}")
        assert rr.stray_numbers(fenced) == []


def test_missing_artifacts_render_one_sentence_without_numbers(tmp_path):
    for name in rr.BLOCKS:
        body = rr.render_block(name, tmp_path)
        assert body.startswith("Not measured in a committed run yet")
        assert body.count("\n") == 0
        assert rr.stray_numbers(body) == [], name


# -----------------------------------------------------------------------------
# the renderers, on small made-up artifacts (the real ones come from long runs)

RECEIPT = {
    "command": "python x.py --out benchmarks/x.json",
    "date": "2026-11-28 19:40 UTC",
    "machine": {
        "cpu": "AMD EPYC",
        "cpu_count": 2,
        "torch_threads": 2,
        "omp_wait_policy": "default",
    },
    "packages": {"torch": "2.13.0+cpu"},
    "commit": "0123456789abcdef",
}


def run(qid, cat, tokens, seconds, steps):
    return {
        "question_id": qid,
        "category": cat,
        "tokens": tokens,
        "seconds": seconds,
        "steps": steps,
        "token_ids": [],
    }


def method(tps, speedup, mat, identical, cats):
    return {
        "tokens_per_s": tps,
        "speedup": speedup,
        "mat": mat,
        "identical": identical,
        "per_category": {c: {"speedup": s} for c, s in cats.items()},
    }


def specbench_artifact():
    ar = [run(1, "qa", 10, 2.0, 10), run(2, "qa", 10, 2.0, 10), run(3, "rag", 10, 2.0, 10)]
    sam = [run(1, "qa", 10, 1.0, 5), run(2, "qa", 10, 2.0, 5), run(3, "rag", 10, 0.5, 5)]
    pld = [run(q, c, 10, 1.6, 0) for q, c in ((1, "qa"), (2, "qa"), (3, "rag"))]
    hf = [run(q, c, 10, 1.9, 0) for q, c in ((1, "qa"), (2, "qa"), (3, "rag"))]
    return {
        "receipt": RECEIPT,
        "config": {
            "questions": 3,
            "max_new_tokens": 10,
            "turns": "first",
            "pld": {"prompt_lookup_num_tokens": 10, "max_matching_ngram_size": 2},
        },
        "methods": {
            "ar": method(5.0, 0.95, 1.0, 1.0, {"qa": 0.95, "rag": 0.95}),
            "hf-generate": method(5.26, 1.0, None, 1.0, {"qa": 1.0, "rag": 1.0}),
            "pld": method(6.25, 1.19, None, 1.0, {"qa": 1.19, "rag": 1.19}),
            "sam": method(8.57, 1.63, 2.0, 1.0, {"qa": 1.26, "rag": 3.8}),
        },
        "runs": {"ar": ar, "hf-generate": hf, "pld": pld, "sam": sam},
        "complete": True,
    }


def test_specbench_renders_table_per_question_and_per_step_numbers(tmp_path):
    artifact = specbench_artifact()
    (tmp_path / "specbench.json").write_text(json.dumps(artifact))
    body = rr.render_block("specbench", tmp_path)
    assert "`python x.py --out benchmarks/x.json` (`benchmarks/specbench.json`; " in body
    assert "2026-11-28 19:40 UTC, AMD EPYC, 2 CPUs, torch 2.13.0+cpu" in body
    assert "faster plain baseline was `hf-generate` at 5.3 tokens/s (`ar` 5.0 tokens/s)" in body
    # sam over ar: 30/3.5 over 30/6 tokens/s = 1.71x, in the engine's loop
    from samdec.bench import with_interval
    from samdec.drafting_gain import ratio

    sam_gain = with_interval(ratio(artifact["runs"]["sam"], artifact["runs"]["ar"]))
    assert sam_gain.startswith("1.71x [")
    assert f"| sam | 8.6 | 1.63x | {sam_gain} over `ar` | 2.00 | 100% | 1.26x | 3.80x |" in body
    # the file predates the rename: its `pld` is transformers', 1.9 s against generate's 1.6 s
    # on every question
    assert "| hf-pld | 6.2 | 1.19x | 1.19x [1.19-1.19] over `hf-generate` | – |" in body
    assert "| pld |" not in body
    assert "| sam | `ar` | " + sam_gain in body  # the drafting gains' own table
    # sam per question against ar: 2.0/1.0, 2.0/2.0, 2.0/0.5 -> median 2, range 1-4
    assert "| sam | 2.00x | 1.00x - 4.00x |" in body
    # pooled over steps: 30 tokens / 15 steps; 3.5 s / 15 steps
    assert "| sam | 15 | 2.00 | 233.3 |" in body
    assert "| ar | 30 | 1.00 | 200.0 |" in body
    assert "| hf-pld |" not in body.split("Per verification step")[1].split("| target")[0]
    # targets: 30/3.5 over hf-generate's 30/5.7 tokens/s = 1.63x overall (the faster plain
    # baseline, not ar's 30/6); per category against ar: qa 20/3 over 20/4 = 1.33x
    assert "| `sam` >= 1.6x the faster plain baseline (`hf-generate`) | 1.63x | met |" in body
    assert "| `sam` >= 1.1x `ar` in every category | worst 1.33x (`qa`) | met |" in body
    # sam is compared with prompt lookup only in one loop: the engine's pld did not run here
    assert "best PLD" not in body and "drafts better" not in body
    assert "The engine's `pld` was not in this run" in body
    assert "| `identical` = 100% for every method | all 4 methods | met |" in body
    assert "vs stock generate" not in body and ">= 2.0x stock" not in body  # not in this run
    # a file without "pld_methods" names plain pld's setting, under its new name
    assert (
        "transformers' prompt lookup (the file names it `pld`, from before the engine had a "
        "`pld`): `hf-pld` is `generate(prompt_lookup_num_tokens=10, max_matching_ngram_size=2)`"
    ) in body


def test_specbench_names_the_setting_of_each_prompt_lookup_method_it_ran(tmp_path):
    artifact = specbench_artifact()
    artifact["config"]["pld_methods"] = {
        "pld:4": {"prompt_lookup_num_tokens": 4, "max_matching_ngram_size": 2}
    }
    (tmp_path / "specbench.json").write_text(json.dumps(artifact))
    body = rr.render_block("specbench", tmp_path)
    assert "`hf-pld:4` is `generate(prompt_lookup_num_tokens=4, max_matching_ngram_size=2)`" in body
    assert "prompt_lookup_num_tokens=10" not in body  # plain pld did not run


def test_specbench_shows_the_stock_generate_baseline_when_the_run_has_it(tmp_path):
    artifact = specbench_artifact()
    stock = [run(q, c, 10, 2.5, 0) for q, c in ((1, "qa"), (2, "qa"), (3, "rag"))]
    artifact["runs"]["hf-stock"] = stock
    artifact["methods"]["hf-stock"] = method(4.0, 0.76, None, 1.0, {"qa": 0.76, "rag": 0.76})
    for m in artifact["methods"].values():
        m["speedup_vs_stock"] = m["tokens_per_s"] / 4.0
    (tmp_path / "specbench.json").write_text(json.dumps(artifact))
    body = rr.render_block("specbench", tmp_path)
    assert "| method | tokens/s | speedup | drafting gain (own loop) | vs stock generate |" in body
    assert " over `ar` | 2.14x | 2.00 | 100% |" in body
    # sam 30/3.5 tokens/s over stock 30/7.5: 2.14x, of which ar's 30/6 alone is 1.25x
    assert (
        "`ar`'s figure there is the runtime's gain (weight layout, kernels, loop), not SAM's"
        in body
    )
    assert (
        "| `sam` >= 2.0x stock `generate` | 2.14x (`ar` alone 1.25x: the runtime's gain, not "
        "SAM's) | met |"
    ) in body


def test_specbench_says_when_the_run_did_not_finish_or_an_output_differs(tmp_path):
    artifact = specbench_artifact() | {"complete": False}
    artifact["methods"]["sam"]["identical"] = 2 / 3
    (tmp_path / "specbench.json").write_text(json.dumps(artifact))
    body = rr.render_block("specbench", tmp_path)
    assert "did not finish" in body
    assert "| `identical` = 100% for every method | lowest 67% (`sam`) | missed |" in body


def test_the_other_blocks_render_their_numbers(tmp_path):
    artifacts = {
        "pld_tuning.json": {
            "receipt": RECEIPT,
            "config": {
                "prompts": 12,
                "max_new_tokens": 64,
                "candidates": [0, 3, 10],
                "source": "GSM8K",
            },
            "results": [
                {"num_tokens": 0, "tokens_per_s": 20.0, "speedup": 1.0, "identical": 1.0},
                {"num_tokens": 3, "tokens_per_s": 26.0, "speedup": 1.3, "identical": 1.0},
            ],
            "chosen": 3,
        },
        "sampling_mat.json": {
            "receipt": RECEIPT,
            "config": {
                "questions": 6,
                "max_new_tokens": 64,
                "temperature": 0.7,
                "seed": 1,
                "methods": ["sam"],
            },
            "results": {
                "sam": {
                    "before": {"mat": 1.41, "tokens": 1, "steps": 1},
                    "after": {"mat": 1.52, "tokens": 1, "steps": 1},
                }
            },
            "identical_across_methods": {"before": 0.0, "after": 1.0},
        },
        "build_text.json": {
            "receipt": RECEIPT,
            "config": {"tokens": 20000000, "root": ["/lib"], "suffix": ".py"},
            "results": {
                "documents": 6145,
                "tokens": 20000000,
                "tokenize_s": 17.2,
                "build_s": 13.2,
                "build_tokens_per_s": 1.52e6,
                "states": 29.9e6,
                "file_bytes": 1.0e9,
                "bytes_per_token": 50.0,
                "peak_rss_gb": 4.1,
                "peak_rss_after_tokenize_gb": 1.7,
            },
        },
    }
    for name, artifact in artifacts.items():
        (tmp_path / name).write_text(json.dumps(artifact))
    pld = rr.render_block("pld-tuning", tmp_path)
    assert "| plain `generate` | 20.0 | 1.00x | 100% |" in pld and "| 3 | 26.0 | 1.30x |" in pld
    assert "Chosen: 3 (`hf-pld:3` in the benchmark)." in pld
    mat = rr.render_block("sampling-mat", tmp_path)
    assert "| sam | 1.41 | 1.52 |" in mat and "same seed: 0% before, 100% after." in mat
    text = rr.render_block("build-text", tmp_path)
    assert "build 13.2 s = 1.52 M tokens/s, 29.9 M states" in text


def test_the_scripts_json_renders(tmp_path):
    """bench_automaton.py and validate_tuning.py write what the renderer reads (shapes from
    tiny smoke runs of the scripts, numbers made up)."""
    us = {"median": 3.5, "p99": 9.0, "steps": 900}
    (tmp_path / "automaton.json").write_text(
        json.dumps(
            {
                "receipt": RECEIPT,
                "config": {"tokens": 1e7, "vocab": 49152, "endpos": "first", "requests": 20},
                "results": {
                    "corpus_tokens": 10033000,
                    "documents": 33000,
                    "states_per_token": 1.36,
                    "edges_per_token": 2.11,
                    "build_s": 6.3,
                    "build_tokens_per_s": 1.59e6,
                    "build_cpu_s": 6.0,
                    "build_cpu_tokens_per_s": 1.67e6,
                    "peak_rss_before_build_mib": 900,
                    "peak_rss_after_build_mib": 2900,
                    "bytes_per_token": 48.1,
                    "save_s": 0.1,
                    "file_mib": 460,
                    "load_ms": 0.3,
                    "verify_s": 1.0,
                    "dynamic_step_us": us,
                    "static_step_us": us,
                    "both_step_us_median": 7.6,
                },
            }
        )
    )
    rows = [
        {
            "question": q,
            "category": "qa",
            "setting": "sam l_bias=5 l_threshold=5 cost",
            "mat_measured": 1.5,
            "mat_predicted": 1.5,
            "speedup_measured": m,
            "speedup_predicted": 1.5,
            "identical": True,
        }
        for q, m in ((1, 1.5), (2, 1.25))
    ]
    summary = {
        "sam l_bias=5 l_threshold=5 cost": {
            "questions": 2,
            "mat_exact": 2,
            "speedup_measured": 1.375,
            "speedup_predicted": 1.5,
            "relative_error": 0.0909,
        }
    }
    (tmp_path / "tuning_validation.json").write_text(
        json.dumps(
            {
                "receipt": RECEIPT,
                "config": {"max_new_tokens": 256, "question_ids": [1, 2]},
                "rows": rows,
                "summary": summary,
                "grid": {"settings": 100, "recordings": 2, "seconds": 1.8},
            }
        )
    )
    auto = rr.render_block("automaton", tmp_path)
    assert (
        "| build >= 1,000,000 tokens/s | 1.59 M tokens/s (1.67 M tokens/s CPU time) | yes |" in auto
    )
    assert "| one step's automaton work <= 50 us median | 7.6 us" in auto
    valid = rr.render_block("tuning-validation", tmp_path)
    # worst question: |1.5 - 1.25| / 1.25 = 20%
    assert "| sam l_bias=5 l_threshold=5 cost | 2 | 2/2 | 1.38x | 1.50x | 9.1% | 20% |" in valid
    assert "A grid of 100 settings over the 2 recorded answers took 1.8 s." in valid


def test_the_defaults_block_names_the_chosen_setting_and_each_method(tmp_path):
    def row(bias, threshold, policy, length, mat, speedup):
        return {
            "l_bias": bias,
            "l_threshold": threshold,
            "draft_policy": policy,
            "draft_len": length,
            "mat": mat,
            "speedup": speedup,
        }

    best = row(2, 3, "cost", 40, 2.1, 1.45)
    paper = row(5, 5, "fixed", 40, 1.9, 1.10)
    artifact = {
        "receipt": RECEIPT,
        "prompts": ["train:1", "code_alpaca_2k:4", "train:9"],
        "max_new_tokens": 256,
        "new_tokens": 700,
        "layout": "packed",
        "chosen": {k: best[k] for k in ("l_bias", "l_threshold", "draft_policy", "draft_len")},
        "methods": {
            "sam": {"best": best, "at_chosen": best, "at_paper": paper},
            "sam+recycling": {"best": paper, "at_chosen": None, "at_paper": paper},
        },
    }
    (tmp_path / "defaults_tuning.json").write_text(json.dumps(artifact))
    body = rr.render_block("defaults-tuning", tmp_path)
    assert "3 corpus prompts (code_alpaca_2k, train)" in body
    assert "| `sam` | chosen | (2, 3), cost-aware, draft length 40 | 2.10 | 1.45x |" in body
    assert "| `sam` | paper | (5, 5), fixed length, draft length 40 | 1.90 | 1.10x |" in body
    assert "| `sam+recycling` | chosen |" not in body  # not measured there: no row
    assert "the defaults in `samdec/config.py`: (2, 3), cost-aware, draft length 40." in body
