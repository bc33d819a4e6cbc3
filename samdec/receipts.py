"""What every committed measurement carries: the command, the machine, the date, the versions.

Each artifact under `benchmarks/` has a top-level "receipt" made here, so a number in the README
can be traced to the run that produced it and the run can be repeated.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from .runtime.machine import cpu_info

PACKAGES = ("samdec", "torch", "transformers", "numpy", "numba", "gradio")


def machine_info() -> dict[str, Any]:
    """The machine as far as it bears on speed: CPU, cores, threads, OpenMP policy, GPU."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        # Spinning OpenMP threads are fastest alone and ~10x slower beside other work.
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
    }
    if os.environ.get("GOMP_SPINCOUNT"):  # how long they spin before sleeping (libgomp)
        info["gomp_spincount"] = os.environ["GOMP_SPINCOUNT"]
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:  # pragma: no cover
        pass
    from .runtime.coded import tuned_chunking

    chunked = tuned_chunking()
    if chunked is not None:  # the streamed kernel ran: how it was tuned to this machine
        info["streamed_chunked_rows"] = list(chunked)
    if cpu_info("model name"):
        info["cpu"] = cpu_info("model name")
    return info


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str:
    """This checkout's commit (with "+changes" when the tree is dirty), or "unknown"."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def receipt(argv: list[str] | None = None) -> dict[str, Any]:
    """The receipt of a run started now by `argv` (default: this process's command line)."""
    argv = list(sys.argv if argv is None else argv)
    if argv and argv[0].endswith("__main__.py"):
        argv[0] = "python -m " + Path(argv[0]).parent.name
    elif argv and argv[0].endswith(".py"):
        argv[0] = "python " + os.path.relpath(argv[0])
    return {
        "command": " ".join([argv[0], *map(shlex.quote, argv[1:])]) if argv else "",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine_info(),
        "packages": package_versions(),
        "commit": git_commit(),
    }
