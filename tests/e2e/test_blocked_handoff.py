"""A CRM refusal that retrying cannot fix blocks the handoff visibly, loses nothing, and the
handoff goes through once an operator fixed the cause and asked to retry."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.contracts import deployment_queues
from plg_handoff.config import load_secrets
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from plg_handoff.workflows.handoff import HandoffWorkflow, RetryRequest
from tests.conftest import TOKEN, make_config
from tests.e2e.test_thin_path import seed_usage
from tests.support import eventually, handoff_status, sync

pytestmark = pytest.mark.e2e


async def test_refused_deal_blocks_the_handoff_until_an_operator_retries(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    client = dev_env.client
    config = make_config(tmp_path, hubspot.url)
    seed_usage(tmp_path, hot="acct-blocked")
    crm = build_crm(config, load_secrets(config))
    crm.ensure_properties()
    hubspot.faults.reject_property("deals", "plg_evidence", "Evidence is over the portal's limit")

    async with build_worker(client, config, load_secrets(config), crm):
        await sync(client, config)
        blocked = await eventually(
            lambda: handoff_status(client, "handoff/acct-blocked/1"),
            lambda s: s is not None and s.stage == "blocked",
        )
        assert blocked is not None and blocked.blocked_reason is not None
        assert blocked.blocked_reason.startswith("InvalidInput: hubspot: deal refused")
        assert any("Evidence is over the portal" in d for d in blocked.blocked_details), blocked
        assert hubspot.objects("deals") == []
        query = (
            f'HandoffStage="blocked" AND AccountId="acct-blocked" '
            f"AND {deployment_queues(config.temporal.task_queue)}"
        )
        found = await eventually(lambda: client.count_workflows(query), lambda c: c.count == 1)
        assert found.count == 1

        hubspot.faults.clear()
        handle = client.get_workflow_handle("handoff/acct-blocked/1")
        await handle.signal(HandoffWorkflow.retry, RetryRequest("test"))
        assigned = await eventually(
            lambda: handoff_status(client, "handoff/acct-blocked/1"),
            lambda s: s is not None and s.stage == "assigned",
        )
        assert assigned is not None and assigned.blocked_reason is None

    deals = hubspot.objects("deals")
    assert [d["properties"]["plg_handoff_id"] for d in deals] == ["handoff/acct-blocked/1"]
    assert len(hubspot.objects("tasks")) == 1
