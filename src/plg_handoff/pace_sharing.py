"""Worker processes that send to the CRM with the same credentials share its limit.

The CRM task queue's activity rate is enforced by the Temporal server for every worker, but a
connector paces its requests (HubSpot's 10-second window and search limit, Salesforce's rate)
inside its process. Each process counts the workers polling the CRM queue (Temporal lists the
pollers it saw in the last minutes) and keeps to its share: a worker that stopped a moment ago
still counts for a while, which errs on the slow side."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from plg_handoff.connectors.base import SupportsSharedPace
from plg_handoff.logs import get_logger

log = get_logger(__name__)
RECOUNT_S = 5.0  # a new worker shares within seconds; a cheap call to Temporal


async def crm_workers(client: Client, crm_queue: str) -> int:
    """The worker processes polling the CRM queue (distinct identities), at least 1."""
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=crm_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return max(1, len({poller.identity for poller in answer.pollers}))


async def keep_pace_shared(
    client: Client, crm_queue: str, crm: SupportsSharedPace, recount_s: float = RECOUNT_S
) -> None:
    """Runs while the worker runs: recounts the workers and re-shares the pace on a change."""
    shared, failing = 1, False
    while True:
        try:
            workers = await crm_workers(client, crm_queue)
        except RPCError as exc:  # the previous share holds until Temporal answers again
            if not failing:  # logged once per outage, not every few seconds
                log.warning("crm.pace_recount_failed", error=str(exc)[:200], workers=shared)
            failing = True
        else:
            failing = False
            if workers != shared:
                crm.share_pace(workers)
                log.info("crm.pace_shared", workers=workers, was=shared)
                shared = workers
        await asyncio.sleep(recount_s)
