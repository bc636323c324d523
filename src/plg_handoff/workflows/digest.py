"""The weekly digest of tier-3 handoffs; a Temporal Schedule runs it on the configured day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from plg_handoff.activities.notify import DigestRequest, DigestResult, NotifyActivities

DIGEST_PERIOD = timedelta(days=7)
# A digest is worth little a day late: capped retries for a day, then next week's run.
DIGEST_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10))
DIGEST_DEADLINE = timedelta(days=1)


@dataclass
class DigestInput:
    until: str | None = None  # ISO-8601 UTC end of the week; default the run's start


@workflow.defn
class DigestWorkflow:
    @workflow.run
    async def run(self, request: DigestInput) -> DigestResult:
        until = datetime.fromisoformat(request.until) if request.until else workflow.now()
        result = await workflow.execute_activity_method(
            NotifyActivities.post_digest,
            DigestRequest((until - DIGEST_PERIOD).isoformat(), until.isoformat()),
            start_to_close_timeout=timedelta(minutes=2),
            schedule_to_close_timeout=DIGEST_DEADLINE,
            retry_policy=DIGEST_RETRY,
        )
        workflow.logger.info(
            "handoff.digest", extra={"sent": result.sent, "handoffs": result.handoffs}
        )
        return result
