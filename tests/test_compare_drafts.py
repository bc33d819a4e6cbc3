"""SAM's automaton drafts beside prompt lookup at the same text (samdec.compare_drafts), on a
tiny hand-made run whose every number is worked out in the comments."""

from __future__ import annotations

import visuals as V
from samdec.compare_drafts import DraftDuel, draft_duels, summarize_duels
from samdec.drafters import PromptLookup
from samdec.trace import StepEvent

PROMPT = [1, 2, 3, 4, 5, 9, 1, 2]


def step(i, drafter, draft, accepted, bonus, match=0, limit=5) -> StepEvent:
    new = [*draft[:accepted], bonus]
    parents = list(range(-1, len(draft) - 1))
    return StepEvent(
        step=i, context_length=0, start_token=0, match_static=match if drafter == "static" else 0,
        match_dynamic=match if drafter == "dynamic" else 0, state_static=-1, state_dynamic=-1,
        drafter=drafter, reason="", draft_tokens=draft, draft_parents=parents,
        accepted_indices=list(range(accepted)), bonus_token=bonus, new_tokens=new, draft_us=0.0,
        verify_ms=0.0, draft_limit=limit,
    )  # fmt: skip


STEPS = [
    # text ...1 2: prompt lookup continues the 2-gram 1 2 at 0 with 3 4 5 9 1; the model wrote
    # 3 4 5 7: both get 3 right
    step(0, "dynamic", [3, 4, 5, 6], 3, 7, match=2),
    # text ...5 7: neither 5 7 nor 7 occurred earlier: prompt lookup has nothing
    step(1, "static", [8, 8, 8], 3, 6, match=5),
    step(2, "none", [], 0, 5),  # plain: not compared
    # text ...6 5: 5 first at 4, continued by 9 1 2 3 4; the model wrote 9 1 2: prompt lookup 3
    step(3, "dynamic", [9, 4], 1, 1, match=1),
    step(4, "none", [], 0, 2),
]


def test_each_automaton_step_beside_prompt_lookup():
    duels = draft_duels(PROMPT, STEPS)
    assert duels == [
        DraftDuel(0, "dynamic", 2, accepted=3, pld_ngram=2, pld_drafted=5, pld_correct=3),
        DraftDuel(1, "static", 5, accepted=3, pld_ngram=0, pld_drafted=0, pld_correct=0),
        DraftDuel(3, "dynamic", 1, accepted=1, pld_ngram=1, pld_drafted=5, pld_correct=3),
    ]
    assert [d.sam_ahead for d in duels] == [False, True, False]
    summary = summarize_duels(duels)
    assert (summary.steps, summary.sam_ahead, summary.pld_found_nothing) == (3, 1, 1)
    assert (summary.pld_ahead, summary.sam_accepted, summary.pld_correct) == (1, 7, 6)
    assert summary.words().startswith("In 1 of 3 steps drafted from a suffix automaton")
    assert "prompt lookup found nothing in 1 of them" in summary.words()


def test_prompt_lookup_is_drafted_at_the_step_own_text():
    """The incremental lookup drafts what a fresh PromptLookup on each step's text drafts
    (a lookup fed one step late or early would differ at steps 0 and 3)."""
    drafted = [s for s in STEPS if s.drafter != "none"]
    for ev, duel in zip(drafted, draft_duels(PROMPT, STEPS), strict=True):
        before = PROMPT + [t for s in STEPS[: ev.step] for t in s.new_tokens]
        fresh = PromptLookup()
        fresh.start(before)
        assert len(fresh.propose(ev.draft_limit)) == duel.pld_drafted


def test_settings_and_eos_reach_prompt_lookup():
    assert draft_duels(PROMPT, STEPS, num_tokens=2)[0].pld_drafted == 2
    assert draft_duels(PROMPT, STEPS, max_ngram=1)[0].pld_ngram == 1
    assert draft_duels(PROMPT, STEPS, eos_ids=frozenset({9}))[2].pld_drafted == 0


def test_nothing_to_compare():
    assert draft_duels(PROMPT, [STEPS[2]]) == []
    assert summarize_duels([]).words().startswith("No step drafted from a suffix automaton")


def test_the_duel_figure():
    duels = [d.to_dict() for d in draft_duels(PROMPT, STEPS)]
    fig = V.duel_figure(duels)
    sam, pld, nothing = fig.data
    assert list(sam.x) == ["0", "1", "3"] and list(sam.y) == [3, 3, 1]
    assert list(sam.marker.color) == [
        V.COLOURS["dynamic"],
        V.COLOURS["static"],
        V.COLOURS["dynamic"],
    ]
    assert list(pld.y) == [3, 0, 3] and pld.marker.color == V.COLOURS["pld"]
    assert list(nothing.x) == ["1"]
    assert "prompt lookup: found nothing" in sam.customdata[1]
    assert not V.duel_figure([], "nothing here").data
