"""The verification engine: draft -> verify in one forward pass -> accept -> roll back the cache.

Invariant of the loop: the KV cache holds every context token except the last one (the
"start token"). A step feeds the start token followed by the draft nodes, so the logits at the
start token predict the first draft token, and the logits at a draft node predict its children.
The longest drafted path that agrees with the model is kept, plus the model's own next token
after it (the bonus), which becomes the next start token. The cache then keeps only the start
token and that path, so it again holds everything but the last token.

Greedy decoding keeps a drafted token iff it is the argmax: the output equals plain greedy
decoding. Sampling does the same with the token plain sampling draws at that output position
(Gumbel-max with noise from the seed and the position alone, samdec.sampling): a drafted token
x is kept with probability p(x), and with a seed the output is plain sampling's, token for token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from .config import DecodeConfig
from .cost import CostModel
from .drafters import Draft, Drafter, TokenRecycling, Verified, build_drafter
from .methods import method
from .policy import CostAware, FixedLength, make_policy
from .runner import Runner
from .sampling import PositionNoise, accept_sampled, target_probs
from .static_automaton import StaticSuffixAutomaton
from .stepping import draft_step, follow_greedy
from .trace import StepEvent, Trace, summarize


class Generation:
    """A running generation: iterate for StepEvents; `.trace` is set when it ends."""

    def __init__(self, steps: Iterator[StepEvent]) -> None:
        self._steps = steps
        self.trace: Trace | None = None

    def __iter__(self) -> Iterator[StepEvent]:
        yield from self._steps


@dataclass
class _Run:
    """The state of one generation while it runs."""

    config: DecodeConfig
    drafter: Drafter | None
    policy: CostAware | FixedLength
    note: str  # for the user, when not all is as asked (e.g. no static corpus)
    noise: PositionNoise | None  # sampling only
    ids: list[int]  # prompt + generated; the cache holds all but the last
    generated: list[int] = field(default_factory=list)
    steps: list[StepEvent] = field(default_factory=list)
    cache: Any = None
    prefill_ms: float = 0.0
    decode_start: float = 0.0
    details: bool = False  # record what only the page shows: token texts, top-3 alternatives

    @property
    def topk(self) -> int:
        return self.drafter.topk if self.drafter is not None else 0


class Engine:
    """SAM-Decoding's loop over one model, which it reaches only through `runner` (the seam,
    samdec.runner): `cost` prices drafts for the length policy (the stand-in curve when None;
    samdec.stack.engine_for measures the model's)."""

    def __init__(
        self,
        runner: Runner,
        static: StaticSuffixAutomaton | None = None,
        cost: CostModel | None = None,
    ) -> None:
        self.runner = runner
        self.static = static
        self.cost = cost if cost is not None else CostModel()
        self.vocab_size = runner.vocab_size
        self.max_context = runner.max_context
        self.eos_ids = runner.eos_ids
        self._pieces: dict[int, str] = {}
        self._recycling: TokenRecycling | None = None  # kept for carry_recycling

    @property
    def lock(self):
        """Held around every forward pass (re-entrant): take it to time other model calls
        undisturbed."""
        return self.runner.lock

    def piece(self, token: int) -> str:
        text = self._pieces.get(token)
        if text is None:
            text = self.runner.decode([token])
            self._pieces[token] = text
        return text

    # ----------------------------------------------------------------- drafting set-up
    def make_drafter(self, config: DecodeConfig) -> tuple[Drafter | None, str]:
        """The drafter for a method, and a note for the user (empty when all is as asked)."""
        needs_tree = method(config.method).tree
        keep = self._recycling if config.carry_recycling else None
        drafter, note = build_drafter(
            config,
            self.static,
            self.vocab_size,
            tree_ok=self.runner.supports_trees if needs_tree else True,
            recycling=keep,
            eos_ids=self.eos_ids,
        )
        recycler = getattr(drafter, "auxiliary", drafter)
        if isinstance(recycler, TokenRecycling):
            self._recycling = recycler
        return drafter, note

    def make_policy(self, config: DecodeConfig) -> CostAware | FixedLength:
        return make_policy(config, self.cost)

    # ----------------------------------------------------------------- generation
    def encode(self, prompt: str, chat: bool | None = None) -> list[int]:
        return self.runner.encode(prompt, chat)

    def generate(
        self,
        prompt_ids: list[int],
        config: DecodeConfig | None = None,
        drafter: Drafter | None = None,
        details: bool = False,
        **overrides: Any,
    ) -> Trace:
        """The whole generation's trace; `details` as in `stream`."""
        run = self.stream(prompt_ids, config, drafter=drafter, details=details, **overrides)
        for _ in run:
            pass
        assert run.trace is not None
        return run.trace

    def stream(
        self,
        prompt_ids: list[int],
        config: DecodeConfig | None = None,
        cancel: threading.Event | None = None,
        drafter: Drafter | None = None,
        details: bool = False,
        **overrides: Any,
    ) -> Generation:
        """A generation to iterate step by step. `details`: also record what only a page shows
        (each token's text, the top-3 next tokens with their probabilities); decoding alone,
        as the benchmark runs it, pays nothing for them."""
        config = config or DecodeConfig()
        if overrides:
            config = DecodeConfig(**{**config.to_dict(), **overrides})
        config.validate()
        prompt_ids = [int(t) for t in prompt_ids]
        if not prompt_ids:
            raise ValueError("the prompt is empty")
        if len(prompt_ids) >= self.max_context:
            raise ValueError(
                f"the prompt has {len(prompt_ids)} tokens; this model's context is "
                f"{self.max_context} tokens"
            )
        if any(t < 0 or t >= self.vocab_size for t in prompt_ids):
            raise ValueError(f"prompt token ids must be in [0, {self.vocab_size})")
        generation = Generation(iter(()))
        generation._steps = self._run(prompt_ids, config, cancel, generation, drafter, details)
        return generation

    def _accept(
        self,
        draft: Draft,
        logits: torch.Tensor,
        config: DecodeConfig,
        noise: PositionNoise | None,
        position: int,
    ) -> tuple[list[int], int]:
        """(accepted draft indices along one path, bonus token); `position` is the output
        position of the step's first new token (sampling draws its noise from it)."""
        if config.temperature == 0:
            best = logits.argmax(-1).tolist()
            return follow_greedy(draft, lambda node, _depth: best[node])
        return accept_sampled(
            draft,
            lambda node: target_probs(logits[node], config.temperature, config.top_p),
            noise,
            position,
        )

    def _run(
        self,
        prompt_ids: list[int],
        config: DecodeConfig,
        cancel: threading.Event | None,
        generation: Generation,
        custom_drafter: Drafter | None = None,
        details: bool = False,
    ) -> Iterator[StepEvent]:
        """prefill, then verification steps until a stop, then the trace (see _finish)."""
        run = self._start(prompt_ids, config, custom_drafter)
        run.details = details
        stop_reason = "max_new_tokens"
        while True:
            if cancel is not None and cancel.is_set():
                stop_reason = "cancelled"
                break
            budget = (
                min(config.max_new_tokens - len(run.generated), self.max_context - len(run.ids)) - 1
            )
            if budget < 0:
                stop_reason = "context_limit"
                break
            event, stop = self._step(run, budget)
            yield event
            if stop:
                stop_reason = stop
                break
        generation.trace = self._finish(run, stop_reason)

    def _start(self, prompt_ids: list[int], config: DecodeConfig, custom: Drafter | None) -> _Run:
        """The drafter, the policy and the sampler of a request, and the prefilled cache."""
        if custom is not None:  # any object with the Drafter interface
            drafter, note = custom, f"custom drafter {type(custom).__name__}"
        else:
            drafter, note = self.make_drafter(config)
        noise = None
        if config.temperature > 0:
            if config.seed is None:  # recorded in the trace, so the run can be repeated
                config = replace(config, seed=int(time.time_ns() % (1 << 62)))
            noise = PositionNoise(config.seed)
        run = _Run(config, drafter, self.make_policy(config), note, noise, list(prompt_ids))
        run.cache = self.runner.new_cache()
        t0 = time.perf_counter()
        ids, topk = run.ids, run.topk
        with self.lock, torch.no_grad():
            prompt_top = self._prefill(ids[:-1], run.cache, topk) if len(ids) > 1 else None
            if drafter is not None:
                drafter.start(ids)
                if prompt_top is not None:
                    drafter.observe([], prompt_top)
        run.prefill_ms = (time.perf_counter() - t0) * 1000.0
        run.decode_start = time.perf_counter()
        return run

    def _step(self, run: _Run, budget: int) -> tuple[StepEvent, str]:
        """One verification step: draft, verify in one forward pass, commit. (event, stop)."""
        t_draft = time.perf_counter()
        draft, limit, proposed = draft_step(run.drafter, run.policy, budget)
        draft_us = (time.perf_counter() - t_draft) * 1e6

        past = len(run.ids) - 1
        fed = [run.ids[-1], *draft.tokens]
        t_verify = time.perf_counter()
        with self.lock, torch.no_grad():
            logits = self.runner.verify(run.cache, fed, draft.parents)
            position = len(run.generated)
            path, bonus = self._accept(draft, logits, run.config, run.noise, position)
            self.runner.commit(run.cache, [0] + [i + 1 for i in path], len(fed))
        verify_ms = (time.perf_counter() - t_verify) * 1000.0
        run.policy.record(draft, path)
        rows = [0] + [i + 1 for i in path]
        top_tokens, top_probs = _top_next(logits, rows) if run.details else ([], [])

        new_tokens, path, bonus, stop = self._commit(run, draft, path, bonus)
        t_obs = time.perf_counter()
        if run.drafter is not None and not stop:
            verified = self._verified(fed, logits, run.topk) if run.topk else None
            run.drafter.observe(new_tokens, verified)
        draft_us += (time.perf_counter() - t_obs) * 1e6

        event = StepEvent(
            step=len(run.steps),
            context_length=past + 1,
            start_token=fed[0],
            match_static=draft.match_static,
            match_dynamic=draft.match_dynamic,
            state_static=draft.state_static,
            state_dynamic=draft.state_dynamic,
            drafter=draft.source if len(draft) else "none",
            reason=draft.reason,
            draft_tokens=list(draft.tokens),
            draft_parents=list(draft.parents),
            accepted_indices=path,
            bonus_token=bonus,
            new_tokens=new_tokens,
            draft_us=draft_us,
            verify_ms=verify_ms,
            draft_limit=limit,
            proposed=proposed,
            rule_source=draft.rule_source,
            no_draft=draft.no_draft if not len(draft) else "",
            policy_cut=max(0, min(proposed, limit) - len(draft)),
            grafted=len(draft.graft_nodes),
            grafted_accepted=len(set(draft.graft_nodes).intersection(path)),
            expected_tokens=draft.expected_tokens,
            expected_offered=draft.expected_offered,
            cost_ms=float(self.cost(1 + len(draft))),
            cost_offered_ms=float(self.cost(1 + min(proposed, limit))),
            top_tokens=top_tokens[: len(new_tokens)],
            top_probs=top_probs[: len(new_tokens)],
            draft_pieces=[self.piece(t) for t in draft.tokens] if run.details else [],
            new_pieces=[self.piece(t) for t in new_tokens] if run.details else [],
        )
        run.steps.append(event)
        return event, stop

    def _commit(
        self, run: _Run, draft: Draft, path: list[int], bonus: int
    ) -> tuple[list[int], list[int], int, str]:
        """Append the accepted path and the bonus token, cut at EOS / a stop string / the cap:
        (new tokens, accepted path, bonus or -1 when cut off, stop reason or "")."""
        new_tokens = [draft.tokens[i] for i in path] + [bonus]
        cut, stop = self._stop_point(run.generated, new_tokens, run.config)
        if cut < len(new_tokens):
            new_tokens = new_tokens[:cut]
            path = path[:cut]
            bonus = bonus if cut == len(path) + 1 else -1
        run.ids.extend(new_tokens)
        run.generated.extend(new_tokens)
        return new_tokens, path, bonus, stop

    def _finish(self, run: _Run, stop_reason: str) -> Trace:
        """The trace of a finished run; its config records only what the run really used."""
        config = run.config
        decode_ms = (time.perf_counter() - run.decode_start) * 1000.0
        recorded = config.to_dict()
        # SAM keeps a StaticSAM only when its method reads the corpus and one is loaded.
        used_static = self.static is not None and getattr(run.drafter, "static", None) is not None
        recorded["use_static"] = used_static
        recorded["static_corpus"] = self.static.num_tokens if used_static else 0
        recorded.update(self.runner.facts)
        if run.note:
            recorded["note"] = run.note
        prompt_ids = run.ids[: len(run.ids) - len(run.generated)]
        summary = summarize(
            config.method,
            len(prompt_ids),
            run.steps,
            len(run.generated),
            run.prefill_ms,
            decode_ms,
            stop_reason,
            recorded,
        )
        summary.verify_cost = {str(q): float(ms) for q, ms in sorted(self.cost.points.items())}
        summary.verify_cost_source = self.cost.device
        pieces = self._pieces_of(prompt_ids, run.generated, run.steps) if run.details else {}
        return Trace(
            text=self.runner.decode(run.generated, skip_special=True),
            token_ids=run.generated,
            steps=run.steps,
            summary=summary,
            prompt_ids=prompt_ids,
            pieces=pieces,
        )

    def _pieces_of(self, prompt_ids, generated, steps) -> dict[str, str]:
        ids = set(prompt_ids) | set(generated)
        for step in steps:
            ids.update(step.draft_tokens)
            ids.update(t for row in step.top_tokens for t in row)  # the tooltips' alternatives
        return {str(t): self.piece(t) for t in sorted(ids)}

    def _prefill(self, prompt: list[int], cache, topk: int) -> Verified | None:
        """Fill `cache` with `prompt`; with `topk`, the model's top-k after each of its last
        PROMPT_TOPK tokens, as a Verified that computes rows when a drafter reads them."""
        keep = min(len(prompt), PROMPT_TOPK)
        rows = self.runner.prefill(cache, prompt, top_k=topk, rows=keep)
        if rows is None:
            return None
        return Verified(np.asarray(prompt[-keep:], dtype=np.int64), rows=rows)

    def _verified(self, tokens: list[int], logits: torch.Tensor, k: int) -> Verified:
        top = logits[-len(tokens) :].topk(k, dim=-1).indices.cpu().numpy()
        return Verified(np.asarray(tokens, dtype=np.int64), top)

    def _stop_point(
        self, generated: list[int], new_tokens: list[int], config: DecodeConfig
    ) -> tuple[int, str]:
        """How many of new_tokens to keep, and why generation stops ("" to go on)."""
        for i, tok in enumerate(new_tokens):
            if tok in self.eos_ids:
                return i + 1, "eos"
        if config.stop_strings:
            before = self.runner.decode(generated[-64:]) if generated else ""
            for i in range(len(new_tokens)):
                text = self.runner.decode((generated + new_tokens[: i + 1])[-64:])
                if any(s in text and s not in before for s in config.stop_strings):
                    return i + 1, "stop_string"
        if len(generated) + len(new_tokens) >= config.max_new_tokens:
            return len(new_tokens), "max_new_tokens"
        return len(new_tokens), ""


TOP_NEXT = 3  # next-token candidates kept per appended token, for the page's tooltips
# Prompt positions whose top-k next tokens a drafter that learns from them (Token Recycling) is
# given: the last 512, a bound on the output layer's work for a long prompt (not tuned).
PROMPT_TOPK = 512


def _top_next(logits: torch.Tensor, rows: list[int]) -> tuple[list[list[int]], list[list[float]]]:
    """The model's TOP_NEXT most likely next tokens at `rows` of the verify pass, with their
    probabilities at temperature 1 (~0.1 ms a row: a softmax over the vocabulary)."""
    probs = torch.softmax(logits[rows].float(), dim=-1).topk(TOP_NEXT, dim=-1)
    return probs.indices.tolist(), [[round(p, 4) for p in row] for row in probs.values.tolist()]
