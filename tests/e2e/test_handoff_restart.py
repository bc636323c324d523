"""SLA timers are Temporal timers: the contact deadline passes while neither the worker nor the
Temporal server runs; once the server is back on its SQLite file, the worker started afterwards
escalates and reassigns. The embedded dev server `handoff dev` runs (SQLite), real workers,
HubSpot emulator over HTTP; the SLA is seconds long so the test takes seconds."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from plg_handoff import search_attributes as sa
from plg_handoff.config import load_secrets
from plg_handoff.devserver import DevServer
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from tests.conftest import TOKEN, make_config
from tests.support import (
    eventually,
    free_port,
    handoff_status,
    run_handoff,
    start_account_near_its_seat_limit,
)

pytestmark = pytest.mark.e2e
CONTACT_WITHIN_S = 6


async def test_contact_deadline_passing_while_worker_and_server_are_down_is_handled_after(
    hubspot: HubSpotEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = DevServer(tmp_path / "temporal", port=free_port(), ui_port=free_port())
    client = await server.start()
    try:
        await restart_scenario(server, client, hubspot, tmp_path, monkeypatch)
    finally:
        server.stop()


async def restart_scenario(
    server: DevServer,
    client: Client,
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
    account = f"restart-{uuid.uuid4().hex[:8]}"
    workflow_id = f"handoff/{account}/1"

    async with build_worker(client, config, secrets, crm):
        await start_account_near_its_seat_limit(client, config.temporal.task_queue, account)
        opened = await eventually(
            lambda: handoff_status(client, workflow_id),
            lambda s: s is not None and s.next_timer == "contact SLA",
        )
        assert opened is not None and opened.contact_due_at is not None
    # No worker and no server now; the deadline passes.
    assert server.stop() is not None
    loop = asyncio.get_running_loop()
    remaining = (opened.contact_due_at - opened.signal_at).total_seconds()
    await asyncio.sleep(remaining + 2)
    client = await server.start()
    handle = client.get_workflow_handle(workflow_id)
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
        code, text, _ = await handoff_cli(cli_config, "explain", f"{account}/1")
        assert code == 0, text
        assert f"handoff {workflow_id}: assigned" in text
        assert f"breached: first contact within {CONTACT_WITHIN_S}s" in text
        assert f"previous owners: {opened.owner_id}" in text
        assert "next timer: contact SLA at " in text

        # Operators steer it through the real commands; a validator's refusal exits 1.
        code, _, err = await handoff_cli(
            cli_config, "snooze", f"{account}/1", "--hours", "0", "--reason", "out of office"
        )
        assert code == 1 and "refused" in err, err
        code, text, _ = await handoff_cli(
            cli_config, "contacted", workflow_id, "--note", "called them from the event booth"
        )
        assert code == 0, text
        assert f"handoff {workflow_id}: contacted" in text
        contacted = await handoff_status(client, workflow_id)
        assert contacted is not None and contacted.stage == "contacted"
        assert contacted.sla_contact == "breached"  # the first owner's miss stays on record
        await handle.terminate()
        await client.get_workflow_handle(f"account/{account}").terminate()


async def handoff_cli(config: Path, *args: str) -> tuple[int, str, str]:
    """`handoff handoff <args> --config <config>`: exit code, stdout, stderr."""
    done = await asyncio.to_thread(run_handoff, config, "handoff", *args)
    return done.returncode, done.stdout, done.stderr
