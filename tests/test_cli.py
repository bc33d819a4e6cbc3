"""The command line: JSON output on the real bundled model, and clean errors for bad input."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli as samdec


def test_generate_json_is_one_consistent_object(bundled):
    out = samdec(
        "generate",
        "List three prime numbers.",
        "--method",
        "sam+recycling",
        "--max-new-tokens",
        "24",
        "--draft-policy",
        "fixed",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)  # exactly one JSON object on stdout
    assert set(data) >= {"text", "token_ids", "steps", "summary"}
    ids = [t for s in data["steps"] for t in s["new_tokens"]]
    assert ids == data["token_ids"] and 0 < len(ids) <= 24
    assert bundled.tokenizer.decode(ids, skip_special_tokens=True) == data["text"]
    assert data["summary"]["new_tokens"] == len(ids)
    assert data["summary"]["method"] == "sam+recycling"
    for step in data["steps"]:
        assert step["drafter"] in ("static", "dynamic", "recycling", "none")
        assert len(step["draft_parents"]) == len(step["draft_tokens"])


def test_ar_and_sam_write_the_same_text():
    # The fixed draft policy: whether sam drafts must not depend on this machine's timings.
    args = ["Count from 1 to 12, separated by commas.", "--max-new-tokens", "40", "--json"]
    ar = samdec("generate", *args, "--method", "ar")
    sam = samdec("generate", *args, "--method", "sam", "--draft-policy", "fixed")
    assert ar.returncode == 0 and sam.returncode == 0, ar.stderr + sam.stderr
    ar, sam = json.loads(ar.stdout), json.loads(sam.stdout)
    assert sam["token_ids"] == ar["token_ids"], "sam wrote other tokens than plain decoding"
    drafted = sum(len(s["draft_tokens"]) for s in sam["steps"])
    accepted = sum(s["accepted"] for s in sam["steps"])
    assert drafted > 0 and accepted > 0, f"sam drafted {drafted} tokens, accepted {accepted}"
    tokens, steps = sam["summary"]["new_tokens"], sam["summary"]["steps"]
    assert steps < tokens, f"sam took {steps} steps for {tokens} tokens: no speed-up"
    assert ar["summary"]["steps"] == tokens, "plain decoding should take one step per token"


def test_seeded_sampling_writes_the_same_tokens_for_ar_and_sam_recycling():
    """The issue's command: with a seed, a drafting method samples plain sampling's tokens."""
    args = ["Write a short poem about rivers.", "--temperature", "0.8", "--seed", "7"]
    args += ["--max-new-tokens", "32", "--json"]
    ar = samdec("generate", *args, "--method", "ar")
    spec = samdec("generate", *args, "--method", "sam+recycling", "--draft-policy", "fixed")
    assert ar.returncode == 0 and spec.returncode == 0, ar.stderr + spec.stderr
    ar, spec = json.loads(ar.stdout), json.loads(spec.stdout)
    assert spec["token_ids"] == ar["token_ids"], "seeded sampling changed with the method"
    assert spec["summary"]["config"]["seed"] == 7
    accepted = sum(s["accepted"] for s in spec["steps"])
    assert accepted > 0, "sam+recycling accepted nothing: the test did not speculate"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "hi", "--method", "magic"], "Unknown method 'magic'; choose one of ar,"),
        (
            ["generate", "hi", "--max-new-tokens", "0"],
            "Max new tokens must be a whole number of at least 1, got 0.",
        ),
        (
            ["generate", "hi", "--max-new-tokens", "many"],
            "Max new tokens must be a whole number of at least 1, got 'many'.",
        ),
        (["generate", "hi", "--temperature", "-1"], "Temperature must be between 0 and 5"),
        (["generate", "hi", "--top-p", "0"], "Top-p must be above 0 and at most 1, got 0.0."),
        (["generate", "hi", "--draft-policy", "long"], "Length policy must be 'cost' or 'fixed'"),
        (["generate", "hi", "--l-bias", "2.5"], "l_bias must be a whole number from 0 to 1000"),
        (["generate", "hi", "--endpos", "middle"], "endpos must be 'first' or 'last'"),
        (["bench", "--max-new-tokens", "-3"], "Max new tokens must be a whole number"),
        (["bench", "--methods", "ar,sam:slow"], "unknown method 'sam:slow'"),
        (["tune", "--method", "ar"], "'ar' never drafts"),
        (["generate"], "the following arguments are required: prompt"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_nonzero_with_one_line(args, message):
    """Settings are checked by DecodeConfig (the app's and the API's path), before any model."""
    out = samdec(*args, timeout=60)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0], out.stderr
    assert message in lines[0]
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "   ", "--static", "none"], "prompt is empty"),
        (["generate", "hi", "--model", "/nonexistent/model"], "not found"),
        (["generate", "hi", "--static", "/nonexistent.sam"], "nonexistent"),
    ],
)
def test_runtime_errors_are_one_clean_line(args, message):
    out = samdec(*args, timeout=120)
    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_the_doctor_names_the_kernels_the_layout_the_forward_and_the_guarantee():
    out = samdec("doctor", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    facts = json.loads(out.stdout)
    from samdec.runtime import native

    want = "built and loaded" if native.available() else native.unavailable()
    assert facts["native kernels"] == want
    streamed = facts["layout"].startswith("streamed")
    assert native.available() or not streamed
    assert "measured here" in facts["layout"] or "asked for" in facts["layout"]
    assert facts["forward"].startswith(("lean-cpp", "lean", "transformers"))
    assert facts["exact"].startswith("exact by construction" if streamed else "exact in practice")
    from samdec.runtime import hugepages

    if streamed:  # its weights moved: onto huge pages, or it says why not
        assert "2 MB pages" in facts["weight pages"] or "4 KB pages:" in facts["weight pages"]
        if hugepages.why_not():
            assert "4 KB pages:" in facts["weight pages"]
    assert facts["cache"].startswith(facts["cache"].split(":")[0])
