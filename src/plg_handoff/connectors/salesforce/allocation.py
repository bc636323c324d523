"""The org's daily API allocation, as Salesforce reports it on every answer
(`Sforce-Limit-Info: api-usage=N/M`), with a reserve kept for the org's other integrations."""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from plg_handoff.connectors.errors import RateLimited
from plg_handoff.connectors.salesforce.errors import VENDOR
from plg_handoff.logs import get_logger

log = get_logger(__name__)
LIMIT_INFO_HEADER = "Sforce-Limit-Info"
# Salesforce counts the allocation over a rolling 24 hours: look again within the hour rather
# than wait a whole day for room that may come back sooner.
RECHECK_S = 3600.0
_API_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(\d+)/(\d+)")


class DailyAllocation:
    """Refuses a request, with a typed RateLimited, once the org's usage reaches its
    allocation minus the reserve. While refusing it sends nothing until the retry-after has
    passed; then one request goes through and its answer says whether there is room again."""

    def __init__(self, reserve: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._reserve = reserve
        self._clock = clock
        self._lock = threading.Lock()
        self._used: int | None = None
        self._allocation: int | None = None
        self._stopped_until: float | None = None

    def observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """A `requests` response hook: every answer carries the org's current usage."""
        match = _API_USAGE.search(response.headers.get(LIMIT_INFO_HEADER, ""))
        if match is None:
            return
        with self._lock:
            self._used, self._allocation = int(match[1]), int(match[2])

    def admit(self) -> None:
        with self._lock:
            used, allocation = self._used, self._allocation
            if used is None or allocation is None:
                return
            ceiling = allocation - math.ceil(allocation * self._reserve)
            if used < ceiling:
                self._stopped_until = None
                self._used = used + 1  # in flight: counted before its answer says so
                return
            now = self._clock()
            if self._stopped_until is not None and now >= self._stopped_until:
                self._stopped_until = None  # this one request looks whether there is room
                return
            if self._stopped_until is None:
                wait = _recheck_after()
                self._stopped_until = now + wait
                log.warning(
                    "salesforce.daily_allocation_reserved",
                    used=used,
                    allocation=allocation,
                    ceiling=ceiling,
                    retry_after_s=round(wait),
                )
            else:
                wait = self._stopped_until - now
        raise RateLimited(
            VENDOR,
            f"daily API allocation: {used} of {allocation} used; the rest ("
            f"{allocation - ceiling}, crm.daily_api_reserve) is the reserve for the org's other"
            " integrations",
            retry_after=wait,
        )


def _recheck_after() -> float:
    """Until the next UTC midnight, at most RECHECK_S."""
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return min((midnight - now).total_seconds(), RECHECK_S)
