"""scripts/anchor_llamacpp.py's parsers, on output captured from the tools built from
llama-cpp-python 0.3.36's sources (tests/data/anchor/), its sums, and the README block it feeds
(scripts/readme_anchor.py). Nothing is built or run here."""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import ROOT, load_script

DATA = ROOT / "tests" / "data" / "anchor"


anchor = load_script("anchor_llamacpp")
build = sys.modules["llamacpp_build"]  # loaded by anchor_llamacpp from beside it
rr = load_script("render_readme")
block = sys.modules["readme_anchor"]

LOOKUP = (DATA / "llama_lookup.txt").read_text()
BENCH = (DATA / "llama_bench.txt").read_text()


# -----------------------------------------------------------------------------
# the tools' output


def test_lookup_output_parses_to_its_closing_statistics():
    run = anchor.parse_lookup(LOOKUP)
    assert run == {
        "encoded_tokens": 227,
        "encoded_seconds": 6.138,
        "decoded_tokens": 35,
        "decoded_seconds": 8.557,
        "n_draft": 3,
        "n_predict": 35,
        "n_drafted": 9,
        "n_accept": 7,
    }
    # 35 tokens in 35 - 7 passes (the prompt's last token's among them); 34 decoded after it.
    totals = anchor.lookup_totals([{**run, "samdec_prompt_tokens": 227}])
    assert totals["passes"] == 28 and totals["tokens_per_pass"] == pytest.approx(35 / 28)
    assert totals["decode_tokens_per_s"] == pytest.approx(34 / 8.557)
    assert totals["prompt_tokens_match"] is True


@pytest.mark.parametrize("lost", ["decoded", "n_accept", "n_predict"])
def test_lookup_output_without_a_statistic_is_refused_by_name(lost):
    text = "\n".join(line for line in LOOKUP.splitlines() if lost not in line)
    with pytest.raises(ValueError, match=lost):
        anchor.parse_lookup(text)


def test_llama_bench_output_parses_to_its_generation_test():
    tg = anchor.parse_llama_bench(BENCH)
    raw = json.loads(BENCH[BENCH.index("[") :])[0]
    assert tg["n_gen"] == 16 and tg["n_depth"] == 56 and tg["n_threads"] == 2
    assert tg["avg_ts"] == raw["avg_ts"] and tg["samples_ts"] == raw["samples_ts"]
    assert tg["build_commit"] == raw["build_commit"]


def test_llama_bench_takes_the_generation_test_not_a_prompt_test():
    tests = json.loads(BENCH[BENCH.index("[") :])
    prompt = {**tests[0], "n_prompt": 512, "n_gen": 0, "avg_ts": 1.0}
    tg = anchor.parse_llama_bench(BENCH[: BENCH.index("[")] + json.dumps([prompt, *tests]))
    assert tg["avg_ts"] == tests[0]["avg_ts"]
    with pytest.raises(ValueError, match="no text-generation"):
        anchor.parse_llama_bench(json.dumps([prompt]))
    with pytest.raises(ValueError, match="not its JSON"):
        anchor.parse_llama_bench("llama-bench: error\n[ {")


# -----------------------------------------------------------------------------
# the sums


def lookup_run(predict: int, accept: int, seconds: float, prompt: int = 56, ours: int = 56):
    return {
        "question_id": 121,
        "samdec_prompt_tokens": ours,
        "encoded_tokens": prompt,
        "encoded_seconds": 0.5,
        "decoded_tokens": predict,
        "decoded_seconds": seconds,
        "n_draft": 3,
        "n_predict": predict,
        "n_drafted": 3 * (predict - accept),
        "n_accept": accept,
    }


def test_lookup_totals_leave_the_first_token_out_and_count_its_pass():
    totals = anchor.lookup_totals([lookup_run(129, 65, 2.0), lookup_run(129, 1, 2.0)])
    # 129 tokens a run, the first made in the prompt's window: 128 a run in the 2 s.
    assert totals["decode_tokens_per_s"] == pytest.approx(2 * 128 / 4.0)
    assert totals["passes"] == (129 - 65) + (129 - 1)
    assert totals["tokens_per_pass"] == pytest.approx(258 / 192)
    assert totals["prefill_tokens_per_s"] == pytest.approx(112 / 1.0)
    assert totals["prompt_tokens_match"] is True
    # More accepted drafts, fewer passes; another prompt token count is said.
    more = anchor.lookup_totals([lookup_run(129, 90, 2.0), lookup_run(129, 1, 2.0)])
    assert more["tokens_per_pass"] > totals["tokens_per_pass"]
    assert (
        anchor.lookup_totals([lookup_run(129, 1, 2.0, prompt=57)])["prompt_tokens_match"] is False
    )


def test_lookup_asks_for_one_token_fewer_greedy_three_token_drafts_and_raw_text(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(sys.modules["llamacpp_build"], "amx", lambda: False)
    command = anchor.lookup_command(tmp_path / "m.gguf", tmp_path / "p.txt", 128, 2, 512)
    assert "--no-escape" in command
    after = command[command.index("--no-escape") + 1 :]
    flags = dict(zip(after[::2], after[1::2], strict=True))
    assert flags == {
        "-n": "127",
        "--spec-draft-n-max": "3",
        "--temp": "0",
        "-t": "2",
        "-tb": "2",
        "-c": "512",
    }


def test_on_a_cpu_with_amx_lookup_runs_on_the_weights_as_stored(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules["llamacpp_build"], "amx", lambda: True)
    command = anchor.lookup_command(tmp_path / "m.gguf", tmp_path / "p.txt", 128, 2, 512)
    assert command[-1] == "--no-repack"


def samdec_run(ar: float, sam: float, sam_tokens: int, sam_steps: int, identical=1.0):
    method = {"new_tokens": sam_tokens, "prefill_seconds": 0.25, "identical": identical}
    return {
        "methods": {
            "ar": {**method, "decode_tokens_per_s": ar, "identical": 1.0},
            "sam": {**method, "decode_tokens_per_s": sam},
        },
        "steps": {"ar": sam_tokens, "sam": sam_steps},
    }


def made_up_rounds() -> list[dict]:
    """Two rounds in the shape one_round returns (numbers made up)."""
    rounds = []
    for bench_ts, lookup_ts, f_ar, f_sam, i_ar, i_sam in (
        (85.0, 153.0, 82.0, 112.0, 95.0, 160.0),
        (100.0, 214.0, 88.0, 110.0, 99.0, 170.0),
    ):
        lookup = anchor.lookup_totals([lookup_run(129, 64, 129 / lookup_ts)])
        lookup["decode_tokens_per_s"] = lookup_ts
        rounds.append(
            {
                "order": [],
                "llama-bench": {"avg_ts": bench_ts},
                "llama-lookup": lookup,
                "samdec float32": samdec_run(f_ar, f_sam, 1000, 650),
                "samdec integer": samdec_run(i_ar, i_sam, 1000, 500),
            }
        )
    return rounds


SETTING = {
    "tokens": 128,
    "depth": 78,
    "prompts": [{"ids": list(range(51))}, {"ids": list(range(101))}],
    "samdec_modes": {"float32": None, "integer": "integer"},
}


def test_summary_rows_pool_tokens_per_pass_and_keep_each_round():
    rows = anchor.summarise(made_up_rounds(), SETTING)
    llama, f32, integer = rows
    assert [r["system"] for r in rows] == ["llama.cpp", "samdec", "samdec"]
    assert llama["plain"]["decode_tokens_per_s"] == [85.0, 100.0]
    assert llama["plain"]["name"] == "llama-bench tg128 at depth 78"
    assert llama["speculative"]["tokens_per_pass"] == pytest.approx(258 / 130)
    assert f32["speculative"]["decode_tokens_per_s"] == [112.0, 110.0]
    assert f32["speculative"]["tokens_per_pass"] == pytest.approx(2000 / 1300)
    assert integer["speculative"]["tokens_per_pass"] == pytest.approx(2.0)
    # samdec prefills all but the prompt's last token: 150 tokens a method, ar's and sam's.
    assert f32["prefill_tokens_per_s"] == [pytest.approx(300 / 0.5)] * 2


# -----------------------------------------------------------------------------
# the README block

RECEIPT = {
    "command": "python scripts/anchor_llamacpp.py --out benchmarks/anchor.json",
    "date": "2026-12-06 18:00 UTC",
    "machine": {"cpu": "AMD EPYC", "cpu_count": 2, "torch_threads": 2, "omp_wait_policy": "x"},
    "packages": {"torch": "2.13.0+cpu"},
    "commit": "0123456789abcdef0123456789abcdef01234567",
}


def artifact(rounds: list[dict] | None = None) -> dict:
    rounds = rounds or made_up_rounds()
    return {
        "receipt": RECEIPT,
        "build": {
            "package": "llama-cpp-python==0.3.36",
            "llama_cpp_commit": "0c1e57098bba43ac29e6e3b677cdceebdd22334f",
            "cmake_flags": ["-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON"],
            "compiler": "c++ (Debian 12.2.0-14) 12.2.0",
        },
        "config": {
            "question_ids": [121, 122],
            "tokens": 128,
            "threads": 2,
            "rounds": len(rounds),
            "depth": 78,
        },
        "rows": anchor.summarise(rounds, SETTING),
        "rounds": rounds,
    }


def rendered(tmp_path, a: dict) -> str:
    (tmp_path / "anchor.json").write_text(json.dumps(a))
    return rr.render_block("anchor", tmp_path)


def table_row(body: str, start: str) -> list[str]:
    line = next(line for line in body.splitlines() if line.startswith(f"| {start}"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_block_shows_each_system_with_its_range_gain_and_ratio_to_llama(tmp_path):
    body = rendered(tmp_path, artifact())
    assert "`benchmarks/anchor.json`" in body and "2026-12-06 18:00 UTC" in body
    assert "0c1e57098b" in body and "-DGGML_NATIVE=ON" in body
    assert "each prompt came to as many tokens as samdec's" in body
    llama = table_row(body, "llama.cpp")
    assert llama[1] == "85.0-100.0 (`llama-bench tg128 at depth 78`)"
    assert llama[2] == "153.0-214.0 (`llama-lookup, n-gram, 3-token drafts`)"
    assert llama[3] == f"{183.5 / 92.5:.2f}x"
    assert llama[7] == "–"
    integer = table_row(body, "samdec, GGUF integer")
    assert integer[1] == "95.0-99.0 (`ar`)" and integer[4] == "2.00 (2,000 in 1,000)"
    assert integer[6] == "100%"
    assert integer[7] == f"{97.0 / 92.5:.2f}x / {165.0 / 183.5:.2f}x"
    # In a document the block holds every number it renders.
    document = rr.render("<!-- receipt: anchor -->\n<!-- /receipt -->\n", tmp_path)
    assert body in document and rr.stray_numbers(document) == []


def test_the_block_says_when_a_run_differs_and_when_prompt_token_counts_differ(tmp_path):
    rounds = made_up_rounds()
    rounds[1]["samdec float32"]["methods"]["sam"]["identical"] = 0.875
    rounds[0]["llama-lookup"]["prompt_tokens_match"] = False
    body = rendered(tmp_path, artifact(rounds))
    assert table_row(body, "samdec, exact float32")[6] == "88%"
    assert "did not come to as many tokens as samdec's" in body


def test_one_round_shows_single_numbers_not_ranges(tmp_path):
    one = made_up_rounds()[:1]
    body = rendered(tmp_path, artifact(one))
    assert table_row(body, "llama.cpp")[1] == "85.0 (`llama-bench tg128 at depth 78`)"
    assert "1 round," in body


def test_without_the_artifact_the_block_names_the_command_and_no_number(tmp_path):
    body = rr.render_block("anchor", tmp_path)
    assert body == (
        "Not measured in a committed run yet: "
        "`python scripts/anchor_llamacpp.py --out benchmarks/anchor.json`."
    )


def test_a_finished_build_is_found_and_an_unfinished_one_is_not(tmp_path, monkeypatch):
    monkeypatch.setenv("SAMDEC_CACHE", str(tmp_path))
    assert build.build_folder() == tmp_path / "llamacpp" / build.VERSION
    assert build.build_record() is None
    record = {"package": "x", "seconds": 1.0}
    (build.build_folder() / "build.json").parent.mkdir(parents=True)
    (build.build_folder() / "build.json").write_text(json.dumps(record))
    assert build.build_record() is None  # the binaries are missing
    for path in build.binaries().values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    assert build.build_record() == record


def test_the_configure_log_gives_the_versions():
    log = "-- llama.cpp version: 0.5.0-dev\n-- Found Git\n-- ggml version: 0.25.3\n"
    assert build.configured_versions(log) == {
        "llama_cpp_version": "0.5.0-dev",
        "ggml_version": "0.25.3",
    }
    assert build.configured_versions("-- ggml commit: 0c1e570\n") == {}
