"""When a handoff opens, Segment hears of it (`PQL Triggered` and the account's PQL traits) via
segment-analytics-python; here the Segment collector stands in for Segment's API."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from plg_handoff.config import load_secrets
from plg_handoff.connectors.segment.collector import SegmentCollector
from plg_handoff.connectors.segment.spool import Spool
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from tests.conftest import TOKEN, make_config
from tests.e2e.test_thin_path import seed_usage
from tests.support import eventually, handoff_status, sync

pytestmark = pytest.mark.e2e
WRITE_KEY = "wb-write-key-51aa"


async def test_an_opened_handoff_is_announced_to_segment(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spool = Spool(tmp_path / "segment-spool", rotate_seconds=3600)
    collector = SegmentCollector(spool, [WRITE_KEY])
    url = collector.start()
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("HANDOFF_SEGMENT_WRITE_KEY", WRITE_KEY)
    config = make_config(tmp_path, hubspot.url, writeback={"segment": {"host": url}})
    seed_usage(tmp_path, hot="wb-hot")
    secrets = load_secrets(config)
    crm = build_crm(config, secrets)
    crm.ensure_properties()
    try:
        async with build_worker(dev_env.client, config, secrets, crm):
            await sync(dev_env.client, config)
            status = await eventually(
                lambda: handoff_status(dev_env.client, "handoff/wb-hot/1"),
                lambda s: s is not None and s.announced,
            )
            assert status is not None and status.writeback_error is None
    finally:
        collector.stop()

    messages = [m for segment in spool.segments() for m in spool.read(segment)]
    track = next(m for m in messages if m["type"] == "track")
    group = next(m for m in messages if m["type"] == "group")
    assert track["event"] == "PQL Triggered"
    assert track["messageId"] == "handoff/wb-hot/1/track"
    assert track["properties"]["trigger"] == "limit_approaching"
    assert track["properties"]["owner_id"] == status.owner_id
    assert track["context"]["groupId"] == "wb-hot"
    assert group["groupId"] == "wb-hot"
    assert group["traits"]["pql_trigger"] == "limit_approaching"
    assert group["traits"]["pql_score"] == track["properties"]["score"]
    assert WRITE_KEY not in str(messages)


async def test_a_failing_writeback_is_recorded_and_the_handoff_goes_on(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    collector = SegmentCollector(Spool(tmp_path / "spool", rotate_seconds=3600), [WRITE_KEY])
    url = collector.start()
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("HANDOFF_SEGMENT_WRITE_KEY", "a-revoked-write-key")
    config = make_config(tmp_path, hubspot.url, writeback={"segment": {"host": url}})
    seed_usage(tmp_path, hot="wb-refused")
    secrets = load_secrets(config)
    crm = build_crm(config, secrets)
    crm.ensure_properties()
    try:
        async with build_worker(dev_env.client, config, secrets, crm):
            await sync(dev_env.client, config)
            status = await eventually(
                lambda: handoff_status(dev_env.client, "handoff/wb-refused/1"),
                lambda s: s is not None and s.writeback_error is not None,
            )
    finally:
        collector.stop()
    assert status is not None
    assert status.stage == "assigned" and not status.announced
    assert "AuthError" in (status.writeback_error or "")
    assert "a-revoked-write-key" not in (status.writeback_error or "")
