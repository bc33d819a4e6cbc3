"""The step inspector's explanations: the rule in its one form, the length policy's decision in
numbers, the draft limit, and the time a step took. Hand-made steps, so each number is known."""

from __future__ import annotations

import html
import re

import pytest

import visuals as V
from samdec.rule import choose_source
from tests.test_visuals import event

COST = {"1": 57.0, "2": 66.0, "4": 109.0, "8": 126.0, "16": 187.0, "32": 222.0, "64": 400.0}
SAM = {"method": "sam+recycling", "l_bias": 5, "l_threshold": 5, "draft_policy": "cost",
       "draft_len": 40, "verify_cost": COST}  # fmt: skip


def text_of(markup: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", markup)))


def inspect(ev, config=SAM) -> str:
    return text_of(V.inspector_html(V.TraceView([1, 2, 3], [ev], config=dict(config)), 0))


@pytest.mark.parametrize(
    ("static", "dynamic", "words"),
    [
        (12, 0, "static 12 - l_bias 5 = 7; dynamic 0; max 7 >= l_threshold 5 -> static drafts"),
        (1, 17, "static 1 - l_bias 5 = -4; dynamic 17; max 17 >= l_threshold 5 -> dynamic drafts"),
        (8, 0, "static 8 - l_bias 5 = 3; dynamic 0; max 3 < l_threshold 5 -> recycling drafts"),
    ],
)
def test_the_rule_reads_in_one_form_whatever_the_engine_wrote(static, dynamic, words):
    # An old engine's words, in the other shape: the panel must not repeat them.
    old = f"dynamic {dynamic} >= static {static} - l_bias 5"
    ev = event(match_static=static, match_dynamic=dynamic, reason=old)
    shown = inspect(ev)
    assert f"in numbers: {words}" in shown
    assert shown.index("rule: The ") < shown.index("in numbers: ")  # words first
    assert old not in shown and ">= static" not in shown
    assert choose_source(static, dynamic, 5, 5, True, True)[2].startswith(words)


def test_a_dropped_draft_says_what_it_was_expected_to_give_and_cost():
    ev = event(
        match_dynamic=1, rule_source="recycling", no_draft="not_worth_it", proposed=39,
        policy_cut=39, draft_limit=40, expected_offered=1.41, cost_offered_ms=222.0, cost_ms=57.0,
    )  # fmt: skip
    shown = inspect(ev)
    assert "verified 0 of 39" in shown
    assert "1.41 tokens for 222 ms (6.4 tokens/s)" in shown
    assert "a plain step gives 1 token for 57 ms (17.5 tokens/s)" in shown


def test_a_cut_draft_names_the_kept_and_the_offered_price():
    ev = event(
        drafter="dynamic", match_dynamic=9, draft_tokens=[5, 6, 7], draft_parents=[-1, 0, 1],
        proposed=30, policy_cut=27, draft_limit=30, expected_tokens=2.5, expected_offered=3.1,
        cost_ms=109.0, cost_offered_ms=222.0,
    )  # fmt: skip
    shown = inspect(ev)
    assert "verified 3 of 30, expected to give 2.50 tokens for 109 ms" in shown
    assert "verifying all 30 was expected to give 3.10 tokens for 222 ms" in shown
    # the draft limit below the setting is explained by the tokens left
    assert "draft limit 30: the Draft length setting (40) lowered to fit the 31 tokens" in shown


def test_the_fixed_length_policy_says_it_does_not_weigh_the_cost():
    ev = event(drafter="static", match_static=20, draft_tokens=[5], draft_parents=[-1], proposed=1,
               draft_limit=40)  # fmt: skip
    shown = inspect(ev, {**SAM, "draft_policy": "fixed"})
    assert "length policy (fixed length)" in shown and "whatever it costs" in shown
    assert "draft limit 40: the Draft length setting" in shown
    assert "cost policy" not in inspect(ev)


def test_the_time_line_explains_a_long_verify_by_what_it_carried():
    ev = event(
        drafter="static", match_static=20, draft_tokens=list(range(10, 49)),
        draft_parents=list(range(-1, 38)), accepted_indices=list(range(12)),
        new_tokens=[*range(10, 22), 9], verify_ms=364.0, draft_us=0.0, cost_ms=222.0,
        proposed=39, draft_limit=40,
    )  # fmt: skip
    shown = inspect(ev)
    assert "one forward pass over 40 token(s)" in shown and "took 364 ms" in shown
    assert "prices it at 222 ms (a 1-token pass: 57 ms)" in shown
    assert "This step: 13 token(s) in 364 ms = 35.7 tokens/s" in shown


def test_a_tree_is_drawn_as_a_tree_and_a_chain_is_not():
    tree = event(
        drafter="recycling", draft_tokens=[5, 6, 7, 8], draft_parents=[-1, -1, 0, 2],
        proposed=4, draft_limit=40,
    )  # fmt: skip
    rows = V.inspector_html(V.TraceView([1, 2, 3], [tree], config=SAM), 0)
    assert rows.count("└ ") == 2  # the two nodes below the first position
    assert "padding-left:2.1em" in rows  # node 3 is at position 3
    chain = event(drafter="dynamic", draft_tokens=[5, 6], draft_parents=[-1, 0], proposed=2)
    assert "└ " not in V.inspector_html(V.TraceView([1, 2, 3], [chain], config=SAM), 0)


def test_a_grafted_step_says_how_much_of_the_short_match_was_grafted_and_accepted():
    ev = event(
        drafter="recycling", rule_source="recycling", match_dynamic=3, match_static=1,
        draft_tokens=[5, 6, 7, 8], draft_parents=[-1, 0, -1, 2], accepted_indices=[2, 3],
        new_tokens=[7, 8, 9], grafted=2, grafted_accepted=2,
    )  # fmt: skip
    shown = inspect(ev, {**SAM, "method": "sam+graft"})
    assert "max 3 < l_threshold 5 -> recycling drafts; 2 tokens of that short match's" in shown
    assert "grafted into the tree, 2 accepted" in shown
    assert "grafted" not in inspect(event(match_dynamic=3, match_static=1))
