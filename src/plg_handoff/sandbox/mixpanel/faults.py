"""Failures a test or the demo asks the Mixpanel emulator to inject, one per API query, in the
order they were planned."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class InjectedFailure:
    status: int
    retry_after_s: int | None = None
    cut_after_lines: int | None = None  # a 200 export whose connection drops after N lines


def _check_count(n: int) -> None:
    if n < 0:
        raise ValueError(f"request count must be >= 0, got {n}")


class FaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: deque[InjectedFailure] = deque()

    def rate_limit_next(self, n: int, retry_after_s: int | None = 1) -> None:
        """429s; `retry_after_s=None` answers without a Retry-After header."""
        _check_count(n)
        with self._lock:
            self._failures.extend(InjectedFailure(429, retry_after_s) for _ in range(n))

    def fail_next(self, n: int, status: int = 500) -> None:
        _check_count(n)
        if not 500 <= status <= 599:
            raise ValueError(f"fail_next needs a 5xx status, got {status}")
        with self._lock:
            self._failures.extend(InjectedFailure(status) for _ in range(n))

    def cut_next(self, n: int, after_lines: int = 10) -> None:
        """Exports that start fine and lose their connection after `after_lines` lines."""
        _check_count(n)
        with self._lock:
            self._failures.extend(
                InjectedFailure(200, cut_after_lines=after_lines) for _ in range(n)
            )

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()

    def take(self) -> InjectedFailure | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None

    def pending(self) -> int:
        with self._lock:
            return len(self._failures)
