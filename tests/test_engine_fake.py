"""The engine's loop against a small fake Runner: no model, no transformers, milliseconds.

The fake "model" is a fixed function of the text so far (its next-token logits depend on the
last three tokens), so plain decoding is known exactly and every speculative method must
reproduce it. Its cache is the list of tokens it has seen; `verify` computes each tree node's
logits from the node's own path, as a real tree mask does.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from samdec.cost import CostModel
from samdec.engine import Engine
from samdec.methods import METHODS
from samdec.runner import Runner
from samdec.static_automaton import StaticSuffixAutomaton

VOCAB, EOS = 24, 23


class FakeRunner:
    """A Runner whose model repeats itself a lot (so retrieval drafts often land)."""

    def __init__(self, trees: bool = True, temperature_scale: float = 3.0) -> None:
        self.vocab_size = VOCAB
        self.max_context = 400
        self.eos_ids = frozenset({EOS})
        self.facts = {"model": "fake", "device": "cpu", "dtype": "float32"}
        self.cost_key = "fake"
        self.supports_trees = trees
        self.scale = temperature_scale
        self.lock = threading.RLock()
        self.forwards = 0

    def logits_after(self, text: list[int]) -> torch.Tensor:
        a, b, c = [0, 0, 0, *text][-3:]
        rng = np.random.default_rng(a * 10_007 + b * 101 + c)
        row = rng.normal(size=VOCAB) * self.scale
        row[(7 * c + 3) % (VOCAB - 1)] += 4.0  # a favourite after each token: text repeats
        row[EOS] -= 6.0 if len(text) < 120 else -20.0
        return torch.tensor(row, dtype=torch.float32)

    def new_cache(self) -> list[int]:
        return []

    def prefill(self, cache, ids, top_k=0, rows=0):
        cache.extend(ids)
        if not top_k:
            return None
        keep = ids[-rows:] if rows else ids
        start = len(cache) - len(keep)
        table = np.stack(
            [
                self.logits_after(cache[: start + i + 1]).topk(top_k).indices.numpy()
                for i in range(len(keep))
            ]
        )
        return lambda index: table[np.asarray(index)]

    def verify(self, cache, tokens, parents):
        self.forwards += 1
        assert len(parents) == len(tokens) - 1
        assert self.supports_trees or all(p == i - 1 for i, p in enumerate(parents))
        paths: list[list[int]] = []
        for i, token in enumerate(tokens):
            parent = -1 if i == 0 else parents[i - 1] + 1
            paths.append((paths[parent] if parent >= 0 else []) + [token])
        rows = [self.logits_after(cache + path) for path in paths]
        cache.extend(tokens)  # written as a real cache is, until commit
        return torch.stack(rows)

    def commit(self, cache, kept, fed):
        written = cache[len(cache) - fed :]
        del cache[len(cache) - fed :]
        cache.extend(written[i] for i in kept)

    def decode(self, ids, skip_special=False):
        return " ".join(f"t{t}" for t in ids if not (skip_special and t in self.eos_ids))

    def encode(self, prompt, chat=None):
        return [ord(ch) % (VOCAB - 1) for ch in prompt]


PROMPT = [3, 5, 7, 3, 5, 7, 11, 2, 3, 5, 7, 11]


def plain_greedy(runner: FakeRunner, prompt: list[int], n: int) -> list[int]:
    text, out = list(prompt), []
    for _ in range(n):
        token = int(runner.logits_after(text).argmax())
        text.append(token)
        out.append(token)
        if token == EOS:
            break
    return out


def static_corpus(runner: FakeRunner) -> StaticSuffixAutomaton:
    """The fake model's own continuations of other prompts: what a distilled corpus holds."""
    docs = [p + plain_greedy(runner, p, 60) for p in ([1, 2, 3], [4, 4, 9], [3, 5, 7])]
    return StaticSuffixAutomaton.build(docs)


def test_the_fake_is_a_runner():
    runner: Runner = FakeRunner()  # the protocol's attributes and methods, statically
    assert isinstance(runner.facts, dict) and runner.supports_trees


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("policy", ["cost", "fixed"])
def test_every_method_writes_plain_greedy_output(method, policy):
    runner = FakeRunner()
    engine = Engine(runner, static_corpus(runner), CostModel())
    trace = engine.generate(PROMPT, method=method, max_new_tokens=80, draft_policy=policy)
    assert trace.token_ids == plain_greedy(runner, PROMPT, 80)
    if method != "ar":
        accepted = sum(s.accepted for s in trace.steps)
        assert accepted > 0, "nothing was accepted: the test did not speculate"
        assert runner.forwards < len(trace.token_ids) + 1  # fewer passes than tokens
    assert trace.summary.config["model"] == "fake"


def test_trees_are_not_drafted_where_the_runner_takes_none():
    runner = FakeRunner(trees=False)  # verify asserts every draft it gets is a chain
    engine = Engine(runner, static_corpus(runner), CostModel())
    trace = engine.generate(PROMPT, method="recycling", max_new_tokens=60, draft_policy="fixed")
    assert trace.token_ids == plain_greedy(runner, PROMPT, 60)
    assert "does not take a tree attention mask" in trace.summary.config["note"]
    assert any(s.drafter == "recycling" and s.draft_tokens for s in trace.steps)
    for s in trace.steps:
        assert s.draft_parents == list(range(-1, len(s.draft_parents) - 1))


@pytest.mark.parametrize("method", [m for m in METHODS if m != "ar"])
def test_seeded_sampling_writes_plain_sampling_output(method):
    runner = FakeRunner(temperature_scale=0.5)  # a sharper model: its samples repeat too
    engine = Engine(runner, static_corpus(runner), CostModel())
    accepted = 0
    for seed in range(5):
        threshold = 1 if method == "sam-dynamic" else 3  # short matches must draft alone
        settings = dict(
            max_new_tokens=60, temperature=0.8, seed=seed, l_bias=2, l_threshold=threshold
        )
        plain = engine.generate(PROMPT, method="ar", **settings).token_ids
        trace = engine.generate(PROMPT, method=method, **settings)
        assert trace.token_ids == plain, seed
        accepted += sum(s.accepted for s in trace.steps)
    assert accepted > 0


def test_stops_at_eos_and_at_the_cap():
    runner = FakeRunner()
    engine = Engine(runner, None, CostModel())
    long = engine.generate(PROMPT, method="sam", max_new_tokens=300)
    assert long.summary.stop_reason == "eos" and long.token_ids[-1] == EOS
    assert EOS not in long.token_ids[:-1] and "t23" not in long.text
    short = engine.generate(PROMPT, method="sam", max_new_tokens=7)
    assert short.summary.stop_reason == "max_new_tokens" and len(short.token_ids) == 7


def test_the_cache_holds_all_but_the_last_token_after_every_step():
    runner = FakeRunner()
    caches = []
    real_commit = runner.commit

    def watched(cache, kept, fed):
        real_commit(cache, kept, fed)
        caches.append(list(cache))

    runner.commit = watched
    engine = Engine(runner, static_corpus(runner), CostModel())
    run = engine.stream(PROMPT, method="sam+recycling", max_new_tokens=40)
    text = list(PROMPT)
    for event, cache in zip(run, caches, strict=False):
        text += event.new_tokens
        assert cache == text[:-1]


def test_negative_control_accepting_one_token_too_many_is_caught():
    """A plausible bug (keeping the first rejected draft token too) must break the check
    the lossless test makes."""

    class Greedier(Engine):
        def _accept(self, draft, logits, config, noise, position):
            path, bonus = super()._accept(draft, logits, config, noise, position)
            children = [i for i, p in enumerate(draft.parents) if p == (path[-1] if path else -1)]
            extra = [c for c in children if c not in path]
            return (path + extra[:1], bonus) if extra else (path, bonus)

    runner = FakeRunner()
    engine = Greedier(runner, static_corpus(runner), CostModel())
    trace = engine.generate(PROMPT, method="sam", max_new_tokens=80)
    assert trace.token_ids != plain_greedy(runner, PROMPT, 80)


@pytest.mark.parametrize("method", ["sam", "sam+recycling"])
def test_every_step_at_the_papers_setting_chooses_as_the_reference_code(method):
    """At (l_bias 5, l_threshold 5), every step's drafter, read from the trace, is the one
    the reference formula names for that step's match lengths (tests/test_rule.py's)."""
    from tests.test_rule import reference

    runner = FakeRunner()
    # The prompt ends with 8 tokens a corpus document holds, followed there by this model's
    # answer: a static match of 8 at the first step (8 - l_bias 5 = 3 < 5: the reference rule
    # hands over where samdec's earlier rule drafted from the corpus), then longer ones.
    seen = [13, 2, 19, 8, 6, 17, 4, 21]
    static = StaticSuffixAutomaton.build([[20, 22, *seen, *plain_greedy(runner, seen, 40)]])
    engine = Engine(runner, static, CostModel())
    prompt = [1, 9, 14, *seen]
    trace = engine.generate(prompt, method=method, max_new_tokens=120, l_bias=5, l_threshold=5)
    fallback = "recycling" if method == "sam+recycling" else "none"
    chosen = set()
    for s in trace.steps:
        want = reference(s.match_static, s.match_dynamic, 5, 5, True)
        assert s.rule_source == (fallback if want == "aux" else want), s
        chosen.add(s.rule_source)
    assert {"static", "dynamic", fallback} <= chosen  # every branch of the rule was taken
