"""scripts/verify_cost.py --llamacpp: llama.cpp's own verify curve (`llama-bench`'s pp k at depth
300) beside samdec's. Parsing of a recorded `llama-bench -o json` (tests/data/llama_bench_pp.json,
from llama-cpp-python 0.3.36's sources on the bundled GGUF), the row made of two sittings, the
printout and the README block with and without that row, and that no reader of verify_cost.json's
rows mistakes it for samdec's. Nothing is built or run here."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, load_script

vc = load_script("verify_cost")
load_script("render_readme")
block = sys.modules["readme_verify_cost"]  # loaded by render_readme from beside it

SAMPLE = (ROOT / "tests" / "data" / "llama_bench_pp.json").read_text()
_COMMITTED = json.loads((ROOT / "benchmarks" / "verify_cost.json").read_text())
# samdec's rows of the committed artifact: the tests add a llama.cpp row of their own
ARTIFACT = {**_COMMITTED, "rows": [r for r in _COMMITTED["rows"] if r["layout"] != "llama.cpp"]}
SIZES = [int(k) for k in ARTIFACT["rows"][0]["verify_ms"]]
BUILD = {"package": "llama-cpp-python==0.3.36", "llama_cpp_commit": "0c1e570" + "0" * 33}
COMMAND = ["/cache/llama-bench", "-m", "/m.gguf", "-p", "1,2", "-n", "0", "-d", "300"]


def pp_output(sizes, depth=300, threads=2, scale=1.0, log="") -> str:
    """llama-bench's JSON with a pp test for each k in `sizes`: the recorded sample's first test
    with its size, depth and threads changed, and timings of (1 + (k - 1) / 2) x the sample's,
    x `scale`; `log` after it, as stderr follows stdout in what the script reads."""
    base = json.loads(SAMPLE)[0]
    tests = []
    for k in sizes:
        samples = [round(ns * scale * (1 + (k - 1) / 2)) for ns in base["samples_ns"]]
        tests.append({**base, "n_prompt": k, "n_depth": depth, "n_threads": threads,
                      "avg_ns": sum(samples) // len(samples), "samples_ns": samples})  # fmt: skip
    return json.dumps(tests, indent=2) + "\n" + log


def sitting(when: str, scale: float) -> dict:
    return {"when": when, **vc.pp_curve(pp_output(SIZES, scale=scale), SIZES, threads=2)}


def two_sittings_row() -> dict:
    return vc.llamacpp_row([sitting("before", 1.0), sitting("after", 1.3)], COMMAND, 2, BUILD)


# -----------------------------------------------------------------------------
# llama-bench's output


def test_the_recorded_pp_output_parses_to_its_curve_in_ms():
    raw = json.loads(SAMPLE)
    curve = vc.pp_curve(SAMPLE, [1, 2], threads=2)
    assert curve["avg_ms"] == {"1": raw[0]["avg_ns"] / 1e6, "2": raw[1]["avg_ns"] / 1e6}
    assert curve["stddev_ms"]["2"] == raw[1]["stddev_ns"] / 1e6
    assert curve["samples_ms"]["1"] == [ns / 1e6 for ns in raw[0]["samples_ns"]]
    assert curve["build_commit"] == raw[0]["build_commit"] and curve["model_type"].endswith("Q4_1")
    # the log that follows on stderr, brackets and all, changes nothing
    log = "llama_model_loader: - kv   0: general.architecture str = llama [ 1 ]\n"
    assert vc.pp_curve(SAMPLE + "\n" + log, [1, 2], threads=2) == curve


def test_a_generation_test_beside_the_pp_tests_is_left_out():
    tg = {**json.loads(SAMPLE)[0], "n_prompt": 0, "n_gen": 16, "avg_ns": 1}
    text = json.dumps([tg, *json.loads(SAMPLE)])
    assert vc.pp_curve(text, [1, 2], threads=2) == vc.pp_curve(SAMPLE, [1, 2], threads=2)


@pytest.mark.parametrize(
    ("text", "sizes", "refusal"),
    [
        (pp_output([1, 2], depth=512), [1, 2], "depth 512, not 300: .*not comparable"),
        (pp_output([1, 2], threads=4), [1, 2], "4 threads, not 2"),
        (SAMPLE, [1, 2, 4], r"no prompt-processing \(pp\) test at depth 300 for k = 4"),
        (json.dumps([{**json.loads(SAMPLE)[0], "n_prompt": 0, "n_gen": 16}]), [1], "no prompt"),
        ("error: invalid parameter for argument: -d\n", [1], "not its JSON list"),
        (SAMPLE[:300], [1], "not its JSON list"),
        ('{"n_prompt": 1}', [1], "not its JSON list"),
        ("[1, 2]", [1], "not its JSON list"),
        (SAMPLE.replace('"avg_ns"', '"avg"'), [1, 2], "lack their timings"),
    ],
)
def test_output_that_is_not_the_curve_asked_for_is_refused_by_name(text, sizes, refusal):
    with pytest.raises(ValueError, match=refusal):
        vc.pp_curve(text, sizes, threads=2)


def test_a_sitting_exits_with_a_message_not_a_traceback():
    calls = []

    def run(command, caller):
        calls.append((command, caller))
        return "llama-bench: unknown model architecture\n"

    with pytest.raises(SystemExit) as exc:
        vc.llamacpp_sitting(COMMAND, [1, 2], 2, "before", run=run)
    assert isinstance(exc.value.code, str)  # sys.exit's message, printed without a traceback
    assert exc.value.code.startswith("verify_cost: llama-bench's output is not its JSON list")
    assert calls == [(COMMAND, "verify_cost")]
    good = vc.llamacpp_sitting(COMMAND, [1, 2], 2, "after", run=lambda c, who: SAMPLE)
    assert good["when"] == "after" and list(good["avg_ms"]) == ["1", "2"]


def test_the_command_is_pp_of_every_size_at_the_scripts_depth(monkeypatch):
    monkeypatch.setattr("samdec.runtime.bundled.gguf_path", lambda: Path("/models/m.gguf"))
    monkeypatch.setattr(sys.modules["llamacpp_build"], "amx", lambda: False)
    command = vc.llamacpp_command([1, 2, 4], threads=2, repeats=5)
    assert Path(command[0]).name == "llama-bench"
    assert command[1:] == ["-m", "/models/m.gguf", "-p", "1,2,4", "-n", "0", "-d", "300",
                           "-t", "2", "-r", "5", "-o", "json"]  # fmt: skip
    assert vc.CONTEXT == 300  # the depth llama-bench is asked for is the one samdec's steps have


def test_on_a_cpu_with_amx_the_weights_are_not_repacked_and_the_row_says_why(monkeypatch):
    monkeypatch.setattr("samdec.runtime.bundled.gguf_path", lambda: Path("/models/m.gguf"))
    build = sys.modules["llamacpp_build"]
    monkeypatch.setattr(build, "amx", lambda: True)
    command = vc.llamacpp_command([1, 2, 4], threads=2, repeats=5)
    assert command[-2:] == ["--repack", "0"]
    row = vc.llamacpp_row([sitting("before", 1.0), sitting("after", 1.3)], command, 2, BUILD)
    assert row["note"] == build.NO_REPACK_WHY and row["command"][-2:] == ["--repack", "0"]
    monkeypatch.setattr(build, "amx", lambda: False)
    assert "note" not in vc.llamacpp_row([sitting("before", 1.0)], COMMAND, 2, BUILD)


# -----------------------------------------------------------------------------
# the row


def test_the_row_is_the_median_of_both_sittings_repetitions():
    before, after = sitting("before", 1.0), sitting("after", 1.3)
    row = vc.llamacpp_row([before, after], COMMAND, 2, BUILD)
    for k in map(str, SIZES):
        pooled = before["samples_ms"][k] + after["samples_ms"][k]
        assert row["samples_ms"][k] == pooled
        assert row["verify_ms"][k] == pytest.approx(statistics.median(pooled))
        # neither sitting alone: both count
        assert before["avg_ms"][k] < row["verify_ms"][k] < after["avg_ms"][k]
        assert row["ratio_to_one"][k] == pytest.approx(row["verify_ms"][k] / row["verify_ms"]["1"])
    assert row["sittings"] == [before, after]
    assert (row["layout"], row["dtype"], row["device"]) == ("llama.cpp", "Q4_1 (GGUF)", "cpu")
    assert row["threads"] == 2 and row["build"] == BUILD
    assert "llama-bench 0c1e570" in row["system"] and "depth 300" in row["system"]
    assert row["command"] == ["llama-bench", *COMMAND[1:]]
    assert "breakdown" not in row and "weight_bytes" not in row  # nothing replayed for it


def test_sittings_of_different_sizes_are_refused():
    short = {"when": "after", **vc.pp_curve(SAMPLE, [1, 2], threads=2)}
    with pytest.raises(ValueError, match="different sizes"):
        vc.llamacpp_row([sitting("before", 1.0), short], COMMAND, 2, BUILD)


# -----------------------------------------------------------------------------
# the printout and the README block


def test_the_printout_copes_with_a_row_without_breakdown_or_weights():
    row = two_sittings_row()
    for rows in ([*ARTIFACT["rows"], row], [row, *ARTIFACT["rows"]]):
        text = vc.printout(rows, ARTIFACT["read_bandwidth_gbs"], ARTIFACT["matmul_gflops"])
        lines = text.splitlines()
        mine = [line for line in lines if line.startswith("| llama.cpp, Q4_1 (GGUF) |")]
        assert len(mine) == 1 and mine[0].endswith(f"| {row['ratio_to_one']['8']:.2f}x | - |")
        assert not any(line.startswith("llama.cpp, ") for line in lines)  # no breakdown of it
        assert sum(", k=" in line and line.endswith("(ms)") for line in lines) == sum(
            len(r["breakdown"]) for r in ARTIFACT["rows"]
        )  # samdec's breakdowns all still there
        assert f"llama.cpp: {row['system']}" in lines
        macs = ARTIFACT["rows"][0]["multiply_adds_per_token"]
        assert f"{macs / 1e6:.0f} M multiply-adds a token" in text  # from samdec's rows
    stock = vc.table(ARTIFACT["rows"][:1], 10.0).splitlines()[-1]
    assert stock.endswith(" of 10.0 |") and " - |" not in stock  # a full row keeps its cells


def test_the_readme_block_shows_the_row_only_when_the_artifact_has_one():
    plain = block.verify_cost({"verify_cost.json": ARTIFACT})
    assert "llama.cpp's own" not in plain and "The llama.cpp row" not in plain
    row = two_sittings_row()
    text = block.verify_cost({"verify_cost.json": {**ARTIFACT, "rows": [*ARTIFACT["rows"], row]}})
    ratios = row["ratio_to_one"]
    worst = max(ratios[str(k)] for k in SIZES if k <= 8)
    cells = " | ".join(f"{row['verify_ms'][str(k)]:.0f}" for k in SIZES)
    line = f"| llama.cpp's own llama-bench, Q4_1 (GGUF) | {cells} | {worst:.2f}x | – | – |"
    assert line in text.splitlines()
    paragraph = next(p for p in text.split("\n\n") if p.startswith("The llama.cpp row"))
    for said in ("`llama-bench`", "pp k at depth 300", "same machine, same sitting",
                 "once before samdec's curves and once after", "commit 0c1e570",
                 f"4 tokens {ratios['4']:.2f}x one (above #34's 1.20x)",
                 f"8 tokens {ratios['8']:.2f}x one (above #34's 1.50x)",
                 f"{row['sittings'][0]['avg_ms']['1']:.1f} ms before",
                 f"{row['sittings'][1]['avg_ms']['1']:.1f} ms after"):  # fmt: skip
        assert said in paragraph, said
    integer = next(r for r in ARTIFACT["rows"] if r["layout"] == "integer")
    assert f"integer layout: {integer['ratio_to_one']['4']:.2f}x for 4" in paragraph
    # the row and its paragraph are all that changed
    assert text.replace(line + "\n", "").replace("\n\n" + paragraph, "") == plain


def test_a_flat_llamacpp_curve_is_said_to_be_within_the_bounds():
    flat = {**two_sittings_row(), "ratio_to_one": {str(k): 1.0 for k in SIZES}}
    text = block.llamacpp_curve({**ARTIFACT, "rows": [*ARTIFACT["rows"], flat]})
    assert "4 tokens 1.00x one (within #34's 1.20x)" in text


# -----------------------------------------------------------------------------
# other readers of verify_cost.json's rows


def test_a_llamacpp_row_is_never_taken_for_a_gpu_curve(tmp_path):
    from samdec.cost import CostModel
    from samdec.tuning import gpu_curve

    row = two_sittings_row()
    samdec_row = {"layout": "stock", "dtype": "float32", "verify_ms": {"1": 4.0, "8": 4.4}}
    artifact = {"receipt": {"machine": {"device": "cuda:0"}}, "rows": [row, samdec_row]}
    path = tmp_path / "verify_cost_gpu.json"
    path.write_text(json.dumps(artifact))
    assert gpu_curve(CostModel(), (path,))(8) == pytest.approx(4.4)  # samdec's row
    # what keeps it out is its "device": without one it would pass for the GPU's curve
    artifact["rows"][0] = {k: v for k, v in row.items() if k != "device"}
    path.write_text(json.dumps(artifact))
    assert gpu_curve(CostModel(), (path,))(8) == pytest.approx(row["verify_ms"]["8"])
