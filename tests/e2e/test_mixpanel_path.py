"""Mixpanel export (emulator over HTTP, gzip) -> sync -> account -> a HubSpot deal, with the
account's traits from Mixpanel group profiles (Engage)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from plg_handoff.config import load_secrets
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.sandbox.mixpanel.emulator import MixpanelEmulator
from plg_handoff.worker import build_crm, build_worker
from tests.conftest import TOKEN, make_config
from tests.support import eventually, handoff_status, sync, usage_lines

pytestmark = pytest.mark.e2e
USER, SECRET = "sa.handoff", "sa-secret-9d2f"  # the emulator's test credentials


def export_of(day: date) -> Iterable[Mapping[str, Any] | str]:
    if day != datetime.now(UTC).date():
        return []
    lines = [
        *usage_lines("mp-hot", day, users=9, seats_used=9),
        *usage_lines("mp-calm", day, users=3, seats_used=3),
    ]
    return [*(json.loads(line) for line in lines), "{truncated line"]


async def test_mixpanel_export_and_group_profiles_make_a_deal(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    profiles = [
        {"$distinct_id": "mp-hot", "$properties": {"name": "MP Hot", "seat_limit": 10}},
        {"$distinct_id": "mp-calm", "$properties": {"name": "MP Calm", "seat_limit": 10}},
    ]
    mixpanel = MixpanelEmulator(
        project_id=4242, username=USER, secret=SECRET, events=export_of, profiles=profiles
    )
    url = mixpanel.start()
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("HANDOFF_MIXPANEL_SERVICE_ACCOUNT_USERNAME", USER)
    monkeypatch.setenv("HANDOFF_MIXPANEL_SERVICE_ACCOUNT_SECRET", SECRET)
    config = make_config(
        tmp_path,
        hubspot.url,
        sources=[
            {
                "kind": "mixpanel",
                "name": "demo",
                "project_id": 4242,
                "base_url": url,
                "data_group_id": "1",
                "window_days": 2,
            }
        ],
    )
    secrets = load_secrets(config)
    crm = build_crm(config, secrets)
    crm.ensure_properties()
    try:
        async with build_worker(dev_env.client, config, secrets, crm):
            result = await sync(dev_env.client, config)
            assert result.accounts == 2
            assert result.quarantined == {"unparseable_json": 1}
            assert result.read == result.accepted + sum(result.quarantined.values())
            status = await eventually(
                lambda: handoff_status(dev_env.client, "handoff/mp-hot/1"),
                lambda s: s is not None and s.stage == "assigned",
            )
            assert status is not None
            for workflow_id in (
                f"usage-sync/demo/{config.temporal.task_queue}",
                "handoff/mp-hot/1",
            ):
                history = await dev_env.client.get_workflow_handle(workflow_id).fetch_history()
                assert_a_dead_workers_activities_are_noticed_within_seconds(history)
    finally:
        mixpanel.stop()

    deals = hubspot.objects("deals")
    assert [d["properties"]["plg_handoff_id"] for d in deals] == ["handoff/mp-hot/1"]
    assert deals[0]["properties"]["dealname"].startswith("MP Hot:")
    exports = [c for c in mixpanel.calls if c.path == "/api/2.0/export"]
    assert len(exports) == 1, "one query for the whole window (60 queries/hour)"
    assert exports[0].content_encoding == "gzip"


def assert_a_dead_workers_activities_are_noticed_within_seconds(history: WorkflowHistory) -> None:
    """Every activity that may run longer than a minute heartbeats (issue 15, defect 5): a
    killed worker's attempt is retried after its heartbeat timeout (at most 30 s), not when
    its start-to-close timeout (up to 30 minutes) runs out."""
    scheduled = [
        event.activity_task_scheduled_event_attributes
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled
    for activity in scheduled:
        if activity.start_to_close_timeout.ToTimedelta() <= timedelta(minutes=1):
            continue
        heartbeat = activity.heartbeat_timeout.ToTimedelta()
        assert timedelta(0) < heartbeat <= timedelta(seconds=30), activity.activity_type.name
