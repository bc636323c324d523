"""Operators steer an account through workflow updates with validators (snooze, disqualify,
requalify) and read why it is where it is; an open handoff takes newer evidence instead of a
second opportunity opening. Real dev server, real worker, HubSpot emulator over HTTP."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.contracts import (
    AccountSummary,
    DisqualifyRequest,
    RequalifyRequest,
    SnoozeRequest,
)
from plg_handoff.config import load_secrets
from plg_handoff.explain import account_summary, render
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from plg_handoff.workflows.account import AccountWorkflow
from tests.conftest import TOKEN, make_config
from tests.support import (
    eventually,
    handoff_status,
    sync,
    usage_lines,
    write_profiles,
    write_usage,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def hubspot_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)


def seats(tmp_path: Path, account: str, yesterday: int, today: int) -> None:
    day = datetime.now(UTC).date()
    write_usage(
        tmp_path / "usage",
        "export.jsonl",
        [
            *usage_lines(account, day - timedelta(days=1), users=2, seats_used=yesterday),
            *usage_lines(account, day, users=2, seats_used=today),
        ],
    )
    write_profiles(
        tmp_path / "accounts.jsonl",
        {account: {"name": f"{account} Inc", "seat_limit": 10, "arr_potential": 60_000}},
    )


async def cli(env: WorkflowEnvironment, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """Runs the real `handoff` command against the test's Temporal."""
    config = tmp_path / "cli.toml"
    config.write_text(
        f'[temporal]\naddress = "{env.client.service_client.config.target_host}"\n'
        '[[sources]]\nkind = "file"\nname = "demo"\npath = "usage"\n'
        '[crm]\nkind = "hubspot"\n',
        encoding="utf-8",
    )
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "handoff"),
        *args,
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode(), err.decode()


async def summary(client: Client, account: str) -> AccountSummary:
    return await client.get_workflow_handle(f"account/{account}").query(AccountWorkflow.state)


async def test_disqualified_account_opens_no_handoff_until_requalified(
    dev_env: WorkflowEnvironment, hubspot: HubSpotEmulator, tmp_path: Path
) -> None:
    client = dev_env.client
    config = make_config(tmp_path, hubspot.url)
    account = "ops-held"
    crm = build_crm(config, load_secrets(config))
    crm.ensure_properties()
    seats(tmp_path, account, yesterday=5, today=6)  # 60 %: nothing fires yet
    async with build_worker(client, config, load_secrets(config), crm):
        await sync(client, config)
        handle = client.get_workflow_handle(f"account/{account}")
        await eventually(lambda: summary(client, account), lambda s: s.days_tracked == 2)

        # Validators refuse what would leave no trace or make no sense, before any change.
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(AccountWorkflow.disqualify, DisqualifyRequest("  "))
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(AccountWorkflow.snooze, SnoozeRequest(0, "too soon"))
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(AccountWorkflow.requalify, RequalifyRequest("not held"))

        held = await handle.execute_update(
            AccountWorkflow.disqualify, DisqualifyRequest("existing enterprise customer", "ops")
        )
        assert held.held == "disqualified: existing enterprise customer (by ops)"

        seats(tmp_path, account, yesterday=8, today=9)  # 90 %: limit_approaching fires
        await sync(client, config)
        state = await eventually(
            lambda: summary(client, account),
            lambda s: s.last_evaluation is not None and bool(s.last_evaluation.fired),
        )
        assert state.open_handoff is None
        assert await handoff_status(client, f"handoff/{account}/1") is None
        text = render(await account_summary(client, account))
        assert "held: disqualified: existing enterprise customer" in text
        assert "fired: limit_approaching" in text
        assert "9 of 10 seats in use (90%)" in text
        code, out, _ = await cli(dev_env, tmp_path, "explain", account)
        assert code == 0
        assert out.strip() == text

        released = await handle.execute_update(
            AccountWorkflow.requalify, RequalifyRequest("churned from the enterprise plan")
        )
        assert released.held is None
        opened = await eventually(
            lambda: handoff_status(client, f"handoff/{account}/1"),
            lambda s: s is not None and s.stage == "assigned",
        )
        assert opened is not None
        assert len(hubspot.objects("deals")) == 1


async def test_snoozed_account_says_until_when_and_why(
    dev_env: WorkflowEnvironment, hubspot: HubSpotEmulator, tmp_path: Path
) -> None:
    client = dev_env.client
    config = make_config(tmp_path, hubspot.url)
    account = "ops-snoozed"
    crm = build_crm(config, load_secrets(config))
    seats(tmp_path, account, yesterday=5, today=5)
    async with build_worker(client, config, load_secrets(config), crm):
        await sync(client, config)
        await eventually(lambda: summary(client, account), lambda s: s.days_tracked == 2)
        code, _, err = await cli(
            dev_env, tmp_path, "account", "snooze", account, "--days", "0", "--reason", "x"
        )
        assert code == 1
        assert "days must be 1 to 365" in err
        code, out, _ = await cli(
            dev_env,
            tmp_path,
            "account",
            "snooze",
            account,
            "--days",
            "14",
            "--reason",
            "renewal talks under way",
        )
        assert code == 0
        assert "held: snoozed until " in out
        snoozed = await summary(client, account)
        assert snoozed.held is not None
        assert snoozed.held.startswith("snoozed until ")
        assert "renewal talks under way (by " in snoozed.held
        seats(tmp_path, account, yesterday=8, today=10)
        await sync(client, config)
        await eventually(
            lambda: summary(client, account),
            lambda s: s.last_evaluation is not None and bool(s.last_evaluation.fired),
        )
        assert (await summary(client, account)).open_handoff is None


async def test_an_open_handoff_takes_newer_evidence_instead_of_a_second_deal(
    dev_env: WorkflowEnvironment, hubspot: HubSpotEmulator, tmp_path: Path
) -> None:
    client = dev_env.client
    config = make_config(tmp_path, hubspot.url, handoff={"follow_up_poll_interval": "1s"})
    account = "ops-growing"
    crm = build_crm(config, load_secrets(config))
    crm.ensure_properties()
    seats(tmp_path, account, yesterday=8, today=8)
    async with build_worker(client, config, load_secrets(config), crm):
        await sync(client, config)
        await eventually(
            lambda: handoff_status(client, f"handoff/{account}/1"),
            lambda s: s is not None and s.stage == "assigned",
        )
        [deal] = hubspot.objects("deals")
        assert "8 of 10 seats in use (80%)" in deal["properties"]["plg_evidence"]

        seats(tmp_path, account, yesterday=8, today=9)
        await sync(client, config)
        status = await eventually(
            lambda: handoff_status(client, f"handoff/{account}/1"),
            lambda s: s is not None and s.evidence_updates >= 1,
        )
        assert status is not None
        [deal] = hubspot.objects("deals")
        assert "9 of 10 seats in use (90%)" in deal["properties"]["plg_evidence"]
        assert "full in 1 day" in deal["properties"]["plg_evidence"]
        assert (await summary(client, account)).episode == 1
