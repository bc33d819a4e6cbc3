"""The verify-cost curve of a model on this machine: measured once, kept in the cache.

The length policy prices every draft with it (samdec.cost), so a curve measured on a busy
machine would make every draft look dear. A kept curve is therefore checked with a quick probe
on each start and measured again when the probe is clearly cheaper; each size then keeps the
quieter of the two measurements.
"""

from __future__ import annotations

import logging
import statistics
import time

import torch

from ..cost import CostModel, calibrate, timed
from . import progress
from .cachefiles import keyed_cache_file, read_record, write_record

# A kept curve is measured again when a 1-token forward now takes under this fraction of the
# kept price: the kept curve was then probably measured on a busy machine.
STALE_CALIBRATION = 0.75
CONTEXT = 256  # tokens cached before the timed steps
LOG = logging.getLogger("samdec.runtime")
# The line a start logs when it measures a kept curve again (tests read its numbers back).
MEASURED_AGAIN = (
    "samdec: measuring the cost curve again: a 1-token step takes {now:.2f} ms now, the kept "
    "curve says {kept:.2f} ms (it was measured while the machine was busier)"
)


def calibration_file(runner):
    """The cache file of a runner's curve (one per `runner.cost_key`)."""
    return keyed_cache_file("calibration", runner.cost_key)


def _step_timer(runner):
    """forward_ms(q): the ms of verifying q random tokens after CONTEXT cached ones, the cache
    rolled back after each."""
    cache = runner.new_cache()
    runner.prefill(cache, torch.randint(0, runner.vocab_size, (CONTEXT,)).tolist())
    cuda = runner.facts.get("device", "").startswith("cuda")

    def forward_ms(q: int) -> float:
        tokens = torch.randint(0, runner.vocab_size, (q,)).tolist()

        def run() -> None:
            runner.verify(cache, tokens, list(range(-1, q - 2)))
            if cuda:
                torch.cuda.synchronize()
            runner.commit(cache, [], q)

        return timed(run)

    return forward_ms


def calibrated_cost(runner, recalibrate: bool = False) -> CostModel:
    """The verify-cost curve of `runner` on this machine, measured once and kept on disk."""
    key, path = runner.cost_key, calibration_file(runner)
    record = None if recalibrate else read_record(path, key)
    cached = None
    if record is not None:
        try:
            cached = CostModel.from_dict(record)
        except (ValueError, KeyError, TypeError):  # a damaged record: measure again
            cached = None
    forward_ms = _step_timer(runner)
    if cached is not None:
        forward_ms(1)  # warm-up
        probe = statistics.median(forward_ms(1) for _ in range(3))
        # Trust the kept curve unless this quick probe is clearly faster; a slower probe means
        # the machine is busy *now*, and the kept (quieter) curve is the better estimate.
        if probe >= STALE_CALIBRATION * float(cached(1)):
            return cached
        LOG.warning(MEASURED_AGAIN.format(now=probe, kept=float(cached(1))))
    progress.stage("calibrating the cost curve")
    cost = calibrate(forward_ms, device=key)
    if cached is not None:  # keep the quieter measurement of each size
        cost = CostModel(
            {q: min(ms, cached.points.get(q, ms)) for q, ms in cost.points.items()}, key
        )
    write_record(path, {"key": key, "measured": time.strftime("%Y-%m-%d %H:%M"), **cost.to_dict()})
    return cost
