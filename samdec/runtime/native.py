"""The native kernels (csrc/): built once per machine with torch's C++ extension loader, kept in
the cache folder under a key of everything the build depends on.

The sources are compiled for this CPU (-march=native) and need AVX-512; where that, a compiler
or ninja is missing, or SAMDEC_NO_NATIVE=1 turns them off, `kernel()` is None, the runtime
uses torch's own layouts instead, and `unavailable()` says why (logged once, never silent).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import platform
from pathlib import Path

import torch

from . import progress
from .cachefiles import cache_root, exclusive
from .machine import cpu_info

CSRC = Path(__file__).with_name("csrc")
# The compiled units (bindings.cpp holds the module's only PYBIND11_MODULE), and the header
# they share, which the build key covers too.
SOURCES = [
    CSRC / name
    for name in ("streamed.cpp", "integer.cpp", "layers.cpp", "attention.cpp", "bindings.cpp")
]
HEADERS = [CSRC / "kernels.h"]


def cpu_flags() -> str:
    """The CPU's feature flags (what -march=native compiles for)."""
    return cpu_info("flags") or platform.processor()


# -fopenmp: at::parallel_for runs serially without it. -ffp-contract=off: no multiply and add
# of the source may be fused behind its back; the only fused ones are written out.
FLAGS = ["-O3", "-march=native", "-fopenmp", "-ffp-contract=off"]


def kernel_key() -> str:
    """What the compiled kernel depends on: its sources and header, torch, the CPU and the
    flags."""
    text = "".join(s.read_text() for s in SOURCES + HEADERS)
    built_from = text + torch.__version__ + cpu_flags()
    return hashlib.sha256((built_from + " ".join(FLAGS)).encode()).hexdigest()[:16]


LOG = logging.getLogger("samdec.runtime")
OFF = "SAMDEC_NO_NATIVE"  # set to 1: never build or load the native kernels
_why_not: list[str] = []  # why kernel() is None, once it has been asked


def unavailable() -> str:
    """Why the native kernels are not available here ("" where they are)."""
    return "" if kernel() is not None else _why_not[0]


def _unavailable(reason: str) -> None:
    _why_not.append(reason)
    LOG.warning("samdec: native kernels unavailable (%s); torch's own kernels run instead", reason)


@functools.cache  # built or loaded once a process
def kernel():
    """The compiled extension module, or None where it cannot be built here (`unavailable`
    says why)."""
    from torch.utils.cpp_extension import load

    if os.environ.get(OFF, "") not in ("", "0"):
        return _unavailable(f"{OFF} is set")
    if "avx512f" not in cpu_flags():
        return _unavailable("this CPU has no AVX-512 (avx512f)")
    key = kernel_key()
    folder = cache_root() / "kernels" / f"streamed-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with build_lock(folder):
            if not any(folder.glob("*.so")):  # else torch's loader only loads the built one
                progress.stage("building the kernel")
            return load(
                name=f"samdec_streamed_{key}",
                sources=[str(s) for s in SOURCES],
                extra_cflags=FLAGS,
                extra_ldflags=["-fopenmp"],
                build_directory=str(folder),
                verbose=False,
            )
    except Exception as exc:  # no compiler, no ninja, a failed build: the layout is unavailable
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return _unavailable(f"the build failed: {first}")


@contextlib.contextmanager
def build_lock(folder: Path):
    """One process at a time builds or loads the kernel in `folder`. torch's own lock file
    outlives a build that was killed, and then every later start waits on it forever; this
    lock is the operating system's (flock), released when its process dies, so a torch lock
    found while holding it was left by a dead build and is removed."""
    with exclusive(folder / "samdec.lock"):
        stale = folder / "lock"
        if stale.exists():
            LOG.warning("samdec: removing %s, left by a kernel build that did not finish", stale)
            stale.unlink(missing_ok=True)
        yield


@contextlib.contextmanager
def sources_from(folder: Path):
    """While inside, `kernel()` builds and loads the units in `folder` (another revision's
    csrc/) instead of this checkout's; a model loaded meanwhile keeps that build, so that two
    builds can be timed against each other in one process (scripts/kernel_ab.py)."""
    global SOURCES, HEADERS
    saved = SOURCES, HEADERS
    SOURCES = [Path(folder) / s.name for s in saved[0]]
    HEADERS = [Path(folder) / h.name for h in saved[1]]
    kernel.cache_clear()
    _why_not.clear()
    try:
        yield
    finally:
        SOURCES, HEADERS = saved
        kernel.cache_clear()
        _why_not.clear()


def available() -> bool:
    """Whether the kernel builds and runs here."""
    return kernel() is not None


def integer_available() -> bool:
    """Whether the integer kernel (csrc/integer.cpp: AVX-512 VNNI) runs here."""
    return available() and bool(kernel().INTEGER)
