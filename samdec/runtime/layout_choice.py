"""Which weight layout a model runs in on this machine ("auto"): each candidate timed once,
through the forward the engine runs, and the choice kept in the cache under a key of all that
changes it (model, device, dtype, CPU, threads, OpenMP waiting, the layouts' revision).
A choice timed while other processes were busy on the CPUs is marked so, used, and timed
again at a later load that finds the machine quiet (contention.py says why).

What "auto" compares: steps of 1, 2, 4 and 8 tokens after 300 tokens of context, a plain step
and the verify steps speculation takes; a layout that is cheaper only for a plain step can
still lose once drafts are verified, so both count.
"""

from __future__ import annotations

import copy
import gc
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from . import progress
from .cachefiles import keyed_cache_file, measured_once
from .contention import OtherProcesses, others_now
from .forward import lean_forward, model_forward
from .kvcache import new_cache
from .layouts import LAYOUT_REVISION, apply_layout, auto_candidates
from .machine import cpu_info, omp_wait
from .memory import release_freed_memory
from .native import LOG

CHOICE_CONTEXT, CHOICE_SIZES, CHOICE_ROUNDS = 300, (1, 2, 4, 8), 5
PREFILL_ROWS = 32  # tokens a pass while the context is cached (`_prepared`)
# Decoder layers a deep model's layouts are timed at (`layout_costs`): far enough apart that
# drawing the line out to the whole depth does not blow up their noise much.
TRIAL_DEPTHS = (2, 12)


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


def sharing_copy(model: nn.Module) -> nn.Module:
    """A copy of `model`'s modules that shares all its tensors. A layout applied to it
    replaces its linears by new modules holding new tensors (layouts.py never writes into a
    weight it reads), so a candidate costs only what its layout builds: the embedding, the
    norms and `model`'s own weights stay one copy, and `model` stays as it is."""
    shared = {id(t): t for t in (*model.parameters(), *model.buffers())}
    return copy.deepcopy(model, shared)


def _shorten(copied: nn.Module, depth: int) -> nn.Module:
    """`copied` (a `sharing_copy`, whose modules all read its own config) cut in place to its
    first `depth` decoder layers."""
    if depth < len(copied.model.layers):
        copied.model.layers = nn.ModuleList(list(copied.model.layers)[:depth])
        copied.config.num_hidden_layers = depth
        if getattr(copied.config, "layer_types", None) is not None:
            copied.config.layer_types = list(copied.config.layer_types)[:depth]
    return copied


def cut(model: nn.Module, depth: int) -> nn.Module:
    """`model` cut to its first `depth` decoder layers without copying a layer: a new outer
    module, decoder and config; the layers, the output layer and the layout's weights shared.
    The layers keep reading `model`'s config (set up as the layout left it), as nothing of
    theirs depends on the depth."""

    def own(module: nn.Module) -> nn.Module:  # a new module object holding `module`'s children
        new = copy.copy(module)
        new._modules = dict(module._modules)
        return new

    shorter, decoder = own(model), own(model.model)
    decoder.layers = nn.ModuleList(list(model.model.layers)[:depth])
    shorter.model = decoder
    config = copy.copy(model.config)
    config.num_hidden_layers = depth
    if getattr(config, "layer_types", None) is not None:
        config.layer_types = list(config.layer_types)[:depth]
    shorter.config = decoder.config = config
    return shorter


def _prepared(model: nn.Module, name: str, ids: torch.Tensor, depths: tuple[int, ...]) -> dict:
    """{depth: (forward, cache)} of `model` in layout `name` cut to each of `depths` decoder
    layers, through the forward the engine runs, with CHOICE_CONTEXT tokens cached. One
    `sharing_copy` takes the layout, at the deepest; the shallower `cut`s share its layers and
    its output layer, so the layout's own weights are built once."""
    deepest = _shorten(sharing_copy(model), max(depths))
    apply_layout(deepest, name)
    trials = {}
    for depth in depths:
        copied = deepest if depth == max(depths) else cut(deepest, depth)
        forward = model_forward(copied, lean_forward(copied))  # what the engine runs
        cache = new_cache(copied)
        # The context a few tokens a pass: the timed steps only need it cached, and one pass
        # would hold logits for all of it over the whole vocabulary while the layout's weights
        # are held.
        for start in range(0, CHOICE_CONTEXT, PREFILL_ROWS):
            forward(ids[:, start : min(start + PREFILL_ROWS, CHOICE_CONTEXT)], cache)
        trials[depth] = (forward, cache)
    return trials


def trial_depths(layers: int) -> tuple[int, ...]:
    """The depths a layout is timed at: TRIAL_DEPTHS where the model is deeper, else its own."""
    return TRIAL_DEPTHS if layers > max(TRIAL_DEPTHS) else (layers,)


def at_depth(costs: dict[int, float], depth: int) -> float:
    """A step's cost at `depth` layers from its costs at one or two depths. The decoder layers
    of a model are alike, so a step costs a + b * depth (embedding, output layer and the
    forward's own work, then each layer): a line through the two points."""
    if len(costs) == 1:
        return next(iter(costs.values()))
    (d1, c1), (d2, c2) = sorted(costs.items())
    return c1 + (c2 - c1) * (depth - d1) / (d2 - d1)


def layout_costs(model: nn.Module, candidates: tuple[str, ...]) -> dict[str, float]:
    """ms of steps of CHOICE_SIZES tokens of `model` in each layout, through the forward the
    engine runs. `model` itself stays as it is: each layout is applied to a `sharing_copy`.

    What choosing costs in memory is bounded twice. One layout besides the first (stock) is
    held at a time, timed in turns with the first, round by round, so that a slow moment of
    the machine slows both alike; its cost is its median ratio to the first's in the same
    sitting, on the scale of the first's median over all. And a deep model's layouts are
    timed on copies cut to TRIAL_DEPTHS layers, each round's cost drawn out to the whole depth
    (`at_depth`): a layout that keeps its own float32 weights (packed) then holds a few
    layers' worth beside the model's, not a second model.
    """
    shape = (1, CHOICE_CONTEXT + max(CHOICE_SIZES))
    ids = torch.randint(
        0, model.config.vocab_size, shape, generator=torch.Generator().manual_seed(0)
    )
    full = len(model.model.layers)
    depths = trial_depths(full)

    def timed(trials: dict[int, tuple]) -> float:  # one round, drawn out to the whole depth
        return at_depth({d: _steps_ms(*trial, ids) for d, trial in trials.items()}, full)

    first, others = candidates[0], candidates[1:]
    base: list[float] = []
    ratios: dict[str, float] = {}
    with torch.no_grad():
        reference = _prepared(model, first, ids, depths)
        if not others:
            progress.stage("timing layouts", 1, 1)
            alone = [timed(reference) for _ in range(CHOICE_ROUNDS + 1)]
            return {first: statistics.median(alone[1:])}  # the first round warms up
        for i, name in enumerate(others, 1):
            progress.stage("timing layouts", i, len(others))
            trial = _prepared(model, name, ids, depths)
            mine, theirs = [], []
            for round_ in range(CHOICE_ROUNDS + 1):  # the first round warms up
                pair = (timed(reference), timed(trial))
                if round_:
                    theirs.append(pair[0])
                    mine.append(pair[1])
            base += theirs
            ratios[name] = statistics.median(m / t for m, t in zip(mine, theirs, strict=True))
            del trial  # its weights go before the next layout's are built
            gc.collect()
            release_freed_memory()
    scale = statistics.median(base)
    return {first: scale, **{name: ratio * scale for name, ratio in ratios.items()}}


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
    (a few seconds), then read from the cache; the costs are kept beside the choice, and
    whether other processes were busy on the CPUs meanwhile. A choice timed on a busy machine
    is used, but measured again at a later load that finds the machine quiet."""
    key, _ = layout_choice_file(name, device, dtype)
    candidates = auto_candidates()

    def measure() -> dict:
        with OtherProcesses() as others:
            costs = layout_costs(model, candidates)
        record = {"layout": min(costs, key=costs.get), "ms_steps_of_1_2_4_8_tokens": costs}
        if others.busy is None:
            LOG.info("samdec: no /proc/stat: the layouts' timing is kept as a quiet machine's")
        elif others.busy:
            LOG.warning(
                "samdec: the layout (%s) was timed while other processes kept %.1f cores "
                "busy; it is used for now and timed again at a load that finds the machine "
                "quiet",
                record["layout"],
                others.cores,
            )
        return {**record, "other_processes_cores": others.cores, "busy": others.busy}

    def usable(record: dict) -> bool:  # a hand-edited or damaged record is measured again
        if record.get("layout") not in candidates:
            return False
        if not record.get("busy"):
            return True
        now = others_now()
        if now.busy is False:
            LOG.warning(
                "samdec: timing the layouts again: the kept choice (%s) was timed on a busy "
                "machine, and it is quiet now",
                record["layout"],
            )
            return False
        return True

    return measured_once("layouts", key, measure, usable)["layout"]
