"""Seeded sampling that drafting cannot change: Gumbel-max with noise per output position.

Plain sampling picks token n as argmax(log p_n + G_n), where G_n is a vector of independent
standard Gumbel noise: by the Gumbel-max theorem that token is distributed exactly as p_n.
Here G_n is a function of the seed and the position n alone, so the text a seed gives does not
depend on how many random numbers earlier steps drew, nor on what was drafted.

Verification then needs no randomness of its own. At each node of the draft walk the sampled
token is argmax(log p + G) for that node's position; the child drafting that token is accepted
(so a drafted token x is accepted with probability p(x), a set of siblings with the sum of
theirs), and when no child drafted it, it is the bonus token. Speculative sampling with a seed
therefore writes exactly the tokens plain sampling writes with that seed, for every method,
draft policy and cost curve (same device and dtype), and its distribution is the model's.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .drafters.base import Draft
from .stepping import follow_greedy

_MASK64 = (1 << 64) - 1
_TINY = torch.finfo(torch.float64).tiny


def _mix(seed: int, position: int) -> int:
    """A 64-bit generator seed for (seed, position): splitmix64 of both, so nearby seeds and
    positions give unrelated streams."""
    z = (seed * 0x9E3779B97F4A7C15 + position + 1) & _MASK64
    for shift, mult in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
        z = ((z ^ (z >> shift)) * mult) & _MASK64
    return z ^ (z >> 31)


class PositionNoise:
    """Standard Gumbel noise for each output position, drawn from (seed, position) only."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def gumbel(self, position: int, size: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(_mix(self.seed, position))
        uniform = torch.rand(size, generator=generator, dtype=torch.float64)
        return -torch.log(-torch.log(uniform.clamp_min(_TINY)))


def target_probs(logits: torch.Tensor, temperature: float, top_p: float = 1.0) -> torch.Tensor:
    """The distribution sampled from: softmax(logits / temperature), then the nucleus (the
    smallest set of most likely tokens reaching top_p), float64 on the CPU."""
    probs = torch.softmax(logits.double().cpu() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
        probs /= probs.sum()
    return probs


def sampled_token(probs: torch.Tensor, gumbel: torch.Tensor) -> int:
    """argmax(log p + G): a token drawn from `probs` by the noise `gumbel`."""
    return int((probs.log() + gumbel).argmax())


def accept_sampled(
    draft: Draft,
    probs_at: Callable[[int], torch.Tensor],
    noise: PositionNoise,
    position: int,
) -> tuple[list[int], int]:
    """(accepted draft indices along one path, bonus token) for a sampled step.

    `probs_at(input_index)` is the target distribution after that input (0 is the start
    token, draft node i is input i + 1); `position` is the output position of the first new
    token. Only the nodes on the accepted path are evaluated.
    """

    def wanted(node: int, depth: int) -> int:
        probs = probs_at(node)
        return sampled_token(probs, noise.gumbel(position + depth, probs.numel()))

    return follow_greedy(draft, wanted)
