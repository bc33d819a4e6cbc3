"""Replay: predict steps, MAT and speedup of any drafting setting without running the model.

Under greedy decoding the output does not depend on how it was drafted. So record one run
(prompt ids, generated ids and, for Token Recycling, the model's top-k next tokens at every
position), then walk the same drafter and length policy the engine uses over that fixed text:
each step's draft is accepted as far as it agrees with the recorded continuation. Cost each
step with the verify-cost curve measured on this hardware.

Exact for the SAM drafters (they only read the text). Approximate for Token Recycling: the
engine also learns from the rejected branches of its draft trees, whose logits a recording of
the text does not hold; the replay learns from the text positions only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import DecodeConfig
from .cost import CostModel
from .drafters import Verified, build_drafter
from .policy import make_policy
from .static_automaton import StaticSuffixAutomaton
from .stepping import draft_step, follow_greedy


@dataclass
class Recording:
    prompt_ids: list[int]
    token_ids: list[int]  # the greedy output
    topk: np.ndarray | None = None  # (len(prompt) + len(output), k): model's top-k after each
    prefill_ms: float = 0.0

    @property
    def text(self) -> list[int]:
        return self.prompt_ids + self.token_ids


@dataclass
class ReplayResult:
    steps: int
    new_tokens: int
    drafted: int
    accepted: int
    predicted_ms: float  # prefill + every step's verify cost
    plain_ms: float  # prefill + one 1-token step per new token
    tokens_by_source: dict[str, int] = field(default_factory=dict)

    @property
    def mat(self) -> float:
        return self.new_tokens / self.steps if self.steps else 0.0

    @property
    def speedup(self) -> float:
        return self.plain_ms / self.predicted_ms if self.predicted_ms else 0.0


def replay(
    recording: Recording,
    config: DecodeConfig,
    cost: CostModel,
    static: StaticSuffixAutomaton | None = None,
    vocab_size: int = 1 << 20,
) -> ReplayResult:
    """Decode the recorded output again, drafting exactly as the engine would."""
    drafter, _ = build_drafter(config, static, vocab_size)
    policy = make_policy(config, cost)
    start = len(recording.prompt_ids)
    out = recording.token_ids[: config.max_new_tokens]
    costs = cost.table(129)
    if drafter is not None:
        drafter.start(recording.prompt_ids)
        if drafter.topk and recording.topk is not None and start > 1:
            keep = min(start - 1, 512)  # as the engine's prefill
            drafter.observe([], _verified(recording, range(start - 1 - keep, start - 1)))
    pos = steps = drafted = accepted = 0
    ms = recording.prefill_ms
    by_source = {"static": 0, "dynamic": 0, "recycling": 0, "pld": 0, "model": 0}
    while pos < len(out):
        # The engine's budget: it cannot know that the recorded text ends here (EOS).
        budget = config.max_new_tokens - pos - 1
        draft, _, _ = draft_step(drafter, policy, budget)
        # What the model wrote next; -1 past the end of the recording (never matches).
        path, bonus = follow_greedy(
            draft, lambda _node, depth, p=pos: out[p + depth] if p + depth < len(out) else -1
        )
        policy.record(draft, path)
        new = ([draft.tokens[i] for i in path] + [bonus])[: len(out) - pos]
        path = path[: len(new)]  # the engine keeps nothing after EOS either
        if drafter is not None:
            # The positions whose logits a real step computed and that lie on the text: the
            # start token and the accepted path (rejected branches are not in the recording).
            verified = None
            if drafter.topk and recording.topk is not None:
                verified = _verified(recording, range(start + pos - 1, start + pos + len(path)))
            drafter.observe(new, verified)
        steps += 1
        drafted += len(draft)
        accepted += len(path)
        if draft.source in by_source:
            by_source[draft.source] += len(path)
        by_source["model"] += len(new) > len(path)
        ms += float(costs[1 + len(draft)]) if 1 + len(draft) < len(costs) else cost(1 + len(draft))
        pos += len(new)
    return ReplayResult(
        steps=steps,
        new_tokens=len(out),
        drafted=drafted,
        accepted=accepted,
        predicted_ms=ms,
        plain_ms=recording.prefill_ms + len(out) * float(costs[1]),
        tokens_by_source=by_source,
    )


def _verified(recording: Recording, positions: range) -> Verified:
    text = recording.text
    idx = np.asarray(list(positions), dtype=np.int64)
    assert recording.topk is not None
    return Verified(np.asarray(text, dtype=np.int64)[idx], recording.topk[idx])


def record(engine, prompt_ids: list[int], max_new_tokens: int, k: int = 8) -> Recording:
    """One greedy run, plus the model's top-k next tokens at every position of the text.

    The top-k come from one teacher-forced forward pass over prompt + output: what the model
    predicts after each position, which is what Token Recycling's table stores.
    """
    from .config import DecodeConfig

    trace = engine.generate(prompt_ids, DecodeConfig(method="ar", max_new_tokens=max_new_tokens))
    text = list(prompt_ids) + trace.token_ids
    runner = engine.runner
    logits = runner.verify(runner.new_cache(), text, list(range(-1, len(text) - 2)))
    topk = logits.topk(k, dim=-1).indices.cpu().numpy().astype(np.int64)
    return Recording(list(prompt_ids), trace.token_ids, topk, trace.summary.prefill_ms)


def recording_to_dict(rec: Recording) -> dict:
    return {
        "prompt_ids": rec.prompt_ids,
        "token_ids": rec.token_ids,
        "topk": rec.topk.tolist() if rec.topk is not None else None,
        "prefill_ms": rec.prefill_ms,
    }


def recording_from_dict(data: dict) -> Recording:
    topk = data.get("topk")
    return Recording(
        list(data["prompt_ids"]),
        list(data["token_ids"]),
        np.asarray(topk, dtype=np.int64) if topk is not None else None,
        float(data.get("prefill_ms", 0.0)),
    )


def sweep(
    recordings: list[Recording],
    base: DecodeConfig,
    l_biases: list[int],
    l_thresholds: list[int],
    cost: CostModel,
    static: StaticSuffixAutomaton | None = None,
    vocab_size: int = 1 << 20,
    policies: tuple[str, ...] = ("cost",),
    draft_lens: tuple[int, ...] = (),
) -> list[dict]:
    """Predicted steps, MAT and speedup for every (policy, draft_len, l_bias, l_threshold)."""
    from dataclasses import replace
    from itertools import product

    rows = []
    grid = product(policies, draft_lens or (base.draft_len,), l_biases, l_thresholds)
    for policy, draft_len, bias, threshold in grid:
        config = replace(
            base, draft_policy=policy, draft_len=draft_len, l_bias=bias, l_threshold=threshold
        )
        results = [replay(r, config, cost, static, vocab_size) for r in recordings]
        steps = sum(x.steps for x in results)
        tokens = sum(x.new_tokens for x in results)
        predicted_ms = sum(x.predicted_ms for x in results)
        shares: dict[str, int] = {}
        for x in results:
            for src, n in x.tokens_by_source.items():
                shares[src] = shares.get(src, 0) + n
        rows.append(
            {
                "draft_policy": policy,
                "draft_len": draft_len,
                "l_bias": bias,
                "l_threshold": threshold,
                "steps": steps,
                "mat": tokens / steps if steps else 0.0,
                "predicted_ms": predicted_ms,
                "speedup": sum(x.plain_ms for x in results) / max(1e-9, predicted_ms),
                "tokens_by_source": shares,
            }
        )
    return rows
