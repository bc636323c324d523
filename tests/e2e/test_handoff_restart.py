"""SLA timers are Temporal timers: the contact deadline passes while no worker runs, and the
worker started afterwards escalates and reassigns. Real dev server (SQLite), real workers,
HubSpot emulator over HTTP; the SLA is seconds long so the test takes seconds."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from plg_handoff import search_attributes as sa
from plg_handoff.activities.contracts import USAGE_SIGNAL, AccountInput, UsageUpdate
from plg_handoff.config import load_secrets
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from plg_handoff.workflows.account import AccountWorkflow
from tests.conftest import TOKEN, make_config
from tests.support import eventually, handoff_status

pytestmark = pytest.mark.e2e
CONTACT_WITHIN_S = 6


async def test_contact_deadline_passing_without_a_worker_is_handled_after_restart(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    sla = {"assign_within": "1h", "contact_within": f"{CONTACT_WITHIN_S}s"}
    config = make_config(
        tmp_path,
        hubspot.url,
        handoff={
            "follow_up_poll_interval": "1h",
            "max_reassignments": 1,
            "sla": {tier: sla for tier in ("tier1", "tier2", "tier3")},
        },
    )
    secrets = load_secrets(config)
    crm = build_crm(config, secrets)
    crm.ensure_properties()
    client = dev_env.client
    account = f"restart-{uuid.uuid4().hex[:8]}"
    workflow_id = f"handoff/{account}/1"

    async with build_worker(client, config, secrets, crm):
        await client.start_workflow(
            AccountWorkflow.run,
            AccountInput(account),
            id=f"account/{account}",
            task_queue=config.temporal.task_queue,
            start_signal=USAGE_SIGNAL,
            start_signal_args=[
                UsageUpdate(
                    account,
                    [DayRollup("2026-11-20", {"Report Viewed": 30}, 9, {"seats": 9})],
                    AccountTraits(name=f"{account} Inc", plan="team", limits={"seats": 10}),
                )
            ],
        )
        opened = await eventually(
            lambda: handoff_status(client, workflow_id),
            lambda s: s is not None and s.next_timer == "contact SLA",
        )
        assert opened is not None and opened.contact_due_at is not None
    # No worker now; the deadline passes.
    handle = client.get_workflow_handle(workflow_id)
    loop = asyncio.get_running_loop()
    remaining = (opened.contact_due_at - opened.signal_at).total_seconds()
    await asyncio.sleep(remaining + 2)
    described = await handle.describe()
    assert described.typed_search_attributes.get(sa.SLA_BREACHED) is False
    assert described.typed_search_attributes.get(sa.OWNER_ID) == opened.owner_id

    started = loop.time()
    async with build_worker(client, config, secrets, build_crm(config, secrets)):
        breached = await eventually(
            lambda: handoff_status(client, workflow_id),
            lambda s: s is not None and s.sla_contact == "breached" and bool(s.previous_owners),
            timeout_s=30,
        )
        assert breached is not None
        assert breached.previous_owners == [opened.owner_id]
        assert breached.owner_id not in (None, opened.owner_id)
        assert breached.breaches == [
            f"first contact within {CONTACT_WITHIN_S}s (owner {opened.owner_id})"
        ]
        assert loop.time() - started < 30

        # What an operator sees, through the real command.
        cli_config = tmp_path / "cli.toml"
        cli_config.write_text(
            f'[temporal]\naddress = "{client.service_client.config.target_host}"\n'
            '[[sources]]\nkind = "file"\nname = "demo"\npath = "usage"\n'
            '[crm]\nkind = "hubspot"\n',
            encoding="utf-8",
        )
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "handoff"),
            "handoff",
            "explain",
            f"{account}/1",
            "--config",
            str(cli_config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, err.decode()
        text = out.decode()
        assert f"handoff {workflow_id}: assigned" in text
        assert f"breached: first contact within {CONTACT_WITHIN_S}s" in text
        assert f"previous owners: {opened.owner_id}" in text
        assert "next timer: contact SLA at " in text
        await handle.terminate()
        await client.get_workflow_handle(f"account/{account}").terminate()
