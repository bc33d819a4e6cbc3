"""The torch-free parts of one decoding step, shared by the engine and the tuning replay.

`draft_step` asks the drafter for a draft and lets the length policy cut it; `follow_greedy`
walks a draft tree along the tokens the model wants. The engine feeds it the model's argmax at
each verified node; the replay (samdec.tuning) feeds it the recorded greedy text. One
implementation of each decision, so a replay decides exactly as the engine did.
"""

from __future__ import annotations

from collections.abc import Callable

from .drafters.base import Draft, Drafter, chain


def draft_step(drafter: Drafter | None, policy, budget: int) -> tuple[Draft, int, int]:
    """(draft to verify, the most tokens it could have had, tokens the drafter offered).

    An empty draft says why in `draft.no_draft` (one of trace.NO_DRAFT), as data.
    """
    if drafter is None:
        return chain([], "none", reason="plain decoding", no_draft="plain"), 0, 0
    limit = max(0, policy.limit(budget))
    # Asked even for 0 tokens: the drafter still reports its matches for the trace.
    offered = drafter.propose(limit)
    proposed = len(offered)
    draft = policy.cut(offered).prefix(max(0, budget))
    if limit == 0:
        draft.reason = f"{offered.reason}; no room left for a draft"
        draft.no_draft = "no_room"
    elif proposed == 0:
        draft.no_draft = "nothing_to_draft"
    elif len(draft) < proposed:
        draft.reason = (
            f"{offered.reason}; length policy ({policy.name}): kept {len(draft)} of {proposed}"
        )
        draft.no_draft = "not_worth_it" if len(draft) == 0 else ""
    return draft, limit, proposed


def children_of(draft: Draft) -> list[list[int]]:
    """children[0]: draft nodes under the start token; children[i + 1]: under draft node i."""
    children: list[list[int]] = [[] for _ in range(len(draft) + 1)]
    for i, p in enumerate(draft.parents):
        children[p + 1].append(i)
    return children


def follow_greedy(draft: Draft, wanted: Callable[[int, int], int]) -> tuple[list[int], int]:
    """Accept the draft path whose every token is the one wanted; (path, bonus token).

    `wanted(input_index, depth)` is the token the model wants after that node (input index 0
    is the start token, draft node i is input i + 1; depth counts accepted tokens so far).
    """
    children = children_of(draft)
    path: list[int] = []
    node = 0
    while True:
        target = wanted(node, len(path))
        nxt = next((c for c in children[node] if draft.tokens[c] == target), None)
        if nxt is None:
            return path, target
        path.append(nxt)
        node = nxt + 1
