"""The drafter-choice rule of SAM-Decoding, as its reference code decides it, with no
dependencies: the engine's drafter and the page's panels (which never import the engine) decide
and word it with this one function.

    static' = match_static - l_bias
    if max(match_dynamic, static') >= l_threshold:
        the dynamic automaton drafts if match_dynamic >= static', else the static one
    else:
        the auxiliary drafter (Token Recycling) drafts, or nothing without one

`l_bias` is subtracted from the static match before anything is compared, so the threshold
applies to the *biased* static match: a static match must be at least l_bias + l_threshold
long to draft. One case the formula leaves open: a chosen match of length 0 (only possible
with l_threshold 0) has no earlier occurrence to continue, so it never drafts.
"""

from __future__ import annotations


def choose_source(
    match_static: int,
    match_dynamic: int,
    l_bias: int,
    l_threshold: int,
    has_static: bool,
    has_auxiliary: bool,
) -> tuple[str, int, str]:
    """(source, match length of the retrieval source, the rule in numbers). The one
    implementation of the rule, and of its wording: every panel prints this one form with the
    numbers filled in and the outcome named ("static 8 - l_bias 5 = 3; dynamic 0; max 3 <
    l_threshold 5 -> recycling drafts")."""
    source, length, words = retrieval_choice(match_static, match_dynamic, l_bias, has_static)
    best = biased_best(match_static, match_dynamic, l_bias, has_static)
    fallback = "recycling" if has_auxiliary else "none"
    outcome = "recycling drafts" if has_auxiliary else "no draft"
    if best < l_threshold:
        return fallback, length, f"{words}; max {best} < l_threshold {l_threshold} -> {outcome}"
    if length == 0:
        why = "a match of 0 has nothing to continue"
        return (
            fallback,
            length,
            f"{words}; max {best} >= l_threshold {l_threshold}, but {why} -> {outcome}",
        )
    tie = (
        " (a tie goes to dynamic)"
        if has_static and match_dynamic == best == match_static - l_bias
        else ""
    )
    return (
        source,
        length,
        f"{words}; max {best} >= l_threshold {l_threshold} -> {source} drafts{tie}",
    )


def biased_best(match_static: int, match_dynamic: int, l_bias: int, has_static: bool) -> int:
    """max(match_dynamic, match_static - l_bias): the number l_threshold is compared with."""
    return max(match_dynamic, match_static - l_bias) if has_static else match_dynamic


def retrieval_choice(
    match_static: int, match_dynamic: int, l_bias: int, has_static: bool
) -> tuple[str, int, str]:
    """The first half of the rule: which automaton retrieves, before l_threshold is applied
    ((source, its raw match length, the numbers in words)). The grafted method drafts that
    match's continuation even when it is too short to draft on its own."""
    if not has_static:
        return "dynamic", match_dynamic, f"no static corpus; dynamic {match_dynamic}"
    biased = match_static - l_bias
    words = f"static {match_static} - l_bias {l_bias} = {biased}; dynamic {match_dynamic}"
    if match_dynamic >= biased:
        return "dynamic", match_dynamic, words
    return "static", match_static, words
