"""A step said in words before numbers: the drafter-choice rule as a sentence, what step 0 is,
and how the length policy estimated its expected tokens.

The rule's sentence is made from `samdec.rule`'s own functions and fields (the same call that
makes the numbers line), so it names exactly the drafter the rule picked; the policy's
sentence describes `samdec.policy.CostAware` with the step's recorded numbers.
"""

from __future__ import annotations

from samdec.rule import biased_best, choose_source, retrieval_choice
from samdec.trace import StepEvent

from .glossary import term
from .palette import LABELS
from .view import TraceView


def _tokens(n: int) -> str:
    return f"{n} token{'' if n == 1 else 's'}"


def _candidate(s: int, d: int, bias: int, has_static: bool) -> str:
    """Which automaton's match the rule prefers, and why (the first half of the rule)."""
    if not has_static:
        return (
            f"There is no static corpus, so only the dynamic automaton's match ({_tokens(d)}) "
            "counts"
        )
    source = retrieval_choice(s, d, bias, has_static)[0]
    if source == "static":
        return (
            f"The static automaton's match ({_tokens(s)}) less the bias l_bias ({bias}) is "
            f"{s - bias}, longer than the dynamic automaton's ({_tokens(d)}), so the static "
            f"match is preferred"
        )
    how = "ties with" if d == s - bias else "is at least as long as"
    tie = " (a tie goes to the dynamic one)" if d == s - bias else ""
    return (
        f"The dynamic automaton's match ({_tokens(d)}) {how} the static one's ({_tokens(s)}) "
        f"less the bias l_bias ({bias}), so the dynamic match is preferred{tie}"
    )


def rule_sentence(
    s: int, d: int, bias: int, threshold: int, has_static: bool, has_auxiliary: bool
) -> str:
    """The rule's decision in words: which match it prefers, whether that match is long enough,
    and who drafts. `s`, `d`: the static and dynamic match lengths."""
    source, length, _ = choose_source(s, d, bias, threshold, has_static, has_auxiliary)
    best = biased_best(s, d, bias, has_static)
    fallback = (
        "so Token Recycling, the auxiliary drafter, drafts instead"
        if source == "recycling"
        else "so nothing is drafted (this method has no auxiliary drafter)"
    )
    compared = "that" if not has_static else "the longer of the two"
    if best < threshold:
        ending = (
            f"; but {compared}, {best}, is shorter than l_threshold ({threshold}), too short "
            f"to trust, {fallback}"
        )
    elif length == 0:
        ending = f"; but a match of 0 tokens has nothing to continue, {fallback}"
    else:
        ending = (
            f"; {compared}, {best}, is long enough (≥ l_threshold {threshold}), so the "
            f"{source} automaton drafts"
        )
        if has_auxiliary:
            ending += " and no auxiliary drafter is needed"
    return _candidate(s, d, bias, has_static) + ending + "."


def step_rule_sentence(view: TraceView, ev: StepEvent) -> str:
    """The rule in words for a step of `view` ("" where `view.rule_words` is "" too)."""
    if not view.rule_words(ev):
        return ""
    # sam-static, the paper's ablation: the rule runs with the dynamic match counted as 0.
    alone = (
        ""
        if view.decoding.dynamic
        else "This method has no dynamic automaton: its match counts as 0. "
    )
    return alone + rule_sentence(
        ev.match_static,
        ev.match_dynamic,
        view.l_bias,
        view.l_threshold,
        view.has_static,
        view.has_auxiliary,
    )


def step_zero_words(view: TraceView, ev: StepEvent) -> str:
    """What step 0 is, and why it rarely drafts well (only for step 0)."""
    if ev.step != 0:
        return ""
    words = (
        f"<b>{term('step0')}</b> is the first verification step, right after the "
        f"{term('prefill')} (the model reading the prompt). Nothing has been generated yet, so "
        + _first_draft_words(view, ev)
    )
    if view.config.get("draft_policy", "cost") == "cost" and view.decoding.name != "ar":
        words += (
            "; and the length policy has seen no step of this request yet: its estimates are "
            "its starting rates alone"
        )
    return words + "."


def _first_draft_words(view: TraceView, ev: StepEvent) -> str:
    """What the method's drafters have to draw on at step 0."""
    d = view.decoding
    if d.dynamic:
        words = (
            f"the dynamic automaton holds only the prompt ({_tokens(ev.context_length)}): it "
            "can draft only where the prompt's last tokens occurred earlier in the prompt, and "
            "what followed them there is seldom how the answer begins"
        )
        if view.has_match_info(ev):
            words += f" (its match here: {_tokens(ev.match_dynamic)})"
        return words
    if d.static:
        return (
            "the static corpus can be matched against the prompt's last tokens only, which "
            "seldom say how the answer begins"
        )
    if d.recycling:
        return "Token Recycling has only the model's guesses from reading the prompt to reuse"
    if d.ngram:
        return "prompt lookup can only find the prompt's last tokens earlier in the prompt"
    return "plain decoding writes its first token (it never drafts)"


def estimate_words(view: TraceView, ev: StepEvent) -> str:
    """How the cost-aware length policy estimated this step's expected tokens ("" when it
    made no estimate: the fixed policy, no draft offered, or a trace from before them)."""
    if view.config.get("draft_policy", "cost") != "cost" or not ev.expected_offered:
        return ""
    offered = min(ev.proposed, ev.draft_limit)
    kept = len(ev.draft_tokens)
    who = LABELS.get(ev.drafter if ev.drafter != "none" else ev.rule_source, "drafter")
    return (
        f"<b>{term('expected')}</b>: the length policy gives each draft token a chance of being "
        f"accepted, a rate kept for each drafter (here the {who}) and, for an automaton, each "
        "range of match lengths: fitted beforehand on the model's own answers, then updated by "
        "what this request's earlier drafts of the same kind had accepted. A cut's expected "
        f"tokens are 1 (the {term('bonus')}) plus the chances of the tokens it keeps: "
        f"{ev.expected_tokens:.2f} for the {kept} kept, {ev.expected_offered:.2f} for all "
        f"{offered} offered. It keeps the cut with the most expected tokens per millisecond "
        "on the verify-cost curve (0 tokens, a plain step, is always a candidate)."
    )
