"""segment-analytics-python -> the Segment collector (HTTP, fsync'd spool) -> sync -> account ->
a HubSpot deal; users map to the account through `group` calls, traits come from them too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from segment.analytics import Client
from temporalio.testing import WorkflowEnvironment

from plg_handoff.config import load_secrets
from plg_handoff.connectors.segment.collector import SegmentCollector
from plg_handoff.connectors.segment.spool import Spool
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from tests.conftest import TOKEN, make_config
from tests.support import eventually, handoff_status, sync

pytestmark = pytest.mark.e2e
WRITE_KEY = "seg-write-key-7c1e"


def send_usage(url: str) -> None:
    errors: list[Any] = []
    client = Client(
        WRITE_KEY,
        host=url,
        max_retries=1,
        max_total_backoff_duration=2,
        upload_interval=0.05,
        on_error=lambda error, batch: errors.append(error),
    )
    now = datetime.now(UTC) - timedelta(minutes=5)
    client.group("seg-u1", "seg-hot", {"name": "Seg Hot", "seat_limit": 10}, message_id="g1")
    client.group("seg-u2", "seg-calm", {"name": "Seg Calm", "seat_limit": 10}, message_id="g2")
    for n in range(3):  # the user's account comes from their group call
        client.track("seg-u1", "Report Viewed", {"seats_used": 9}, timestamp=now,
                     message_id=f"t1-{n}")  # fmt: skip
    client.track("seg-u1", "Report Viewed", {"seats_used": 9}, timestamp=now, message_id="t1-0")
    client.track("seg-u2", "Report Viewed", {"seats_used": 2}, timestamp=now, message_id="t2")
    client.track("nobody", "Report Viewed", {}, timestamp=now, message_id="orphan")
    client.page("seg-u2", "Docs", "Pricing", timestamp=now, message_id="p2")
    client.flush()
    client.join()
    assert errors == []


async def test_segment_messages_make_a_deal(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spool_dir = tmp_path / "spool"
    collector = SegmentCollector(Spool(spool_dir, rotate_seconds=3600), [WRITE_KEY])
    url = collector.start()
    try:
        send_usage(url)
    finally:
        collector.stop()  # closes the open segment, as the collector does on SIGTERM

    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    config = make_config(
        tmp_path,
        hubspot.url,
        sources=[{"kind": "segment", "name": "demo", "spool_dir": str(spool_dir)}],
    )
    secrets = load_secrets(config)
    crm = build_crm(config, secrets)
    crm.ensure_properties()
    async with build_worker(dev_env.client, config, secrets, crm):
        first = await sync(dev_env.client, config)
        assert first.accounts == 2
        assert first.quarantined == {"missing_account": 1}
        assert first.duplicates == 1
        assert first.read == first.accepted + first.duplicates + 1
        status = await eventually(
            lambda: handoff_status(dev_env.client, "handoff/seg-hot/1"),
            lambda s: s is not None and s.stage == "assigned",
        )
        assert status is not None
        again = await sync(dev_env.client, config)  # segments now in done/: same result
        assert (again.read, again.accepted, again.accounts) == (
            first.read,
            first.accepted,
            first.accounts,
        )

    deals = hubspot.objects("deals")
    assert [d["properties"]["plg_handoff_id"] for d in deals] == ["handoff/seg-hot/1"]
    assert deals[0]["properties"]["dealname"].startswith("Seg Hot:")
