"""Facts about this machine that change what a step costs, for cache keys and receipts."""

from __future__ import annotations

import os
from pathlib import Path


def omp_wait() -> str:
    """How this process's OpenMP threads wait between parallel regions ("" for the defaults):
    OMP_WAIT_POLICY, and libgomp's GOMP_SPINCOUNT where set. Both change what a step costs."""
    policy, spin = os.environ.get("OMP_WAIT_POLICY", ""), os.environ.get("GOMP_SPINCOUNT", "")
    return policy + (f" spin {spin}" if spin else "")


# How long the app's OpenMP threads spin before they sleep (app.py says why). Set where the
# operator has set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT.
SERVING_SPINCOUNT = "10000"


def serving_omp_env() -> dict[str, str]:
    """The variables the app sets before torch loads, as this process's environment would make
    them: `python -m samdec prepare` measures under the same ones, so that the app finds what
    it measured (the cache keys hold `omp_wait()`)."""
    if "OMP_WAIT_POLICY" in os.environ:
        return {}
    return {"GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT", SERVING_SPINCOUNT)}


def cpu_info(field: str) -> str:
    """The first `field` line of /proc/cpuinfo ("model name", "flags"), "" where unreadable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""
