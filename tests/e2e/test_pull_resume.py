"""A retried pull (after its worker died mid fan-out) does not signal again the accounts the
crashed attempt had already signalled, and heartbeats its progress."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from plg_handoff.activities.usage import PullProgress, PullUsageInput, UsageActivities
from plg_handoff.config import Secrets
from tests.conftest import make_config
from tests.support import usage_lines, write_profiles, write_usage

pytestmark = pytest.mark.e2e


async def exists(env: WorkflowEnvironment, workflow_id: str) -> bool:
    try:
        await env.client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_retry_resumes_fan_out_after_the_last_heartbeat(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    today = datetime.now(UTC).date()
    accounts = [f"resume-{n}" for n in range(1, 6)]
    write_usage(
        tmp_path / "usage",
        "export.jsonl",
        [line for a in accounts for line in usage_lines(a, today, users=1, seats_used=1)],
    )
    write_profiles(tmp_path / "accounts.jsonl", {a: {"seat_limit": 10} for a in accounts})
    config = make_config(tmp_path, "http://127.0.0.1:9")
    days = [today.isoformat()]

    environment = ActivityEnvironment()
    crashed_attempt = PullProgress(days, files_exported=1, signalled=2)
    environment.info = dataclasses.replace(
        environment.info, attempt=2, heartbeat_details=[dataclasses.asdict(crashed_attempt)]
    )
    beats: list[Any] = []
    environment.on_heartbeat = lambda *details: beats.append(details[0])

    pull = UsageActivities(config, Secrets(), dev_env.client).pull_usage
    result = await environment.run(pull, PullUsageInput("demo", window_days=1))

    assert result.accounts == 5
    assert result.accounts_resumed == 2
    assert result.accounts_signalled == 5
    signalled = [await exists(dev_env, f"account/{a}") for a in accounts]
    assert signalled == [False, False, True, True, True]
    assert beats[-1] == PullProgress(days, signalled=5)
