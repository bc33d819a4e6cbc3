"""Static corpus: prompt sources, resumable distillation bookkeeping, build + cache, models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from samdec import corpus
from samdec.questions import SPEC_BENCH
from samdec.runtime.loading import ModelLoadError, load_model
from samdec.static_automaton import StaticSuffixAutomaton


def test_prompt_sources_read_gsm8k_and_code_alpaca(tmp_path):
    gsm = tmp_path / "train.jsonl"
    gsm.write_text(
        '{"question": "What is 2+2?", "answer": "4"}\n{"question": "Q2", "answer": "x"}\n'
    )
    alpaca = tmp_path / "code_alpaca_2k.json"
    alpaca.write_text(json.dumps([{"instruction": "Sort it.", "input": "[3,1]", "output": "..."}]))
    a, b = corpus.read_prompts(gsm), corpus.read_prompts(alpaca)
    assert [p["prompt"] for p in a] == ["What is 2+2?", "Q2"]
    assert b[0]["prompt"] == "Sort it.\n\n[3,1]" and b[0]["id"] == "code_alpaca_2k:0"
    mixed = corpus.interleave(a, b)
    assert [p["id"] for p in mixed] == ["train:0", "code_alpaca_2k:0", "train:1"]


def self_instruct_row(instruction: str, given: str) -> str:
    return json.dumps({"instruction": instruction, "instances": [{"input": given, "output": "."}]})


def test_prompt_sources_read_self_instruct(tmp_path):
    seed = tmp_path / "seed_tasks.jsonl"
    seed.write_text(self_instruct_row("Say hi.", "") + "\n" + self_instruct_row("Sum.", "1 2"))
    prompts = corpus.read_prompts(seed)
    assert prompts == [
        {"id": "seed_tasks:0", "prompt": "Say hi."},
        {"id": "seed_tasks:1", "prompt": "Sum.\n\n1 2"},  # the first instance's input
    ]


def test_shipped_self_instruct_prompts_are_read_whole():
    seed, user = (corpus.read_prompts(p) for p in corpus.SELF_INSTRUCT_PROMPTS)
    assert (len(seed), len(user)) == (175, 252)  # the files as copied from the repository
    assert all(p["prompt"].strip() for p in seed + user)
    assert user[0]["prompt"].endswith("please let me know.")  # instruction + its input
    ids = {p["id"].split(":")[0] for p in seed + user}
    assert ids == {"seed_tasks", "user_oriented_instructions"}  # no GSM8K / Code Alpaca prefix


def test_tuning_split_holds_out_every_fourth_prompt_by_position():
    prompts = [{"id": f"s:{i}", "prompt": str(i)} for i in range(10)]
    kept, held = corpus.tuning_split(prompts)
    assert [p["id"] for p in held] == ["s:3", "s:7"]
    assert [p["id"] for p in kept] == [f"s:{i}" for i in (0, 1, 2, 4, 5, 6, 8, 9)]
    assert corpus.tuning_split(prompts) == (kept, held)


def test_held_out_self_instruct_prompts_never_enter_the_shipped_corpus():
    """The committed JSONL itself: every corpus-part prompt answered, no held-out one."""
    answered = corpus.done_ids(corpus.DEFAULT_CORPUS)
    for path in corpus.SELF_INSTRUCT_PROMPTS:
        kept, held = corpus.tuning_split(corpus.read_prompts(path))
        assert held and not answered & {p["id"] for p in held}, path.name
        assert {p["id"] for p in kept} <= answered, path.name


def test_unused_prompts_are_those_without_an_answer(tmp_path):
    out = tmp_path / "c.jsonl"
    out.write_text('{"id": "train:1", "prompt": "Q1", "answer": "a"}\n')
    prompts = [{"id": f"train:{i}", "prompt": f"Q{i}"} for i in range(3)]
    assert [p["id"] for p in corpus.unused_prompts(prompts, out)] == ["train:0", "train:2"]


def test_unused_gsm8k_questions_exclude_the_shipped_corpus():
    answered = corpus.done_ids(corpus.DEFAULT_CORPUS)
    prompts = [{"id": f"train:{i}", "prompt": "?"} for i in range(8000)]
    unused = corpus.unused_prompts(prompts)
    assert unused and not answered & {p["id"] for p in unused}
    assert len(unused) == 8000 - sum(key.startswith("train:") for key in answered)


def test_distill_prompts_hold_out_and_refuse_clashes(tmp_path):
    seed = tmp_path / "seed_tasks.jsonl"
    seed.write_text("".join(self_instruct_row(f"Task {i}.", "") + "\n" for i in range(5)))
    out = tmp_path / "answers.jsonl"
    kept = corpus.distill_prompts([seed], out, hold_out_tuning=True)
    assert [p["id"] for p in kept] == [
        "seed_tasks:0",
        "seed_tasks:1",
        "seed_tasks:2",
        "seed_tasks:4",
    ]
    out.write_text('{"id": "seed_tasks:3", "prompt": "Task 3.", "answer": "a"}\n')
    with pytest.raises(ValueError, match="held-out"):
        corpus.distill_prompts([seed], out, hold_out_tuning=True)
    out.write_text('{"id": "seed_tasks:0", "prompt": "Another task.", "answer": "a"}\n')
    with pytest.raises(ValueError, match="another prompt under the id 'seed_tasks:0'"):
        corpus.distill_prompts([seed], out, hold_out_tuning=False)
    other = tmp_path / "other" / "seed_tasks.jsonl"  # same stem, other content: same ids
    other.parent.mkdir()
    other.write_text(self_instruct_row("Different.", "") + "\n")
    with pytest.raises(ValueError, match="share the id"):
        corpus.distill_prompts([seed, other], tmp_path / "new.jsonl", hold_out_tuning=False)


def test_cli_refuses_to_distil_held_out_prompts_into_a_corpus(tmp_path, capsys):
    from samdec.__main__ import main

    seed = tmp_path / "seed_tasks.jsonl"
    seed.write_text("".join(self_instruct_row(f"Task {i}.", "") + "\n" for i in range(4)))
    out = tmp_path / "answers.jsonl"
    out.write_text('{"id": "seed_tasks:3", "prompt": "Task 3.", "answer": "a"}\n')
    args = ["corpus", "distill", "--prompts", str(seed), "--out", str(out), "--hold-out-tuning"]
    assert main(args) == 1  # before any model is loaded
    assert "held-out prompts: ['seed_tasks:3']" in capsys.readouterr().err


def test_spec_bench_is_refused_as_a_corpus_source():
    with pytest.raises(ValueError, match="evaluation"):
        corpus.read_prompts(SPEC_BENCH)


def test_resume_skips_done_prompts_and_survives_a_cut_line(tmp_path):
    out = tmp_path / "answers.jsonl"
    out.write_text('{"id": "train:0", "answer": "a"}\n{"id": "train:1", "answ')  # interrupted
    assert corpus.done_ids(out) == {"train:0"}


def test_build_from_jsonl_never_matches_across_documents(tmp_path, bundled):
    src = tmp_path / "c.jsonl"
    docs = ["The cat sat on the mat.", "A dog ran in the park."]
    src.write_text("\n".join(json.dumps({"answer": d}) for d in docs))
    sam = corpus.build_static(bundled.tokenizer, [src], tmp_path / "c.sam")
    assert isinstance(sam, StaticSuffixAutomaton) and sam.num_documents == 2
    ids = bundled.tokenizer("The cat sat on the", add_special_tokens=False)["input_ids"]
    cur = sam.cursor()
    cur.advance(ids)
    assert cur.match_length == len(ids)
    rest = bundled.tokenizer.decode(cur.draft(50).tolist())
    assert rest == " mat."  # the first document's end, not the second document


def test_cached_static_is_built_once(tmp_path, bundled, monkeypatch):
    monkeypatch.setenv("SAMDEC_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "c.jsonl"
    src.write_text(json.dumps({"answer": "one two three four"}) + "\n")
    first = corpus.cached_static(bundled.tokenizer, src)
    files = list((tmp_path / "cache" / "static").glob("*.sam"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    second = corpus.cached_static(bundled.tokenizer, src)
    assert files[0].stat().st_mtime_ns == mtime and second.num_tokens == first.num_tokens
    files[0].write_bytes(b"garbage")  # a corrupt cache file is rebuilt, not fatal
    assert corpus.cached_static(bundled.tokenizer, src).num_tokens == first.num_tokens
    with open(src, "a") as f:  # a grown corpus (as after a distill run) gets a new automaton
        f.write(json.dumps({"answer": "five six"}) + "\n")
    grown = corpus.cached_static(bundled.tokenizer, src)
    assert grown.num_documents == 2 and grown.num_tokens > first.num_tokens
    assert len(list((tmp_path / "cache" / "static").glob("*.sam"))) == 2


def test_default_corpus_ships_with_its_provenance():
    assert corpus.DEFAULT_CORPUS.is_file()
    rows = [json.loads(line) for line in corpus.DEFAULT_CORPUS.open()]
    sources = {"train", "code_alpaca_2k", "seed_tasks", "user_oriented_instructions"}
    assert rows and {r["id"].split(":")[0] for r in rows} == sources
    licenses = corpus.DEFAULT_CORPUS.parent / "licenses"
    assert {p.name for p in licenses.iterdir()} == {"GSM8K-LICENSE", "SELF-INSTRUCT-LICENSE"}
    assert (corpus.DEFAULT_CORPUS.parent / "README.md").is_file()


def test_default_corpus_size_is_what_its_readme_says(bundled):
    """The README's size line must follow the file as it grows (the issue aims at >= 1M)."""
    readme = (corpus.DEFAULT_CORPUS.parent / "README.md").read_text()
    found = re.search(r"Size now: ([\d,]+) answers, ([\d,]+) tokens", readme)
    assert found, "samdec/data/corpus/README.md has no 'Size now: N answers, M tokens' line"
    answers, tokens = (int(x.replace(",", "")) for x in found.groups())
    texts = list(corpus.read_documents(corpus.DEFAULT_CORPUS))
    counted = sum(map(len, corpus.tokenize_documents(bundled.tokenizer, texts)))
    assert (len(texts), counted) == (answers, tokens)
    assert tokens >= 1_000_000  # the corpus issue's aim: a corpus large enough to matter


def test_shipped_data_lives_inside_the_package():
    from samdec import questions
    from samdec.drafters import priors

    package = Path(corpus.__file__).resolve().parent / "data"
    for path in (corpus.DEFAULT_CORPUS, priors.PRIORS_PATH, questions.SPEC_BENCH):
        assert path.is_file() and path.resolve().is_relative_to(package)
    assert (questions.SPEC_BENCH.parent / "LICENSE").is_file()
    assert (corpus.DEFAULT_CORPUS.parent / "licenses" / "GSM8K-LICENSE").is_file()


def test_missing_shipped_data_is_a_loud_error_naming_the_file(tmp_path, monkeypatch):
    """Never a quiet change of behaviour (the priors used to fall back to a guess)."""
    from samdec import questions
    from samdec.drafters import priors

    gone = tmp_path / "policy_priors.json"
    monkeypatch.setattr(priors, "PRIORS_PATH", gone)
    monkeypatch.setattr(priors, "_fitted", None)
    with pytest.raises(FileNotFoundError, match=r"policy_priors\.json"):
        priors.prior_rates("static", 3, 8)
    monkeypatch.setattr(corpus, "DEFAULT_CORPUS", tmp_path / "smollm2_distilled.jsonl")
    with pytest.raises(FileNotFoundError, match=r"smollm2_distilled\.jsonl"):
        corpus.load_default_static(tokenizer=object())
    monkeypatch.setattr(questions, "SPEC_BENCH", tmp_path / "question.jsonl")
    with pytest.raises(FileNotFoundError, match=r"question\.jsonl"):
        questions.load_questions(questions.SPEC_BENCH)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("/no/such/dir", "not found"),
        ("./missing.gguf", "not found"),
    ],
)
def test_model_errors_are_clear(spec, message):
    with pytest.raises(ModelLoadError, match=message):
        load_model(spec)


def test_hub_id_without_network_says_so(monkeypatch):
    import huggingface_hub.constants

    # The variable is read when huggingface_hub is imported; set the constant too so the test
    # does not wait for network time-outs.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="network"):
        load_model("nobody/no-such-model-xyz")


def test_bundled_model_loads_from_cache_with_chat_template(bundled):
    assert bundled.name.startswith("bundled:") and bundled.is_chat
    ids = bundled.encode_prompt("Hello")
    assert ids[-1] != bundled.tokenizer.eos_token_id and len(ids) > 3
