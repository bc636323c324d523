"""One sync cycle of one usage source; a Temporal Schedule runs it on the source's interval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from plg_handoff.activities.usage import PullUsageInput, PullUsageResult, UsageActivities


@dataclass
class UsageSyncInput:
    source: str
    end_day: str | None = None
    window_days: int | None = None


@workflow.defn
class UsageSyncWorkflow:
    @workflow.run
    async def run(self, request: UsageSyncInput) -> PullUsageResult:
        # A scheduled run sees the last completed run's result: accounts whose rollups did not
        # change since are not signalled again. A manual run signals every account.
        previous = workflow.get_last_completion_result(PullUsageResult)
        digests = previous.digests if isinstance(previous, PullUsageResult) else ""
        result = await workflow.execute_activity_method(
            UsageActivities.pull_usage,
            PullUsageInput(request.source, request.end_day, request.window_days, digests),
            start_to_close_timeout=timedelta(minutes=30),
            # The pull heartbeats while it fans out; a dead worker is noticed within this.
            heartbeat_timeout=timedelta(minutes=2),
        )
        workflow.logger.info(
            "sync.completed",
            extra={"source": request.source, "read": result.read, "accepted": result.accepted},
        )
        return result
