"""A vendor's per-project query budget kept in one durable entity that every worker asks
(`workflows/query_budget.py`), so neither a restart nor a second worker overspends it.

The connector calls `acquire()` from the thread its pull runs in; the entity is asked on the
worker's event loop. A granted query may come with a short wait (the per-second limit: the
entity reserved a slot a moment ahead); a refusal says when the hour has room again and
becomes `RateLimited`, which Temporal's retry policy waits out."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from plg_handoff.activities.entities import ask_entity
from plg_handoff.connectors.budgets import BudgetLimits, QueryBudget
from plg_handoff.connectors.errors import RateLimited, TransientError
from plg_handoff.logs import get_logger

log = get_logger(__name__)
QUERY_BUDGET_WORKFLOW = "QueryBudgetWorkflow"
TAKE_UPDATE = "take"
ASK_TIMEOUT_S = 30.0  # Temporal answers an update in milliseconds; longer means it is down


def query_budget_workflow_id(key: str) -> str:
    return f"query-budget/{key}"


@dataclass
class QueryBudgetState:
    starts: list[float] = field(default_factory=list)  # epoch seconds of the queries granted
    # (a granted slot may lie a moment ahead), oldest first, the last hour's only


@dataclass
class TakeRequest:
    per_second: int
    per_hour: int


@dataclass
class Grant:
    granted: bool
    wait_s: float  # granted: start the query after this; refused: when the hour has room
    used_last_hour: int


class SharedBudgets:
    """A `BudgetFactory` whose budgets are `QueryBudgetWorkflow` entities, one per key."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        loop: asyncio.AbstractEventLoop,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._task_queue = task_queue
        self._loop = loop
        self._sleep = sleep

    def __call__(self, limits: BudgetLimits) -> QueryBudget:
        return _EntityBudget(self, limits)

    def take(self, limits: BudgetLimits) -> Grant:
        """Asks the entity from another thread than the loop's."""
        future = asyncio.run_coroutine_threadsafe(self._take(limits), self._loop)
        try:
            return future.result(timeout=ASK_TIMEOUT_S)
        except FutureTimeout:
            future.cancel()
            raise TransientError(
                limits.vendor, f"the shared query budget {limits.key!r} did not answer"
            ) from None

    async def _take(self, limits: BudgetLimits) -> Grant:
        try:
            return await ask_entity(
                self._client,
                QUERY_BUDGET_WORKFLOW,
                query_budget_workflow_id(limits.key),
                self._task_queue,
                QueryBudgetState(),
                TAKE_UPDATE,
                TakeRequest(limits.per_second, limits.per_hour),
                Grant,
            )
        except (RPCError, WorkflowUpdateFailedError) as exc:
            raise TransientError(
                limits.vendor, f"the shared query budget {limits.key!r} is unreachable: {exc}"
            ) from None

    def sleep(self, seconds: float) -> None:
        self._sleep(seconds)


class _EntityBudget:
    def __init__(self, budgets: SharedBudgets, limits: BudgetLimits) -> None:
        self._budgets = budgets
        self._limits = limits

    def acquire(self) -> None:
        grant = self._budgets.take(self._limits)
        if not grant.granted:
            log.info(
                "budget.spent",
                budget=self._limits.key,
                used_last_hour=grant.used_last_hour,
                retry_after_s=round(grant.wait_s, 1),
            )
            raise RateLimited(
                self._limits.vendor,
                f"the shared budget of {self._limits.per_hour} queries per hour is spent",
                retry_after=float(max(1, math.ceil(grant.wait_s))),
            )
        if grant.wait_s > 0:
            self._budgets.sleep(grant.wait_s)
