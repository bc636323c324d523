"""A burst of handoffs through the real CRM activities: concurrent upserts and task creates of one
worker share HubSpot's batch endpoints (a few calls for the burst, not one or two a handoff),
and each handoff still gets its own deal, company and task."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from plg_handoff.activities.crm import (
    AssignedOwner,
    CrmActivities,
    OwnerTaskInput,
    OwnerTaskResult,
    UpsertOpportunityInput,
    UpsertOpportunityResult,
)
from plg_handoff.connectors.hubspot import HubSpotCrm
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from tests.conftest import TOKEN, make_config
from tests.connectors.test_hubspot_batch_writes import (
    COMPANIES_CREATE,
    COMPANY_CREATE,
    TASK_CREATE,
    TASKS_CREATE,
    UPSERT,
)
from tests.connectors.test_owner_assignment import MAYA, facts

BURST = 40
SLOW_S = 0.5


async def test_a_burst_of_handoffs_shares_batch_writes(
    tmp_path: Path, hubspot: HubSpotEmulator, dev_env: WorkflowEnvironment
) -> None:
    config = make_config(tmp_path, hubspot.url)
    crm = HubSpotCrm(config.crm, TOKEN)  # type: ignore[arg-type]
    crm.ensure_properties()
    activities = CrmActivities(crm, dev_env.client, config)
    handoffs = [facts(f"acct-burst-{n}") for n in range(BURST)]
    crm.find_accounts([(h.account_id, ()) for h in handoffs])  # assign_owner's lookup
    hubspot.reset_calls()

    async def upsert(n: int) -> UpsertOpportunityResult:
        request = UpsertOpportunityInput(handoffs[n], MAYA)
        result: UpsertOpportunityResult = await ActivityEnvironment().run(
            activities.upsert_opportunity, request
        )
        return result

    hubspot.faults.slow_next(1, SLOW_S)  # the burst's first write: the others arrive meanwhile
    deals = await asyncio.gather(*(upsert(n) for n in range(BURST)))

    async def task(n: int) -> OwnerTaskResult:
        request = OwnerTaskInput(
            handoffs[n],
            deals[n].opportunity_id,
            AssignedOwner(MAYA, "Maya", "maya@example.com"),
            datetime.now(UTC) + timedelta(hours=4),
        )
        result: OwnerTaskResult = await ActivityEnvironment().run(
            activities.create_owner_task, request
        )
        return result

    hubspot.faults.slow_next(1, SLOW_S)
    tasks = await asyncio.gather(*(task(n) for n in range(BURST)))

    calls = Counter(hubspot.calls)
    # The first batch goes with the asks already there; those arriving while it is (slowly)
    # answered go together in the next.
    assert 1 <= calls[UPSERT] <= 2, calls
    assert 1 <= calls[COMPANY_CREATE] + calls[COMPANIES_CREATE] <= 2, calls
    assert 1 <= calls[TASK_CREATE] + calls[TASKS_CREATE] <= 2, calls
    assert sum(calls.values()) <= 6, calls
    assert len({d.opportunity_id for d in deals}) == BURST
    assert all(d.created for d in deals) and all(t.created for t in tasks)
    assert len(hubspot.objects("deals")) == len(hubspot.objects("tasks")) == BURST
    assert len(hubspot.objects("companies")) == BURST
    for deal, created in zip(deals, tasks, strict=True):
        assert hubspot.associations("tasks", created.task_id, "deals") == [deal.opportunity_id]
        assert len(hubspot.associations("deals", deal.opportunity_id, "companies")) == 1
