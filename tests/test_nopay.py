"""The example where speculation does not pay (assets/examples.json), on the bundled model.

An open-ended prompt has nothing to copy: its drafts are short and mostly wrong. The cost-aware
length policy must then drop or cut them (so the run pays for few wrong tokens), the output
must still be plain decoding's, and it must append fewer tokens per step than the example that
copies a lot.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples.json"
NOPAY = "Open-ended (speculation doesn't pay)"
COPIES = "Code edit (copies a lot)"
MAX_NEW = 32


def example(label: str) -> dict:
    examples = json.loads(EXAMPLES.read_text(encoding="utf-8"))["examples"]
    return next(e for e in examples if e["label"] == label)


@pytest.fixture(scope="module")
def engine(bundled, static_default):
    from samdec.stack import engine_for

    # The default cost table: the same drafting decisions on every machine.
    return engine_for(bundled, static=static_default, cost="default")


def run(engine, label: str, method: str | None = None):
    from samdec.engine import DecodeConfig

    e = example(label)
    ids = engine.encode(e["prompt"])
    config = DecodeConfig(method=method or e["method"], max_new_tokens=MAX_NEW)
    return engine.generate(ids, config)


def test_the_example_explains_itself():
    e = example(NOPAY)
    assert e["method"] == "sam+recycling"
    assert "cost-aware length policy" in e["note"] and "plain decoding" in e["note"]


def test_open_ended_drafts_are_dropped_or_cut_and_pay_less_than_copying(engine):
    ours = run(engine, NOPAY)
    plain = run(engine, NOPAY, method="ar")
    assert ours.token_ids == plain.token_ids and len(ours.token_ids) == MAX_NEW
    assert ours.summary.config["draft_policy"] == "cost"
    held_back = [ev for ev in ours.steps if ev.no_draft == "not_worth_it" or ev.policy_cut > 0]
    assert held_back, "the length policy never dropped or cut a draft"
    copying = run(engine, COPIES)
    assert len(copying.token_ids) == MAX_NEW
    assert ours.summary.mat < copying.summary.mat
