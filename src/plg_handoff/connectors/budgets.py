"""Query budgets a vendor counts per project, not per process (Mixpanel: 60 exports an hour).

A connector asks `query_budget(limits)` for the budget of its project and calls `acquire()`
before each query: it returns when a query may go out (after a short wait for the per-second
limit) or raises `RateLimited` with the time until the hour's budget has room again.

By default the budget is kept in the process. The worker runs each pull inside
`budgets_from(factory)`, whose factory keeps it where every worker sees it (a durable entity
in Temporal, `activities/query_budget.py`), so restarts and extra workers cannot overspend it.
The factory travels in a context variable: `asyncio.to_thread` carries it into the thread that
runs the connector."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class BudgetLimits:
    vendor: str  # named in the `RateLimited` a spent budget raises
    key: str  # one budget, e.g. "mixpanel-export:<host>:<project>"
    per_second: int
    per_hour: int


class QueryBudget(Protocol):
    def acquire(self) -> None:
        """Returns when one query may go out; raises `RateLimited` when none may this hour."""


BudgetFactory = Callable[[BudgetLimits], QueryBudget]

_factory: ContextVar[BudgetFactory | None] = ContextVar("query_budget_factory", default=None)


def shared_factory() -> BudgetFactory | None:
    """The factory `budgets_from` set for this context; None: budgets are per process."""
    return _factory.get()


@contextmanager
def budgets_from(factory: BudgetFactory) -> Iterator[None]:
    token = _factory.set(factory)
    try:
        yield
    finally:
        _factory.reset(token)
