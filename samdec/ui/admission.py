"""Bounded work on a public server: how many requests run the model at once, how many more
may wait, and how a request that nobody is waiting for any more is stopped.

A request over the limit is told at once that the server is busy, instead of joining an
endless queue. No gradio in this module.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import UserError

BUSY = "The server is busy: {n} requests are running or waiting. Please try again in a minute."


class Cancelled(Exception):
    """The request was stopped (Stop, a closed tab, a cancelled API call) before it ran."""


class Admission:
    """At most `running` requests use the model at once and `waiting` more wait for a turn."""

    def __init__(self, running: int = 2, waiting: int = 6) -> None:
        if running < 1 or waiting < 0:
            raise ValueError("running must be >= 1 and waiting >= 0")
        self.running = running
        self.capacity = running + waiting
        self._turns = threading.Semaphore(running)
        self._lock = threading.Lock()
        self._inside = 0
        self._cancels: dict[str, set[threading.Event]] = {}  # by browser session

    @property
    def inside(self) -> int:
        """Requests running or waiting now."""
        return self._inside

    @contextmanager
    def turn(
        self, cancel: threading.Event | None = None, owner: str | None = None
    ) -> Iterator[threading.Event]:
        """Wait for a turn to use the model (UserError at once if the server is full, Cancelled
        if `cancel` is set while waiting). Yields the request's cancel switch, which
        `cancel_owner(owner)` sets (a closed browser tab)."""
        cancel = cancel if cancel is not None else threading.Event()
        with self._lock:
            if self._inside >= self.capacity:
                raise UserError(BUSY.format(n=self._inside))
            self._inside += 1
            if owner:
                self._cancels.setdefault(owner, set()).add(cancel)
        try:
            while not self._turns.acquire(timeout=0.1):
                if cancel.is_set():
                    raise Cancelled
            try:
                yield cancel
            finally:
                self._turns.release()
        finally:
            with self._lock:
                self._inside -= 1
                if owner and owner in self._cancels:
                    self._cancels[owner].discard(cancel)
                    if not self._cancels[owner]:
                        del self._cancels[owner]

    def cancel_owner(self, owner: str) -> int:
        """Stop every request of a browser session (its tab was closed): how many."""
        with self._lock:
            events = list(self._cancels.get(owner, ()))
        for event in events:
            event.set()
        return len(events)
