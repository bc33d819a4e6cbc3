"""How much of the CPU other processes took while this one timed something.

A timing taken while other processes run on the cores is not this machine's: torch's OpenMP
threads spin-wait for each other, and one of them descheduled stalls the whole step, so a
forward can cost many times its quiet price, and not every layout alike. What was measured on
a busy machine is kept for now (it is the best there is) but marked, and measured again once
the machine is quiet (layout_choice.py).

Other processes' share is the CPUs' busy time (/proc/stat) less this process's own CPU time
over the same wall time: a load average would count this process's own threads too.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

# Other processes averaging more than this many cores over a timing make it a busy one: on a
# 2-core machine a third of a core taken from torch's spinning threads already shows in a step.
BUSY_CORES = 0.3
QUIET_PROBE_S = 0.3  # how long `others_now` watches the CPUs


def _cpu_busy_s() -> float | None:
    """Seconds all CPUs have been busy since boot (/proc/stat); None where unreadable."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError, IndexError):
        return None
    if len(ticks) < 5:
        return None
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class OtherProcesses:
    """Context manager: `cores` is how many cores other processes kept busy, on average, while
    it was entered (None where the CPUs' busy time cannot be read)."""

    cores: float | None = None

    def __enter__(self) -> OtherProcesses:
        self._start = (_cpu_busy_s(), _own_cpu_s(), time.perf_counter())
        return self

    def __exit__(self, *exc) -> None:
        busy0, own0, wall0 = self._start
        busy1, own1, wall1 = _cpu_busy_s(), _own_cpu_s(), time.perf_counter()
        if busy0 is None or busy1 is None or wall1 <= wall0:
            self.cores = None
            return
        # Tick counts are coarse (10 ms): a tiny negative is rounding, not a measurement.
        self.cores = max(0.0, ((busy1 - busy0) - (own1 - own0)) / (wall1 - wall0))

    @property
    def busy(self) -> bool | None:
        """Whether other processes took more than BUSY_CORES (None: unknown)."""
        return None if self.cores is None else self.cores > BUSY_CORES


def others_now(seconds: float = QUIET_PROBE_S) -> OtherProcesses:
    """How busy other processes keep the CPUs now, watched for `seconds` while this one
    sleeps."""
    with OtherProcesses() as watch:
        time.sleep(seconds)
    return watch
