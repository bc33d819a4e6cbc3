"""DynamicSAM: drafts from earlier in the same request (prompt + generated text)."""

from __future__ import annotations

from ..automaton import DynamicSuffixAutomaton
from .base import Draft, Verified, chain


class DynamicSAM:
    """A fresh suffix automaton per request, extended with every accepted token."""

    name = "dynamic"
    topk = 0

    def __init__(self, endpos: str = "first") -> None:
        self.endpos = endpos
        self.automaton = DynamicSuffixAutomaton(endpos=endpos)

    def start(self, prompt_ids: list[int]) -> None:
        self.automaton = DynamicSuffixAutomaton(endpos=self.endpos)
        self.automaton.advance(prompt_ids)

    def observe(self, new_tokens: list[int], verified: Verified | None = None) -> None:
        self.automaton.advance(new_tokens)

    @property
    def match_length(self) -> int:
        return self.automaton.match_length

    @property
    def match_state(self) -> int:
        return self.automaton.match_state

    def propose(self, max_tokens: int) -> Draft:
        length = self.automaton.match_length
        tokens = self.automaton.draft(max_tokens) if length > 0 and max_tokens > 0 else []
        return chain(
            tokens,
            "dynamic" if len(tokens) else "none",
            reason=f"dynamic match of {length} tokens",
            match_length=length,
            match_dynamic=length,
            state_dynamic=self.automaton.match_state,
        )
