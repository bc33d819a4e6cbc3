"""Attention inputs for verifying a draft tree in one forward pass.

Each node sees the cached past, its ancestors and itself, and sits at position past + its
depth, so its logits are those of a plain forward over its own path. A chain needs none of
this: the causal mask is already right for it.
"""

from __future__ import annotations

import numpy as np
import torch


def is_chain(parents: list[int]) -> bool:
    """Whether draft nodes with these parents form one chain (-1, 0, 1, ...)."""
    return all(p == i - 1 for i, p in enumerate(parents))


def tree_inputs(parents: list[int], past: int, dtype, device) -> dict[str, torch.Tensor]:
    """The forward's extra inputs for a draft tree after `past` cached tokens: each node (the
    start token, then draft node i under `parents[i]`, -1 for the start token) sees the past,
    its ancestors and itself (a 4D additive mask), at position past + its depth."""
    q = len(parents) + 1
    full_parents = [-1] + [p + 1 for p in parents]
    allowed = np.zeros((q, q), dtype=bool)
    depth = np.zeros(q, dtype=np.int64)
    for i in range(q):
        allowed[i, i] = True
        if full_parents[i] >= 0:
            allowed[i] |= allowed[full_parents[i]]
            depth[i] = depth[full_parents[i]] + 1
    mask = torch.zeros((1, 1, q, past + q), dtype=dtype, device=device)
    mask[0, 0, :, past:] = torch.where(
        torch.from_numpy(allowed).to(device),
        torch.tensor(0.0, dtype=dtype, device=device),
        torch.tensor(torch.finfo(dtype).min, dtype=dtype, device=device),
    )
    position_ids = torch.from_numpy(depth + past).to(device).unsqueeze(0)
    return {"attention_mask": mask, "position_ids": position_ids}
