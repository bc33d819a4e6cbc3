"""Which drafter a decoding method uses: one place, for the engine and the tuning replay."""

from __future__ import annotations

import numpy as np

from ..config import DecodeConfig
from ..methods import method
from ..static_automaton import StaticSuffixAutomaton
from .base import Drafter
from .prompt_lookup import PromptLookup
from .recycling import TokenRecycling, TreeTemplate
from .sam import SAM


def chain_template(template: TreeTemplate) -> TreeTemplate:
    """A template reduced to its single most likely path (for models without tree masks)."""
    n = int(template.depths.max())
    return TreeTemplate(
        parents=np.arange(-1, n - 1, dtype=np.int64),
        ranks=np.zeros(n, dtype=np.int64),
        depths=np.arange(1, n + 1, dtype=np.int64),
    )


def build_drafter(
    config: DecodeConfig,
    static: StaticSuffixAutomaton | None,
    vocab_size: int,
    tree_ok: bool = True,
    recycling: TokenRecycling | None = None,
    eos_ids: frozenset[int] = frozenset(),
) -> tuple[Drafter | None, str]:
    """(drafter or None for plain decoding, a note for the user when not all is as asked).

    `recycling`: a Token Recycling drafter to reuse (its table carries over between requests).
    `eos_ids`: the tokens that end a generation (prompt lookup drafts stop before them).
    """
    spec = method(config.method)
    if spec.ngram:
        return PromptLookup(config.pld_ngram, config.pld_tokens, eos_ids), ""
    notes = []
    recycling = recycling if spec.recycling else None
    if spec.recycling:
        if recycling is None or recycling.k != config.recycling_k:
            recycling = TokenRecycling(vocab_size, k=config.recycling_k)
        recycling.carry_over = config.carry_recycling
        if not tree_ok:
            notes.append("this model does not take a tree attention mask: recycling drafts chains")
            recycling.template = chain_template(recycling.template)
            if spec.graft:
                notes.append("nothing is grafted into them")
    if not spec.automata:
        return recycling, "; ".join(notes)
    if not spec.dynamic and not (uses_static(config) and static is not None):
        # A static-only method without its automaton would silently be plain decoding.
        why = "no static corpus loaded" if uses_static(config) else "the static automaton is off"
        notes.append(f"{why} and this method has no dynamic automaton: nothing drafts")
    elif uses_static(config) and static is None:
        notes.append("no static corpus loaded: dynamic automaton only")
    drafter = SAM(
        static=static if uses_static(config) else None,
        auxiliary=recycling,
        l_bias=config.l_bias,
        l_threshold=config.l_threshold,
        endpos=config.endpos,
        graft=spec.graft and tree_ok,
        dynamic=spec.dynamic,
    )
    return drafter, "; ".join(notes)


def uses_static(config: DecodeConfig) -> bool:
    """Does this request read the static automaton (its method does, and it was not turned off)?"""
    return method(config.method).static and config.use_static
