"""Through a real Temporal Schedule, each cycle signals only the accounts whose rollups or traits
changed since the last completed cycle (one signal per changed account per cycle)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client, ScheduleHandle
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.usage import PullUsageResult
from plg_handoff.config import load_secrets
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.schedules import ensure_schedules, schedule_id
from plg_handoff.worker import build_crm, build_worker
from tests.conftest import TOKEN, make_config
from tests.support import eventually, usage_lines, write_profiles, write_usage

pytestmark = pytest.mark.e2e
ACCOUNTS = ["co-1", "co-2", "co-3"]


def seed(tmp_path: Path, seats: dict[str, int]) -> None:
    today = datetime.now(UTC).date()
    lines = [line for a in ACCOUNTS for line in usage_lines(a, today, 2, seats_used=seats[a])]
    write_usage(tmp_path / "usage", "export.jsonl", lines)


async def completed(client: Client, handle: ScheduleHandle, runs: int) -> PullUsageResult:
    """The result of the schedule's `runs`-th run, once it completed."""

    async def actions() -> list[str]:
        described = await handle.describe()
        return [a.action.workflow_id for a in described.info.recent_actions]  # type: ignore[attr-defined]

    ids = await eventually(actions, lambda found: len(found) >= runs)
    workflow = client.get_workflow_handle(ids[runs - 1], result_type=PullUsageResult)
    result: PullUsageResult = await workflow.result()
    return result


async def test_unchanged_accounts_are_not_signalled_again(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    name = f"changed-{tmp_path.name[-8:]}".lower()
    config = make_config(
        tmp_path,
        hubspot.url,
        sources=[{"kind": "file", "name": name, "path": str(tmp_path / "usage"),
                  "traits_path": str(tmp_path / "accounts.jsonl"), "sync_interval": "1h"}],
    )  # fmt: skip
    write_profiles(tmp_path / "accounts.jsonl", {a: {"seat_limit": 100} for a in ACCOUNTS})
    seed(tmp_path, {"co-1": 3, "co-2": 3, "co-3": 3})
    secrets = load_secrets(config)
    client = dev_env.client
    handle = client.get_schedule_handle(schedule_id(name))
    async with build_worker(client, config, secrets, build_crm(config, secrets)):
        try:
            await ensure_schedules(client, config)  # runs once at once
            first = await completed(client, handle, 1)
            assert (first.accounts_signalled, first.accounts_unchanged) == (3, 0)

            await handle.trigger()
            second = await completed(client, handle, 2)
            assert (second.accounts_signalled, second.accounts_unchanged) == (0, 3)

            seed(tmp_path, {"co-1": 3, "co-2": 7, "co-3": 3})
            await handle.trigger()
            third = await completed(client, handle, 3)
            assert (third.accounts_signalled, third.accounts_unchanged) == (1, 2)
        finally:
            await handle.delete()
