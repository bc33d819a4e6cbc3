"""The two layers put together: a model runtime under a decoding engine.

Tools (the CLI, the benchmark, the app, scripts) build engines here; the engine itself never
imports the runtime, and the runtime never imports the engine.
"""

from __future__ import annotations

from .cost import CostModel
from .engine import Engine
from .runtime.calibration import calibrated_cost
from .runtime.loading import LoadedModel
from .runtime.runner import ModelRunner
from .static_automaton import StaticSuffixAutomaton


def engine_for(
    loaded: LoadedModel,
    static: StaticSuffixAutomaton | None = None,
    cost: CostModel | str = "calibrate",
) -> Engine:
    """An engine over `loaded`. `cost`: a curve, "calibrate" (the model's curve on this
    machine, measured once and kept), "recalibrate" (measured again now) or "default" (the
    stand-in curve)."""
    runner = ModelRunner(loaded)
    if isinstance(cost, str):
        if cost not in ("calibrate", "recalibrate", "default"):
            raise ValueError("cost must be a CostModel, 'calibrate', 'recalibrate' or 'default'")
        cost = None if cost == "default" else calibrated_cost(runner, cost == "recalibrate")
    return Engine(runner, static, cost)
