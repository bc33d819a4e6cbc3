"""Files the runtime derives once and keeps: de-quantised models, built kernels, and what it
measured on this machine (layout choice, kernel chunking, the verify-cost curve).

"Measure once, cache by key" is written here once: a record is read if its file holds one for
exactly this key, measured and written otherwise. Every write is atomic (a temporary file
renamed into place), so two processes measuring at once each leave a whole file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_root() -> Path:
    """Where de-quantised models (and other derived files) are kept between runs."""
    env = os.environ.get("SAMDEC_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "samdec"


def keyed_cache_file(folder: str, key: str) -> Path:
    """The file in the cache's `folder` that holds what was measured for `key`."""
    return cache_root() / folder / (hashlib.sha1(key.encode()).hexdigest()[:16] + ".json")


def write_record(path: Path, record: dict) -> None:
    """Write `record` to `path` as JSON: whole or not at all, if two processes write at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as f:
        f.write(json.dumps(record, indent=1) + "\n")
    os.replace(f.name, path)


def read_record(path: Path, key: str) -> dict | None:
    """The record at `path` if it was written for `key`; None if absent, damaged or another
    key's (a hash collision, or a file from an older format)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("key") == key else None


def measured_once(
    folder: str, key: str, measure: Callable[[], dict], usable: Callable[[dict], bool] = bool
) -> dict:
    """The record kept for `key` in `folder` (if `usable`), or `measure()`'s, kept for next
    time."""
    path = keyed_cache_file(folder, key)
    record = read_record(path, key)
    if record is None or not usable(record):
        record = {"key": key, **measure()}
        write_record(path, record)
    return record


@contextlib.contextmanager
def exclusive(lock: Path):
    """Hold `lock` (an operating-system file lock) while deriving what another process may be
    deriving too: the second waits, then finds the work done. The lock dies with its process,
    so a process killed half-way never leaves the others waiting."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        yield
