"""The worker's start-up checks against the CRM and its connection to Temporal, riding out
what a vendor or the server does for a moment.

A 503, a 429 with `Retry-After` or a slow answer while the worker starts is no reason to exit:
every restart of a crash-looping worker would read the source again. Transient errors are
retried with backoff, a bounded number of times, each retry logged; definite ones (missing
properties, bad credentials, a refused request) end the start at once, naming what is wrong."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from plg_handoff.connectors.errors import ConnectorError, RateLimited, TransientError
from plg_handoff.logs import get_logger
from plg_handoff.temporal_errors import TemporalUnreachableError

log = get_logger(__name__)
T = TypeVar("T")
ATTEMPTS = 8  # about 2 minutes of backoff in all before the start fails
FIRST_WAIT_S = 1.0
LONGEST_WAIT_S = 30.0


async def startup_call(call: Callable[[], T], check: str, *, attempts: int = ATTEMPTS) -> T:
    """`call` (blocking, run in a thread), retried on transient vendor errors: the vendor's own
    `Retry-After` when it gives one, else exponential backoff."""
    return await startup_retry(lambda: asyncio.to_thread(call), check, attempts=attempts)


async def startup_connect(
    connect: Callable[[], Awaitable[T]], address: str, *, attempts: int = ATTEMPTS
) -> T:
    """The connection to Temporal, waited for the same way: a worker that starts while the
    server (re)starts, or before it in a compose file, connects once it is up."""
    return await startup_retry(connect, f"temporal {address}", attempts=attempts)


async def startup_retry(
    call: Callable[[], Awaitable[T]], check: str, *, attempts: int = ATTEMPTS
) -> T:
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except (RateLimited, TransientError, TemporalUnreachableError) as exc:
            if attempt == attempts:
                raise
            vendor = exc if isinstance(exc, ConnectorError) else None
            backoff = min(LONGEST_WAIT_S, FIRST_WAIT_S * 2 ** (attempt - 1))
            wait = (vendor.retry_after if vendor else None) or backoff
            log.warning(
                "worker.startup_retry",
                check=check,
                attempt=attempt,
                attempts=attempts,
                wait_s=wait,
                error=type(exc).__name__,
                status=vendor.status if vendor else None,
            )
            await asyncio.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")
