"""One sync cycle of one usage source; a Temporal Schedule runs it on the source's interval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from plg_handoff.activities.crm_queue import CRM_HEARTBEAT_TIMEOUT, crm_task_queue
    from plg_handoff.activities.refresh import RefreshActivities, RefreshOpenInput
    from plg_handoff.activities.usage import PullUsageInput, PullUsageResult, UsageActivities

# Added while syncs were scheduled: cycles recorded before it replay without the refresh.
REFRESH_PATCH = "refresh-open-opportunities"
# A refresh missed in one cycle is done by the next: a CRM outage must not hold the cycle up.
REFRESH_RETRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=30))


@dataclass
class UsageSyncInput:
    source: str
    end_day: str | None = None
    window_days: int | None = None


PULL_HEARTBEAT_TIMEOUT = timedelta(seconds=30)


@workflow.defn
class UsageSyncWorkflow:
    @workflow.run
    async def run(self, request: UsageSyncInput) -> PullUsageResult:
        # A scheduled run sees the last completed run's result: days it pulled completely are
        # not pulled again, and accounts whose rollups did not change since are not signalled
        # again. A manual run pulls the whole window and signals every account.
        previous = workflow.get_last_completion_result(PullUsageResult)
        last = previous if isinstance(previous, PullUsageResult) else None
        result = await workflow.execute_activity_method(
            UsageActivities.pull_usage,
            PullUsageInput(request.source, request.end_day, request.window_days, previous=last),
            start_to_close_timeout=timedelta(minutes=30),
            # The pull heartbeats (every quarter of this) while it exports, rolls up and fans
            # out; a dead worker's pull is retried within this.
            heartbeat_timeout=PULL_HEARTBEAT_TIMEOUT,
        )
        workflow.logger.info(
            "sync.completed",
            extra={"source": request.source, "read": result.read, "accepted": result.accepted},
        )
        if workflow.patched(REFRESH_PATCH):
            await self._refresh_open_opportunities(request.source)
        return result

    async def _refresh_open_opportunities(self, source: str) -> None:
        """The usage fields of every open opportunity, brought up to date in bulk."""
        try:
            await workflow.execute_activity_method(
                RefreshActivities.refresh_open_opportunities,
                RefreshOpenInput(source),
                start_to_close_timeout=timedelta(minutes=10),
                # Heartbeated by the worker: a killed worker's refresh is retried within
                # seconds, not when the ten minutes are up.
                heartbeat_timeout=CRM_HEARTBEAT_TIMEOUT,
                retry_policy=REFRESH_RETRY,
                task_queue=crm_task_queue(workflow.info().task_queue),
            )
        except ActivityError as exc:
            workflow.logger.warning(
                "sync.refresh_failed", extra={"source": source, "error": str(exc.cause or exc)}
            )
