"""segment-analytics-python -> the Segment collector's spool, and Segment's Profile API (the
emulator) -> scheduled syncs -> accounts -> a HubSpot deal. The account profile's traits win over
the `group` traits; the Profile API is asked only about accounts whose usage changed since the
last completed sync, so a sync over unchanged usage makes no Profile API request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from segment.analytics import Client
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.contracts import AccountSummary
from plg_handoff.config import load_secrets
from plg_handoff.connectors.segment.collector import SegmentCollector
from plg_handoff.connectors.segment.spool import Spool
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.sandbox.segment import SegmentProfilesEmulator
from plg_handoff.schedules import ensure_schedules, schedule_id
from plg_handoff.worker import build_crm, build_worker
from plg_handoff.workflows.account import AccountWorkflow
from tests.conftest import TOKEN, make_config
from tests.e2e.test_changed_only import completed
from tests.support import eventually, handoff_status

pytestmark = pytest.mark.e2e
WRITE_KEY = "seg-write-key-profiles-2b7d"
SPACE = "spa_e2e_profiles"
PROFILES_TOKEN = "profiles-token-e2e-7a3f"  # noqa: S105  # the emulator's token in tests
HOT, CALM = "prof-hot", "prof-calm"


def send(spool_dir: Path, calls: Callable[[Client, datetime], None]) -> None:
    """Messages through a real Segment library into the collector's spool."""
    collector = SegmentCollector(Spool(spool_dir, rotate_seconds=3600), [WRITE_KEY])
    url = collector.start()
    errors: list[Any] = []
    try:
        client = Client(
            WRITE_KEY,
            host=url,
            max_retries=1,
            max_total_backoff_duration=2,
            upload_interval=0.05,
            on_error=lambda error, batch: errors.append(error),
        )
        calls(client, datetime.now(UTC) - timedelta(minutes=5))
        client.flush()
        client.join()
    finally:
        collector.stop()  # closes the open segment, as the collector does on SIGTERM
    assert errors == []


def first_usage(client: Client, now: datetime) -> None:
    # The group calls say 100 seats; the account profile says 10 (and names the account).
    client.group("pf-u1", HOT, {"name": "Group Name", "seat_limit": 100}, message_id="pg1")
    client.group("pf-u2", CALM, {"name": "Calm Co", "seat_limit": 10}, message_id="pg2")
    for n in range(3):
        client.track("pf-u1", "Report Viewed", {"seats_used": 9}, timestamp=now,
                     message_id=f"pt1-{n}")  # fmt: skip
    client.track("pf-u2", "Report Viewed", {"seats_used": 2}, timestamp=now, message_id="pt2")


def more_calm_usage(client: Client, now: datetime) -> None:
    client.track("pf-u2", "Report Viewed", {"seats_used": 3}, timestamp=now, message_id="pt3")


async def test_profile_traits_reach_accounts_and_unchanged_usage_reads_none(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spool_dir = tmp_path / "spool"
    send(spool_dir, first_usage)
    profiles = SegmentProfilesEmulator(
        space_id=SPACE,
        token=PROFILES_TOKEN,
        profiles={HOT: {"name": "Profile Hot", "seat_limit": 10, "arr_potential": 40000}},
    )  # CALM has no profile (404): its group traits stand
    profiles.start()
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("HANDOFF_SEGMENT_PROFILES_TOKEN", PROFILES_TOKEN)
    name = f"profiles-{tmp_path.name[-8:]}".lower()
    config = make_config(
        tmp_path,
        hubspot.url,
        sources=[{"kind": "segment", "name": name, "spool_dir": str(spool_dir),
                  "sync_interval": "1h",
                  "profiles": {"space_id": SPACE, "base_url": profiles.url}}],
    )  # fmt: skip
    secrets = load_secrets(config)
    crm = build_crm(config, secrets)
    crm.ensure_properties()
    client = dev_env.client
    handle = client.get_schedule_handle(schedule_id(name))
    traits_path = f"/v1/spaces/{SPACE}/collections/accounts/profiles/group_id:{{}}/traits"
    try:
        async with build_worker(client, config, secrets, crm):
            try:
                await ensure_schedules(client, config)  # runs once at once
                first = await completed(client, handle, 1)
                assert (first.accounts, first.accounts_signalled) == (2, 2)
                assert sorted(profiles.calls) == sorted(traits_path.format(a) for a in (CALM, HOT))
                status = await eventually(
                    lambda: handoff_status(client, f"handoff/{HOT}/1"),
                    lambda s: s is not None and s.stage == "assigned",
                )
                assert status is not None

                profiles.calls.clear()
                await handle.trigger()
                second = await completed(client, handle, 2)
                assert (second.accounts_signalled, second.accounts_unchanged) == (0, 2)
                assert profiles.calls == []  # unchanged usage: no Profile API request

                send(spool_dir, more_calm_usage)
                await handle.trigger()
                third = await completed(client, handle, 3)
                assert (third.accounts_signalled, third.accounts_unchanged) == (1, 1)
                assert profiles.calls == [traits_path.format(CALM)]  # HOT is not re-read
                account = client.get_workflow_handle(f"account/{HOT}")
                summary: AccountSummary = await account.query(AccountWorkflow.state)
                assert summary.episode == 1
            finally:
                await handle.delete()
    finally:
        profiles.stop()

    deals = hubspot.objects("deals")
    assert [d["properties"]["plg_handoff_id"] for d in deals] == [f"handoff/{HOT}/1"]
    deal = deals[0]["properties"]
    assert deal["dealname"].startswith("Profile Hot:")  # the profile's name, not the group's
    assert "9 of 10 seats in use (90%)" in deal["plg_evidence"]  # the profile's seat limit
    assert deal["amount"] == "40000.00"
