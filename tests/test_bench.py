"""The benchmark's arithmetic, and one tiny end-to-end run that writes a valid results file."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import ClassVar

import pytest

from samdec import bench
from samdec.bench import Run, aggregate, check_method, markdown_table, pld_tokens
from samdec.bootstrap import ratio_interval
from samdec.drafting_gain import comparison, own_loop
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
    assert table[0].split(" | ")[5] == "MAT"
    assert table[2].split(" | ")[5] == "2.90"
    assert table[3].split(" | ")[5] == "–"


@pytest.mark.parametrize(
    "spec, n", [("hf-pld", 10), ("hf-pld:1", 1), ("hf-pld:4", 4), ("hf-pld:64", 64)]
)
def test_hf_pld_specs_name_their_draft_length(spec, n):
    check_method(spec)
    assert pld_tokens(spec) == n


def test_only_hf_pld_takes_a_number():
    assert pld_tokens("sam") is None and pld_tokens("hf-generate") is None
    # `pld` is the engine's drafter now: no transformers draft length.
    assert pld_tokens("pld") is None


def test_the_old_name_of_transformers_prompt_lookup_points_to_the_new_one():
    with pytest.raises(ValueError, match=r"unknown method 'pld:3'.*is hf-pld:N now"):
        check_method("pld:3")


@pytest.mark.parametrize(
    "spec, says",
    [
        ("hf-pld:0", "whole number from 1 to 64"),
        ("hf-pld:65", "whole number from 1 to 64"),
        ("hf-pld:x", "whole number from 1 to 64"),
        ("hf-pld:-3", "whole number from 1 to 64"),
        ("hf-pld:fixed", "whole number from 1 to 64"),
        ("ar:5", "unknown method 'ar:5'"),
        ("hf-generate:4", "unknown method 'hf-generate:4'"),
        ("sam:7", "unknown method 'sam:7'"),
    ],
)
def test_bad_method_specs_are_refused_with_a_reason(spec, says):
    with pytest.raises(ValueError, match=says) as err:
        check_method(spec)
    assert repr(spec) in str(err.value)


def test_runner_hands_hf_pld_its_draft_length(monkeypatch):
    from samdec import bench

    calls = []

    def fake_generate(model, ids, max_new_tokens, prompt_lookup=False, pld_tokens=10):
        calls.append((prompt_lookup, pld_tokens if prompt_lookup else None))
        return [7, 8], 0.5

    monkeypatch.setattr(bench, "hf_generate", fake_generate)
    engine = type("E", (), {"runner": type("R", (), {"model": None})()})()
    runner = bench.Runner(engine, 16)
    for spec in ("hf-pld:3", "hf-pld", "hf-generate"):
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
    data = bench_one_question(out, "qa", 8, "ar,hf-generate,hf-pld,hf-pld:3,sam,sam:fixed")
    assert data["complete"] and set(data) >= {"receipt", "machine", "config", "methods"}
    assert set(data["methods"]) == {"ar", "hf-generate", "hf-pld", "hf-pld:3", "sam", "sam:fixed"}
    assert data["config"]["hf_pld_named"] is True
    receipt = data["receipt"]
    assert receipt["command"].startswith("python -m samdec bench ")
    assert "hf-pld:3" in receipt["command"] and receipt["commit"]
    assert data["machine"] == receipt["machine"] and data["machine"]["cpu_count"] >= 1
    sam, ar = data["runs"]["sam"][0], data["runs"]["ar"][0]
    assert 0 < sam["prefill_seconds"] < sam["seconds"] and ar["prefill_seconds"] > 0
    assert data["runs"]["hf-pld"][0]["prefill_seconds"] is None  # transformers' generate
    assert data["methods"]["sam"]["decode_speedup"] > 0
    assert data["config"]["pld_methods"] == {
        "hf-pld": {"prompt_lookup_num_tokens": 10, "max_matching_ngram_size": 2},
        "hf-pld:3": {"prompt_lookup_num_tokens": 3, "max_matching_ngram_size": 2},
    }
    # Each drafting method against its own loop; one question: the interval is the point.
    assert data["methods"]["hf-pld:3"]["drafting_gain"]["over"] == "hf-generate"
    gain = data["methods"]["sam"]["drafting_gain"]
    assert gain["over"] == "ar" and gain["low"] == gain["ratio"] == gain["high"] > 0
    assert data["methods"]["sam"]["decode_drafting_gain"]["over"] == "ar"
    assert data["methods"]["sam"]["per_category"]["qa"]["drafting_gain"]["over"] == "ar"
    assert data["methods"]["ar"]["drafting_gain"] is None
    assert data["sam_vs_pld"] is None  # the engine's pld did not run
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
        run(resume=True, methods=("ar", "hf-generate"))


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


# -----------------------------------------------------------------------------
# noise intervals: the paired bootstrap over questions


def pairs(tokens_seconds):
    return dict(enumerate(tokens_seconds))


def test_identical_runs_give_an_interval_collapsed_on_one():
    a = pairs([(100, 2.0), (30, 0.5), (250, 4.0)])
    assert ratio_interval(a, dict(a)) == (1.0, 1.0, 1.0)


def test_a_method_exactly_twice_as_fast_on_every_question_gives_two_two():
    # Questions of very different sizes and speeds: only a paired resampling keeps the ratio
    # at 2 in every resample (resampling each method's questions apart would not).
    b = pairs([(100, 2.0), (30, 0.3), (250, 9.0), (12, 0.05)])
    a = {q: (t, s / 2) for q, (t, s) in b.items()}
    iv = ratio_interval(a, b)
    assert (iv.ratio, iv.low, iv.high) == pytest.approx((2.0, 2.0, 2.0))
    assert iv.excludes_one()


def test_the_point_is_summed_tokens_over_summed_seconds_not_a_mean_of_ratios():
    # q0: a long answer 4x faster; q1: a short one at the same speed. Pooled: 110/1.5 over
    # 110/3 = 2x; the mean of the per-question ratios would be 2.5x.
    a = pairs([(100, 0.5), (10, 1.0)])
    b = pairs([(100, 2.0), (10, 1.0)])
    assert ratio_interval(a, b).ratio == pytest.approx(2.0)


def test_only_the_questions_both_methods_ran_count():
    a = {0: (10, 1.0), 1: (10, 1.0), 7: (10, 100.0)}
    b = {0: (10, 2.0), 1: (10, 2.0), 9: (10, 0.001)}
    assert ratio_interval(a, b) == (2.0, 2.0, 2.0)
    assert ratio_interval({3: (1, 1.0)}, {4: (1, 1.0)}) is None
    assert ratio_interval({3: (1, 1.0)}, {3: (1, 0.0)}) is None  # no throughput to divide by


def test_the_interval_matches_the_exact_bootstrap_distribution_by_brute_force():
    import itertools

    import numpy as np

    a = pairs([(50, 1.0), (80, 1.0), (20, 2.0), (60, 0.8)])
    b = pairs([(50, 1.5), (80, 1.1), (20, 1.2), (60, 1.6)])
    n = len(a)
    exact = []
    for pick in itertools.product(range(n), repeat=n):  # every resample, equally likely
        ta, sa = sum(a[i][0] for i in pick), sum(a[i][1] for i in pick)
        tb, sb = sum(b[i][0] for i in pick), sum(b[i][1] for i in pick)
        exact.append((ta / sa) / (tb / sb))
    iv = ratio_interval(a, b, resamples=20000)
    # A percentile of 20,000 draws lands within a step or so of the exact one.
    assert np.percentile(exact, 1.5) <= iv.low <= np.percentile(exact, 3.5)
    assert np.percentile(exact, 96.5) <= iv.high <= np.percentile(exact, 98.5)
    assert iv == ratio_interval(a, b, resamples=20000)  # fixed seed: the same interval again


def test_noise_around_one_does_not_exclude_one_and_a_steady_gain_does():
    b = pairs([(100, 1.0)] * 12)
    noisy = pairs([(100, s) for s in (0.8, 1.25) * 6])  # faster on half, slower on half
    steady = pairs([(100, s) for s in (0.70, 0.75) * 6])
    assert not ratio_interval(noisy, b).excludes_one()
    iv = ratio_interval(steady, b)
    assert iv.excludes_one() and iv.low > 1.3


# -----------------------------------------------------------------------------
# drafting gain: each drafting method over plain decoding in its own loop


def cat_runs(spec: dict[str, list[float]], tokens=100, steps=10, prefill=None):
    """Runs by category: {category: [seconds per question]}, question ids in order."""
    out, qid = [], 0
    for cat, secs in spec.items():
        for s in secs:
            out.append(Run(qid, cat, tokens, s, steps, [qid], prefill_seconds=prefill))
            qid += 1
    return out


def test_each_drafting_method_is_divided_by_its_own_loop():
    assert [own_loop(m) for m in ("ar", "hf-generate", "hf-stock")] == [None] * 3
    assert own_loop("sam") == own_loop("pld") == own_loop("sam+graft:fixed") == "ar"
    assert own_loop("hf-pld") == own_loop("hf-pld:3") == "hf-generate"
    # transformers' loop is slower than the engine's: hf-pld beats hf-generate 1.5x but trails
    # ar; its drafting gain is the 1.5x, not a ratio over ar's loop.
    runs = {
        "ar": cat_runs({"qa": [1.0, 1.0], "rag": [1.0, 1.0]}, prefill=0.2),
        "hf-generate": cat_runs({"qa": [3.0, 3.0], "rag": [3.0, 3.0]}, steps=0),
        "hf-pld:3": cat_runs({"qa": [2.0, 2.0], "rag": [2.0, 2.0]}, steps=0),
        "sam": cat_runs({"qa": [0.5, 0.5], "rag": [0.8, 0.8]}, prefill=0.2),
    }
    out = aggregate(runs, ["qa", "rag"])
    assert out["hf-pld:3"]["speedup"] == pytest.approx(0.5)  # against the faster plain loop
    hf = out["hf-pld:3"]["drafting_gain"]
    assert hf["over"] == "hf-generate" and hf["ratio"] == pytest.approx(1.5)
    assert (hf["low"], hf["high"]) == pytest.approx((1.5, 1.5))
    assert out["hf-pld:3"]["decode_drafting_gain"] is None  # generate's prefill is not timed
    sam = out["sam"]
    assert sam["drafting_gain"]["over"] == "ar"
    assert sam["drafting_gain"]["ratio"] == pytest.approx(400 / 2.6 / 100)
    assert sam["per_category"]["qa"]["drafting_gain"]["ratio"] == pytest.approx(2.0)
    assert sam["per_category"]["rag"]["drafting_gain"]["ratio"] == pytest.approx(1.25)
    # decoding alone: qa 0.3 s against 0.8 s of ar's decoding
    assert sam["per_category"]["qa"]["decode_drafting_gain"]["ratio"] == pytest.approx(0.8 / 0.3)
    assert out["ar"]["drafting_gain"] is None and out["hf-generate"]["drafting_gain"] is None
    assert "| 1.50x [1.50-1.50] |" in markdown_table({"methods": out})


def test_without_its_loop_a_method_has_no_drafting_gain():
    runs = {"ar": cat_runs({"qa": [1.0]}), "hf-pld": cat_runs({"qa": [0.5]}, steps=0)}
    assert aggregate(runs, ["qa"])["hf-pld"]["drafting_gain"] is None


def test_sam_against_pld_gets_a_verdict_only_where_the_interval_excludes_one():
    ar = {"code": [1.0] * 8, "qa": [1.0] * 8, "rag": [1.0] * 8}
    pld = {"code": [0.8] * 8, "qa": [0.8] * 8, "rag": [0.5] * 8}
    sam = {"code": [0.5] * 8, "qa": [0.6, 1.0] * 4, "rag": [0.8] * 8}
    runs = {m: cat_runs(spec) for m, spec in (("ar", ar), ("pld", pld), ("sam", sam))}
    versus = comparison(bench.run_dicts(runs), ["code", "qa", "rag"])
    by_cat = versus["per_category"]
    assert by_cat["code"]["gain_ratio"]["ratio"] == pytest.approx(1.6)
    assert by_cat["code"]["verdict"] == "sam drafts better than pld here"
    assert by_cat["qa"]["verdict"] == "within noise"  # 1.0x on the whole, by luck either way
    assert by_cat["rag"]["verdict"] == "pld drafts better than sam here"
    # The ratio of the two drafting gains over ar is their throughputs' ratio: ar cancels.
    gains = aggregate(runs, ["code", "qa", "rag"])
    assert versus["gain_ratio"]["ratio"] == pytest.approx(
        gains["sam"]["drafting_gain"]["ratio"] / gains["pld"]["drafting_gain"]["ratio"]
    )
    assert comparison(bench.run_dicts({"ar": runs["ar"], "sam": runs["sam"]}), ["qa"]) is None


# -----------------------------------------------------------------------------
# files from before transformers' prompt lookup was named hf-pld


def legacy_results():
    """A results file as the bench wrote it when transformers' prompt lookup was `pld:3`."""
    run = {"category": "qa", "tokens": 10, "steps": 0, "token_ids": [1], "prefill_seconds": None}
    runs = {
        "ar": [run | {"question_id": 0, "seconds": 1.0, "steps": 10, "prefill_seconds": 0.1}],
        "hf-generate": [run | {"question_id": 0, "seconds": 2.0}],
        "pld:3": [run | {"question_id": 0, "seconds": 1.6}],
    }
    return {
        "config": {
            "methods": ["ar", "hf-generate", "pld:3"],
            "pld_methods": {"pld:3": {"prompt_lookup_num_tokens": 3}},
        },
        "methods": {m: {"tokens_per_s": 1.0, "per_category": {"qa": {}}} for m in runs},
        "runs": runs,
    }


def test_a_legacy_file_names_transformers_prompt_lookup_hf_pld():
    old = legacy_results()
    new = bench.as_current(old)
    assert new["config"]["methods"] == ["ar", "hf-generate", "hf-pld:3"]
    assert list(new["config"]["pld_methods"]) == ["hf-pld:3"]
    assert set(new["methods"]) == set(new["runs"]) == {"ar", "hf-generate", "hf-pld:3"}
    gain = new["methods"]["hf-pld:3"]["drafting_gain"]
    assert gain["over"] == "hf-generate" and gain["ratio"] == pytest.approx(1.25)
    assert new["sam_vs_pld"] is None
    assert "pld:3" in old["methods"] and "drafting_gain" not in old["methods"]["ar"]  # a copy
    # A current file's `pld` is the engine's: left as it is.
    current = old | {"config": old["config"] | {"hf_pld_named": True}}
    assert bench.hf_pld_named(current) is current


def test_resuming_a_legacy_file_never_mixes_the_two_plds(tmp_path, monkeypatch):
    from samdec.cost import CostModel
    from samdec.questions import Question

    monkeypatch.setattr(bench, "Runner", FakeRunner)
    engine = type("E", (), {"cost": CostModel()})()
    qs = [Question(i, "qa", [f"q{i}"]) for i in range(2)]
    out = tmp_path / "r.json"

    def run(methods):
        FakeRunner.calls = []
        return bench.run_bench(engine, qs, methods, 16, out, progress=False, resume=True)

    FakeRunner.interrupt_at = 2  # q0 done with both methods, then stop
    run(["ar", "hf-pld:3"])
    # Make it a file from before the rename, as the bench then wrote it.
    data = json.loads(out.read_text())
    del data["config"]["hf_pld_named"]
    data["config"]["methods"] = ["ar", "pld:3"]
    for key in ("runs", "methods"):
        data[key]["pld:3"] = data[key].pop("hf-pld:3")
    out.write_text(json.dumps(data))

    FakeRunner.interrupt_at = None
    with pytest.raises(ValueError, match="methods differs"):
        run(["ar", "pld"])  # the engine's pld is another method than the file's pld:3
    resumed = run(["ar", "hf-pld:3"])
    assert sorted(FakeRunner.calls) == [("ar", 1), ("hf-pld:3", 1)]
    assert resumed["complete"] and resumed["config"]["hf_pld_named"]
    assert {m: v["questions"] for m, v in resumed["methods"].items()} == {"ar": 2, "hf-pld:3": 2}
