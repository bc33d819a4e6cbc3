"""The decision rule of SAM-Decoding (section 3.3), with no dependencies: the engine's drafter
and the page's panels (which never import the engine) decide and word it with this one function.

Prefer the dynamic match unless the static one is longer by more than `l_bias`; if the chosen
match is shorter than `l_threshold`, retrieval is unlikely to be right, so hand over to the
auxiliary drafter (or draft nothing without one).
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
    """(source, match length of the source, the rule in words). The one implementation of the
    rule, and of its wording: every panel prints this one form, numbers filled in, outcome
    named ("static 12 > dynamic 0 + l_bias 5 -> static; match 12 >= l_threshold 5 -> static
    drafts")."""
    source, length, why = retrieval_choice(match_static, match_dynamic, l_bias, has_static)
    if length < l_threshold or length == 0:
        fallback = "recycling" if has_auxiliary else "none"
        outcome = "recycling drafts" if has_auxiliary else "no draft"
        return fallback, length, f"{why}; match {length} < l_threshold {l_threshold} -> {outcome}"
    return source, length, f"{why}; match {length} >= l_threshold {l_threshold} -> {source} drafts"


def retrieval_choice(
    match_static: int, match_dynamic: int, l_bias: int, has_static: bool
) -> tuple[str, int, str]:
    """The first half of the rule: which automaton's match counts, before l_threshold is
    applied ((source, its match length, in words)). The grafted method drafts that match's
    continuation even when it is too short to draft on its own."""
    if not has_static:
        return "dynamic", match_dynamic, "no static corpus -> dynamic"
    if match_static > match_dynamic + l_bias:
        why = f"static {match_static} > dynamic {match_dynamic} + l_bias {l_bias} -> static"
        return "static", match_static, why
    why = f"static {match_static} <= dynamic {match_dynamic} + l_bias {l_bias} -> dynamic"
    return "dynamic", match_dynamic, why
