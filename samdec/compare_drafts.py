"""SAM's automaton drafts beside what prompt lookup would have drafted at the same text.

The paper's central claim, per step of one run: where a suffix automaton drafted from its
longest match, was the model's text continued further than an n-gram lookup (method `pld`)
would have got right? Decoding is lossless, so the text before every step is the same for both
methods, and prompt lookup depends on nothing but that text: it is drafted here, from the
trace alone, and scored against what the model actually wrote next. Torch-free.

Prompt lookup is scored before any length policy cut, at the step's own draft limit (or its
n-gram draft length when that is lower), while the automaton is scored by what it had accepted
after the cut: where the comparison leans, it leans towards prompt lookup.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .drafters.prompt_lookup import MAX_NGRAM, NUM_TOKENS, PromptLookup
from .trace import StepEvent

AUTOMATA = ("static", "dynamic")


@dataclass(frozen=True)
class DraftDuel:
    """One step where an automaton drafted: its accepted tokens and prompt lookup's."""

    step: int
    source: str  # the automaton that drafted: "static" | "dynamic"
    match_length: int  # that automaton's match length
    accepted: int  # draft tokens the model accepted
    pld_ngram: int  # the n-gram size prompt lookup matched (0: found nothing)
    pld_drafted: int  # tokens prompt lookup would have drafted
    pld_correct: int  # of those, how many equal what the model wrote next (a prefix)

    @property
    def sam_ahead(self) -> bool:
        return self.accepted > self.pld_correct

    def to_dict(self) -> dict:
        return {**asdict(self), "sam_ahead": self.sam_ahead}


@dataclass(frozen=True)
class DuelSummary:
    steps: int  # steps an automaton drafted
    sam_ahead: int  # ... where it got further than prompt lookup would have
    pld_found_nothing: int  # ... of those, where prompt lookup had nothing to draft
    pld_ahead: int  # steps where prompt lookup would have got further
    sam_accepted: int  # accepted automaton draft tokens over those steps
    pld_correct: int  # correct prompt lookup draft tokens over the same steps

    def words(self) -> str:
        if not self.steps:
            return "No step drafted from a suffix automaton, so there is nothing to compare."
        return (
            f"In {self.sam_ahead} of {self.steps} steps drafted from a suffix automaton, its "
            f"match was accepted for more tokens than prompt lookup would have drafted "
            f"correctly; prompt lookup found nothing in {self.pld_found_nothing} of them. "
            f"Prompt lookup would have got further in {self.pld_ahead}. Over these steps: "
            f"{self.sam_accepted} automaton tokens accepted, {self.pld_correct} prompt lookup "
            "tokens correct."
        )


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def draft_duels(
    prompt_ids: list[int],
    steps: list[StepEvent],
    max_ngram: int = MAX_NGRAM,
    num_tokens: int = NUM_TOKENS,
    eos_ids: frozenset[int] = frozenset(),
) -> list[DraftDuel]:
    """Every step of a run whose draft came from a suffix automaton, beside prompt lookup.

    One PromptLookup is fed the text as it grew; its draft at a step equals a fresh one's on
    that step's text (it reads nothing else; tests/test_prompt_lookup.py checks this).
    """
    output = [t for ev in steps for t in ev.new_tokens]
    lookup = PromptLookup(max_ngram, num_tokens, eos_ids)
    lookup.start(prompt_ids)
    done = 0  # output tokens before the step
    duels = []
    for ev in steps:
        if ev.drafter in AUTOMATA:
            draft = lookup.propose(ev.draft_limit)
            truth = output[done : done + len(draft)]
            duels.append(
                DraftDuel(
                    step=ev.step,
                    source=ev.drafter,
                    match_length=ev.match_dynamic if ev.drafter == "dynamic" else ev.match_static,
                    accepted=ev.accepted,
                    pld_ngram=draft.match_length if len(draft) else 0,
                    pld_drafted=len(draft),
                    pld_correct=common_prefix(draft.tokens, truth),
                )
            )
        lookup.observe(ev.new_tokens)
        done += len(ev.new_tokens)
    return duels


def summarize_duels(duels: list[DraftDuel]) -> DuelSummary:
    ahead = [d for d in duels if d.sam_ahead]
    return DuelSummary(
        steps=len(duels),
        sam_ahead=len(ahead),
        pld_found_nothing=sum(d.pld_drafted == 0 for d in ahead),
        pld_ahead=sum(d.pld_correct > d.accepted for d in duels),
        sam_accepted=sum(d.accepted for d in duels),
        pld_correct=sum(d.pld_correct for d in duels),
    )
