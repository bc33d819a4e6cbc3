"""Grafting: a short automaton match's continuation merged into a Token Recycling tree.

Below l_threshold the SAM rule drops the automaton's match and drafts a recycling tree instead.
The grafted method (`sam+graft` in samdec/methods.py) keeps both: walk the match's retrieval
chain down the tree from the root while its tokens equal existing children; at the first token
with no equal child, hang the rest of the chain under the last equal node as a new branch.

Grafted nodes get node keys of their own (GRAFT_KEY_BASE + their position in the chain), after
the template's keys, so the length policy learns their acceptance apart from the template's.
"""

from __future__ import annotations

import heapq
from functools import lru_cache

import numpy as np

from .base import GRAFT_KEY_BASE, GRAFT_KEYS, GRAFTED, Draft
from .priors import match_bucket, prior_rates


def merge_chain(
    tokens: list[int], parents: list[int], chain: list[int]
) -> tuple[list[int], list[int], int]:
    """The tree with `chain` as a path from the root: (tokens, parents, chain position of the
    first new node, len(chain) when the tree already held the whole chain). The tree's nodes
    keep their indices; new nodes are appended, each after its parent."""
    child: dict[tuple[int, int], int] = {}
    for i, (token, parent) in enumerate(zip(tokens, parents, strict=True)):
        child.setdefault((parent, token), i)
    node, at = -1, 0
    while at < len(chain) and (node, chain[at]) in child:
        node = child[(node, chain[at])]
        at += 1
    n = len(tokens)
    new_parents = [node, *range(n, n + len(chain) - at - 1)] if at < len(chain) else []
    return list(tokens) + list(chain[at:]), list(parents) + new_parents, at


def best_first(parents: list[int], scores: np.ndarray) -> list[int]:
    """Node order for a length policy that keeps a prefix: always the best-scored node whose
    parent is already listed (so parents first; ties: the earlier node)."""
    children: list[list[int]] = [[] for _ in range(len(parents) + 1)]
    for i, parent in enumerate(parents):
        children[parent + 1].append(i)
    frontier = [(-float(scores[c]), c) for c in children[0]]
    heapq.heapify(frontier)
    order: list[int] = []
    while frontier:
        _, node = heapq.heappop(frontier)
        order.append(node)
        for c in children[node + 1]:
            heapq.heappush(frontier, (-float(scores[c]), c))
    return order


@lru_cache(maxsize=64)
def node_priors(source: str, match_length: int) -> np.ndarray:
    """Prior acceptance rate of each node key of a tree grafted with a `source` match of this
    length: the length policy's own priors, so the order agrees with how it prices nodes."""
    rates = prior_rates(GRAFTED + source, match_bucket(match_length), GRAFT_KEY_BASE + GRAFT_KEYS)
    rates.setflags(write=False)
    return rates


def graft_chain(tree: Draft, chain: Draft, max_tokens: int) -> Draft:
    """`tree` with the retrieval `chain` grafted in, best first, cut to max_tokens nodes.
    The tree itself when the chain adds nothing (plain recycling)."""
    chain_tokens = chain.tokens[:GRAFT_KEYS]
    tokens, parents, at = merge_chain(tree.tokens, tree.parents, chain_tokens)
    if at == len(chain_tokens) or max_tokens <= 0:
        return tree
    keys = tree.node_keys + [GRAFT_KEY_BASE + i for i in range(at, len(chain_tokens))]
    order = best_first(parents, node_priors(chain.source, chain.match_length)[keys])
    new_index = {old: new for new, old in enumerate(order)}
    grafted = Draft(
        tokens=[tokens[i] for i in order],
        parents=[new_index.get(parents[i], -1) for i in order],
        source="recycling",
        reason=tree.reason,
        node_keys=[keys[i] for i in order],
        graft_source=chain.source,
        graft_nodes=sorted(new_index[i] for i in range(len(tree), len(tokens))),
    )
    return grafted.prefix(max_tokens)
