"""The owner rotation's client side: the asks of concurrent `assign_owner` activities in one
worker are coalesced, so a pool's entity workflow gets one update in flight per worker, each
carrying up to MAX_BATCH asks, however many handoffs open at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from plg_handoff.activities.coalesce import Coalescer
from plg_handoff.activities.contracts import (
    NEXT_OWNERS_UPDATE,
    OWNER_POOL_WORKFLOW,
    NextOwnersRequest,
    OwnerPoolInput,
    handoff_task_queue,
    owner_pool_workflow_id,
)
from plg_handoff.activities.entities import ask_entity
from plg_handoff.logs import get_logger

log = get_logger(__name__)
MAX_BATCH = 100
UPDATE_ATTEMPTS = 6
FIRST_BACKOFF_S = 0.2
MAX_BACKOFF_S = 3.0
# The server refuses an update beyond 10 in flight, or aborts one admitted while the pool
# continues as new: both are worth a quick retry of the same (idempotent) asks.
REFUSED_FOR_NOW = frozenset(
    {
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.NOT_FOUND,
    }
)


@dataclass(frozen=True)
class PoolAsk:
    """What must be the same for asks to share an update."""

    pool: str
    candidates: tuple[str, ...]
    max_open_per_owner: int | None


@dataclass(frozen=True)
class OpenHandoffs:
    """Running handoffs per candidate, as visibility lists them."""

    counts: dict[str, int] = field(default_factory=dict)
    listed_recent: tuple[str, ...] = ()


ReadOpenHandoffs = Callable[[list[str]], Awaitable[OpenHandoffs]]


class RotationBatcher:
    def __init__(self, client: Client, task_queue: str, read_open: ReadOpenHandoffs) -> None:
        self._client = client
        self._task_queue = task_queue
        self._read_open = read_open
        self._asks: Coalescer[PoolAsk, str, str] = Coalescer(self._update, MAX_BATCH)

    async def next_owner(self, ask: PoolAsk, key: str) -> str:
        """The pool's owner for this rotation key; waits for the batch it joins."""
        return await self._asks.ask(ask, key)

    async def _update(self, ask: PoolAsk, keys: list[str]) -> list[str]:
        open_handoffs = (
            await self._read_open(list(ask.candidates))
            if ask.max_open_per_owner is not None
            else OpenHandoffs()
        )
        request = NextOwnersRequest(
            keys,
            list(ask.candidates),
            ask.max_open_per_owner,
            open_handoffs.counts,
            list(open_handoffs.listed_recent),
        )
        delay = FIRST_BACKOFF_S
        for attempt in range(1, UPDATE_ATTEMPTS + 1):
            try:
                owners = await ask_entity(
                    self._client,
                    OWNER_POOL_WORKFLOW,
                    owner_pool_workflow_id(self._task_queue, ask.pool),
                    handoff_task_queue(self._task_queue),
                    OwnerPoolInput(ask.pool),
                    NEXT_OWNERS_UPDATE,
                    request,
                    list[str],
                )
            except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError) as exc:
                status = exc.status if isinstance(exc, RPCError) else None
                retryable = status in REFUSED_FOR_NOW or status is None
                if not retryable or attempt == UPDATE_ATTEMPTS:
                    raise
                log.info(
                    "owner_pool.update_retried",
                    pool=ask.pool,
                    asks=len(keys),
                    attempt=attempt,
                    error=str(exc)[:200],
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)
            else:
                log.info("owner_pool.batch_answered", pool=ask.pool, asks=len(keys))
                return owners
        raise AssertionError("unreachable: the last attempt returns or raises")
