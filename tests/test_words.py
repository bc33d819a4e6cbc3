"""The page's words: the glossary (each term defined once, marked where a panel uses it), the
rule said in words before numbers, step 0 and the length policy's estimate explained, and the
one counting convention (steps and positions from 0; "of steps 0–36", never "of 37")."""

from __future__ import annotations

import html
import itertools
import json
import re
from pathlib import Path

import pytest

import visuals as V
from samdec.rule import choose_source
from samdec.teaching_automaton import Playground
from samdec.trace import Trace
from tests.test_inspector import SAM, inspect, text_of
from tests.test_visuals import event
from visuals.glossary import ORDER, TERMS, annotate, glossary_html, numbered, term
from visuals.step_words import estimate_words, rule_sentence, step_rule_sentence, step_zero_words

DATA = Path(__file__).parent / "data"


def paper_source(s, d, bias, threshold, has_static, has_auxiliary) -> str:
    """The reference rule written out again, independently of samdec.rule."""
    biased = s - bias if has_static else None
    best = d if biased is None else max(d, biased)
    fallback = "recycling" if has_auxiliary else "none"
    if best < threshold:
        return fallback
    source, length = ("dynamic", d) if biased is None or d >= biased else ("static", s)
    return source if length > 0 else fallback


def outcome_of(sentence: str) -> str:
    """Who drafts, as the sentence says it."""
    found = re.findall(r"so the (static|dynamic) automaton drafts", sentence)
    if "Token Recycling, the auxiliary drafter, drafts instead" in sentence:
        found.append("recycling")
    if "nothing is drafted" in sentence:
        found.append("none")
    assert len(found) == 1, sentence
    return found[0]


# ------------------------------------------------------------------------ the rule, in words
CASES = list(
    itertools.product(
        range(0, 9, 2), range(0, 9, 3), (0, 1, 5), (0, 1, 5), (True, False), (True, False)
    )
)


@pytest.mark.parametrize(("s", "d", "bias", "threshold", "static", "aux"), CASES)
def test_the_sentence_names_the_drafter_the_rule_picked(s, d, bias, threshold, static, aux):
    sentence = rule_sentence(s, d, bias, threshold, static, aux)
    assert outcome_of(sentence) == paper_source(s, d, bias, threshold, static, aux)
    assert outcome_of(sentence) == choose_source(s, d, bias, threshold, static, aux)[0]
    assert re.search(rf"dynamic automaton's (match )?\({d} tokens?\)", sentence)
    if static:
        assert f"({s} token" in sentence and f"l_bias ({bias})" in sentence
    else:
        assert sentence.startswith("There is no static corpus") and "l_bias" not in sentence


def test_the_issue_s_step_reads_in_words_then_numbers():
    sentence = rule_sentence(1, 9, 1, 1, True, True)
    assert sentence == (
        "The dynamic automaton's match (9 tokens) is at least as long as the static one's "
        "(1 token) less the bias l_bias (1), so the dynamic match is preferred; the longer of "
        "the two, 9, is long enough (≥ l_threshold 1), so the dynamic automaton drafts and no "
        "auxiliary drafter is needed."
    )


def test_static_wins_and_a_too_short_static_match_goes_to_token_recycling():
    wins = rule_sentence(12, 0, 5, 5, True, True)
    assert "static automaton's match (12 tokens) less the bias l_bias (5) is 7" in wins
    assert wins.endswith("so the static automaton drafts and no auxiliary drafter is needed.")
    # 8 tokens of static match beat a dynamic 0 but, less l_bias, stay short of l_threshold
    short = rule_sentence(8, 0, 5, 5, True, True)
    assert "the longer of the two, 3, is shorter than l_threshold (5)" in short
    assert short.endswith("so Token Recycling, the auxiliary drafter, drafts instead.")
    # without an auxiliary drafter (method sam) the same step drafts nothing
    assert rule_sentence(8, 0, 5, 5, True, False).endswith(
        "so nothing is drafted (this method has no auxiliary drafter)."
    )


def test_a_tie_and_an_empty_match_are_said_as_the_rule_decides_them():
    tie = rule_sentence(10, 5, 5, 5, True, True)
    assert "ties with" in tie and "(a tie goes to the dynamic one)" in tie
    assert outcome_of(tie) == "dynamic"
    empty = rule_sentence(0, 0, 5, 0, True, True)  # l_threshold 0 lets a 0-match through
    assert "a match of 0 tokens has nothing to continue" in empty
    assert outcome_of(empty) == "recycling"


def view_of(config, ev):
    return V.TraceView([1, 2, 3], [ev], config=dict(config))


def test_sam_static_and_a_missing_corpus_are_named():
    ev = event(match_static=9, match_dynamic=0, step=1)
    ablation = step_rule_sentence(view_of({**SAM, "method": "sam-static"}, ev), ev)
    assert ablation.startswith("This method has no dynamic automaton: its match counts as 0.")
    assert outcome_of(ablation) == "none"  # 9 - 5 = 4 < 5, and sam-static has no fallback
    no_corpus = view_of({**SAM, "static_corpus": 0}, event(match_static=0, match_dynamic=7))
    words = step_rule_sentence(no_corpus, no_corpus.steps[0])
    assert words.startswith("There is no static corpus") and outcome_of(words) == "dynamic"
    # plain decoding and Token Recycling alone have no rule to say
    for method in ("ar", "recycling", "pld"):
        assert step_rule_sentence(view_of({**SAM, "method": method}, ev), ev) == ""


def test_the_inspector_shows_the_sentence_before_the_numbers_and_defines_its_terms():
    ev = event(drafter="static", match_static=12, draft_tokens=[5], draft_parents=[-1])
    markup = V.inspector_html(view_of(SAM, ev), 0)
    shown = text_of(markup)
    words = shown.index("rule: The static automaton's match (12 tokens)")
    assert words < shown.index("in numbers: static 12 - l_bias 5 = 7")
    assert 'title="' + html.escape(TERMS["l_threshold"][1]) in markup
    # a definition inserted for one term is never searched for the next
    assert not re.search(r'title="[^"]*<abbr', markup)


# ------------------------------------------------------------------------ step 0, the estimate
def test_step_zero_is_explained_at_step_zero_only():
    first = event(step=0, context_length=73, match_dynamic=1)
    later = event(step=1, context_length=80, match_dynamic=1)
    view = V.TraceView([1, 2, 3], [first, later], config=dict(SAM))
    said = text_of(step_zero_words(view, first))
    assert said.startswith("step 0 is the first verification step, right after the prefill")
    assert "only the prompt (73 tokens)" in said and "its match here: 1 token" in said
    assert "no step of this request yet" in said  # the cost-aware policy's priors only
    assert step_zero_words(view, later) == ""
    assert "step 0 is the first" in inspect(first) and "step 0 is the" not in text_of(
        V.inspector_html(view, 1)
    )
    plain = view_of({**SAM, "method": "ar"}, first)
    assert "it never drafts" in text_of(step_zero_words(plain, first))


def test_the_estimate_is_said_with_the_step_s_numbers():
    ev = event(
        drafter="dynamic", rule_source="dynamic", match_dynamic=9, draft_tokens=[5, 6, 7],
        draft_parents=[-1, 0, 1], proposed=30, policy_cut=27, draft_limit=30,
        expected_tokens=2.5, expected_offered=3.1, cost_ms=109.0, cost_offered_ms=222.0,
    )  # fmt: skip
    said = text_of(estimate_words(view_of(SAM, ev), ev))
    assert "a rate kept for each drafter (here the dynamic automaton)" in said
    assert "2.50 for the 3 kept, 3.10 for all 30 offered" in said
    assert "1 (the bonus token) plus the chances" in said
    # the fixed policy estimates nothing; nor does a trace from before the estimates
    assert estimate_words(view_of({**SAM, "draft_policy": "fixed"}, ev), ev) == ""
    old = event(drafter="dynamic", draft_tokens=[5], draft_parents=[-1], proposed=1)
    assert estimate_words(view_of(SAM, old), old) == ""
    dropped = event(rule_source="recycling", no_draft="not_worth_it", proposed=39,
                    draft_limit=40, expected_tokens=1.0, expected_offered=1.41)  # fmt: skip
    assert "(here the Token Recycling)" in text_of(estimate_words(view_of(SAM, dropped), dropped))


# ------------------------------------------------------------------------ the glossary
def test_every_term_is_defined_once_and_listed():
    assert sorted(ORDER) == sorted(TERMS) and len(set(ORDER)) == len(ORDER)
    block = glossary_html()
    for word, meaning in TERMS.values():
        assert f">{html.escape(word)}</dt><dd>{html.escape(meaning)}</dd>" in block
    assert "Mean accepted tokens per step" in TERMS["mat"][1]
    assert "Token Recycling" in TERMS["auxiliary"][1]
    assert block in V.HOW_IT_WORKS  # the block sits under "How it works"


def test_annotate_marks_whole_words_once():
    marked = annotate(
        html.escape("plain decoding (ar) · stopped: eos; ar again, are, bar"), ("ar", "eos")
    )
    assert marked.count("<abbr") == 2 and marked.count(">ar</abbr>") == 1
    assert "are, bar" in marked
    assert annotate("bundled:SmolLM2.Q4_1 on cpu", ("q4_1",)).count("<abbr") == 1
    assert annotate("nothing here", ("ar", "eos")) == "nothing here"


def test_the_panels_define_their_words_where_they_use_them():
    trace = Trace.from_dict(json.loads((DATA / "trace_sam.json").read_text(encoding="utf-8")))
    stats = V.stats_html(trace)
    assert term("mat") in stats and "mean accepted tokens per step" in stats
    legend = V.legend_html()
    assert "six more" not in legend and "= 6 more rejected draft tokens" in legend
    rows = [
        {"name": "plain decoding (ar)", "tokens": 9, "steps": 9, "mat": 1.0, "tokens_per_s": 9.0},
        {"name": "SAM (samdec)", "tokens": 9, "steps": 4, "mat": 2.2, "tokens_per_s": 12.0,
         "identical": True},
    ]  # fmt: skip
    table = V.compare_html(rows, note="on bundled:SmolLM2-135M-Instruct.Q4_1 (cpu)")
    assert term("ar") in table and term("q4_1") in table and term("mat") in table
    inspector = V.inspector_html(trace, 0)
    # '#' no longer means two things: verify order and token id have their own headers
    assert "<th>#</th>" not in inspector and "<small>#" not in inspector
    assert term("order", "verify order") in inspector and term("token_id", "id") in inspector
    assert term("bonus") in inspector and term("prefill") in inspector


# ------------------------------------------------------------------------ counting from 0
def test_numbered_counts_from_zero():
    assert numbered("step", 3, 37) == "step 3 of steps 0–36"
    assert numbered("symbol", 0, 1) == "symbol 0 (the only symbol)"


def test_one_counting_convention_across_the_panels():
    """Every panel calls a step by the same number (the trace's, from 0), and the inspector's
    range ends where the slider does; never "Step k of n"."""
    trace = Trace.from_dict(json.loads((DATA / "trace_sam_recycling.json").read_text("utf-8")))
    n = len(trace.steps)
    for k in (0, 3, n - 1):
        inspector = text_of(V.inspector_html(trace, k))
        assert inspector.startswith(f"Step {k} of steps 0–{n - 1} · ")
        assert not re.search(r"Step \d+ of \d", inspector)
        stream = V.stream_html(trace, selected=k)
        chosen = re.search(r'class="sd-step sd-sel[^"]*" data-step="(\d+)"', stream)
        assert int(chosen[1]) == k
        titles = re.findall(r'data-step="(\d+)" title="step (\d+)', stream)
        assert titles and all(a == b for a, b in titles)
    hovers = [h for t in V.wallclock_figure([("sam", trace)]).data for h in (t.hovertext or ())]
    assert {int(m) for h in hovers for m in re.findall(r"^step (\d+):", str(h))} == set(range(n))


def test_the_playground_numbers_symbols_like_its_boxes():
    pg = Playground(tuple("abcbc"))
    for k in range(1, len(pg.events) + 1):
        markup = V.playground_event_html(pg, k)
        said = re.search(r"reading symbol (\d+) (?:of symbols 0–4)", markup)
        current = re.search(r'sd-pg-cur"[^>]*>.*?<sub>(\d+)</sub>', markup)
        if said:
            assert current and said[1] == current[1]
        assert f"{k} of {len(pg.events)} events done" in markup
        assert not re.search(r"symbol \d+ of \d", markup)
    reads = [V.describe_event(pg, k) for k in range(1, len(pg.events) + 1)]
    read = [r for r in reads if r.startswith("Read symbol")]
    assert [int(re.search(r"Read symbol (\d+)", r)[1]) for r in read] == [0, 1, 2, 3, 4]
    assert all(f"ends at position {r.split()[2]}" in r for r in read)
