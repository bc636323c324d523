"""The worker's start-up checks against the CRM, riding out what a vendor does for a moment.

A 503, a 429 with `Retry-After` or a slow answer while the worker starts is no reason to exit:
every restart of a crash-looping worker would read the source again. Transient errors are
retried with backoff, a bounded number of times, each retry logged; definite ones (missing
properties, bad credentials, a refused request) end the start at once, naming what is wrong."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from plg_handoff.connectors.errors import RateLimited, TransientError
from plg_handoff.logs import get_logger

log = get_logger(__name__)
T = TypeVar("T")
ATTEMPTS = 8  # about 2 minutes of backoff in all before the start fails
FIRST_WAIT_S = 1.0
LONGEST_WAIT_S = 30.0


async def startup_call(call: Callable[[], T], check: str, *, attempts: int = ATTEMPTS) -> T:
    """`call` (blocking, run in a thread), retried on transient vendor errors: the vendor's own
    `Retry-After` when it gives one, else exponential backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return await asyncio.to_thread(call)
        except (RateLimited, TransientError) as exc:
            if attempt == attempts:
                raise
            wait = exc.retry_after or min(LONGEST_WAIT_S, FIRST_WAIT_S * 2 ** (attempt - 1))
            log.warning(
                "worker.startup_retry",
                check=check,
                attempt=attempt,
                attempts=attempts,
                wait_s=wait,
                error=type(exc).__name__,
                status=exc.status,
            )
            await asyncio.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")
