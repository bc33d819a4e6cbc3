"""What verifying q tokens in one forward pass costs: a measured curve, piecewise linear.

The length policy prices drafts with it; the runtime measures it on the device (samdec.runtime.
calibration) and the Tune panel replays runs against it or against another curve. Pure numpy:
the decoding layer and the visuals both read it.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# A stand-in curve, ms by tokens verified, for when nothing was measured on this device (the
# bundled model on a 2-core CPU under an older, slower layout): its shape (rising, steeply past
# a few tokens) is what matters. A trace records which curve priced its drafts: `source`.
CPU_DEFAULT_COST = {1: 57.0, 2: 66.0, 4: 109.0, 8: 126.0, 16: 187.0, 32: 222.0, 64: 400.0}
CALIBRATION_SIZES = (1, 2, 4, 8, 16, 32, 64)
DEFAULT_SOURCE = "cpu (default table)"


@dataclass
class CostModel:
    """Milliseconds to verify q tokens, piecewise linear between measured points."""

    points: dict[int, float] = field(default_factory=lambda: dict(CPU_DEFAULT_COST))
    device: str = DEFAULT_SOURCE  # where the curve comes from: a calibration key

    def __post_init__(self) -> None:
        sizes = sorted(self.points)
        self._q = np.array(sizes, dtype=np.float64)
        # Taken as never falling as q grows. On a CPU the measured curve can dip between sizes
        # (a kernel's tiles fit some row counts better); pricing with the dips was tried and
        # drafted no better, so this conservative envelope stays.
        self._ms = np.maximum.accumulate(np.array([self.points[s] for s in sizes]))
        self._table = self.__call__(np.arange(0, 1025))

    def __call__(self, q):
        q = np.asarray(q, dtype=np.float64)
        slope = (
            (self._ms[-1] - self._ms[-2]) / (self._q[-1] - self._q[-2]) if len(self._q) > 1 else 0
        )
        beyond = self._ms[-1] + (q - self._q[-1]) * slope
        return np.where(q > self._q[-1], beyond, np.interp(q, self._q, self._ms))

    def priced_points(self) -> list[tuple[int, float]]:
        """The measured points as drafts are priced: (tokens, ms), never falling."""
        return [(int(q), float(ms)) for q, ms in zip(self._q, self._ms, strict=True)]

    def table(self, max_q: int) -> np.ndarray:
        """cost[q] for q = 0..max_q (cached for the hot path)."""
        return self._table[: max_q + 1] if max_q < len(self._table) else self(np.arange(max_q + 1))

    def to_dict(self) -> dict:
        return {"device": self.device, "points": {str(k): v for k, v in self.points.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> CostModel:
        return cls({int(k): float(v) for k, v in data["points"].items()}, data.get("device", "?"))

    @classmethod
    def load(cls, path: Path) -> CostModel:
        return cls.from_dict(json.loads(path.read_text()))


def calibrate(forward_ms, sizes=CALIBRATION_SIZES, repeats: int = 3, device: str = "") -> CostModel:
    """Measure a CostModel with `forward_ms(q)`, a callable that times one q-token verification."""
    forward_ms(1)  # warm-up: first calls allocate
    points = {q: statistics.median(forward_ms(q) for _ in range(repeats)) for q in sizes}
    return CostModel(points, device=device or "measured")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0
