"""The benchmark's arithmetic, and one tiny end-to-end run that writes a valid results file."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import ClassVar

import pytest

from samdec.bench import Run, aggregate, check_method, markdown_table, pld_tokens
from tests.conftest import ROOT
from tests.conftest import run_cli as samdec


def runs_for(seconds: list[float], tokens=100, steps=50, ids=None):
    cats = ["qa", "rag"]
    return [
        Run(i, cats[i % 2], tokens, s, steps, ids[i] if ids else [i, i + 1])
        for i, s in enumerate(seconds)
    ]


def test_speedup_is_against_the_faster_plain_baseline():
    runs = {
        "ar": runs_for([2.0, 2.0], steps=100),
        "hf-generate": runs_for([1.6, 1.6], steps=0),
        "sam": runs_for([1.0, 1.0], steps=40),
    }
    out = aggregate(runs, ["qa", "rag"])
    # hf-generate (62.5 tok/s) beats the engine's loop (50 tok/s): it is the baseline.
    assert out["sam"]["speedup"] == pytest.approx(100 / 62.5)
    assert out["ar"]["speedup"] == pytest.approx(50 / 62.5)
    assert out["sam"]["mat"] == pytest.approx(100 / 40)
    assert out["sam"]["per_category"]["qa"]["speedup"] == pytest.approx(1.6)
    assert out["sam"]["identical"] == 1.0


def test_decoding_alone_leaves_the_prefill_out_and_only_where_it_was_timed():
    # ar: 100 tokens in 3 s, 1 of them prefill (50 tokens/s decoding); sam: 2 s with the same
    # prefill (100 tokens/s decoding): 1.5x overall, 2x decoding alone.
    ar = [Run(0, "qa", 100, 3.0, 100, [1], prefill_seconds=1.0)]
    sam = [Run(0, "qa", 100, 2.0, 40, [1], prefill_seconds=1.0)]
    hf = [Run(0, "qa", 100, 2.5, 0, [1])]  # transformers' generate: not timed apart
    out = aggregate({"ar": ar, "sam": sam, "hf-generate": hf}, ["qa"])
    assert out["sam"]["speedup"] == pytest.approx(100 / 2.0 / (100 / 2.5))  # vs hf-generate
    assert out["sam"]["decode_tokens_per_s"] == pytest.approx(100.0)
    assert out["sam"]["decode_speedup"] == pytest.approx(2.0)
    assert out["ar"]["decode_speedup"] == pytest.approx(1.0)
    assert out["sam"]["prefill_seconds"] == pytest.approx(1.0)
    assert out["hf-generate"]["decode_tokens_per_s"] is None
    assert out["hf-generate"]["decode_speedup"] is None
    # A file from before prefill was recorded: no decoding figures, nothing made up.
    old = aggregate({"ar": runs_for([2.0]), "sam": runs_for([1.0])}, ["qa", "rag"])
    assert old["sam"]["decode_speedup"] is None and old["sam"]["prefill_seconds"] is None


def test_identical_counts_questions_whose_ids_differ_from_ar():
    runs = {
        "ar": runs_for([1, 1], ids=[[1, 2], [3, 4]]),
        "sam": runs_for([1, 1], ids=[[1, 2], [3, 5]]),
    }
    out = aggregate(runs, ["qa", "rag"])
    assert out["sam"]["identical"] == 0.5
    assert "50%" in markdown_table({"methods": out})


def test_mat_is_all_tokens_over_all_steps_not_a_mean_of_questions():
    # Unequal answers: q0 carried 5 tokens per step, q1 and q2 one each.
    sam = [Run(0, "qa", 100, 1.0, 20), Run(1, "rag", 10, 1.0, 10), Run(2, "qa", 12, 1.0, 12)]
    hf = [Run(r.question_id, r.category, r.tokens, 1.0, 0) for r in sam]
    out = aggregate({"sam": sam, "hf-generate": hf}, ["qa", "rag"])
    m = out["sam"]
    assert m["mat"] == pytest.approx(122 / 42)  # 2.905, Spec-Bench's MAT
    assert m["mat_question_mean"] == pytest.approx((5 + 1 + 1) / 3)  # 2.333
    assert m["per_category"]["qa"]["mat"] == pytest.approx(112 / 32)
    assert m["per_category"]["qa"]["mat_question_mean"] == pytest.approx(3.0)
    assert m["per_category"]["rag"]["mat"] == pytest.approx(1.0)
    # transformers' generate counts no steps: no MAT, shown as a dash.
    assert out["hf-generate"]["mat"] is None
    assert out["hf-generate"]["mat_question_mean"] is None
    table = markdown_table({"methods": out}).splitlines()
    assert table[0].split(" | ")[4] == "MAT"
    assert table[2].split(" | ")[4] == "2.90"
    assert table[3].split(" | ")[4] == "–"


@pytest.mark.parametrize("spec, n", [("pld", 10), ("pld:1", 1), ("pld:4", 4), ("pld:64", 64)])
def test_pld_specs_name_their_draft_length(spec, n):
    check_method(spec)
    assert pld_tokens(spec) == n


def test_only_pld_takes_a_number():
    assert pld_tokens("sam") is None and pld_tokens("hf-generate") is None


@pytest.mark.parametrize(
    "spec, says",
    [
        ("pld:0", "whole number from 1 to 64"),
        ("pld:65", "whole number from 1 to 64"),
        ("pld:x", "whole number from 1 to 64"),
        ("pld:-3", "whole number from 1 to 64"),
        ("pld:fixed", "whole number from 1 to 64"),
        ("ar:5", "unknown method 'ar:5'"),
        ("hf-generate:4", "unknown method 'hf-generate:4'"),
        ("sam:7", "unknown method 'sam:7'"),
    ],
)
def test_bad_method_specs_are_refused_with_a_reason(spec, says):
    with pytest.raises(ValueError, match=says) as err:
        check_method(spec)
    assert repr(spec) in str(err.value)


def test_runner_hands_pld_its_draft_length(monkeypatch):
    from samdec import bench

    calls = []

    def fake_generate(model, ids, max_new_tokens, prompt_lookup=False, pld_tokens=10):
        calls.append((prompt_lookup, pld_tokens if prompt_lookup else None))
        return [7, 8], 0.5

    monkeypatch.setattr(bench, "hf_generate", fake_generate)
    engine = type("E", (), {"runner": type("R", (), {"model": None})()})()
    runner = bench.Runner(engine, 16)
    for spec in ("pld:3", "pld", "hf-generate"):
        assert runner._one(spec, [1, 2]) == ([7, 8], 0.5, 0, None)
    assert calls == [(True, 3), (True, 10), (False, None)]


def bench_one_question(out, category: str, max_new_tokens: int, methods: str, *extra: str):
    """Run `samdec bench` on one question of a category; return its results.json."""
    res = samdec(
        "bench",
        "--categories",
        category,
        "--per-category",
        "1",
        "--max-new-tokens",
        str(max_new_tokens),
        "--methods",
        methods,
        "--out",
        str(out),
        *extra,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(out.read_text())


def test_bench_command_writes_results_json_markdown_and_chart(tmp_path):
    out = tmp_path / "r.json"
    data = bench_one_question(out, "qa", 8, "ar,pld,pld:3,sam,sam:fixed")
    assert data["complete"] and set(data) >= {"receipt", "machine", "config", "methods"}
    assert set(data["methods"]) == {"ar", "pld", "pld:3", "sam", "sam:fixed"}
    receipt = data["receipt"]
    assert receipt["command"].startswith("python -m samdec bench ")
    assert "pld:3" in receipt["command"] and receipt["commit"]
    assert data["machine"] == receipt["machine"] and data["machine"]["cpu_count"] >= 1
    sam, ar = data["runs"]["sam"][0], data["runs"]["ar"][0]
    assert 0 < sam["prefill_seconds"] < sam["seconds"] and ar["prefill_seconds"] > 0
    assert data["runs"]["pld"][0]["prefill_seconds"] is None  # transformers' generate
    assert data["methods"]["sam"]["decode_speedup"] > 0
    assert data["config"]["pld_methods"] == {
        "pld": {"prompt_lookup_num_tokens": 10, "max_matching_ngram_size": 2},
        "pld:3": {"prompt_lookup_num_tokens": 3, "max_matching_ngram_size": 2},
    }
    for m in data["methods"].values():
        assert m["identical"] == 1.0
        assert set(m["per_category"]["qa"]) >= {"tokens_per_s", "speedup", "mat"}
    assert out.with_suffix(".md").read_text().startswith("| method")
    assert "plotly" in out.with_suffix(".html").read_text().lower()


def test_bench_rejects_unknown_methods():
    res = samdec("bench", "--methods", "ar,warp-drive", timeout=120)
    assert res.returncode == 1 and "warp-drive" in res.stderr


def test_all_turns_run_as_one_conversation(tmp_path):
    data = bench_one_question(tmp_path / "r.json", "mt_bench", 6, "ar,sam", "--turns", "all")
    assert data["config"]["turns"] == "all"
    sam = data["methods"]["sam"]
    assert sam["identical"] == 1.0
    # Two turns of at most 6 tokens each: more than one turn's worth was generated.
    assert 6 < sam["new_tokens"] <= 12


class FakeRunner:
    """Stands in for the model: deterministic runs, a log of calls, an interrupt on demand."""

    calls: ClassVar[list[tuple[str, int]]] = []
    interrupt_at: int | None = None

    def __init__(self, engine, max_new_tokens, turns="first", stock=None):
        self.warmup = max_new_tokens == 8

    def __call__(self, method, q):
        if not self.warmup:
            if len(FakeRunner.calls) == FakeRunner.interrupt_at:
                raise KeyboardInterrupt
            FakeRunner.calls.append((method, q.question_id))
        seconds = 1.0 if method == "ar" else 0.5
        return Run(q.question_id, q.category, 10, seconds, 5, [q.question_id, 1, 2])


def test_an_interrupted_bench_resumes_where_it_stopped(tmp_path, monkeypatch):
    from samdec import bench
    from samdec.cost import CostModel
    from samdec.questions import Question

    monkeypatch.setattr(bench, "Runner", FakeRunner)
    engine = type("E", (), {"cost": CostModel()})()
    qs = [Question(i, "qa" if i % 2 else "rag", [f"q{i}"]) for i in range(3)]
    out = tmp_path / "r.json"

    def run(resume, methods=("ar", "sam")):
        FakeRunner.calls = []
        return bench.run_bench(engine, qs, list(methods), 16, out, progress=False, resume=resume)

    FakeRunner.interrupt_at = 3  # q0: ar, sam; q1: sam, then stop before q1's ar
    first = run(resume=False)
    assert first["interrupted"] and not first["complete"]
    assert [r["question_id"] for r in first["runs"]["sam"]] == [0, 1]

    FakeRunner.interrupt_at = None
    second = run(resume=True)
    # q0 is kept; q1 (cut half-way) runs again with both methods; then q2.
    assert sorted(FakeRunner.calls) == [("ar", 1), ("ar", 2), ("sam", 1), ("sam", 2)]
    assert second["complete"] and len(second["sittings"]) == 2
    assert all(s["commit"] and s["machine"] for s in second["sittings"])
    assert second["receipt"]["machine"] == second["machine"]
    assert {m: v["questions"] for m, v in second["methods"].items()} == {"ar": 3, "sam": 3}
    assert second["methods"]["sam"]["speedup"] == pytest.approx(2.0)

    with pytest.raises(ValueError, match="methods differs"):
        run(resume=True, methods=("ar", "pld"))


def load_tune_pld():
    spec = importlib.util.spec_from_file_location("tune_pld", ROOT / "scripts" / "tune_pld.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tune_pld_takes_training_prompts_evenly_from_every_corpus_source():
    from collections import Counter

    from samdec.corpus import DEFAULT_CORPUS

    tune_pld = load_tune_pld()
    with open(DEFAULT_CORPUS, encoding="utf-8") as f:
        corpus_sources = {json.loads(line)["id"].split(":")[0] for line in f}
    rows = tune_pld.pick_prompts(2 * len(corpus_sources))
    counts = Counter(r["id"].split(":")[0] for r in rows)
    assert counts == dict.fromkeys(corpus_sources, 2)
    again = tune_pld.pick_prompts(2 * len(corpus_sources))
    assert [r["id"] for r in again] == [r["id"] for r in rows]  # fixed seed
    assert len({r["id"] for r in rows}) == len(rows)


def test_tune_pld_writes_its_choice_with_a_receipt(tmp_path):
    out = tmp_path / "pld.json"
    cmd = [sys.executable, str(ROOT / "scripts" / "tune_pld.py"), "--prompts", "1"]
    cmd += ["--max-new-tokens", "4", "--candidates", "2", "--out", str(out)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads(out.read_text())
    assert set(data) == {"receipt", "config", "results", "chosen"}
    assert "tune_pld.py" in data["receipt"]["command"] and data["receipt"]["machine"]
    config = data["config"]
    assert config["max_new_tokens"] == 4 and config["candidates"] == [2]
    assert len(config["prompts"]) == 1 and "smollm2_distilled" in config["source"]
    assert [r["num_tokens"] for r in data["results"]] == [0, 2]
    plain, pld = data["results"]
    assert plain["speedup"] == 1.0 and plain["identical"] == 1.0
    assert pld["identical"] == 1.0  # greedy: prompt lookup writes the plain text
    assert pld["speedup"] == pytest.approx(pld["tokens_per_s"] / plain["tokens_per_s"])
    assert data["chosen"] == 2 and "pld:2" in res.stdout


def test_speedup_against_stock_generate_is_reported_apart_from_the_plain_baseline():
    # The same model's plain loop runs at 2 tok/s; transformers' stock model at 1 tok/s.
    runs = {
        "ar": runs_for([1.0, 1.0]),
        "hf-stock": runs_for([2.0, 2.0], steps=0),
        "sam": runs_for([0.5, 0.5]),
    }
    out = aggregate(runs, ["qa", "rag"])
    assert out["sam"]["speedup"] == pytest.approx(2.0)  # what drafting adds
    assert out["sam"]["speedup_vs_stock"] == pytest.approx(4.0)  # what a user gains
    assert out["ar"]["speedup_vs_stock"] == pytest.approx(2.0)  # the kernels' share
    assert "vs stock generate" in markdown_table({"methods": out})
    assert aggregate({"ar": runs["ar"]}, ["qa"])["ar"]["speedup_vs_stock"] is None
