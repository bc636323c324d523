"""Worker processes that send to the CRM with the same credentials keep, together, to its
published limit: each counts the workers polling the CRM queue and paces to its share."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from plg_handoff.config import HubSpotConfig
from plg_handoff.connectors.hubspot.client import HubSpotCrm
from plg_handoff.pace_sharing import crm_workers, keep_pace_shared
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from tests.conftest import TOKEN
from tests.support import eventually

pytestmark = pytest.mark.e2e


@activity.defn(name="upsert_opportunity")
async def stand_in() -> None:
    """Never called: the workers only poll the CRM queue."""


async def test_two_polling_workers_halve_each_ones_hubspot_pace(
    dev_env: WorkflowEnvironment, hubspot: HubSpotEmulator
) -> None:
    client = dev_env.client
    crm_queue = f"pace-{uuid.uuid4().hex[:8]}-crm"
    crm = HubSpotCrm(HubSpotConfig(kind="hubspot", base_url=hubspot.url), TOKEN)
    async with contextlib.AsyncExitStack() as workers:
        for identity in ("worker-a", "worker-b"):  # two processes: a client each
            own = await Client.connect(
                client.service_client.config.target_host, namespace=client.namespace
            )
            await workers.enter_async_context(
                Worker(own, task_queue=crm_queue, activities=[stand_in], identity=identity)
            )
        assert await eventually(lambda: crm_workers(client, crm_queue), lambda n: n == 2) == 2
        sharing = asyncio.create_task(keep_pace_shared(client, crm_queue, crm, recount_s=0.1))
        try:
            await eventually(
                lambda: asyncio.sleep(0, (crm._pacer.limit, crm._search_pacer.limit)),
                lambda limits: limits == (95, 2),
            )
        finally:
            sharing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sharing
