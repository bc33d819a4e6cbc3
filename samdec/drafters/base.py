"""The drafting interface: a drafter proposes, the engine verifies, the drafter observes.

A drafter never sees the model. It is told the prompt (`start`), asked for a draft (`propose`),
and told what the model accepted (`observe`), optionally with the model's top-k next tokens at
every position the verification pass computed (Token Recycling learns from those).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

# The node-key space (a draft's `node_keys`, by which acceptance rates are kept): grafted nodes
# get GRAFT_KEY_BASE + chain position, after the recycling template's 70 nodes
# (recycling.make_template) and below the 128 keys the length policy keeps rates for
# (samdec.policy.CostAware.size). A longer chain is grafted up to GRAFT_KEYS tokens.
GRAFT_KEY_BASE = 70
GRAFT_KEYS = 58
# The length policy's source name for a grafted tree: GRAFTED + the automaton, e.g.
# "recycling+dynamic" (its prior rates: priors.prior_rates).
GRAFTED = "recycling+"


@dataclass
class Draft:
    """Draft tokens as a tree: `parents[i]` is the index of node i's parent, -1 for the start token.

    A chain is the tree whose parents are -1, 0, 1, ... Nodes are listed parents-first, and in
    the order a length policy should keep them (most promising first).
    """

    tokens: list[int]
    parents: list[int]
    source: str  # "static" | "dynamic" | "recycling" | "pld" | "none"
    reason: str = ""
    match_length: int = 0  # the match length that produced this draft (0 for non-retrieval)
    # The drafter the decision rule picked; kept when a length policy cuts the draft to nothing.
    rule_source: str = ""
    match_static: int = 0
    match_dynamic: int = 0
    state_static: int = -1
    state_dynamic: int = -1
    # Why an empty draft is empty (trace.NO_DRAFT); set by stepping.draft_step.
    no_draft: str = ""
    # Stable key of each node for the length policy's statistics: the position for chains,
    # the template node for trees.
    node_keys: list[int] = field(default_factory=list)
    # Set by a length policy that estimates (policy.CostAware): tokens the step is expected to
    # append, bonus included, if this draft / the whole draft it was cut from is verified.
    expected_tokens: float = 0.0
    expected_offered: float = 0.0
    # A recycling tree with a retrieval chain grafted in (drafters/graft.py): the automaton
    # whose short match was grafted ("" when none was), and the indices of the grafted nodes.
    graft_source: str = ""
    graft_nodes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.rule_source:
            self.rule_source = self.source
        if not self.node_keys:
            self.node_keys = list(range(len(self.tokens)))

    @property
    def is_chain(self) -> bool:
        return all(p == i - 1 for i, p in enumerate(self.parents))

    def __len__(self) -> int:
        return len(self.tokens)

    def prefix(self, n: int) -> Draft:
        """The first n nodes (parents come first, so any prefix is still a tree)."""
        if n >= len(self.tokens):
            return self
        return Draft(
            tokens=self.tokens[:n],
            parents=self.parents[:n],
            source=self.source if n > 0 else "none",
            reason=self.reason,
            match_length=self.match_length,
            rule_source=self.rule_source,
            match_static=self.match_static,
            match_dynamic=self.match_dynamic,
            state_static=self.state_static,
            state_dynamic=self.state_dynamic,
            no_draft=self.no_draft,
            node_keys=self.node_keys[:n],
            expected_tokens=self.expected_tokens,
            expected_offered=self.expected_offered,
            graft_source=self.graft_source,
            graft_nodes=[i for i in self.graft_nodes if i < n],
        )


def chain(tokens: np.ndarray | list[int], source: str, **info) -> Draft:
    toks = [int(t) for t in tokens]
    return Draft(tokens=toks, parents=list(range(-1, len(toks) - 1)), source=source, **info)


class Verified:
    """What one verification pass computed: the input tokens and the model's top-k at each.

    The top-k can come as a function of row indices instead, called for the rows a drafter
    reads: the engine gives the prompt's so, since the output layer over its last 512 rows
    costs as much as many verify steps and a drafter reads few of them.
    """

    def __init__(
        self,
        tokens: np.ndarray,
        topk: np.ndarray | None = None,
        rows: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        assert (topk is None) != (rows is None), "the top-k, or a function computing rows of it"
        self.tokens = tokens  # (q,) the start token followed by the draft nodes
        self._topk, self._rows = topk, rows

    @property
    def topk(self) -> np.ndarray:
        """(q, k) the model's k most likely next tokens at each of `tokens`."""
        if self._topk is None:
            self._topk, self._rows = self._rows(np.arange(len(self.tokens))), None
        return self._topk

    @property
    def deferred(self) -> bool:
        """Whether the top-k is computed row by row as read (`rows`)."""
        return self._topk is None

    def rows(self, index: np.ndarray) -> np.ndarray:
        """(len(index), k): the top-k at the given rows, computing only those if deferred."""
        return self._topk[index] if self._topk is not None else self._rows(index)


@runtime_checkable
class Drafter(Protocol):
    name: str
    topk: int  # >0 if observe() wants the model's top-k at verified positions

    def start(self, prompt_ids: list[int]) -> None:
        """A new request: forget the previous text, read the prompt."""

    def propose(self, max_tokens: int) -> Draft:
        """Draft at most max_tokens tokens continuing the current text."""

    def observe(self, new_tokens: list[int], verified: Verified | None = None) -> None:
        """The text grew by new_tokens (accepted draft tokens, then the model's own token)."""
