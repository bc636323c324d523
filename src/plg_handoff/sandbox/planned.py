"""Fault injection the emulators share: answers planned for the next requests, in order, given
before any other check of a request."""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

R = TypeVar("R")


class PlannedReplies(Generic[R]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._planned: deque[R] = deque()

    def clear(self) -> None:
        with self._lock:
            self._planned.clear()

    def take(self) -> R | None:
        """The next planned answer, if any: the request gets it instead of its own."""
        with self._lock:
            return self._planned.popleft() if self._planned else None

    def _plan(self, n: int, reply: R) -> None:
        if n < 0:
            raise ValueError(f"request count must be >= 0, got {n}")
        with self._lock:
            self._planned.extend(reply for _ in range(n))
