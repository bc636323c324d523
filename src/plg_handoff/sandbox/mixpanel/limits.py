"""Mixpanel's per-project query limits: queries per second, per hour, and running at once."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

HOUR_S = 3600.0
SECOND_S = 1.0
DOCS_URL = "https://docs.mixpanel.com/reference/rate-limits"


@dataclass(frozen=True)
class Admission:
    allowed: bool
    retry_after_s: int = 0
    error: str = ""


class QueryLimiter:
    """Admitted queries count; refused ones do not. `release()` ends an admitted query."""

    def __init__(
        self,
        *,
        project_id: int,
        per_second: int,
        per_hour: int,
        max_concurrent: int,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = per_second
        self.per_hour = per_hour
        self.max_concurrent = max_concurrent
        self.enabled = enabled
        self._project_id = project_id
        self._clock = clock
        self._lock = threading.Lock()
        self._starts: deque[float] = deque()
        self._running = 0

    def admit(self) -> Admission:
        with self._lock:
            now = self._clock()
            while self._starts and self._starts[0] <= now - HOUR_S:
                self._starts.popleft()
            last_second = [s for s in self._starts if s > now - SECOND_S]
            wait: float | None = None
            if self.enabled:
                if self._running >= self.max_concurrent:
                    wait = SECOND_S
                elif len(last_second) >= self.per_second:
                    wait = last_second[-self.per_second] + SECOND_S - now
                elif len(self._starts) >= self.per_hour:
                    wait = self._starts[0] + HOUR_S - now
            if wait is not None:
                return Admission(False, max(1, math.ceil(wait)), self._message(len(last_second)))
            self._starts.append(now)
            self._running += 1
            return Admission(True)

    def release(self) -> None:
        with self._lock:
            self._running = max(0, self._running - 1)

    def reset(self) -> None:
        with self._lock:
            self._starts.clear()

    def _message(self, in_last_second: int) -> str:
        return (
            f"Query rate limit exceeded for project_id: {self._project_id}. "
            f"{self._running}/{self.max_concurrent} queries running concurrently, "
            f"{in_last_second}/{self.per_second} queries in the last second and "
            f"{len(self._starts)}/{self.per_hour} queries in the last hour. "
            f"See {DOCS_URL}"
        )
