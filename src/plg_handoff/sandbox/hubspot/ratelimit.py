"""HubSpot's request limits: a rolling ten-second window and a daily allowance per portal, and
4 requests per second per token on the CRM search endpoints apart from them."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

WINDOW_SECONDS = 10.0
SEARCH_WINDOW_SECONDS = 1.0
SEARCH_PER_SECOND = 4


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    remaining: int
    daily_remaining: int
    retry_after_s: int


class RollingWindow:
    """At most `limit` requests in any `window_s` seconds. Not thread-safe: callers lock."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._recent: deque[float] = deque()

    def admit(self, now: float) -> bool:
        self._forget_before(now - self.window_s)
        if len(self._recent) >= self.limit:
            return False
        self._recent.append(now)
        return True

    def remaining(self, now: float) -> int:
        self._forget_before(now - self.window_s)
        return max(0, self.limit - len(self._recent))

    def retry_after_s(self, now: float) -> int:
        """Whole seconds until a request would be admitted again (at least 1)."""
        self._forget_before(now - self.window_s)
        if len(self._recent) < self.limit:
            return 1
        return max(1, math.ceil(self._recent[0] + self.window_s - now))

    def clear(self) -> None:
        self._recent.clear()

    def _forget_before(self, cutoff: float) -> None:
        while self._recent and self._recent[0] <= cutoff:
            self._recent.popleft()


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
        self._window = RollingWindow(per_ten_seconds, WINDOW_SECONDS)
        self._day = _today()
        self._used_today = 0

    def acquire(self) -> RateDecision:
        with self._lock:
            now = self._clock()
            self._roll_day()
            if self._used_today >= self.daily or not self._window.admit(now):
                return self._decision(allowed=False, now=now)
            self._used_today += 1
            return self._decision(allowed=True, now=now)

    def peek(self) -> RateDecision:
        """The current budget, without spending any of it."""
        with self._lock:
            now = self._clock()
            self._roll_day()
            return self._decision(allowed=True, now=now)

    def reset(self) -> None:
        with self._lock:
            self._window.clear()
            self._used_today = 0

    def _roll_day(self) -> None:
        today = _today()
        if today != self._day:
            self._day, self._used_today = today, 0

    def _decision(self, *, allowed: bool, now: float) -> RateDecision:
        return RateDecision(
            allowed=allowed,
            remaining=self._window.remaining(now),
            daily_remaining=max(0, self.daily - self._used_today),
            retry_after_s=self._window.retry_after_s(now),
        )

    def headers(self, decision: RateDecision) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(decision.daily_remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_SECONDS * 1000)),
            "X-HubSpot-RateLimit-Max": str(self.per_ten_seconds),
            "X-HubSpot-RateLimit-Remaining": str(decision.remaining),
        }


class SearchLimiter:
    """The CRM search endpoints' own limit, per token (the emulator has one token)."""

    def __init__(
        self, per_second: int = SEARCH_PER_SECOND, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._window = RollingWindow(per_second, SEARCH_WINDOW_SECONDS)

    def acquire(self) -> bool:
        with self._lock:
            return self._window.admit(self._clock())

    def reset(self) -> None:
        with self._lock:
            self._window.clear()


def is_search(method: str, path: str) -> bool:
    """POST /crm/v3/objects/<type>/search, for every object type."""
    parts = path.strip("/").split("/")
    return (
        method == "POST"
        and len(parts) == 5
        and parts[:3] == ["crm", "v3", "objects"]
        and (parts[4] == "search")
    )


def _today() -> date:
    return datetime.now(UTC).date()
