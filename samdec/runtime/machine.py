"""Facts about this machine that change what a step costs, for cache keys and receipts."""

from __future__ import annotations

import os
from pathlib import Path


def omp_wait() -> str:
    """How this process's OpenMP threads wait between parallel regions ("" for the defaults):
    OMP_WAIT_POLICY, and libgomp's GOMP_SPINCOUNT where set. Both change what a step costs."""
    policy, spin = os.environ.get("OMP_WAIT_POLICY", ""), os.environ.get("GOMP_SPINCOUNT", "")
    return policy + (f" spin {spin}" if spin else "")


def cpu_info(field: str) -> str:
    """The first `field` line of /proc/cpuinfo ("model name", "flags"), "" where unreadable."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""
