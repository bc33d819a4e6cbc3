"""Which drafter a decoding method uses: one place, for the engine and the tuning replay."""

from __future__ import annotations

import numpy as np

from ..automaton import StaticSuffixAutomaton
from ..config import DecodeConfig
from .base import Drafter
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
) -> tuple[Drafter | None, str]:
    """(drafter or None for plain decoding, a note for the user when not all is as asked).

    `recycling`: a Token Recycling drafter to reuse (its table carries over between requests).
    """
    notes = []
    if config.method in ("recycling", "sam+recycling"):
        if recycling is None or recycling.k != config.recycling_k:
            recycling = TokenRecycling(vocab_size, k=config.recycling_k)
        recycling.carry_over = config.carry_recycling
        if not tree_ok:
            notes.append("this model does not take a tree attention mask: recycling drafts chains")
            recycling.template = chain_template(recycling.template)
    else:
        recycling = None
    if config.method == "ar":
        return None, "; ".join(notes)
    if config.method == "recycling":
        return recycling, "; ".join(notes)
    use_static = config.use_static and config.method != "sam-dynamic"
    if use_static and static is None:
        notes.append("no static corpus loaded: dynamic automaton only")
    drafter = SAM(
        static=static if use_static else None,
        auxiliary=recycling,
        l_bias=config.l_bias,
        l_threshold=config.l_threshold,
        endpos=config.endpos,
    )
    return drafter, "; ".join(notes)
