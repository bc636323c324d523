"""Asking a long-lived entity workflow (the notification ledger, the query budgets, the
delivery ledger) one update: the entity is started, with its empty state, by whoever asks
first."""

from __future__ import annotations

from typing import TypeVar

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

R = TypeVar("R")


async def ask_entity(
    client: Client,
    entity: str,
    entity_id: str,
    task_queue: str,
    empty: object,
    update: str,
    request: object,
    result_type: type[R],
) -> R:
    """The answer of the entity's `update` to `request`; `empty` is its state when it does
    not run yet."""
    handle = await client.start_workflow(
        entity,
        empty,
        id=entity_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    answer: R = await handle.execute_update(update, request, result_type=result_type)
    return answer
