"""The drafter-choice rule against the reference code's formula (hyx1999/SAM-Decoding,
samd/draft.py, DraftModel.lookup):

    static' = match_static - l_bias
    if max(match_dynamic, static') >= l_threshold:
        dynamic if match_dynamic >= static' else static
    else:
        the auxiliary drafter

The table's rows were worked out by hand from that formula, not from samdec's code; the rows
marked "differs" are where samdec's earlier rule (l_threshold applied to the raw static match)
chose otherwise.
"""

from __future__ import annotations

import itertools

import pytest

from samdec.rule import biased_best, choose_source, retrieval_choice

# (static, dynamic, l_bias, l_threshold, source with an auxiliary drafter)
TABLE = [
    (0, 0, 5, 5, "recycling"),  # nothing matched
    (8, 0, 5, 5, "recycling"),  # differs: static' 3 < 5, though the raw 8 >= 5
    (9, 3, 5, 5, "recycling"),  # differs: static' 4 > 3 picks static, max 4 < 5
    (6, 2, 5, 5, "recycling"),  # static' 1, max 2 < 5
    (9, 0, 5, 5, "recycling"),  # differs: static' 4 < 5
    (6, 1, 2, 5, "recycling"),  # differs: static' 4 > 1 picks static, max 4 < 5
    (3, 0, 1, 3, "recycling"),  # differs: static' 2 < 3
    (10, 3, 5, 5, "static"),  # static' 5 >= 5 and 5 > 3
    (12, 0, 5, 5, "static"),
    (12, 8, 5, 5, "dynamic"),  # 8 >= static' 7
    (13, 8, 5, 5, "dynamic"),  # a tie (8 = 13 - 5) goes to dynamic
    (14, 8, 5, 5, "static"),  # static' 9 > 8
    (4, 4, 5, 5, "recycling"),  # max(4, -1) < 5
    (3, 5, 5, 5, "dynamic"),
    (30, 25, 5, 5, "dynamic"),
    (5, 0, 1, 5, "recycling"),  # differs: static' 4 < 5
    (6, 0, 1, 5, "static"),
    (3, 1, 1, 2, "static"),  # static' 2 >= 2 and 2 > 1
    (2, 1, 1, 2, "recycling"),  # static' 1 <= 1 picks dynamic, max 1 < 2
    (7, 0, 7, 1, "recycling"),  # static' 0: dynamic 0 chosen, max 0 < 1
    (1, 1, 1, 1, "dynamic"),  # l_threshold 1: the two rules agree at the shipped defaults
    (2, 0, 1, 1, "static"),
    (5, 3, 0, 4, "static"),  # no bias: the longer match, if long enough
    (4, 4, 0, 4, "dynamic"),  # a tie goes to dynamic
]


@pytest.mark.parametrize(("static", "dynamic", "bias", "threshold", "expected"), TABLE)
def test_the_rule_decides_as_the_reference_code(static, dynamic, bias, threshold, expected):
    source, length, words = choose_source(static, dynamic, bias, threshold, True, True)
    assert source == expected
    retrieval = retrieval_choice(static, dynamic, bias, True)[0]
    assert length == (static if retrieval == "static" else dynamic)
    biased = static - bias
    assert words.startswith(f"static {static} - l_bias {bias} = {biased}; dynamic {dynamic}; ")
    best = max(dynamic, biased)
    sign = ">=" if best >= threshold else "<"
    assert f"max {best} {sign} l_threshold {threshold}" in words
    assert f"-> {expected} drafts" in words


def test_the_issue_s_example_reads_in_numbers():
    words = choose_source(8, 0, 5, 5, True, True)[2]
    assert words == "static 8 - l_bias 5 = 3; dynamic 0; max 3 < l_threshold 5 -> recycling drafts"


def reference(static: int, dynamic: int, bias: int, threshold: int, has_static: bool) -> str:
    """The formula, written out again without samdec: the source, or "aux"."""
    biased = static - bias if has_static else -(10**9)
    if max(dynamic, biased) >= threshold:
        chosen = "dynamic" if dynamic >= biased else "static"
        chosen_length = dynamic if chosen == "dynamic" else static
        return chosen if chosen_length > 0 else "aux"  # a 0 match has nothing to continue
    return "aux"


def old_rule(static: int, dynamic: int, bias: int, threshold: int) -> str:
    """samdec's earlier rule: l_threshold on the raw match of the chosen source."""
    chosen, length = ("static", static) if static > dynamic + bias else ("dynamic", dynamic)
    return chosen if length >= threshold and length > 0 else "aux"


GRID = list(itertools.product(range(13), range(13), range(8), range(0, 8)))


def test_the_rule_is_the_formula_on_the_whole_grid():
    for static, dynamic, bias, threshold in GRID:
        for has_static, has_aux in itertools.product((True, False), repeat=2):
            want = reference(static, dynamic, bias, threshold, has_static)
            if want == "aux":
                want = "recycling" if has_aux else "none"
            got = choose_source(static, dynamic, bias, threshold, has_static, has_aux)[0]
            assert got == want, (static, dynamic, bias, threshold, has_static, has_aux)
            best = biased_best(static, dynamic, bias, has_static)
            assert best == (max(dynamic, static - bias) if has_static else dynamic)


def test_negative_control_the_old_rule_fails_the_table():
    # The earlier rule is a plausible bug: it must disagree with the table where marked.
    wrong = [row for row in TABLE if old_rule(*row[:4]).replace("aux", "recycling") != row[4]]
    assert len(wrong) >= 5
    disagree = sum(
        old_rule(s, d, b, t) != reference(s, d, b, t, True)
        for s, d, b, t in itertools.product(range(13), range(13), range(8), range(1, 8))
    )
    assert disagree == 316  # of 9,464 cases, as counted when the drift was found
