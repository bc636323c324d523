"""Each sync cycle refreshes the usage fields of every open opportunity in bulk: newer usage
reaches the deal through the batch APIs without waiting for the handoff's follow-up poll, and a
cycle with nothing new reads the deals and writes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.refresh import RefreshOpenResult
from plg_handoff.config import Config, load_secrets
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from tests.conftest import TOKEN, make_config
from tests.support import (
    eventually,
    handoff_status,
    record_history,
    sync,
    usage_lines,
    write_profiles,
    write_usage,
)

pytestmark = pytest.mark.e2e
READ = ("POST", "/crm/v3/objects/deals/batch/read")
UPDATE = ("POST", "/crm/v3/objects/deals/batch/update")


def seed(tmp_path: Path, account: str, seats_today: int) -> None:
    today = datetime.now(UTC).date()
    lines = [
        *usage_lines(account, today - timedelta(days=1), users=8, seats_used=8),
        *usage_lines(account, today, users=seats_today, seats_used=seats_today),
    ]
    write_usage(tmp_path / "usage", "export.jsonl", lines)


async def last_refresh(client: Client, config: Config) -> RefreshOpenResult:
    """The refresh activity's result in the latest sync's history."""
    handle = client.get_workflow_handle(f"usage-sync/demo/{config.temporal.task_queue}")
    history = await handle.fetch_history()
    scheduled: dict[int, str] = {}
    found: RefreshOpenResult | None = None
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = (
                event.activity_task_scheduled_event_attributes.activity_type.name
            )
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            if scheduled[completed.scheduled_event_id] == "refresh_open_opportunities":
                raw = json.loads(completed.result.payloads[0].data)
                found = RefreshOpenResult(**raw)
    assert found is not None, "the sync ran no refresh"
    return found


async def test_newer_usage_reaches_the_open_deal_in_bulk_and_nothing_new_writes_nothing(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    account = f"acct-refresh-{tmp_path.name[-6:]}".lower()
    client = dev_env.client
    config = make_config(tmp_path, hubspot.url)
    write_profiles(
        tmp_path / "accounts.jsonl",
        {account: {"name": "Refresh Co", "plan": "team", "seat_limit": 10}},
    )
    seed(tmp_path, account, seats_today=9)
    secrets = load_secrets(config)
    crm = build_crm(config, secrets)
    crm.ensure_properties()

    async with build_worker(client, config, secrets, crm):
        await sync(client, config)
        await eventually(
            lambda: handoff_status(client, f"handoff/{account}/1"),
            lambda s: s is not None and s.stage == "assigned",
        )
        (deal,) = hubspot.objects("deals")
        assert "9 of 10 seats in use (90%)" in deal["properties"]["plg_evidence"]

        seed(tmp_path, account, seats_today=10)
        hubspot.reset_calls()
        changed = await cycle_until(client, config, lambda r: bool(r.updated))
        assert (changed.open, changed.updated, changed.refused) == (1, [f"handoff/{account}/1"], {})
        assert hubspot.calls.count(UPDATE) == 1 and set(hubspot.calls) == {READ, UPDATE}
        (deal,) = hubspot.objects("deals")
        assert "10 of 10 seats in use (100%)" in deal["properties"]["plg_evidence"]

        hubspot.reset_calls()
        await sync(client, config)
        unchanged = await last_refresh(client, config)
        assert (unchanged.open, unchanged.updated, unchanged.unchanged) == (1, [], 1)
        assert hubspot.calls == [READ]

        # A record the CRM refuses is reported, does not fail the cycle, and is written by a
        # later cycle once the CRM accepts it.
        seed(tmp_path, account, seats_today=9)
        hubspot.faults.reject_record("deals", deal["id"], "plan is frozen")
        refused = await cycle_until(client, config, lambda r: bool(r.refused))
        assert refused.refused == {f"handoff/{account}/1": "plan is frozen"}
        hubspot.faults.clear()
        await sync(client, config)
        assert (await last_refresh(client, config)).updated == [f"handoff/{account}/1"]
        (deal,) = hubspot.objects("deals")
        assert "9 of 10 seats in use (90%)" in deal["properties"]["plg_evidence"]
        # Evaluations while the handoff is open mark the account (SignalAt) for the refresh.
        await record_history(client, f"account/{account}", "account_marked_for_refresh")
    assert len(hubspot.objects("deals")) == 1


async def cycle_until(
    client: Client, config: Config, done: Callable[[RefreshOpenResult], bool], cycles: int = 3
) -> RefreshOpenResult:
    """Sync cycles until one's refresh satisfies `done` (an account evaluates a moment after
    the cycle signals it, so its refresh may still see the usage before)."""
    for _ in range(cycles):
        await sync(client, config)
        result = await last_refresh(client, config)
        if done(result):
            return result
    raise AssertionError(f"no refresh in {cycles} cycles did it; last: {result}")
