"""Weeks of follow-up timers in seconds, on the time-skipping test server, with the real
activities talking to the HubSpot emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from hubspot import HubSpot
from hubspot.crm.objects import SimplePublicObjectInput
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.contracts import (
    AccountInput,
    AccountSummary,
    SnoozeRequest,
    UsageUpdate,
)
from plg_handoff.config import Config, load_secrets
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from plg_handoff.workflows.account import AccountWorkflow
from plg_handoff.workflows.handoff import HandoffStatus
from tests.conftest import TOKEN, make_config
from tests.support import (
    TODAY,
    eventually,
    handoff_status,
    record_history,
    start_account_near_its_seat_limit,
)

POLL = timedelta(hours=6)
EXPIRE = timedelta(days=14)
COOLDOWN = timedelta(days=30)


@dataclass
class Running:
    env: WorkflowEnvironment
    config: Config
    hubspot: HubSpotEmulator

    @property
    def client(self) -> Client:
        return self.env.client


@pytest.fixture
async def running(
    skipping_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Running]:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    config = make_config(
        tmp_path,
        hubspot.url,
        handoff={"follow_up_poll_interval": "6h", "expire_after": "14d", "cooldown": "30d"},
    )
    crm = build_crm(config, load_secrets(config))
    crm.ensure_properties()
    run = Running(skipping_env, config, hubspot)
    async with build_worker(skipping_env.client, config, load_secrets(config), crm):
        yield run


async def open_handoff(run: Running, account_id: str) -> HandoffStatus:
    """Signals usage at 90 % of the seat limit and waits until the handoff is assigned."""
    await start_account_near_its_seat_limit(run.client, run.config.temporal.task_queue, account_id)
    status = await eventually(
        lambda: handoff_status(run.client, f"handoff/{account_id}/1"),
        lambda s: s is not None and s.stage == "assigned",
    )
    assert status is not None
    return status


def assert_about(actual: timedelta, expected: timedelta) -> None:
    """Timers fire a few milliseconds after their deadline on the test server."""
    assert expected <= actual < expected + timedelta(seconds=1), actual


async def account_state(run: Running, account_id: str) -> AccountSummary:
    handle = run.client.get_workflow_handle(f"account/{account_id}")
    return await handle.query(AccountWorkflow.state)


async def test_a_handoff_nobody_follows_up_expires_after_two_weeks(running: Running) -> None:
    opened = await open_handoff(running, "acct-quiet")
    assert opened.assigned_at is not None

    await running.env.sleep(EXPIRE + timedelta(days=1))

    status = await handoff_status(running.client, "handoff/acct-quiet/1")
    assert status is not None
    assert status.stage == "expired"
    assert status.contacted_at is None
    assert status.closed_at is not None
    assert_about(status.closed_at - opened.assigned_at, EXPIRE)
    account = await eventually(
        lambda: account_state(running, "acct-quiet"), lambda a: a.open_handoff is None
    )
    assert account.cooldown_until is not None
    assert account.episode == 1
    await record_history(running.client, "handoff/acct-quiet/1", "handoff_expired")
    await record_history(running.client, "account/acct-quiet", "account_after_handoff")


async def test_contact_then_win_are_seen_on_the_polling_cadence(running: Running) -> None:
    """Seen at the polls; timed as the CRM records them (the task's completion, the deal's
    close), which here is just after the assignment in the emulator's wall-clock time."""
    opened = await open_handoff(running, "acct-buyer")
    assert opened.assigned_at is not None and opened.task_id and opened.opportunity_id
    sdk = HubSpot(access_token=TOKEN, host=running.hubspot.url)
    sdk.crm.objects.tasks.basic_api.update(
        opened.task_id, SimplePublicObjectInput(properties={"hs_task_status": "COMPLETED"})
    )

    await running.env.sleep(POLL - timedelta(hours=1))
    unseen = await handoff_status(running.client, "handoff/acct-buyer/1")
    assert unseen is not None and unseen.stage == "assigned"
    await running.env.sleep(timedelta(hours=2))
    contacted = await handoff_status(running.client, "handoff/acct-buyer/1")
    assert contacted is not None
    assert contacted.stage == "contacted"
    assert contacted.contacted_at is not None
    assert timedelta(0) <= contacted.contacted_at - opened.assigned_at < timedelta(minutes=1)

    sdk.crm.deals.basic_api.update(
        opened.opportunity_id, SimplePublicObjectInput(properties={"dealstage": "closedwon"})
    )
    await running.env.sleep(POLL - timedelta(hours=3))  # 11h in: the next poll is at 12h
    still = await handoff_status(running.client, "handoff/acct-buyer/1")
    assert still is not None and still.stage == "contacted"
    await running.env.sleep(timedelta(hours=2))
    # The 12h poll's CRM read runs in real time: it may finish just after the sleep returns.
    won = await eventually(
        lambda: handoff_status(running.client, "handoff/acct-buyer/1"),
        lambda s: s is not None and s.stage != "contacted",
    )
    assert won is not None
    assert won.stage == "won"
    assert won.closed_at is not None
    assert timedelta(0) <= won.closed_at - contacted.contacted_at < timedelta(minutes=1)
    await record_history(running.client, "handoff/acct-buyer/1", "handoff_won")


async def test_a_snoozed_account_gets_its_handoff_when_the_snooze_ends(running: Running) -> None:
    """No new usage arrives while the account is snoozed; the snooze's end alone wakes it."""
    account = "acct-snoozed"
    handle = await running.client.start_workflow(
        AccountWorkflow.run,
        AccountInput(account),
        id=f"account/{account}",
        task_queue=running.config.temporal.task_queue,
    )
    snoozed_at = await running.env.get_current_time()
    await handle.execute_update(
        AccountWorkflow.snooze, SnoozeRequest(2, "the customer asked for a quiet week")
    )
    await handle.signal(
        AccountWorkflow.usage,
        UsageUpdate(
            account,
            [DayRollup(TODAY, {"Report Viewed": 30}, 9, {"seats": 9})],
            AccountTraits(name="Snoozed Inc", plan="team", limits={"seats": 10}),
        ),
    )
    held = await eventually(
        lambda: account_state(running, account), lambda a: a.last_evaluation is not None
    )
    assert held.last_evaluation is not None and held.last_evaluation.hand_off
    assert held.open_handoff is None and held.held is not None

    await running.env.sleep(timedelta(days=2) - timedelta(hours=1))
    assert (await account_state(running, account)).open_handoff is None
    await running.env.sleep(timedelta(hours=2))
    woken = await eventually(
        lambda: account_state(running, account), lambda a: a.open_handoff is not None
    )
    assert (woken.episode, woken.held) == (1, None)
    opened = await eventually(
        lambda: handoff_status(running.client, f"handoff/{account}/1"),
        lambda s: s is not None and s.stage == "assigned",
    )
    assert opened is not None
    assert opened.signal_at - snoozed_at >= timedelta(days=2)
