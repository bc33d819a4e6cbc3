"""A trace as the panels see it: finished (a `Trace`, its dict or its JSON) or still running.

Everything downstream takes a `TraceView`. It holds only plain data (the engine's `StepEvent`s,
token ids, token texts, the decoding settings) and derives what several panels need: which
source each output token came from, the context a step started from, the counts for the stat
cards. Decisions come from the trace's fields (`drafter`, `rule_source`, `no_draft`,
`policy_cut`) and the method table (`samdec.methods`), never from the engine's wording in
`reason`, which is only ever shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from samdec.methods import Method, method
from samdec.rule import choose_source
from samdec.trace import RunSummary, StepEvent, Trace, tokens_by_source


@dataclass
class TokenSpan:
    """One generated token and where it came from."""

    index: int  # position among the generated tokens
    step: int
    token: int
    text: str
    source: str  # "static" | "dynamic" | "recycling" | "pld" (an accepted draft token) | "model"


@dataclass
class TraceView:
    prompt_ids: list[int]
    steps: list[StepEvent]
    pieces: dict[int, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    summary: RunSummary | None = None
    text: str | None = None
    wall_ms: float | None = None  # elapsed time of a running generation (summary has the final)
    prompt: str = ""

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_trace(cls, trace: Trace, prompt: str = "") -> TraceView:
        pieces = {int(k): v for k, v in trace.pieces.items()}
        return cls(
            prompt_ids=list(trace.prompt_ids),
            steps=list(trace.steps),
            pieces=pieces,
            config=dict(trace.summary.config),
            summary=trace.summary,
            text=trace.text,
            prompt=prompt,
        )

    @classmethod
    def from_events(
        cls,
        prompt_ids: list[int],
        events: Iterable[StepEvent],
        config: Mapping[str, Any],
        pieces: Mapping[int, str] | None = None,
        wall_ms: float | None = None,
        prompt: str = "",
    ) -> TraceView:
        """A generation in progress: the steps so far (their texts come with the events)."""
        steps = list(events)
        table = {int(k): v for k, v in (pieces or {}).items()}
        for ev in steps:
            table.update(zip(ev.draft_tokens, ev.draft_pieces, strict=False))
            table.update(zip(ev.new_tokens, ev.new_pieces, strict=False))
        return cls(list(prompt_ids), steps, table, dict(config), wall_ms=wall_ms, prompt=prompt)

    # ------------------------------------------------------------------ basic facts
    @property
    def done(self) -> bool:
        return self.summary is not None

    @property
    def token_ids(self) -> list[int]:
        return [t for ev in self.steps for t in ev.new_tokens]

    @property
    def num_steps(self) -> int:
        return len(self.steps)

    @property
    def method(self) -> str:
        return str(self.config.get("method", self.summary.method if self.summary else "?"))

    @property
    def l_bias(self) -> int:
        return int(self.config.get("l_bias", 5))

    @property
    def l_threshold(self) -> int:
        return int(self.config.get("l_threshold", 5))

    @property
    def decoding(self) -> Method:
        """The method's row of the method table. A view without a known method (nothing run
        yet) draws as plain decoding: a panel explains nothing rather than fail."""
        try:
            return method(self.method)
        except ValueError:
            return method("ar")

    @property
    def uses_automata(self) -> bool:
        return self.decoding.automata

    @property
    def has_static(self) -> bool:
        """Did the run read a static automaton? The method must, and the recorded config says
        whether one was there (`static_corpus`: its tokens, 0 without; a config from before
        that key counts as having one)."""
        if not self.decoding.static or not self.config.get("use_static", True):
            return False
        return int(self.config.get("static_corpus", 1) or 0) > 0

    @property
    def has_auxiliary(self) -> bool:
        """Does the SAM rule fall back to Token Recycling (rather than to no draft)?"""
        return self.decoding.rule and self.decoding.recycling

    def piece(self, token: int) -> str:
        if int(token) < 0:  # the static corpus's document separator
            return "⟂"
        return self.pieces.get(int(token), f"<{int(token)}>")

    def piece_fn(self, fallback: Callable[[int], str] | None = None) -> Callable[[int], str]:
        """Token text: the trace's table first, then `fallback` (e.g. the tokenizer)."""

        def lookup(token: int) -> str:
            token = int(token)
            if token < 0:  # the static corpus's document separator
                return "⟂"
            if token in self.pieces:
                return self.pieces[token]
            return fallback(token) if fallback is not None else f"<{token}>"

        return lookup

    def clamp(self, step: int | None) -> int:
        """A valid step index (the last one for None); -1 when there are no steps."""
        if not self.steps:
            return -1
        if step is None:
            return len(self.steps) - 1
        return max(0, min(int(step), len(self.steps) - 1))

    # ------------------------------------------------------------------ derived data
    def spans(self, upto: int | None = None) -> list[TokenSpan]:
        """Generated tokens of steps 0..upto, each with its source."""
        last = self.clamp(upto)
        out: list[TokenSpan] = []
        for ev in self.steps[: last + 1]:
            accepted = len(ev.accepted_indices)
            for j, (tok, text) in enumerate(zip(ev.new_tokens, _texts(ev, self), strict=True)):
                source = ev.drafter if j < accepted and ev.drafter != "none" else "model"
                out.append(TokenSpan(len(out), ev.step, tok, text, source))
        return out

    def context_before(self, step: int) -> list[int]:
        """The token ids the drafter saw when `step` began: prompt + tokens of earlier steps."""
        ids = list(self.prompt_ids)
        for ev in self.steps[: max(step, 0)]:
            ids.extend(ev.new_tokens)
        return ids

    def step_offsets(self) -> list[int]:
        """Index (among generated tokens) of each step's first appended token."""
        offsets, n = [], 0
        for ev in self.steps:
            offsets.append(n)
            n += len(ev.new_tokens)
        return offsets

    def has_match_info(self, step: StepEvent) -> bool:
        """Did this step consult the automata (so its match lengths mean something)? Every
        step of a method that uses them does, even one with no room for a draft: the drafter
        is asked for a draft of 0 tokens and still reports its matches."""
        return self.uses_automata and step.no_draft != "plain"

    def rule_words(self, step: StepEvent) -> str:
        """The rule, in the one form every panel prints, with this step's numbers and its
        outcome ("static 12 > dynamic 0 + l_bias 5 -> static; match 12 >= l_threshold 5 ->
        static drafts"); "" for a method without the rule or a step without matches."""
        if not (self.decoding.rule and self.has_match_info(step)):
            return ""
        return choose_source(
            step.match_static,
            step.match_dynamic,
            self.l_bias,
            self.l_threshold,
            self.has_static,
            self.has_auxiliary,
        )[2]

    @property
    def verify_cost(self) -> dict[int, float]:
        """The run's verify-cost curve, ms by tokens verified ({} for traces from before it)."""
        points = self.summary.verify_cost if self.summary is not None else {}
        points = points or self.config.get("verify_cost", {})
        return {int(q): float(ms) for q, ms in points.items()}

    def totals(self) -> dict[str, Any]:
        """Counts and rates for the stat cards."""
        drafted = sum(len(ev.draft_tokens) for ev in self.steps)
        accepted = sum(ev.accepted for ev in self.steps)
        tokens = sum(len(ev.new_tokens) for ev in self.steps)
        if self.summary is not None:
            tps = self.summary.tokens_per_s
        elif self.wall_ms:
            tps = tokens / (self.wall_ms / 1000.0)
        else:
            tps = 0.0
        return {
            "tokens": tokens,
            "steps": len(self.steps),
            "mat": tokens / len(self.steps) if self.steps else 0.0,
            "tokens_per_s": tps,
            "drafted": drafted,
            "accepted": accepted,
            "rejected": drafted - accepted,
            "acceptance": accepted / drafted if drafted else 0.0,
            "by_source": tokens_by_source(self.steps),
            "stop_reason": self.summary.stop_reason if self.summary else "",
        }


def _texts(ev: StepEvent, view: TraceView) -> list[str]:
    if len(ev.new_pieces) == len(ev.new_tokens):
        return list(ev.new_pieces)
    return [view.piece(t) for t in ev.new_tokens]


def as_view(obj: Any) -> TraceView:
    """A TraceView from a TraceView, a Trace, a Trace dict, or its JSON text (or a path-less
    JSON string)."""
    if isinstance(obj, TraceView):
        return obj
    if isinstance(obj, Trace):
        return TraceView.from_trace(obj)
    if isinstance(obj, str | bytes):
        obj = json.loads(obj)
    if isinstance(obj, Mapping):
        return TraceView.from_trace(Trace.from_dict(dict(obj)))
    raise TypeError(f"cannot make a trace view from {type(obj).__name__}")
