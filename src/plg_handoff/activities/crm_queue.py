"""The CRM task queue: every activity that calls the CRM runs there, and the Temporal server
hands its tasks out no faster than the CRM's published limit allows, for all workers at once
(`max_task_queue_activities_per_second`); a burst of handoffs queues in Temporal instead of
taking the CRM's 429s."""

from __future__ import annotations

from datetime import timedelta

from plg_handoff.config import CrmConfig, HubSpotConfig

CRM_QUEUE_SUFFIX = "-crm"
# The worker heartbeats the activities of the CRM queue (activities/keepalive.py): a killed
# worker's call is retried after this, not after its start-to-close timeout.
CRM_HEARTBEAT_TIMEOUT = timedelta(seconds=15)
# Measured by bench/scale.py: a lone new handoff makes 3 to 4 calls over its 3 CRM activities
# (owner, deal, task); in a burst concurrent activities share batch calls (lookups, deals,
# companies and tasks a hundred a call), so an activity makes well under one call, and the
# batches form while calls wait for the pacer. Follow-up reads (2 to 6 calls) come hours apart.
# Each process's own pacer holds the exact request limit (shared among the workers of one
# token); this rate lets twice the limit's number of activities through so that it never caps
# a burst below what batching makes of the limit.
CALLS_PER_ACTIVITY = 0.5


def crm_task_queue(task_queue: str) -> str:
    """Derived from the deployment's task queue: workflows compute it deterministically."""
    return task_queue + CRM_QUEUE_SUFFIX


def crm_requests_per_second(crm: CrmConfig) -> float:
    if isinstance(crm, HubSpotConfig):
        return crm.requests_per_10s / 10
    return float(crm.requests_per_second)


def crm_activities_per_second(crm: CrmConfig) -> float:
    """The CRM task queue's rate: the CRM's request limit over the calls an activity makes."""
    return crm_requests_per_second(crm) / CALLS_PER_ACTIVITY
