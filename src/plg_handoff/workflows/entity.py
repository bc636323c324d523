"""What the long-lived entity workflows (owner pools, the notification ledger) share: they answer
updates until their history should be compacted, then continue as new with their state."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

UPDATES_BEFORE_CONTINUE_AS_NEW = 500


async def serve_updates(updates: Callable[[], int], state: Callable[[], object]) -> None:
    """The run method of an entity: waits until it answered enough updates (or Temporal suggests
    it), lets running handlers finish, and continues as new with `state()`."""
    await workflow.wait_condition(
        lambda: (
            updates() >= UPDATES_BEFORE_CONTINUE_AS_NEW
            or workflow.info().is_continue_as_new_suggested()
        )
    )
    await workflow.wait_condition(workflow.all_handlers_finished)
    workflow.continue_as_new(state())
