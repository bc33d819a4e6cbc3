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

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import DecodeConfig
from .cost import CostModel
from .drafters import Verified, build_drafter
from .policy import make_policy
from .static_automaton import StaticSuffixAutomaton
from .stepping import draft_step, follow_greedy

log = logging.getLogger(__name__)


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

    # A warm-up first: a cold first pass would time the prefill, and skew every prediction.
    engine.generate(prompt_ids, DecodeConfig(method="ar", max_new_tokens=1))
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


@dataclass(frozen=True)
class Grid:
    """The settings a sweep tries: every (policy, draft_len, l_bias, l_threshold) of these."""

    l_biases: tuple[int, ...]
    l_thresholds: tuple[int, ...]
    policies: tuple[str, ...] = ("cost",)
    draft_lens: tuple[int, ...] = ()  # none: the base config's draft_len

    def __post_init__(self) -> None:  # lists and ranges too, kept as tuples
        for name in ("l_biases", "l_thresholds", "policies", "draft_lens"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


def sweep(
    recordings: list[Recording],
    base: DecodeConfig,
    grid: Grid,
    cost: CostModel,
    static: StaticSuffixAutomaton | None = None,
    vocab_size: int = 1 << 20,
) -> list[dict]:
    """Predicted steps, MAT and speedup for every setting of `grid`, on top of `base`."""
    from dataclasses import replace
    from itertools import product

    rows = []
    settings = product(
        grid.policies, grid.draft_lens or (base.draft_len,), grid.l_biases, grid.l_thresholds
    )
    for policy, draft_len, bias, threshold in settings:
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
                "new_tokens": tokens,
                "drafted": sum(x.drafted for x in results),
                "accepted": sum(x.accepted for x in results),
                "mat": tokens / steps if steps else 0.0,
                "predicted_ms": predicted_ms,
                "speedup": sum(x.plain_ms for x in results) / max(1e-9, predicted_ms),
                "tokens_by_source": shares,
            }
        )
    return rows


# ------------------------------------------------------------------- other hardware's curves

# Verify-cost curves measured on a GPU, where a run of scripts/ writes one: a calibration record
# ({"device": key, "points": {q: ms}}, what samdec.runtime.calibration caches) or the structure
# of benchmarks/verify_cost.json (rows of {"verify_ms": {q: ms}}, with a "device").
GPU_COST_ARTIFACTS = (Path(__file__).resolve().parents[1] / "benchmarks" / "verify_cost_gpu.json",)
HERE, FLAT, GPU = "here", "flat", "gpu"


def flat_curve(cost: CostModel) -> CostModel:
    """A pass over any number of tokens costs what one token costs on `cost` (a GPU running a
    small model is close to this up to dozens of tokens): the same per-token time as here,
    only the curve's shape swapped."""
    one = float(cost(1))
    return CostModel({1: one, 2: one}, device=f"flat at {one:.1f} ms (predicted)")


def _cuda_points(data: dict) -> tuple[str, dict] | None:
    """(device, {q: ms}) of the artifact's first curve measured on cuda, or None."""
    if isinstance(data.get("points"), dict):
        curves = [(str(data.get("device", "")), data["points"])]
    else:
        device = data.get("device") or data.get("receipt", {}).get("machine", {}).get("device")
        curves = [
            (str(row.get("device") or device or ""), row.get("verify_ms") or {})
            for row in data.get("rows", [])
            if isinstance(row, dict)
        ]
    for device, points in curves:
        if "cuda" in device.lower() and points:
            return device, points
    return None


def _model_of(key: str) -> str:
    return key.split("|", 1)[0] if "|" in key else ""


def gpu_curve(cost: CostModel, paths=GPU_COST_ARTIFACTS) -> CostModel | None:
    """The first GPU verify-cost curve found in `paths` for the model `cost` was measured on
    (when both name one), or None: there is nothing to predict a GPU from."""
    for path in map(Path, paths):
        try:
            found = _cuda_points(json.loads(path.read_text()))
            if found is None:
                continue
            device, points = found
            curve = CostModel({int(q): float(ms) for q, ms in points.items()}, device)
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            if path.exists():
                log.warning("the GPU verify-cost curve in %s is unreadable: %s", path, exc)
            continue
        mine, theirs = _model_of(cost.device), _model_of(device)
        if mine and theirs and mine != theirs:
            log.info("skipping the GPU curve in %s: measured for %s, not %s", path, theirs, mine)
            continue
        return curve
    return None


def other_curves(cost: CostModel, paths=GPU_COST_ARTIFACTS) -> list[tuple[str, CostModel]]:
    """The curves to predict this run on besides its own: the flat one, and a GPU's when an
    artifact of one exists."""
    curves = [(FLAT, flat_curve(cost))]
    gpu = gpu_curve(cost, paths)
    if gpu is not None:
        curves.append((GPU, gpu))
    return curves


def sweep_curves(
    recordings: list[Recording],
    base: DecodeConfig,
    grid: Grid,
    cost: CostModel,
    static: StaticSuffixAutomaton | None = None,
    vocab_size: int = 1 << 20,
    paths=GPU_COST_ARTIFACTS,
) -> list[dict]:
    """The sweep on this machine's curve, then on each other curve (other_curves): the same
    recorded drafts replayed with only the curve swapped, the length policy pricing with it
    too. One panel per curve: {"kind", "device", "points", "prefill_scale", "rows"}. On a
    curve whose 1-token pass differs from this machine's, the recorded prefill is scaled by the
    same ratio (an estimate: the prefill was timed here)."""
    from dataclasses import replace

    def panel(kind: str, curve: CostModel, scale: float) -> dict:
        recs = [replace(r, prefill_ms=r.prefill_ms * scale) for r in recordings]
        rows = sweep(recs, base, grid, curve, static, vocab_size)
        points = {str(q): ms for q, ms in curve.priced_points()}
        return {"kind": kind, "device": curve.device, "points": points,
                "prefill_scale": scale, "rows": rows}  # fmt: skip

    one = float(cost(1)) or 1.0
    panels = [panel(HERE, cost, 1.0)]
    for kind, curve in other_curves(cost, paths):
        panels.append(panel(kind, curve, float(curve(1)) / one))
    return panels
