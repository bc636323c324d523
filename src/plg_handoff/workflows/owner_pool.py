"""Round-robin owner rotation as a durable entity: one order shared by every worker."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plg_handoff.activities.contracts import (
        NEXT_OWNER_UPDATE,
        NextOwnerRequest,
        OwnerPoolInput,
    )

RECENT_LIMIT = 1_000
UPDATES_BEFORE_CONTINUE_AS_NEW = 500


@workflow.defn
class OwnerPoolWorkflow:
    def __init__(self) -> None:
        self._state = OwnerPoolInput(pool="")
        self._updates = 0

    @workflow.run
    async def run(self, state: OwnerPoolInput) -> None:
        self._state = state
        await workflow.wait_condition(
            lambda: (
                self._updates >= UPDATES_BEFORE_CONTINUE_AS_NEW
                or workflow.info().is_continue_as_new_suggested()
            )
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._state)

    @workflow.update(name=NEXT_OWNER_UPDATE)
    def next_owner(self, request: NextOwnerRequest) -> str:
        """The candidate assigned least recently (never assigned first); the same handoff
        asking again gets the same answer, so an activity retry does not skip anyone."""
        state = self._state
        if request.handoff_key in state.recent:
            return state.recent[request.handoff_key]
        owner = min(request.candidates, key=lambda c: (state.last_assigned.get(c, -1), c))
        state.sequence += 1
        state.last_assigned[owner] = state.sequence
        state.recent[request.handoff_key] = owner
        if len(state.recent) > RECENT_LIMIT:
            state.recent.pop(next(iter(state.recent)))
        self._updates += 1
        return owner

    @next_owner.validator
    def _validate_next_owner(self, request: NextOwnerRequest) -> None:
        if not request.candidates:
            raise ValueError("no candidate owners")
