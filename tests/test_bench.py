"""The benchmark's arithmetic, and one tiny end-to-end run that writes a valid results file."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest

from samdec.bench import Run, aggregate, markdown_table
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


def test_identical_counts_questions_whose_ids_differ_from_ar():
    runs = {
        "ar": runs_for([1, 1], ids=[[1, 2], [3, 4]]),
        "sam": runs_for([1, 1], ids=[[1, 2], [3, 5]]),
    }
    out = aggregate(runs, ["qa", "rag"])
    assert out["sam"]["identical"] == 0.5
    assert "50%" in markdown_table({"methods": out})


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
    data = bench_one_question(out, "qa", 8, "ar,pld,sam,sam:fixed")
    assert data["complete"] and set(data) >= {"machine", "config", "methods"}
    assert set(data["methods"]) == {"ar", "pld", "sam", "sam:fixed"}
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

    def __init__(self, engine, max_new_tokens, turns="first"):
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
    from samdec.policy import CostModel
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
    assert {m: v["questions"] for m, v in second["methods"].items()} == {"ar": 3, "sam": 3}
    assert second["methods"]["sam"]["speedup"] == pytest.approx(2.0)

    with pytest.raises(ValueError, match="methods differs"):
        run(resume=True, methods=("ar", "pld"))
