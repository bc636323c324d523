"""A burst of handoffs queues under the CRM's published limits instead of taking 429s: the real
worker, the dev server and the HubSpot emulator holding a low ten-second limit and the search
endpoints' 4 requests/s."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.contracts import deployment_queues
from plg_handoff.activities.crm_queue import crm_task_queue
from plg_handoff.config import load_secrets
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from tests.conftest import TOKEN, make_config
from tests.support import eventually, handoff_status, start_account_near_its_seat_limit

pytestmark = pytest.mark.e2e
BURST = 40  # 4 calls each: about 160 calls, several times what the limit lets through at once
REQUESTS_PER_10S = 80
SEARCHES_PER_S = 4
CRM_ACTIVITIES = {"assign_owner", "upsert_opportunity", "create_owner_task"}


async def test_a_burst_of_handoffs_is_paced_without_a_single_429(
    dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    client = dev_env.client
    with HubSpotEmulator(
        token=TOKEN, rate_limit_per_10s=REQUESTS_PER_10S, search_per_second=SEARCHES_PER_S
    ) as hubspot:
        config = make_config(
            tmp_path,
            hubspot.url,
            crm={"requests_per_10s": REQUESTS_PER_10S, "search_requests_per_s": SEARCHES_PER_S},
            handoff={"follow_up_poll_interval": "1h"},
        )
        task_queue = config.temporal.task_queue
        crm = build_crm(config, load_secrets(config))
        crm.ensure_properties()
        crm.list_owners()
        run = uuid.uuid4().hex[:8]
        accounts = [f"paced-{run}-{n}" for n in range(BURST)]
        assigned = (
            f'WorkflowType="HandoffWorkflow" AND {deployment_queues(task_queue)}'
            ' AND HandoffStage="assigned"'
        )

        async with build_worker(client, config, load_secrets(config), crm):
            await asyncio.gather(
                *(start_account_near_its_seat_limit(client, task_queue, a) for a in accounts)
            )
            await eventually(
                lambda: client.count_workflows(assigned),
                lambda counted: counted.count == BURST,
                timeout_s=90,
            )
            statuses = [await handoff_status(client, f"handoff/{a}/1") for a in accounts]
            history = await client.get_workflow_handle(f"handoff/{accounts[0]}/1").fetch_history()

        assert hubspot.refusals == {}
        assert all(s is not None and s.stage == "assigned" for s in statuses)
        assert len(hubspot.objects("deals")) == BURST
    queues = {
        e.activity_task_scheduled_event_attributes.task_queue.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name in CRM_ACTIVITIES
    }
    assert queues == {crm_task_queue(task_queue)}
