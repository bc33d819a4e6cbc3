"""Speculation in the integer layout writes that layout's own plain decoding, token for token.

The integer layout's numbers are not float32's, so the reference here is the same model in
the same layout: transformers' `generate` on it (the same IntegerLinear modules) and the
engine's plain loop. Every drafting method, greedy and seeded sampling, one Spec-Bench
question per category; each must speculate (drafts made and accepted), since a run that never
drafts is trivially exact.
"""

from __future__ import annotations

import pytest

from samdec.config import DecodeConfig
from samdec.cost import CostModel
from samdec.methods import TABLE
from samdec.questions import load_questions, pick
from samdec.runtime.native import integer_available
from samdec.stack import engine_for
from tests.conftest import greedy_references, speculate_against

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not integer_available(), reason="the integer kernel needs AVX-512 VNNI"),
]

MAX_NEW = 40
QUESTIONS = pick(load_questions(), per_category=1)
METHODS = [m.name for m in TABLE.values() if m.drafts]
# The paper's (5, 5) for the methods whose auxiliary drafter only drafts below l_threshold,
# so that their trees and grafts are exercised.
PAPER = {"l_bias": 5, "l_threshold": 5}
RULES = {"sam+recycling": PAPER, "sam+graft": PAPER}
SAMPLING = dict(temperature=0.8, top_p=0.95, seed=11, max_new_tokens=24)


@pytest.fixture(scope="module")
def integer_model():
    from samdec.runtime.loading import load_model

    return load_model("bundled", "cpu", "float32", "integer")


@pytest.fixture(scope="module")
def engine(integer_model):
    from samdec.corpus import DEFAULT_CORPUS, cached_static

    static = cached_static(integer_model.tokenizer, DEFAULT_CORPUS)
    return engine_for(integer_model, static=static, cost=CostModel())


@pytest.fixture(scope="module")
def references(integer_model):
    return greedy_references(integer_model, QUESTIONS, MAX_NEW)


def test_the_model_runs_the_integer_kernel_through_the_cpp_layers(engine, integer_model):
    assert integer_model.layout == "integer"
    assert engine.runner.facts.get("forward", "").startswith("lean-cpp"), engine.runner.facts


def test_plain_decoding_is_transformers_generate_on_the_same_layout(engine, references):
    ids, expected = references[QUESTIONS[0].question_id]
    assert engine.generate(ids, method="ar", max_new_tokens=MAX_NEW).token_ids == expected


@pytest.mark.parametrize("method", METHODS)
def test_greedy_is_lossless_in_integer_numerics(engine, references, method):
    cases = [(qid, *references[qid]) for qid in (q.question_id for q in QUESTIONS)]
    config = DecodeConfig(method=method, max_new_tokens=MAX_NEW, **RULES.get(method, {}))
    mismatches, drafted, accepted = speculate_against(engine, cases, config)
    assert not mismatches, f"{method}: first differing token per question {mismatches}"
    assert drafted > 0 and accepted > 0


def test_long_fixed_drafts_are_lossless_in_integer_numerics(engine, references):
    """Fixed-length drafts verify whole long chains (up to 40 rows a pass)."""
    cases = [(qid, *references[qid]) for qid in (q.question_id for q in QUESTIONS)]
    config = DecodeConfig(method="sam", draft_policy="fixed", max_new_tokens=MAX_NEW)
    mismatches, drafted, accepted = speculate_against(engine, cases, config)
    assert not mismatches and drafted > 0 and accepted > 0


@pytest.fixture(scope="module")
def plain_samples(engine, references):
    return {
        qid: engine.generate(ids, method="ar", **SAMPLING).token_ids
        for qid, (ids, _) in references.items()
    }


@pytest.mark.parametrize("method", METHODS)
def test_seeded_sampling_is_identical_in_integer_numerics(
    engine, references, plain_samples, method
):
    drafted = accepted = 0
    for qid, (ids, _) in references.items():
        trace = engine.generate(ids, method=method, **SAMPLING, **RULES.get(method, {}))
        assert trace.token_ids == plain_samples[qid], f"{method}, question {qid}"
        drafted += sum(len(s.draft_tokens) for s in trace.steps)
        accepted += sum(s.accepted for s in trace.steps)
    assert drafted > 0 and accepted > 0, f"{method} drafted {drafted}, accepted {accepted}"
