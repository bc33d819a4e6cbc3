"""The streamed and integer layouts' weights on 2 MB pages (Linux's transparent huge pages).

Why: a step reads every weight once, for the bundled model tens of thousands of 4 KB pages, far
more than the CPU's translation caches hold, so a plain step waits on page-table walks as well as
on memory; on 2 MB pages the same bytes are a few dozen pages.
`scripts/kernel_ab.py --base-small-pages` compares the two in one process
(benchmarks/huge_pages.json).

How: torch allocates tensors on 4 KB pages, and a small weight (a layer's projection is well
under 2 MB) cannot fill a huge page alone. So the weights are copied into ARENA-sized anonymous
mappings asked for huge pages before their first touch (madvise MADV_HUGEPAGE), one after the
other, and the layers keep views into them. Where the kernel gives no huge pages (THP off, an
older kernel, no free 2 MB runs), the copies sit on 4 KB pages, as torch's own would: same
bits; a warning says so once, and `state()` and the doctor say which.

SAMDEC_HUGE_PAGES=0 leaves the weights where torch put them.
"""

from __future__ import annotations

import logging
import mmap
import os
import re
import threading
import weakref
from pathlib import Path

import torch

HUGE = 2 << 20  # one huge page
ARENA = 32 << 20  # one mapping: weights go in one after the other until it is full
ALIGN = 64  # a cache line: where every weight starts
OFF = "SAMDEC_HUGE_PAGES"  # set to 0: weights stay on torch's pages
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")

_lock = threading.Lock()
LOG = logging.getLogger("samdec.runtime")
_said: list[str] = []  # the warning, once a process


class _Arena:
    """One mapping: weights go in from its first 2 MB boundary, one after the other. Only the
    arena being filled holds its mapping; a full one lives as long as the weights in it
    (torch.frombuffer holds the mapping), so a model's weights are freed with the model."""

    def __init__(self, size: int) -> None:
        room = max(ARENA, -(-size // HUGE) * HUGE) + HUGE  # a boundary lies in the first 2 MB
        # Private: a shared anonymous mapping is shared memory, whose huge pages have a
        # setting of their own (usually off). Asked for huge pages before anything touches it.
        self.mapping = mmap.mmap(-1, room, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        self.mapping.madvise(mmap.MADV_HUGEPAGE)
        self.ref = weakref.ref(self.mapping)
        self.first, self.used, self.room = -_address(self.mapping) % HUGE, 0, room

    def take(self, size: int) -> torch.Tensor | None:
        """`size` bytes of the arena, None where it has no room left."""
        if self.mapping is None or self.room - self.first - self.used < size:
            return None
        at, self.used = self.first + self.used, self.used + -(-size // ALIGN) * ALIGN
        return torch.frombuffer(self.mapping, dtype=torch.uint8, count=size, offset=at)


_arenas: list[_Arena] = []  # the last one is being filled


def switched_off() -> bool:
    """Whether SAMDEC_HUGE_PAGES=0 says to leave the weights where torch put them."""
    return os.environ.get(OFF, "1") == "0"


def wanted() -> bool:
    """Whether weights go on huge pages in this process (SAMDEC_HUGE_PAGES is not 0)."""
    return not switched_off() and hasattr(mmap, "MADV_HUGEPAGE")


def _address(mapping: mmap.mmap) -> int:
    return torch.frombuffer(mapping, dtype=torch.uint8, count=1).data_ptr()


def place(t: torch.Tensor) -> torch.Tensor:
    """`t` (a contiguous CPU tensor) copied into a huge-page arena, or `t` itself where huge
    pages are not wanted."""
    if not wanted() or t.device.type != "cpu" or not t.is_contiguous() or t.numel() == 0:
        return t
    size = t.numel() * t.element_size()
    with _lock:
        view = _arenas[-1].take(size) if _arenas else None
        if view is None:
            if _arenas:
                _arenas[-1].mapping = None  # full: its weights hold it from now on
            _arenas.append(_Arena(size))
            view = _arenas[-1].take(size)
            fresh = True
        else:
            fresh = False
    placed = view.view(t.dtype).view(t.shape)
    placed.copy_(t)
    if fresh and not _said and not _huge_bytes([(placed.data_ptr(), size)]):
        _said.append(why_not() or "the kernel gave this mapping no huge pages")
        LOG.warning("samdec: weights on 4 KB pages (%s); a plain step reads them slower", _said[0])
    return placed


def state() -> dict[str, int | str]:
    """How the arenas' bytes are held: bytes placed, bytes of them on huge pages (what the
    kernel reports for their mappings), and why none are where none are."""
    spans = []
    with _lock:
        for arena in list(_arenas):
            mapping = arena.ref()
            if mapping is None:  # its weights are gone
                _arenas.remove(arena)
            else:
                spans.append((_address(mapping) + arena.first, arena.used))
    placed = sum(used for _, used in spans)
    huge = _huge_bytes(spans)
    return {"placed_bytes": placed, "huge_bytes": huge, "why_not": "" if huge else why_not()}


def why_not() -> str:
    """Why weights would not be on huge pages here ("" where nothing says they cannot be)."""
    if switched_off():
        return f"{OFF}=0"
    if not hasattr(mmap, "MADV_HUGEPAGE"):
        return "this system has no transparent huge pages"
    try:
        setting = re.search(r"\[(\w+)\]", THP.read_text())
    except OSError:
        return "this system has no transparent huge pages"
    if setting and setting.group(1) == "never":
        return f"transparent huge pages are off ({THP} says never)"
    return ""


def _huge_bytes(spans: list[tuple[int, int]]) -> int:
    """Bytes of the spans (address, length) that /proc/self/smaps reports on huge pages: each
    mapping's AnonHugePages, counted for the mappings that hold a span."""
    try:
        text = Path("/proc/self/smaps").read_text()
    except OSError:
        return 0
    total, inside = 0, False
    for line in text.splitlines():
        head = re.match(r"([0-9a-f]+)-([0-9a-f]+) ", line)
        if head:
            lo, hi = int(head.group(1), 16), int(head.group(2), 16)
            inside = any(lo <= start < hi for start, _ in spans)
        elif inside and line.startswith("AnonHugePages:"):
            total += int(line.split()[1]) * 1024
    return min(total, sum(length for _, length in spans))
