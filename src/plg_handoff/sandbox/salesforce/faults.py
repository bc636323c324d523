"""Failures a test or the demo asks the Salesforce emulator to inject."""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class InjectedFailure:
    status: int  # 403 means REQUEST_LIMIT_EXCEEDED; 5xx a server error


class FaultPlan:
    """Thread-safe: failures are answered in order, one per API request (the OAuth endpoint
    excluded); slowness is independent; field rejections last until `clear()`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: deque[InjectedFailure] = deque()
        self._slow: deque[float] = deque()
        self.rejections: dict[tuple[str, str], str] = {}
        self._rate = 0.0
        self._slow_s = 0.0
        self._random = random.Random(0)

    def random_faults(self, rate: float, *, seed: int = 0, slow_s: float = 0.5) -> None:
        """Each API request, with probability `rate`, is refused (403 REQUEST_LIMIT_EXCEEDED
        or 503, evenly) or answered `slow_s` late; `rate` 0 stops it."""
        with self._lock:
            self._rate = rate
            self._slow_s = slow_s
            self._random = random.Random(seed)

    def limit_next(self, n: int) -> None:
        """The next `n` requests are refused with 403 REQUEST_LIMIT_EXCEEDED."""
        with self._lock:
            self._failures.extend(InjectedFailure(403) for _ in range(n))

    def fail_next(self, n: int, status: int = 503) -> None:
        if not 500 <= status <= 599:
            raise ValueError(f"fail_next needs a 5xx status, got {status}")
        with self._lock:
            self._failures.extend(InjectedFailure(status) for _ in range(n))

    def slow_next(self, n: int, seconds: float) -> None:
        with self._lock:
            self._slow.extend(seconds for _ in range(n))

    def reject_field(self, sobject: str, field: str, message: str) -> None:
        """Writes of this field fail per record with FIELD_CUSTOM_VALIDATION_EXCEPTION, as a
        validation rule would make them."""
        with self._lock:
            self.rejections[(sobject, field)] = message

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._slow.clear()
            self.rejections.clear()
            self._rate = 0.0

    def take_failure(self) -> InjectedFailure | None:
        with self._lock:
            if self._failures:
                return self._failures.popleft()
            if self._rate and self._random.random() < self._rate * 2 / 3:
                return InjectedFailure(self._random.choice((403, 503)))
            return None

    def take_delay(self) -> float:
        with self._lock:
            if self._slow:
                return self._slow.popleft()
            if self._rate and self._random.random() < self._rate / 3:
                return self._slow_s
            return 0.0
