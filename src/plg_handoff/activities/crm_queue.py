"""The CRM task queue: every activity that calls the CRM runs there, and the Temporal server
hands its tasks out no faster than the CRM's published limit allows, for all workers at once
(`max_task_queue_activities_per_second`); a burst of handoffs queues in Temporal instead of
taking the CRM's 429s."""

from __future__ import annotations

from plg_handoff.config import CrmConfig, HubSpotConfig

CRM_QUEUE_SUFFIX = "-crm"
# A new handoff costs 4 calls over its 3 CRM activities; a follow-up read 2 (deal and task)
# when nothing was logged, up to 6; an owner lookup none (cached). About 2 calls an activity.
CALLS_PER_ACTIVITY = 2.0


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
