"""TokenRecycling: a model-free drafter that reuses the model's own past predictions.

Every verification pass computes the model's distribution at each input position, whether the
drafted token there is kept or not. Token Recycling (Luo et al., 2024) keeps, per token id, the
model's top-k next tokens from the last time that token was verified, and drafts a tree by
walking that table from the last token along a fixed template: node (parent, rank) holds the
rank-th most likely successor of its parent's token.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Draft, Verified

# Prior chance that the model's rank-r successor is the right next token. Only used to shape the
# template (which nodes exist and in which order); the length policy learns real rates online.
RANK_PRIOR = (0.50, 0.16, 0.08, 0.05, 0.035, 0.025, 0.02, 0.015)


@dataclass(frozen=True)
class TreeTemplate:
    parents: np.ndarray  # (n,) parent node index, -1 for the root's children
    ranks: np.ndarray  # (n,) which of the parent's top-k successors this node takes
    depths: np.ndarray  # (n,) 1 for the root's children

    def __len__(self) -> int:
        return len(self.parents)


def make_template(size: int = 70, max_depth: int = 6, k: int = 8) -> TreeTemplate:
    """The `size` most probable nodes under RANK_PRIOR, parents first (best-first expansion)."""
    priors = RANK_PRIOR[:k]
    chosen: list[tuple[int, int, int]] = []  # (parent, rank, depth)
    probs: list[float] = []
    frontier = [(priors[r], -1, r, 1) for r in range(k)]
    while frontier and len(chosen) < size:
        frontier.sort(key=lambda f: -f[0])
        prob, parent, rank, depth = frontier.pop(0)
        chosen.append((parent, rank, depth))
        probs.append(prob)
        if depth < max_depth:
            me = len(chosen) - 1
            frontier.extend((prob * priors[r], me, r, depth + 1) for r in range(k))
    parents, ranks, depths = (np.array(col, dtype=np.int64) for col in zip(*chosen, strict=True))
    return TreeTemplate(parents, ranks, depths)


class TokenRecycling:
    name = "recycling"

    def __init__(
        self,
        vocab_size: int,
        k: int = 8,
        template: TreeTemplate | None = None,
        carry_over: bool = False,
    ) -> None:
        self.k = k
        self.topk = k
        self.template = template or make_template(k=k)
        self.carry_over = carry_over  # keep the table across requests (off: requests independent)
        self.table = np.full((vocab_size, k), -1, dtype=np.int64)
        self.last_token = -1
        # A deferred top-k (the prompt's), and per token the row of it that the table would
        # hold (its newest), -1 where none is pending or a newer one was written since.
        self.pending: Verified | None = None
        self.pending_row = np.full(vocab_size, -1, dtype=np.int64)

    def start(self, prompt_ids: list[int]) -> None:
        if self.carry_over:
            self._settle_all()  # the previous prompt's rows, as an eager write left them
        else:
            self.table.fill(-1)
            self._drop_pending()
        self.last_token = int(prompt_ids[-1]) if len(prompt_ids) else -1

    def observe(self, new_tokens: list[int], verified: Verified | None = None) -> None:
        if verified is not None and len(verified.tokens):
            if verified.deferred:  # rows computed as drafts read them
                self._settle_all()
                self.pending = verified
                np.maximum.at(self.pending_row, verified.tokens, np.arange(len(verified.tokens)))
            else:
                # A token verified at several positions keeps its newest prediction.
                self.table[verified.tokens] = verified.topk[:, : self.k]
                self.pending_row[verified.tokens] = -1
        if len(new_tokens):
            self.last_token = int(new_tokens[-1])

    def _settle(self, tokens: np.ndarray) -> None:
        """Write the pending rows of `tokens`: the table rows that writing the deferred top-k
        when it came, then the newer ones over it, would have left."""
        if self.pending is None:
            return
        rows = np.unique(self.pending_row[tokens])
        rows = rows[rows >= 0]
        if len(rows):
            written = self.pending.tokens[rows]
            self.table[written] = self.pending.rows(rows)[:, : self.k]
            self.pending_row[written] = -1

    def _settle_all(self) -> None:
        if self.pending is not None:
            self._settle(self.pending.tokens)
        self._drop_pending()

    def _drop_pending(self) -> None:
        if self.pending is not None:
            self.pending_row[self.pending.tokens] = -1
            self.pending = None

    def propose(self, max_tokens: int) -> Draft:
        t = self.template
        if self.last_token < 0 or max_tokens <= 0:
            why = "no context" if self.last_token < 0 else "no room for a draft"
            return Draft([], [], "none", reason=why, rule_source="recycling")
        tokens = np.full(len(t), -1, dtype=np.int64)
        # Depth by depth, vectorised: a node exists if its parent does and the table has an entry.
        for depth in range(1, int(t.depths.max()) + 1):
            nodes = np.nonzero(t.depths == depth)[0]
            parent_tok = np.where(
                t.parents[nodes] < 0, self.last_token, tokens[np.maximum(t.parents[nodes], 0)]
            )
            ok = parent_tok >= 0
            self._settle(parent_tok[ok])
            tokens[nodes[ok]] = self.table[parent_tok[ok], t.ranks[nodes[ok]]]
        keep = np.nonzero(tokens >= 0)[0][:max_tokens]
        # Re-index parents into the kept list (parents come first, so they are already mapped).
        new_index = np.full(len(t), -1, dtype=np.int64)
        new_index[keep] = np.arange(len(keep))
        parents = np.where(t.parents[keep] < 0, -1, new_index[np.maximum(t.parents[keep], 0)])
        return Draft(
            tokens=tokens[keep].tolist(),
            parents=parents.tolist(),
            source="recycling" if len(keep) else "none",
            reason=f"token recycling tree of {len(keep)} nodes",
            node_keys=keep.tolist(),
        )
