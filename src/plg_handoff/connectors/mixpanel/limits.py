"""Client-side pacing to Mixpanel's documented query limits (per project).

The Export API allows 3 queries per second and 60 per hour; the Query API (Engage) 60 per hour.
The per-second limit is kept by waiting; the hourly one is not worth blocking a worker thread
for, so the pacer raises `RateLimited` with the time until a query is free again, and Temporal's
retry policy waits instead. `budget` returns the pacer of this process, or, inside the worker's
pulls, the budget every worker shares (`connectors/budgets.py`); Mixpanel's 429 answer stays
the final word."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from plg_handoff.connectors.budgets import BudgetLimits, QueryBudget, shared_factory
from plg_handoff.connectors.errors import RateLimited

from .errors import VENDOR

HOUR_S = 3600.0
SECOND_S = 1.0
PER_SECOND = 3
PER_HOUR = 60
# Requests reach the server a little later than they leave; without slack a 4th request could
# land within the server's one-second window of the 1st.
WINDOW_SLACK_S = 0.1


class Pacer:
    """A sliding log of the query start times of the last hour."""

    def __init__(
        self,
        per_second: int = PER_SECOND,
        per_hour: int = PER_HOUR,
        *,
        slack_s: float = WINDOW_SLACK_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second < 1 or per_hour < 1:
            raise ValueError("limits must allow at least one query")
        self.per_second = per_second
        self.per_hour = per_hour
        self._slack_s = slack_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._starts: deque[float] = deque()

    def acquire(self) -> None:
        """Waits for a free slot in the current second; raises `RateLimited` when the hour's
        budget is spent. Waiters queue on the lock, so they go out in order."""
        with self._lock:
            while True:
                now = self._clock()
                while self._starts and self._starts[0] <= now - HOUR_S:
                    self._starts.popleft()
                if len(self._starts) >= self.per_hour:
                    free_at = self._starts[0] + HOUR_S
                    raise RateLimited(
                        VENDOR,
                        f"client-side budget of {self.per_hour} queries per hour is spent",
                        retry_after=float(max(1, math.ceil(free_at - now))),
                    )
                if len(self._starts) >= self.per_second:
                    wait = self._starts[-self.per_second] + SECOND_S + self._slack_s - now
                    if wait > 0:
                        self._sleep(wait)
                        continue
                self._starts.append(now)
                return

    def used_last_hour(self) -> int:
        with self._lock:
            cutoff = self._clock() - HOUR_S
            return sum(1 for start in self._starts if start > cutoff)


_shared: dict[str, Pacer] = {}
_shared_lock = threading.Lock()


def shared_pacer(key: str, per_second: int = PER_SECOND, per_hour: int = PER_HOUR) -> Pacer:
    """The process-wide pacer of one budget (e.g. `export:<host>:<project>`): a source is built
    anew for every pull, the budget must outlive it."""
    with _shared_lock:
        pacer = _shared.get(key)
        if pacer is None:
            pacer = _shared[key] = Pacer(per_second, per_hour)
        return pacer


def budget(key: str, per_second: int = PER_SECOND, per_hour: int = PER_HOUR) -> QueryBudget:
    """The budget shared by every worker when the caller runs inside `budgets_from`, else the
    process's own pacer."""
    factory = shared_factory()
    if factory is None:
        return shared_pacer(key, per_second, per_hour)
    return factory(BudgetLimits(VENDOR, f"mixpanel-{key}", per_second, per_hour))
