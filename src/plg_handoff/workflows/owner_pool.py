"""Round-robin owner rotation as a durable entity: one order shared by every worker."""

from __future__ import annotations

from temporalio import workflow

from plg_handoff.workflows.entity import serve_updates

with workflow.unsafe.imports_passed_through():
    from plg_handoff.activities.contracts import (
        NEXT_OWNER_UPDATE,
        NEXT_OWNERS_UPDATE,
        NextOwnerRequest,
        NextOwnersRequest,
        OwnerPoolInput,
    )
    from plg_handoff.domain.routing import choose_in_pool

RECENT_LIMIT = 2_000
"""Answers remembered for an ask repeated by an activity retry."""
VISIBILITY_LAG_S = 300.0
"""An assignment this recent counts as open even when visibility does not list it yet."""
MAX_ASKS = 500


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

    @workflow.update(name=NEXT_OWNERS_UPDATE)
    def next_owners(self, request: NextOwnersRequest) -> list[str]:
        """One owner per ask, in order, as if each had asked alone: the candidate assigned
        least recently among those under the cap, an ask repeated getting its first answer."""
        now = workflow.now().timestamp()
        counts = dict(request.open_counts)
        if request.max_open_per_owner is not None:
            for owner, added in self._unlisted_recent(now, set(request.listed_recent)).items():
                counts[owner] = counts.get(owner, 0) + added
        owners = []
        for key in request.asks:
            owner, new = self._assign(key, request.candidates, request.max_open_per_owner, counts)
            if new and request.max_open_per_owner is not None:
                counts[owner] = counts.get(owner, 0) + 1
            owners.append(owner)
        self._forget(now)
        self._updates += 1
        return owners

    @next_owners.validator
    def _validate_next_owners(self, request: NextOwnersRequest) -> None:
        if not request.candidates:
            raise ValueError("no candidate owners")
        if not 1 <= len(request.asks) <= MAX_ASKS:
            raise ValueError(f"between 1 and {MAX_ASKS} asks an update, got {len(request.asks)}")

    @workflow.update(name=NEXT_OWNER_UPDATE)
    def next_owner(self, request: NextOwnerRequest) -> str:
        """One ask an update, as workers of earlier releases send it."""
        now = workflow.now().timestamp()
        counts = self._open_counts(request, now) if request.max_open_per_owner else {}
        owner, _ = self._assign(
            request.handoff_key, request.candidates, request.max_open_per_owner, counts
        )
        self._forget(now)
        self._updates += 1
        return owner

    @next_owner.validator
    def _validate_next_owner(self, request: NextOwnerRequest) -> None:
        if not request.candidates:
            raise ValueError("no candidate owners")

    def _assign(
        self, key: str, candidates: list[str], cap: int | None, open_counts: dict[str, int]
    ) -> tuple[str, bool]:
        """The owner for this ask, and whether it is a new assignment (not a repeated ask)."""
        state = self._state
        known = state.recent.get(key)
        if known is not None and known in candidates:
            return known, False
        choice = choose_in_pool(candidates, state.last_assigned, open_counts, cap)
        if choice.over_capacity:
            workflow.logger.warning(
                "owner_pool.over_capacity",
                extra={"pool": state.pool, "owner_id": choice.owner_id},
            )
        owner = choice.owner_id
        state.sequence += 1
        state.last_assigned[owner] = state.sequence
        state.recent.pop(key, None)
        state.recent[key] = owner
        state.assigned_at[key] = workflow.now().timestamp()
        return owner, True

    def _forget(self, now: float) -> None:
        state = self._state
        while len(state.recent) > RECENT_LIMIT:
            oldest = next(iter(state.recent))
            state.recent.pop(oldest)
            state.assigned_at.pop(oldest, None)
        for key in [k for k, at in state.assigned_at.items() if now - at >= VISIBILITY_LAG_S]:
            del state.assigned_at[key]

    def _unlisted_recent(self, now: float, listed: set[str]) -> dict[str, int]:
        """Per owner, the handoffs this pool assigned within the visibility lag that the
        caller's visibility listing did not count yet."""
        seen: dict[str, set[str]] = {}
        for key, at in self._state.assigned_at.items():
            owner = self._state.recent.get(key)
            handoff = key.split("#", 1)[0]
            if owner is not None and now - at < VISIBILITY_LAG_S and handoff not in listed:
                seen.setdefault(owner, set()).add(handoff)
        return {owner: len(handoffs) for owner, handoffs in seen.items()}

    def _open_counts(self, request: NextOwnerRequest, now: float) -> dict[str, int]:
        open_keys = {owner: set(keys) for owner, keys in request.open_handoffs.items()}
        for key, at in self._state.assigned_at.items():
            owner = self._state.recent.get(key)
            if owner is not None and now - at < VISIBILITY_LAG_S:
                open_keys.setdefault(owner, set()).add(key.split("#", 1)[0])
        return {owner: len(keys) for owner, keys in open_keys.items()}
