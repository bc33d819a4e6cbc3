"""Shared fixtures and helpers. The real bundled model is loaded once per test session.

Test files import helpers from here (`from tests.conftest import run_cli`), never from each other.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_script(name: str, module_name: str | None = None):
    """scripts/<name>.py as a module (the scripts are not a package), registered under
    `module_name` (default: its own name) before it runs: dataclasses look their module up
    while it loads, and the modules it imports from beside it are then found in sys.modules."""
    module_name = module_name or name
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def run_cli(
    *args: str,
    timeout: int = 300,
    python: str | Path = sys.executable,
    cwd: str | Path = ROOT,
    pythonpath: str | Path | None = ROOT,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """`python -m samdec ARGS` in a subprocess, offline; by default this checkout's samdec.

    `pythonpath=None` drops PYTHONPATH, so the interpreter finds whatever samdec it has
    installed; `env` adds or overrides variables.
    """
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    full_env.pop("PYTHONPATH", None)
    if pythonpath is not None:
        full_env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(python), "-m", "samdec", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=full_env,
    )


class TinyTokenizer:
    """Just enough of a tokenizer for the engine: ids are shown as numbers."""

    eos_token_id = None
    chat_template = None

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return "".join(f"<{int(i)}>" for i in ids)

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [int(t) for t in text.split()]}


def tiny_model(arch: str = "llama", vocab: int = 8, seed: int = 0, sharpen: float = 1.0):
    """A small random causal LM of the given architecture, built in-process (no download)."""
    import torch
    import transformers

    from samdec.runtime.loading import LoadedModel

    common = dict(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=False,
    )
    if arch == "llama":
        config = transformers.LlamaConfig(**common)
        cls = transformers.LlamaForCausalLM
    elif arch == "qwen2":
        config = transformers.Qwen2Config(**common)
        cls = transformers.Qwen2ForCausalLM
    elif arch == "gemma3":
        config = transformers.Gemma3TextConfig(
            **common, head_dim=8, sliding_window=16, query_pre_attn_scalar=8
        )
        cls = transformers.Gemma3ForCausalLM
    else:
        raise ValueError(arch)
    torch.manual_seed(seed)
    model = cls(config).eval()
    with torch.no_grad():
        model.get_output_embeddings().weight.mul_(sharpen)
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return LoadedModel(model, TinyTokenizer(), f"tiny-{arch}", "cpu", "float32")


def greedy_reference(loaded, ids: list[int], max_new_tokens: int) -> list[int]:
    """transformers' own greedy continuation of `ids`: what every lossless test compares with."""
    import torch

    with torch.no_grad():
        out = loaded.model.generate(
            torch.tensor([ids], device=loaded.model.device),
            max_new_tokens=max_new_tokens,
            do_sample=False,
        )
    return out[0, len(ids) :].tolist()


def greedy_references(loaded, questions, max_new_tokens: int) -> dict:
    """question id -> (its first turn's prompt ids, the model's own greedy continuation)."""
    refs = {}
    for q in questions:
        ids = loaded.encode_prompt(q.turns[0])
        refs[q.question_id] = (ids, greedy_reference(loaded, ids, max_new_tokens))
    return refs


def speculate_against(engine, cases, config) -> tuple[list[tuple], int, int]:
    """Run `config` on each (key, prompt ids, expected tokens) of `cases`.

    Returns (mismatches as (key, first differing index), tokens drafted, tokens accepted): a
    lossless test asserts no mismatch *and* that drafts were made and accepted, since a run
    that never speculates is trivially exact.
    """
    mismatches, drafted, accepted = [], 0, 0
    for key, ids, expected in cases:
        trace = engine.generate(ids, config)
        got = trace.token_ids
        if got != expected:
            pairs = zip(got, expected, strict=False)
            first = next(
                (i for i, (a, b) in enumerate(pairs) if a != b), min(len(got), len(expected))
            )
            mismatches.append((key, first))
        assert sum(len(s.new_tokens) for s in trace.steps) == len(got)
        drafted += sum(len(s.draft_tokens) for s in trace.steps)
        accepted += sum(s.accepted for s in trace.steps)
    return mismatches, drafted, accepted


@pytest.fixture(scope="session")
def bundled():
    """The bundled model, as the app loads it; SAMDEC_TEST_DEVICE and SAMDEC_TEST_DTYPE load it
    elsewhere (scripts/gpu_check.sh runs the lossless tests on a GPU in float32)."""
    from samdec.runtime.loading import load_model

    device, dtype = os.environ.get("SAMDEC_TEST_DEVICE"), os.environ.get("SAMDEC_TEST_DTYPE")
    return load_model(device=device or None, dtype=dtype or None)


@pytest.fixture(scope="session")
def static_default(bundled):
    from samdec.corpus import DEFAULT_CORPUS, cached_static

    return cached_static(bundled.tokenizer, DEFAULT_CORPUS)
