"""HubSpot's rolling ten-second and daily request limits."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

WINDOW_SECONDS = 10.0


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    remaining: int
    daily_remaining: int
    retry_after_s: int


class RateLimiter:
    def __init__(
        self,
        per_ten_seconds: int,
        daily: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_ten_seconds = per_ten_seconds
        self.daily = daily
        self._clock = clock
        self._lock = threading.Lock()
        self._recent: deque[float] = deque()
        self._day = _today()
        self._used_today = 0

    def acquire(self) -> RateDecision:
        with self._lock:
            now = self._clock()
            self._forget_before(now - WINDOW_SECONDS)
            self._roll_day()
            if len(self._recent) >= self.per_ten_seconds or self._used_today >= self.daily:
                return self._decision(allowed=False, now=now)
            self._recent.append(now)
            self._used_today += 1
            return self._decision(allowed=True, now=now)

    def peek(self) -> RateDecision:
        """The current budget, without spending any of it."""
        with self._lock:
            now = self._clock()
            self._forget_before(now - WINDOW_SECONDS)
            self._roll_day()
            return self._decision(allowed=True, now=now)

    def reset(self) -> None:
        with self._lock:
            self._recent.clear()
            self._used_today = 0

    def _forget_before(self, cutoff: float) -> None:
        while self._recent and self._recent[0] <= cutoff:
            self._recent.popleft()

    def _roll_day(self) -> None:
        today = _today()
        if today != self._day:
            self._day, self._used_today = today, 0

    def _decision(self, *, allowed: bool, now: float) -> RateDecision:
        retry_after = 1
        if self._recent and len(self._recent) >= self.per_ten_seconds:
            retry_after = max(1, math.ceil(self._recent[0] + WINDOW_SECONDS - now))
        return RateDecision(
            allowed=allowed,
            remaining=max(0, self.per_ten_seconds - len(self._recent)),
            daily_remaining=max(0, self.daily - self._used_today),
            retry_after_s=retry_after,
        )

    def headers(self, decision: RateDecision) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(decision.daily_remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_SECONDS * 1000)),
            "X-HubSpot-RateLimit-Max": str(self.per_ten_seconds),
            "X-HubSpot-RateLimit-Remaining": str(decision.remaining),
        }


def _today() -> date:
    return datetime.now(UTC).date()
