"""The CRM task queue: every activity that calls the CRM runs there, and the Temporal server
hands its tasks out no faster than the CRM's published limit allows, for all workers at once
(`max_task_queue_activities_per_second`); a burst of handoffs queues in Temporal instead of
taking the CRM's 429s."""

from __future__ import annotations

from plg_handoff.config import CrmConfig, HubSpotConfig

CRM_QUEUE_SUFFIX = "-crm"
# Measured by bench/scale.py: a new handoff makes 4.0 calls over its 4 CRM activities (owner,
# deal, task, funnel), and a burst fewer (company lookups share searches). Follow-up reads (2 to
# 6 calls) come hours apart. Each process's own pacer holds the exact request limit; this rate
# keeps several workers together near it.
CALLS_PER_ACTIVITY = 1.0


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
