"""SAM: the paper's drafter, combining the static and dynamic automata with an auxiliary drafter.

Which of the three drafts is samdec.rule's decision, as the reference code makes it: l_bias is
taken off the static match, the longer of that and the dynamic match retrieves (dynamic on a
tie), and if it is shorter than l_threshold the auxiliary drafter drafts instead (nothing
without one). With `graft`, the handed-over tree also carries the short match's continuation
(graft.py). Without the dynamic automaton (`dynamic=False`, the paper's ablation) its match
counts as 0 in the same rule, so the rule itself is unchanged.
"""

from __future__ import annotations

from ..rule import choose_source, retrieval_choice
from ..static_automaton import StaticSuffixAutomaton
from .base import GRAFT_KEY_BASE, GRAFT_KEYS, Draft, Drafter, Verified, chain
from .dynamic_sam import DynamicSAM
from .graft import graft_chain
from .static_sam import StaticSAM

__all__ = ["SAM", "choose_source"]


class SAM:
    name = "sam"

    def __init__(
        self,
        static: StaticSuffixAutomaton | None = None,
        auxiliary: Drafter | None = None,
        l_bias: int = 5,
        l_threshold: int = 5,
        endpos: str = "first",
        graft: bool = False,
        dynamic: bool = True,
    ) -> None:
        self.dynamic = DynamicSAM(endpos=endpos) if dynamic else None
        self.static = StaticSAM(static) if static is not None else None
        self.auxiliary = auxiliary
        self.l_bias = l_bias
        self.l_threshold = l_threshold
        self.graft = graft and auxiliary is not None
        if self.graft and len(getattr(auxiliary, "template", ())) > GRAFT_KEY_BASE:
            raise ValueError(f"grafting needs a tree template of at most {GRAFT_KEY_BASE} nodes")
        self.topk = auxiliary.topk if auxiliary is not None else 0

    def _parts(self) -> list:
        return [d for d in (self.dynamic, self.static, self.auxiliary) if d is not None]

    def start(self, prompt_ids: list[int]) -> None:
        for part in self._parts():
            part.start(prompt_ids)

    def observe(self, new_tokens: list[int], verified: Verified | None = None) -> None:
        for part in self._parts():
            part.observe(new_tokens, verified)

    def propose(self, max_tokens: int) -> Draft:
        ls = self.static.match_length if self.static is not None else 0
        ld = self.dynamic.match_length if self.dynamic is not None else 0
        info = dict(
            match_static=ls,
            match_dynamic=ld,
            state_static=self.static.match_state if self.static is not None else -1,
            state_dynamic=self.dynamic.match_state if self.dynamic is not None else -1,
        )
        source, length, reason = choose_source(
            ls,
            ld,
            self.l_bias,
            self.l_threshold,
            self.static is not None,
            self.auxiliary is not None,
        )
        if source == "recycling" and self.auxiliary is not None:
            draft = self.auxiliary.propose(max_tokens)
            if self.graft:
                draft = graft_chain(draft, self._short_match_chain(ls, ld, max_tokens), max_tokens)
        elif source == "static" and self.static is not None:
            draft = self.static.propose(max_tokens)
        elif source == "dynamic" and self.dynamic is not None:
            draft = self.dynamic.propose(max_tokens)
        else:
            draft = chain([], "none")
        draft.reason = reason if len(draft) else f"{reason} (nothing to draft)"
        if draft.graft_nodes:
            grafted = f"{len(draft.graft_nodes)} {draft.graft_source} tokens grafted into the tree"
            draft.reason = f"{draft.reason}; {grafted}"
        draft.match_length = length
        draft.rule_source = source
        for key, value in info.items():
            setattr(draft, key, value)
        return draft

    def _short_match_chain(self, ls: int, ld: int, max_tokens: int) -> Draft:
        """The continuation of the match the rule found too short to draft on its own."""
        source, _, _ = retrieval_choice(ls, ld, self.l_bias, self.static is not None)
        retrieval = self.static if source == "static" else self.dynamic
        if retrieval is None:  # no dynamic automaton: its match of 0 has nothing to graft
            return chain([], "none")
        return retrieval.propose(min(max_tokens, GRAFT_KEYS))
