"""A task create whose answer never came (our timeout) may still be done by the CRM after a
retry looked for the task; a task has no key the CRM would refuse a second one by. The create
activity looks again after the time a request is given, so the handoff gets one task, not two
(found by the chaos suite: bench/chaos.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hubspot import HubSpot
from hubspot.crm.deals import SimplePublicObjectInputForCreate
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from plg_handoff.activities.crm import AssignedOwner, CrmActivities, OwnerTaskInput
from plg_handoff.connectors.errors import TransientError
from plg_handoff.connectors.hubspot import HubSpotCrm
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from tests.conftest import TOKEN, make_config
from tests.connectors.test_owner_assignment import MAYA, facts

TIMEOUT_S = 1.0
LATE_S = 1.6  # the CRM does the create this long after the request: after our timeout


async def test_a_create_answered_after_our_timeout_leaves_one_task(
    tmp_path: Path, hubspot: HubSpotEmulator, dev_env: WorkflowEnvironment
) -> None:
    crm_settings = {"kind": "hubspot", "base_url": hubspot.url, "timeout": f"{TIMEOUT_S}s"}
    config = make_config(tmp_path, hubspot.url, crm=crm_settings)
    crm = HubSpotCrm(config.crm, TOKEN)  # type: ignore[arg-type]
    crm.ensure_properties()
    sdk = HubSpot(access_token=TOKEN, host=hubspot.url)
    body = SimplePublicObjectInputForCreate(properties={"dealname": "Acme: seats"})
    deal_id = str(sdk.crm.deals.basic_api.create(body).id)  # made by an earlier worker
    activities = CrmActivities(crm, dev_env.client, config)
    request = OwnerTaskInput(
        facts("acct-unclear"),
        deal_id,
        AssignedOwner(MAYA, "Maya", "maya@example.com"),
        datetime.now(UTC) + timedelta(hours=4),
    )
    hubspot.faults.slow_next(1, 0.0)  # the look for an existing task is answered at once,
    hubspot.faults.slow_next(1, LATE_S)  # the create after our timeout

    try:
        result = await ActivityEnvironment().run(activities.create_owner_task, request)
    except TransientError:  # what Temporal would retry
        result = await ActivityEnvironment().run(activities.create_owner_task, request)
    await asyncio.sleep(LATE_S)  # every request done

    tasks = hubspot.associations("deals", deal_id, "tasks")
    assert tasks == [result.task_id]
