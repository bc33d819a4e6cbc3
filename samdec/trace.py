"""The step trace: what the engine did at every verification step, as plain data.

Everything here is a dataclass of ints, floats, strings and lists, so a trace survives
`json.dumps` and can be rendered by code that has never imported torch (the `visuals` package,
a browser, a notebook). The engine writes it; nothing downstream reaches into the engine.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# Where a draft came from. "none" means the step verified no draft (plain decoding step).
SOURCES = ("static", "dynamic", "recycling", "pld", "none")

# Why a step verified no draft, as data (StepEvent.no_draft); the panels explain each in words.
NO_DRAFT = {
    "": "a draft was verified",
    "plain": "plain decoding: no drafter",
    "no_room": "one token left to generate: no room for a draft",
    "nothing_to_draft": "the drafter the rule chose had nothing to draft",
    "not_worth_it": "the length policy dropped the whole draft: verifying it would cost more "
    "time than it is expected to save",
}


@dataclass
class StepEvent:
    step: int  # 0-based index of the verification step
    context_length: int  # tokens in the context (prompt + generated) when the step started
    start_token: int  # the last context token; the draft continues it
    match_static: int  # longest suffix of the context found in the static corpus (0 if none)
    match_dynamic: int  # longest suffix of the context that occurred earlier in the context
    # Static automaton state of that match (-1 without a static automaton). A static draft is
    # read right after the state's end position in the corpus, so this also names the corpus
    # document it came from (visuals/corpus_card.py).
    state_static: int
    state_dynamic: int  # dynamic automaton state of that match (-1 when not tracked)
    drafter: str  # one of SOURCES
    reason: str  # why this drafter was chosen, in words
    draft_tokens: list[int]  # the drafted tokens, in the order they were verified
    draft_parents: list[int]  # parent index of each draft node; -1 = the start token (chain: i-1)
    accepted_indices: list[int]  # draft nodes accepted, root to leaf (a path of the tree)
    bonus_token: int  # the model's own token that ends a step (-1: cut off by EOS / stop string)
    new_tokens: list[int]  # what the step appended: accepted draft tokens, then the bonus token
    draft_us: float  # time spent drafting (automata, drafter choice, cutting), microseconds
    verify_ms: float  # time spent in the model's forward and the acceptance test, milliseconds
    draft_limit: int = 0  # the most draft tokens this step could take (policy cap, budget)
    proposed: int = 0  # draft tokens the drafter offered, before the length policy cut them
    rule_source: str = ""  # the drafter the decision rule picked (even if nothing was verified)
    no_draft: str = ""  # why no draft was verified: a key of NO_DRAFT ("" when one was)
    policy_cut: int = 0  # draft tokens the length policy removed from what the drafter offered
    # Draft nodes verified that were grafted into a recycling tree from a short automaton
    # match (method sam+graft), and how many of them were accepted.
    grafted: int = 0
    grafted_accepted: int = 0
    # The length policy's estimate of tokens this step appends (bonus included) if it verifies
    # what it kept / everything it was offered (up to draft_limit). 0: the policy (fixed) does
    # not estimate.
    expected_tokens: float = 0.0
    expected_offered: float = 0.0
    # The verify-cost curve's price (RunSummary.verify_cost) of verifying what was kept / the
    # whole offer, start token included, in milliseconds.
    cost_ms: float = 0.0
    cost_offered_ms: float = 0.0
    # The model's most likely next tokens at the position of each appended token, and their
    # probabilities (softmax at temperature 1): near-ties show where a draft was almost right.
    top_tokens: list[list[int]] = field(default_factory=list)
    top_probs: list[list[float]] = field(default_factory=list)
    draft_pieces: list[str] = field(default_factory=list)  # text of each draft token
    new_pieces: list[str] = field(default_factory=list)  # text of each appended token

    @property
    def accepted(self) -> int:
        return len(self.accepted_indices)

    @property
    def rejected_indices(self) -> list[int]:
        accepted = set(self.accepted_indices)
        return [i for i in range(len(self.draft_tokens)) if i not in accepted]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["accepted"] = self.accepted
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepEvent:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class RunSummary:
    method: str
    prompt_tokens: int
    new_tokens: int
    steps: int
    mat: float  # mean tokens appended per step, bonus included (plain decoding: 1.0)
    tokens_per_s: float  # new tokens / (prefill + decoding wall time)
    prefill_ms: float
    decode_ms: float
    stop_reason: str  # "eos" | "max_new_tokens" | "stop_string" | "context_limit" | "cancelled"
    tokens_by_source: dict[str, int] = field(
        default_factory=dict
    )  # accepted draft tokens + "model"
    config: dict[str, Any] = field(default_factory=dict)  # the decoding settings used
    # The engine's verify-cost curve: ms to verify q tokens in one pass, by q (JSON keys are
    # text), as the length policy priced drafts; and where it came from (measured on which
    # device, or the default table).
    verify_cost: dict[str, float] = field(default_factory=dict)
    verify_cost_source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Trace:
    text: str
    token_ids: list[int]  # generated ids only
    steps: list[StepEvent]
    summary: RunSummary
    prompt_ids: list[int] = field(default_factory=list)
    # Text of every token id in the prompt, the output and the drafts (JSON keys are strings).
    pieces: dict[str, str] = field(default_factory=dict)

    def piece(self, token: int) -> str:
        return self.pieces.get(str(token), f"<{token}>")

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "token_ids": self.token_ids,
            "steps": [s.to_dict() for s in self.steps],
            "summary": self.summary.to_dict(),
            "prompt_ids": self.prompt_ids,
            "pieces": self.pieces,
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def validate(self) -> None:
        """ValueError naming the first field that is not what the engine writes (for traces
        from outside, e.g. an uploaded file: the panels may then trust every field)."""
        _ints("token_ids", self.token_ids)
        _ints("prompt_ids", self.prompt_ids)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.pieces.items()):
            raise ValueError("pieces must map token ids (text) to text")
        for ev in self.steps:
            _check_step(ev)
        if [t for ev in self.steps for t in ev.new_tokens] != self.token_ids:
            raise ValueError("the steps' new tokens do not add up to token_ids")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        summary_fields = RunSummary.__dataclass_fields__
        return cls(
            text=data["text"],
            token_ids=list(data["token_ids"]),
            steps=[StepEvent.from_dict(s) for s in data["steps"]],
            summary=RunSummary(**{k: v for k, v in data["summary"].items() if k in summary_fields}),
            prompt_ids=list(data.get("prompt_ids", [])),
            pieces=dict(data.get("pieces", {})),
        )


_STEP_INTS = ("step", "context_length", "start_token", "match_static", "match_dynamic",
              "state_static", "state_dynamic", "bonus_token", "draft_limit", "proposed",
              "policy_cut", "grafted", "grafted_accepted")  # fmt: skip
_STEP_INT_LISTS = ("draft_tokens", "draft_parents", "accepted_indices", "new_tokens")
_STEP_FLOATS = ("expected_tokens", "expected_offered", "cost_ms", "cost_offered_ms")


def _ints(name: str, value: Any) -> None:
    if not isinstance(value, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in value
    ):
        raise ValueError(f"{name} must be a list of whole numbers")


def _check_step(ev: StepEvent) -> None:
    where = f"step {ev.step!r}"
    for name in _STEP_INTS:
        value = getattr(ev, name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{where}: {name} must be a whole number")
    for name in _STEP_INT_LISTS:
        _ints(f"{where}: {name}", getattr(ev, name))
    for name in ("draft_us", "verify_ms", *_STEP_FLOATS):
        if not isinstance(getattr(ev, name), int | float):
            raise ValueError(f"{where}: {name} must be a number")
    if ev.drafter not in SOURCES or ev.no_draft not in NO_DRAFT:
        raise ValueError(f"{where}: unknown drafter or no_draft value")
    n = len(ev.draft_tokens)
    if len(ev.draft_parents) != n or any(not -1 <= p < i for i, p in enumerate(ev.draft_parents)):
        raise ValueError(f"{where}: draft_parents must give each draft node an earlier parent")
    if any(not 0 <= i < n for i in ev.accepted_indices):
        raise ValueError(f"{where}: accepted_indices must point into the draft")
    if not 0 <= ev.grafted_accepted <= min(ev.grafted, ev.accepted) or ev.grafted > n:
        raise ValueError(f"{where}: grafted counts must fit the draft and its accepted path")
    for name in ("reason", "rule_source"):
        if not isinstance(getattr(ev, name), str):
            raise ValueError(f"{where}: {name} must be text")
    for name in ("draft_pieces", "new_pieces"):
        if not all(isinstance(x, str) for x in getattr(ev, name)):
            raise ValueError(f"{where}: {name} must be a list of text")
    _check_top(where, ev)


def _check_top(where: str, ev: StepEvent) -> None:
    tokens, probs = ev.top_tokens, ev.top_probs
    if not isinstance(tokens, list) or not isinstance(probs, list) or len(tokens) != len(probs):
        raise ValueError(f"{where}: top_tokens and top_probs must be lists of equal length")
    for row, p in zip(tokens, probs, strict=True):
        _ints(f"{where}: top_tokens", row)
        if not isinstance(p, list) or len(p) != len(row):
            raise ValueError(f"{where}: top_probs must match top_tokens")
        if not all(isinstance(x, int | float) and 0 <= x <= 1 for x in p):
            raise ValueError(f"{where}: top_probs must be probabilities")


def tokens_by_source(steps: list[StepEvent]) -> dict[str, int]:
    """Generated tokens by where they came from: accepted draft tokens per drafter, and the
    model's own (bonus) tokens."""
    by_source = {s: 0 for s in SOURCES if s != "none"}
    by_source["model"] = 0
    for ev in steps:
        if ev.drafter in by_source:
            by_source[ev.drafter] += ev.accepted
        by_source["model"] += ev.bonus_token >= 0
    return by_source


def summarize(
    method: str,
    prompt_tokens: int,
    steps: list[StepEvent],
    new_tokens: int,
    prefill_ms: float,
    decode_ms: float,
    stop_reason: str,
    config: dict[str, Any],
) -> RunSummary:
    by_source = tokens_by_source(steps)
    seconds = (prefill_ms + decode_ms) / 1000.0
    return RunSummary(
        method=method,
        prompt_tokens=prompt_tokens,
        new_tokens=new_tokens,
        steps=len(steps),
        mat=new_tokens / len(steps) if steps else 0.0,
        tokens_per_s=new_tokens / seconds if seconds > 0 else 0.0,
        prefill_ms=prefill_ms,
        decode_ms=decode_ms,
        stop_reason=stop_reason,
        tokens_by_source=by_source,
        config=config,
    )
