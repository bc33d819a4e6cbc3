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

# The key of a live run's trace config that records the page's share of the run: the time the
# decoding waited for the page ("waited_ms", taken out of the run's decoding time) and the
# page's own work ("page_ms"). Its presence says the trace's speed is decoding's alone.
LIVE_PAGE = "live_page"


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
    # A running generation's decoding time so far, without the page's own work (a finished
    # run's is in its summary).
    decoding_ms: float | None = None
    prompt: str = ""
    # The live page's own work for this run (rendering its panels), kept out of the speed;
    # None: not known (a trace that was not decoded live in the page).
    page_ms: float | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_trace(cls, trace: Trace, prompt: str = "") -> TraceView:
        pieces = {int(k): v for k, v in trace.pieces.items()}
        page = trace.summary.config.get(LIVE_PAGE) or {}
        return cls(
            prompt_ids=list(trace.prompt_ids),
            steps=list(trace.steps),
            pieces=pieces,
            config=dict(trace.summary.config),
            summary=trace.summary,
            text=trace.text,
            prompt=prompt,
            page_ms=page.get("page_ms"),
        )

    @classmethod
    def from_events(
        cls,
        prompt_ids: list[int],
        events: Iterable[StepEvent],
        config: Mapping[str, Any],
        pieces: Mapping[int, str] | None = None,
        decoding_ms: float | None = None,
        prompt: str = "",
        page_ms: float | None = None,
    ) -> TraceView:
        """A generation in progress: the steps so far (their texts come with the events);
        `decoding_ms`: its decoding time so far; `page_ms`: the live page's work so far."""
        steps = list(events)
        table = {int(k): v for k, v in (pieces or {}).items()}
        for ev in steps:
            table.update(zip(ev.draft_tokens, ev.draft_pieces, strict=False))
            table.update(zip(ev.new_tokens, ev.new_pieces, strict=False))
        return cls(
            list(prompt_ids),
            steps,
            table,
            dict(config),
            decoding_ms=decoding_ms,
            prompt=prompt,
            page_ms=page_ms,
        )

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
        elif self.decoding_ms:
            tps = tokens / (self.decoding_ms / 1000.0)
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
            "page_s": self.page_ms / 1000.0 if self.page_ms is not None else None,
        }

    def speed_cards(self) -> list[tuple[str, str]]:
        """The stat cards of speed, (label, value), each label saying what its time includes:
        decoding alone (a live run's page work taken out, and shown on a card of its own), or
        whatever the trace recorded (a trace from a file or from elsewhere)."""
        t = self.totals()
        speed = f"{t['tokens_per_s']:.1f}"
        if not self.steps and self.summary is None and t["page_s"] is None:
            return [("tokens / s", speed)]  # nothing run yet
        if t["page_s"] is None:
            return [("tokens / s · as the trace recorded it", speed)]
        so_far = "" if self.done else " so far"
        return [
            (f"tokens / s{so_far} · decoding alone, not the page's work", speed),
            ("the page's own work · rendering, not in the speed", f"{t['page_s']:.2f} s"),
        ]


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
