"""A vendor's query budget per project as a durable entity: every worker's queries are granted
here, in order, from one sliding log of the last hour (`activities/query_budget.py` asks)."""

from __future__ import annotations

from temporalio import workflow

from plg_handoff.workflows.entity import serve_updates

with workflow.unsafe.imports_passed_through():
    from plg_handoff.activities.query_budget import (
        TAKE_UPDATE,
        Grant,
        QueryBudgetState,
        TakeRequest,
    )

HOUR_S = 3600.0
SECOND_S = 1.0
# Requests reach the vendor a little after they are granted; without slack a 4th query could
# land within the vendor's one-second window of the 1st.
SECOND_SLACK_S = 0.1


@workflow.defn
class QueryBudgetWorkflow:
    @workflow.init
    def __init__(self, state: QueryBudgetState) -> None:
        self._state = state
        self._updates = 0

    @workflow.run
    async def run(self, state: QueryBudgetState) -> None:
        await serve_updates(lambda: self._updates, lambda: self._state)

    @workflow.update(name=TAKE_UPDATE)
    def take(self, request: TakeRequest) -> Grant:
        """Grants the next free slot: now, or a moment later when the last second is full;
        refuses (with the time until one frees) when the hour's budget is spent."""
        self._updates += 1
        now = workflow.now().timestamp()
        starts = [start for start in self._state.starts if start > now - HOUR_S]
        self._state.starts = starts
        if len(starts) >= request.per_hour:
            return Grant(False, starts[-request.per_hour] + HOUR_S - now, len(starts))
        slot = now
        if len(starts) >= request.per_second:
            slot = max(slot, starts[-request.per_second] + SECOND_S + SECOND_SLACK_S)
        starts.append(slot)
        return Grant(True, slot - now, len(starts))

    @take.validator
    def _validate_take(self, request: TakeRequest) -> None:
        if request.per_second < 1 or request.per_hour < 1:
            raise ValueError("per_second and per_hour must be at least 1")
