"""StaticSAM: drafts from a corpus indexed offline (a read-only, memory-mapped automaton)."""

from __future__ import annotations

from ..static_automaton import StaticSuffixAutomaton
from .base import Draft, Verified, chain


class StaticSAM:
    """One cursor per request over a shared static automaton."""

    name = "static"
    topk = 0

    def __init__(self, automaton: StaticSuffixAutomaton) -> None:
        self.automaton = automaton
        self.cursor = automaton.cursor()

    def start(self, prompt_ids: list[int]) -> None:
        self.cursor.reset()
        self.cursor.advance(prompt_ids)

    def observe(self, new_tokens: list[int], verified: Verified | None = None) -> None:
        self.cursor.advance(new_tokens)

    @property
    def match_length(self) -> int:
        return self.cursor.match_length

    @property
    def match_state(self) -> int:
        return self.cursor.match_state

    def propose(self, max_tokens: int) -> Draft:
        length = self.cursor.match_length
        tokens = self.cursor.draft(max_tokens) if length > 0 and max_tokens > 0 else []
        return chain(
            tokens,
            "static" if len(tokens) else "none",
            reason=f"static match of {length} tokens",
            match_length=length,
            match_static=length,
            state_static=self.cursor.match_state,
        )
