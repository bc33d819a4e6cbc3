"""The `pld` drafter drafts exactly what transformers' prompt lookup drafts from the same text.

The reference is transformers' own `PromptLookupCandidateGenerator.get_candidates`, called on
random texts over small vocabularies (so n-grams repeat, and EOS turns up inside them). Each
negative control is a plausible slip, implemented beside the real drafter, that the same
comparison must catch.
"""

from __future__ import annotations

import itertools
import json
import random

import pytest
import torch
from transformers.generation.candidate_generator import PromptLookupCandidateGenerator

from samdec.config import DecodeConfig
from samdec.drafters import PromptLookup, build_drafter
from samdec.drafters.priors import PRIORS_PATH, fitted_priors
from samdec.methods import method

EOS = 0


def reference(text: list[int], max_ngram: int, num_tokens: int, max_tokens: int) -> list[int]:
    """transformers' draft for `text`. Its `max_length` caps the window's end *index*; the
    engine caps the draft's length instead, which is transformers' `num_output_tokens` lowered
    to `max_tokens` (and a `max_length` that never binds)."""
    if max_tokens <= 0:
        return []
    generator = PromptLookupCandidateGenerator(
        eos_token_id=torch.tensor([EOS]),
        num_output_tokens=min(num_tokens, max_tokens),
        max_matching_ngram_size=max_ngram,
        max_length=10**9,
    )
    ids = torch.tensor([text], dtype=torch.long)
    candidates, _ = generator.get_candidates(ids)
    return candidates[0, len(text) :].tolist()


def cases(count: int = 600, seed: int = 0):
    """(text, max_ngram, num_tokens, max_tokens), varied, with EOS in some texts."""
    rng = random.Random(seed)
    for _ in range(count):
        vocab = rng.choice([2, 3, 4, 6, 12])
        length = rng.randint(1, 60)
        text = [rng.randrange(vocab) for _ in range(length)]  # token 0 is EOS
        yield text, rng.randint(1, 5), rng.randint(1, 12), rng.choice([0, 1, 3, 8, 40])


def mismatches(drafter_class, count: int = 600) -> list[tuple]:
    """The cases where `drafter_class` drafts other than transformers, fed in random chunks."""
    rng = random.Random(1)
    out = []
    for text, max_ngram, num_tokens, max_tokens in cases(count):
        drafter = drafter_class(max_ngram, num_tokens, eos_ids=[EOS])
        cut = rng.randint(0, len(text))  # the prompt, then the rest observed in steps
        drafter.start(text[:cut])
        while cut < len(text):
            step = rng.randint(1, 4)
            drafter.observe(text[cut : cut + step])
            cut += step
        ours = drafter.propose(max_tokens).tokens
        theirs = reference(text, max_ngram, num_tokens, max_tokens)
        if ours != theirs:
            out.append((text, max_ngram, num_tokens, max_tokens, ours, theirs))
    return out


def test_drafts_equal_transformers_prompt_lookup():
    assert mismatches(PromptLookup) == []


def test_the_comparison_drafts_often_enough_to_mean_something():
    drafted = sum(bool(reference(*c)) for c in cases())
    assert drafted > 250  # most random texts repeat an n-gram


# ---------------------------------------------------------------- negative controls


class LastOccurrence(PromptLookup):
    """Slip: continues the *latest* earlier occurrence (as an index of last positions would)."""

    def lookup(self) -> tuple[int, int]:
        text, size = self.text, len(self.text)
        for n in range(min(self.max_ngram, size - 1), 0, -1):
            gram = text[size - n :]
            starts = [i for i in range(size - n) if text[i : i + n] == gram]
            if starts:
                return n, starts[-1]
        return 0, -1


class NoShorterNgram(PromptLookup):
    """Slip: only looks up the longest n-gram, never falling back to shorter ones."""

    def lookup(self) -> tuple[int, int]:
        n, start = super().lookup()
        return (n, start) if n == min(self.max_ngram, len(self.text) - 1) else (0, -1)


class KeepsEos(PromptLookup):
    """Slip: drafts through EOS."""

    def __init__(self, max_ngram, num_tokens, eos_ids=()) -> None:
        super().__init__(max_ngram, num_tokens, eos_ids=())


class EosFallsBack(PromptLookup):
    """Slip: when the match continues with EOS, tries a shorter n-gram instead of giving up."""

    def propose(self, max_tokens: int):
        draft, longest = super().propose(max_tokens), self.max_ngram
        while draft.reason.endswith("starts with EOS") and draft.match_length > 1:
            self.max_ngram = draft.match_length - 1  # lookup() starts from this size
            draft = super().propose(max_tokens)
        self.max_ngram = longest
        return draft


class ShortestFirst(PromptLookup):
    """Slip: tries n-grams from 1 up (the shortest match wins)."""

    def lookup(self) -> tuple[int, int]:
        size = len(self.text)
        for n in range(1, min(self.max_ngram, size - 1) + 1):
            start = self.first[n - 1].get(tuple(self.text[size - n :]), size)
            if start + n < size:
                return n, start
        return 0, -1


@pytest.mark.parametrize(
    "slip", [LastOccurrence, NoShorterNgram, KeepsEos, EosFallsBack, ShortestFirst]
)
def test_the_comparison_catches_a_plausible_slip(slip):
    assert mismatches(slip, count=300)


# ---------------------------------------------------------------- the drafter as data


def test_a_draft_names_the_matched_ngram_and_where_it_was_found():
    drafter = PromptLookup(3, 4, eos_ids=[EOS])
    drafter.start([5, 6, 7, 8, 9, 5, 6, 7])
    draft = drafter.propose(10)
    assert draft.tokens == [8, 9, 5, 6] and draft.source == "pld" and draft.is_chain
    assert draft.match_length == 3 and draft.reason == "3-gram found at position 0"
    assert drafter.propose(2).tokens == [8, 9]  # the length policy's cap
    drafter.observe([8])
    assert drafter.propose(10).match_length == 3  # 6 7 8 at 1


def test_no_draft_says_why():
    drafter = PromptLookup(3, 4, eos_ids=[EOS])
    drafter.start([1, 2, 3, 4])
    draft = drafter.propose(10)
    assert len(draft) == 0 and draft.source == "none" and draft.rule_source == "pld"
    assert draft.reason == "no n-gram of the last 1-3 tokens found earlier"
    drafter.start([4, EOS, 9, 4])  # the 1-gram 4 continues with EOS: no draft, no fallback
    draft = drafter.propose(10)
    assert draft.tokens == [] and draft.reason.endswith("its continuation starts with EOS")
    assert draft.match_length == 1


def test_the_method_row_and_the_factory():
    spec = method("pld")
    assert spec.drafts and spec.ngram and not spec.automata and not spec.rule and not spec.tree
    config = DecodeConfig(method="pld", pld_ngram=3, pld_tokens=7)
    drafter, note = build_drafter(config, None, 100, eos_ids=frozenset({2}))
    assert isinstance(drafter, PromptLookup) and note == ""
    assert (drafter.max_ngram, drafter.num_tokens, drafter.eos_ids) == (3, 7, {2})


def test_the_length_policy_starts_from_rates_fitted_for_prompt_lookup():
    """scripts/fit_priors.py walked prompt lookup over the corpus answers: rates per matched
    n-gram size (its default sizes, 1 and 2), falling with the draft position."""
    fitted = fitted_priors()["pld"]
    assert set(fitted) == {"1", "2"}
    for rates, positions in fitted.values():
        assert positions > 1000 and 0 < rates[0] < 1
        assert all(a >= b for a, b in itertools.pairwise(rates))
    data = json.loads(PRIORS_PATH.read_text(encoding="utf-8"))
    assert data["receipt"]["command"] == "python scripts/fit_priors.py"


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"pld_ngram": 0}, "Prompt lookup n-gram size must be a whole number from 1"),
        ({"pld_tokens": "many"}, "Prompt lookup draft tokens must be a whole number"),
        ({"pld_tokens": 500}, "Prompt lookup draft tokens must be a whole number from 1 to 128"),
    ],
)
def test_bad_settings_get_a_sentence(values, words):
    with pytest.raises(ValueError, match=words):
        DecodeConfig.from_values({"method": "pld", **values})
