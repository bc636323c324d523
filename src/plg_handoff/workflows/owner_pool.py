"""Round-robin owner rotation as a durable entity: one order shared by every worker."""

from __future__ import annotations

from temporalio import workflow

from plg_handoff.workflows.entity import serve_updates

with workflow.unsafe.imports_passed_through():
    from plg_handoff.activities.contracts import (
        NEXT_OWNER_UPDATE,
        NextOwnerRequest,
        OwnerPoolInput,
    )
    from plg_handoff.domain.routing import choose_in_pool

RECENT_LIMIT = 1_000
VISIBILITY_LAG_S = 300.0
"""An assignment this recent counts as open even when visibility does not list it yet."""


@workflow.defn
class OwnerPoolWorkflow:
    @workflow.init
    def __init__(self, state: OwnerPoolInput) -> None:
        # The input is the state from the start: an update delivered with the first workflow
        # task runs before `run`, and must not be overwritten by it.
        self._state = state
        self._updates = 0

    @workflow.run
    async def run(self, state: OwnerPoolInput) -> None:
        await serve_updates(lambda: self._updates, lambda: self._state)

    @workflow.update(name=NEXT_OWNER_UPDATE)
    def next_owner(self, request: NextOwnerRequest) -> str:
        """The candidate assigned least recently (never assigned first) among those under the
        cap of open handoffs; the same key asking again gets the same answer while that owner
        is still a candidate, so an activity retry does not skip anyone."""
        state = self._state
        known = state.recent.get(request.handoff_key)
        if known is not None and known in request.candidates:
            return known
        now = workflow.now().timestamp()
        choice = choose_in_pool(
            request.candidates,
            state.last_assigned,
            self._open_counts(request, now),
            request.max_open_per_owner,
        )
        if choice.over_capacity:
            workflow.logger.warning(
                "owner_pool.over_capacity",
                extra={"pool": state.pool, "owner_id": choice.owner_id},
            )
        owner = choice.owner_id
        state.sequence += 1
        state.last_assigned[owner] = state.sequence
        state.recent.pop(request.handoff_key, None)
        state.recent[request.handoff_key] = owner
        state.assigned_at[request.handoff_key] = now
        while len(state.recent) > RECENT_LIMIT:
            oldest = next(iter(state.recent))
            state.recent.pop(oldest)
            state.assigned_at.pop(oldest, None)
        self._updates += 1
        return owner

    def _open_counts(self, request: NextOwnerRequest, now: float) -> dict[str, int]:
        if request.max_open_per_owner is None:
            return {}
        open_keys = {owner: set(keys) for owner, keys in request.open_handoffs.items()}
        for key, at in self._state.assigned_at.items():
            owner = self._state.recent.get(key)
            if owner is not None and now - at < VISIBILITY_LAG_S:
                open_keys.setdefault(owner, set()).add(key.split("#", 1)[0])
        return {owner: len(keys) for owner, keys in open_keys.items()}

    @next_owner.validator
    def _validate_next_owner(self, request: NextOwnerRequest) -> None:
        if not request.candidates:
            raise ValueError("no candidate owners")
