"""Memory a model's loading hands back to the system, so that loading peaks low.

Two kinds. Memory freed inside the process (the float32 weights a layout replaced, the layouts
the choice timed) stays with glibc's malloc until `release_freed_memory` asks it back.

And the pages of a weights file. transformers maps a safetensors file into the process, each
weight a view of the mapping. A page that was read stays resident, counted in the process's
memory, as long as the mapping lives, and the mapping lives as long as any weight of the file
does (the embedding: for ever). A layout that keeps its own copy of each linear's weight (every
layout but stock) reads every float32 weight once, so without `page_out` the whole file would
stay resident beside the layout's copies. `page_out` tells the kernel that these pages can go
(MADV_PAGEOUT): they are clean pages of a file, so the kernel drops them, and should they be
read again they come back from the file. What a tensor holds never changes.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import mmap
from collections.abc import Iterable

import torch

LOG = logging.getLogger("samdec.runtime")
MADV_PAGEOUT = getattr(mmap, "MADV_PAGEOUT", 21)  # Linux 5.4; Python names it from 3.12 on
_said: list[str] = []  # the warning, once a process
_files_seen: list[tuple[int, int]] = []  # file_mappings() as page_out last read them


def release_freed_memory() -> bool:
    """Hand memory that was freed back to the system (glibc's malloc_trim; False where that
    cannot be done). Loading frees a lot that glibc would otherwise keep: the float32 weights
    a layout replaces, and the layouts `layout_costs` timed, each before the next is built."""
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):  # not glibc
        return False


def file_mappings() -> list[tuple[int, int]]:
    """The address ranges [start, end) of this process's mappings of files ([] where
    /proc/self/maps cannot be read)."""
    ranges = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].startswith("/"):
                    start, end = (int(a, 16) for a in fields[0].split("-"))
                    ranges.append((start, end))
    except OSError:
        return []
    return ranges


@functools.cache  # one handle a process: page_out runs once for every module a layout replaces
def _madvise():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc.madvise


def page_out(tensors: Iterable[torch.Tensor]) -> int:
    """Let the kernel drop the resident pages of those `tensors` that lie in a file's mapping
    (the whole pages inside each: a neighbour's bytes are never touched, and nothing is lost,
    as file pages come back from the file). Returns how many bytes it asked to drop; tensors
    in the process's own memory are left alone."""
    spans = [
        (t.data_ptr(), t.data_ptr() + t.numel() * t.element_size())
        for t in tensors
        if t.device.type == "cpu" and t.is_contiguous() and t.numel()
    ]
    if not spans:
        return 0
    # The mappings last read: a model's weights lie in one file's, so a layout's calls after its
    # first need not read /proc again. A range gone stale since would at worst ask the kernel
    # to page out memory that is not a file's, which changes nothing a tensor holds either.
    if not all(_inside(span, _files_seen) for span in spans):
        _files_seen[:] = file_mappings()
    page, asked = mmap.PAGESIZE, 0
    try:
        madvise = _madvise()
    except (OSError, AttributeError):  # no C library to ask: nothing is dropped
        return 0
    for start, end in (span for span in spans if _inside(span, _files_seen)):
        first, last = -(-start // page) * page, end // page * page
        if last <= first:
            continue
        if madvise(first, last - first, MADV_PAGEOUT) != 0:
            _say_once(f"the kernel refused MADV_PAGEOUT (errno {ctypes.get_errno()})")
            return asked
        asked += last - first
    return asked


def _inside(span: tuple[int, int], ranges: list[tuple[int, int]]) -> bool:
    return any(lo <= span[0] and span[1] <= hi for lo, hi in ranges)


def _say_once(why: str) -> None:
    if not _said:
        _said.append(why)
        LOG.warning(
            "the pages a weights file had read stay resident until the model is freed: %s", why
        )
