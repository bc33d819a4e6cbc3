"""Which weight layout a model runs in on this machine ("auto"): each candidate timed once,
through the forward the engine runs, and the choice kept in the cache under a key of all that
changes it (model, device, dtype, CPU, threads, OpenMP waiting, the layouts' revision).

What "auto" compares: steps of 1, 2, 4 and 8 tokens after 300 tokens of context, a plain step
and the verify steps speculation takes; a layout that is cheaper only for a plain step can
still lose once drafts are verified, so both count.
"""

from __future__ import annotations

import copy
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from .cachefiles import keyed_cache_file, measured_once
from .forward import lean_forward, model_forward
from .kvcache import new_cache
from .layouts import LAYOUT_REVISION, apply_layout, auto_candidates
from .machine import cpu_info, omp_wait

CHOICE_CONTEXT, CHOICE_SIZES, CHOICE_ROUNDS = 300, (1, 2, 4, 8), 5


def _steps_ms(forward, cache, ids: torch.Tensor) -> float:
    """ms of one step of each of CHOICE_SIZES after CHOICE_CONTEXT tokens; the cache is
    cropped back after each."""
    total = 0.0
    for k in CHOICE_SIZES:
        start = time.perf_counter()
        forward(ids[:, CHOICE_CONTEXT : CHOICE_CONTEXT + k], cache)
        total += (time.perf_counter() - start) * 1000.0
        cache.crop(-k)
    return total


def layout_costs(model: nn.Module, candidates: tuple[str, ...]) -> dict[str, float]:
    """ms of steps of CHOICE_SIZES tokens of `model` in each layout, through the forward the
    engine runs, the layouts measured in turns so that a slow moment of the
    machine slows them alike. `model` itself stays as it is: each layout is applied to a copy."""
    shape = (1, CHOICE_CONTEXT + max(CHOICE_SIZES))
    ids = torch.randint(
        0, model.config.vocab_size, shape, generator=torch.Generator().manual_seed(0)
    )
    trials = []
    with torch.no_grad():
        for name in candidates:
            copied = copy.deepcopy(model)
            apply_layout(copied, name)
            forward = model_forward(copied, lean_forward(copied))  # what the engine runs
            cache = new_cache(copied)
            forward(ids[:, :CHOICE_CONTEXT], cache)
            trials.append((name, forward, cache))
        times: dict[str, list[float]] = {name: [] for name in candidates}
        for round_ in range(CHOICE_ROUNDS + 1):  # the first round warms up
            for name, forward, cache in trials:
                ms = _steps_ms(forward, cache, ids)
                if round_:
                    times[name].append(ms)
    return {name: statistics.median(t) for name, t in times.items()}


def layout_choice_file(name: str, device: str, dtype: str) -> tuple[str, Path]:
    """(key, path) of the layout chosen for a model on this machine: one per model, device,
    dtype, CPU, thread count and OpenMP wait policy, layout revision and the candidates (a
    layout that becomes available, say once a compiler is installed, is measured then)."""
    cpu = cpu_info("model name") or platform.processor()
    key = (
        f"{name}|{device}|{dtype}|{cpu}|{os.cpu_count()}"
        f"|{torch.get_num_threads()}|{omp_wait()}@{LAYOUT_REVISION}|{','.join(auto_candidates())}"
    )
    return key, keyed_cache_file("layouts", key)


def choose_layout(model, name: str, device: str, dtype: str) -> str:
    """The fastest of `auto_candidates()` for this model on this machine: measured once
    (a few seconds), then read from the cache; the costs are kept beside the choice."""
    key, _ = layout_choice_file(name, device, dtype)
    candidates = auto_candidates()

    def measure() -> dict:
        costs = layout_costs(model, candidates)
        return {"layout": min(costs, key=costs.get), "ms_steps_of_1_2_4_8_tokens": costs}

    def usable(record: dict) -> bool:  # a hand-edited or damaged record is measured again
        return record.get("layout") in candidates

    return measured_once("layouts", key, measure, usable)["layout"]
