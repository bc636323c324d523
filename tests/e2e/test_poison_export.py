"""A poison line in the export (issue 15, defects 1 and 2) through the real worker: the pull
quarantines it and evaluates every account instead of failing every attempt, and no user's
email reaches Temporal's histories or the logs (before, DuckDB's error quoted the line and it
became the activity's failure and a log line)."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.contracts import account_workflow_id
from plg_handoff.activities.screen import MAX_LINE_BYTES
from plg_handoff.config import load_secrets
from plg_handoff.logs import configure_logging
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from tests.conftest import TOKEN, make_config
from tests.support import sync, write_profiles

pytestmark = pytest.mark.e2e
EMAIL = re.compile(rb"[a-z0-9.]+@(?:acme|globex)\.example")


def line(n: int, account: str, when: datetime, **extra: object) -> bytes:
    properties = {
        "time": int(when.timestamp()) + n,
        "distinct_id": f"{account}-u{n % 3}",
        "$insert_id": f"{account}-{n}",
        "account_id": account,
        "$email": f"user{n % 3}@{account.split('-')[-1]}.example",
        "seats_used": 9,
        **extra,
    }
    return (json.dumps({"event": "Report Viewed", "properties": properties}) + "\n").encode()


@pytest.fixture
def json_logs(logging_restored: None) -> None:
    """The worker's logging as a deployment configures it (structlog through the standard
    library, INFO and up), so `caplog` sees every record; put back after the test."""
    configure_logging("INFO", "json")


@pytest.mark.usefixtures("json_logs")
async def test_a_poison_line_is_quarantined_and_no_email_leaves_the_pull(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    run = uuid.uuid4().hex[:6]
    accounts = [f"poison{run}-acme", f"poison{run}-globex"]
    when = datetime.now(UTC) - timedelta(hours=1)
    good = [line(n, a, when) for a in accounts for n in range(6)]
    invalid = (
        b'{"event": "Report Viewed", "properties": {"$email": "jane@acme.example", "n": "\xff"}}\n'
    )
    long = line(99, accounts[0], when, blob="x" * (MAX_LINE_BYTES + 1))
    usage = tmp_path / "usage"
    usage.mkdir()
    (usage / "export.jsonl").write_bytes(b"".join([*good[:4], invalid, long, *good[4:], invalid]))
    write_profiles(tmp_path / "accounts.jsonl", {a: {"seat_limit": 10} for a in accounts})
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    config = make_config(tmp_path, hubspot.url, handoff={"follow_up_poll_interval": "1h"})
    secrets = load_secrets(config)
    crm = build_crm(config, secrets)
    crm.ensure_properties()
    async with build_worker(dev_env.client, config, secrets, crm):
        result = await sync(dev_env.client, config)
        histories = [
            await dev_env.client.get_workflow_handle(
                f"usage-sync/demo/{config.temporal.task_queue}"
            ).fetch_history(),
            *[
                await dev_env.client.get_workflow_handle(account_workflow_id(a)).fetch_history()
                for a in accounts
            ],
        ]

    assert result.quarantined == {"invalid_utf8": 2, "line_too_long": 1}
    assert result.accounts == 2
    assert result.read == len(good) + 3 == result.accepted + 3
    assert result.quarantine_file is not None
    kept = Path(result.quarantine_file).read_text(encoding="utf-8")
    assert kept.count('"invalid_utf8"') == 2  # kept on this disk for inspection, not in Temporal
    for history in histories:
        assert not EMAIL.search(history.to_json().encode()), history.workflow_id
    assert "usage.pulled" in caplog.text  # the worker's log records were captured
    assert not EMAIL.search(caplog.text.encode())
