"""Batched greedy generation (corpus distillation) gives each prompt's own greedy answer."""

from __future__ import annotations

import json
import random

import pytest
import torch

from samdec import corpus
from samdec.batched import greedy_answers
from tests.conftest import tiny_model


def alone(model, ids: list[int], eos: set[int], max_new_tokens: int) -> list[int]:
    """The reference: one prompt, no padding, plain generate."""
    out = model.generate(
        input_ids=torch.tensor([ids]), max_new_tokens=max_new_tokens, do_sample=False
    )[0, len(ids) :].tolist()
    for i, token in enumerate(out):
        if token in eos:
            return out[:i]
    return out


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_every_answer_equals_the_prompt_alone(arch, batch_size):
    loaded = tiny_model(arch, vocab=16, sharpen=4.0)
    rng = random.Random(7)
    # Lengths 1..20 so rows are padded, finish at different steps and refill the batch.
    prompts = [(i, [rng.randrange(1, 16) for _ in range(rng.randint(1, 20))]) for i in range(11)]
    eos = {5}
    got = dict(greedy_answers(loaded.model, prompts, eos, 0, 9, batch_size=batch_size))
    assert sorted(got) == list(range(11))
    want = {i: alone(loaded.model, ids, eos, 9) for i, ids in prompts}
    assert got == want
    # The test must see both endings: some answers stop at EOS, some at the cap.
    assert any(len(a) < 9 for a in got.values()) and any(len(a) == 9 for a in got.values())


def test_sliding_window_models_are_refused_clearly():
    loaded = tiny_model("gemma3", vocab=16)
    with pytest.raises(ValueError, match="full-attention"):
        list(greedy_answers(loaded.model, [(0, [1, 2, 3])], set(), 0, 4))


def test_distill_on_the_bundled_model_is_greedy_and_resumable(tmp_path, bundled):
    prompts = [
        {"id": f"p{i}", "prompt": text}
        for i, text in enumerate(
            [
                "What is 7 times 8?",
                "Write a Python function that reverses a string.",
                "Name three primary colours.",
                "Tom has 3 apples and buys 5 more. How many apples does he have?",
                "Explain what a list comprehension is in one sentence.",
            ]
        )
    ]
    out = tmp_path / "answers.jsonl"
    assert corpus.distill(bundled, prompts, out, max_new_tokens=40, batch_size=2, limit=2) == 2
    assert corpus.distill(bundled, prompts, out, max_new_tokens=40, batch_size=2) == 3
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == [p["id"] for p in prompts]
    eos = {bundled.tokenizer.eos_token_id}
    for row in rows:
        prompt = next(p for p in prompts if p["id"] == row["id"])
        ids = alone(bundled.model, bundled.encode_prompt(prompt["prompt"]), eos, 40)
        assert row["answer"] == bundled.tokenizer.decode(ids, skip_special_tokens=True)


def test_sliding_window_models_fall_back_to_fixed_batches():
    loaded = tiny_model("gemma3", vocab=16, sharpen=4.0)
    loaded.tokenizer.pad_token_id = 0
    rng = random.Random(3)
    prompts = [(i, [rng.randrange(1, 16) for _ in range(rng.randint(2, 10))]) for i in range(5)]
    got = dict(corpus._generate_in_batches(loaded, prompts, {5}, max_new_tokens=6, batch_size=2))
    assert got == {i: alone(loaded.model, ids, {5}, 6) for i, ids in prompts}
