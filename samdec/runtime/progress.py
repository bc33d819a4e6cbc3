"""Which piece of one-time work the runtime is doing now: one hook, shared by every part of it.

The runtime's slow first-use work (de-quantising a model, building and tuning the kernel,
timing the layouts, building the static automaton, calibrating the cost curve) calls
`stage(...)` where that work really starts, never when it finds the result in the cache; so a
listener learns both what is happening and, by what it did not hear, what was cached.
`python -m samdec prepare` prints the stages, and the app shows them while it warms up.

Process-wide on purpose (the work is process-wide too: a kernel is built once per process), and
dependency-free so that any module can call it. Listeners run on the calling thread; one that
raises is logged and dropped from that call, never allowed to break the work it watches.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("samdec.runtime")

_lock = threading.Lock()
_current = [""]
_listeners: list[Callable[[str], None]] = []


def stage(name: str, step: int | None = None, of: int | None = None) -> None:
    """Say that the work `name` starts now (step `step` of `of`, where it has steps)."""
    text = name if step is None else f"{name} {step}/{of}"
    with _lock:
        _current[0] = text
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(text)
        except Exception:  # a broken display must not stop the work it displays
            log.exception("a progress listener failed on stage %r", text)


def current() -> str:
    """The stage last announced ("" before any, or after `clear`)."""
    with _lock:
        return _current[0]


def clear() -> None:
    """No stage is running any more (the caller's one-time work is over)."""
    with _lock:
        _current[0] = ""


def listen(listener: Callable[[str], None]) -> Callable[[], None]:
    """Call `listener(stage text)` at every stage from now on; returns what stops it."""
    with _lock:
        _listeners.append(listener)

    def stop() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return stop
