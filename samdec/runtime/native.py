"""The native kernels (csrc/): built once per machine with torch's C++ extension loader, kept in
the cache folder under a key of everything the build depends on.

The sources are compiled for this CPU (-march=native) and need AVX-512; where that, a compiler
or ninja is missing, `kernel()` is None and the runtime uses torch's own layouts instead.
"""

from __future__ import annotations

import functools
import hashlib
import platform
from pathlib import Path

import torch

from .cachefiles import cache_root
from .machine import cpu_info

CSRC = Path(__file__).with_name("csrc")
# The compiled units (bindings.cpp holds the module's only PYBIND11_MODULE), and the header
# they share, which the build key covers too.
SOURCES = [CSRC / name for name in ("streamed.cpp", "layers.cpp", "attention.cpp", "bindings.cpp")]
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


@functools.cache  # built or loaded once a process
def kernel():
    """The compiled extension module, or None where it cannot be built here."""
    from torch.utils.cpp_extension import load

    if "avx512f" not in cpu_flags():
        return None
    key = kernel_key()
    folder = cache_root() / "kernels" / f"streamed-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        return load(
            name=f"samdec_streamed_{key}",
            sources=[str(s) for s in SOURCES],
            extra_cflags=FLAGS,
            extra_ldflags=["-fopenmp"],
            build_directory=str(folder),
            verbose=False,
        )
    except Exception:  # no compiler, no ninja, a failed build: the layout is unavailable
        return None


def available() -> bool:
    """Whether the kernel builds and runs here."""
    return kernel() is not None
