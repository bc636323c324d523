"""Mixpanel answering 429 during a real sync (dev server, worker, Mixpanel emulator over HTTP),
as `connectors/mixpanel/client.py` designs it:

- a 429 asking for a short wait (Retry-After up to 2 s) is waited out inside the pull's attempt,
  up to 3 times: here, the project's one concurrent export slot is held by another export;
- a 429 asking for longer fails the attempt with a retryable `RateLimited` whose delay is the
  Retry-After: Temporal retries the pull after it, and the next attempt succeeds;
- 429s outlasting the in-process retries hand the pull to Temporal for a minute, the sync still
  running, nothing failed for good.

Every sync that completes has read the whole window: the right counts and accounts."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.contracts import account_workflow_id
from plg_handoff.activities.usage import PullUsageResult
from plg_handoff.config import Config, Secrets
from plg_handoff.connectors.mixpanel.client import (
    MAX_INLINE_WAIT_S,
    MAX_RATE_LIMIT_RETRIES,
    PERSISTENT_RATE_LIMIT_WAIT_S,
)
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.sandbox.mixpanel.emulator import Call, MixpanelEmulator
from plg_handoff.worker import build_crm, build_worker
from plg_handoff.workflows.usage_sync import UsageSyncInput, UsageSyncWorkflow
from tests.conftest import TOKEN, make_config
from tests.support import activity_starts, eventually, usage_lines

pytestmark = pytest.mark.e2e

USER, SECRET = "sa.ratelimit", "sa-secret-429-3c8a"  # the emulator's test credentials
PROJECT_ID = 4290
EXPORT = "/api/2.0/export"
ENGAGE = "/api/query/engage"
HOLDER_DAY = date(2020, 1, 1)  # the other export holding the project's concurrency slot
# Timestamps are the server's and the emulator's clocks: allow them a little disagreement.
CLOCK_SLACK_S = 0.2


def window_events(prefix: str) -> dict[date, list[dict[str, Any]]]:
    """Three accounts over the two days of the window, with one duplicate event."""
    today = datetime.now(UTC).date()
    events: dict[date, list[dict[str, Any]]] = {}
    for day in (today - timedelta(days=1), today):
        lines = [
            *usage_lines(f"{prefix}-a", day, users=3, seats_used=3),
            *usage_lines(f"{prefix}-b", day, users=2, seats_used=2),
            *usage_lines(f"{prefix}-c", day, users=1, seats_used=1),
        ]
        lines.append(lines[0])  # sent twice: the rollup keeps one
        events[day] = [json.loads(line) for line in lines]
    return events


@dataclass
class Setup:
    client: Client
    config: Config
    mixpanel: MixpanelEmulator
    prefix: str
    events: dict[date, list[dict[str, Any]]]
    holder_release: threading.Event  # ends the export holding the concurrency slot

    @property
    def accounts(self) -> list[str]:
        return [f"{self.prefix}-{suffix}" for suffix in "abc"]

    def export_calls(self) -> list[Call]:
        """The sync's export queries (the holder's excluded)."""
        return [
            c
            for c in self.mixpanel.calls
            if c.path == EXPORT and c.query.get("from_date") != HOLDER_DAY.isoformat()
        ]

    def engage_calls(self) -> list[Call]:
        return [c for c in self.mixpanel.calls if c.path == ENGAGE]

    async def start_sync(self) -> WorkflowHandle[UsageSyncWorkflow, PullUsageResult]:
        return await self.client.start_workflow(
            UsageSyncWorkflow.run,
            UsageSyncInput("demo"),
            id=f"usage-sync/demo/{self.config.temporal.task_queue}",
            task_queue=self.config.temporal.task_queue,
        )

    def assert_whole_window(self, result: PullUsageResult) -> None:
        total = sum(len(day) for day in self.events.values())
        assert result.read == total
        assert result.duplicates == len(self.events)  # one per day
        assert result.accepted == total - len(self.events)
        assert result.quarantined == {}
        assert result.accounts == result.accounts_signalled == len(self.accounts)


@pytest.fixture
async def setup(
    dev_env: WorkflowEnvironment, hubspot: HubSpotEmulator, tmp_path: Path
) -> AsyncIterator[Setup]:
    """The Mixpanel emulator (one concurrent export per project, as a test can hold it), and a
    worker on its own task queue."""
    prefix = f"rl{uuid.uuid4().hex[:8]}"  # workflow ids are namespace-wide
    events = window_events(prefix)
    holder_release = threading.Event()

    def source(day: date) -> Iterable[Mapping[str, Any]]:
        return holding_export(holder_release) if day == HOLDER_DAY else events.get(day, [])

    mixpanel = MixpanelEmulator(
        project_id=PROJECT_ID,
        username=USER,
        secret=SECRET,
        events=source,
        profiles=[{"$distinct_id": a, "$properties": {"seat_limit": 10}} for a in "abc"],
        max_concurrent=1,
    )
    mixpanel.start()
    config = make_config(
        tmp_path,
        hubspot.url,
        sources=[
            {
                "kind": "mixpanel",
                "name": "demo",
                "project_id": PROJECT_ID,
                "base_url": mixpanel.url,
                "data_group_id": "1",
                "window_days": 2,
            }
        ],
    )
    secrets = Secrets(
        hubspot_access_token=SecretStr(TOKEN),
        mixpanel_service_account_username=SecretStr(USER),
        mixpanel_service_account_secret=SecretStr(SECRET),
    )
    crm = build_crm(config, secrets)
    crm.ensure_properties()
    setup = Setup(dev_env.client, config, mixpanel, prefix, events, holder_release)
    try:
        async with build_worker(dev_env.client, config, secrets, crm):
            yield setup
    finally:
        holder_release.set()
        mixpanel.stop()


def holding_export(release: threading.Event) -> Iterator[Mapping[str, Any]]:
    """An export body that starts, then stalls until `release`: the query keeps its slot."""
    for line in usage_lines("holder", HOLDER_DAY, users=10, seats_used=1):
        yield json.loads(line)  # past the 1400 bytes the emulator reads before answering
    release.wait(timeout=60)


async def history(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    return [event async for event in handle.fetch_history_events()]


def assert_no_failure_recorded(events: list[HistoryEvent]) -> None:
    failed = {
        EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    }
    assert [EventType.Name(e.event_type) for e in events if e.event_type in failed] == []


async def snapshot(calls: list[Call]) -> list[Call]:
    return calls


def gaps(calls: list[Call]) -> list[float]:
    return [later.at - earlier.at for earlier, later in itertools.pairwise(calls)]


async def test_short_429_is_waited_out_inside_the_attempt(setup: Setup) -> None:
    """Another export of the project holds its one concurrent slot: Mixpanel answers the sync's
    export 429 with Retry-After: 1 until it ends, and the client waits it out in process."""
    holder = asyncio.create_task(
        asyncio.to_thread(
            requests.get,
            setup.mixpanel.url + EXPORT,
            params={
                "project_id": str(PROJECT_ID),
                "from_date": HOLDER_DAY.isoformat(),
                "to_date": HOLDER_DAY.isoformat(),
            },
            auth=(USER, SECRET),
            timeout=60,
        )
    )
    await eventually(
        lambda: snapshot(setup.mixpanel.calls),
        lambda calls: any(c.path == EXPORT and c.status == 200 for c in calls),
        timeout_s=10,
    )
    sync = await setup.start_sync()
    # 429s for a while: released after the second one, well before the client's last retry.
    await eventually(
        lambda: snapshot(setup.export_calls()),
        lambda calls: sum(c.status == 429 for c in calls) >= 2,
        timeout_s=10,
    )
    setup.holder_release.set()
    assert (await asyncio.wait_for(holder, timeout=10)).status_code == 200

    result = await asyncio.wait_for(sync.result(), timeout=30)
    setup.assert_whole_window(result)
    exports = setup.export_calls()
    assert [c.status for c in exports] in ([429, 429, 200], [429, 429, 429, 200])
    assert all(gap >= 1 - CLOCK_SLACK_S for gap in gaps(exports)), "Retry-After: 1 ignored"
    assert [c.status for c in setup.engage_calls()] == [200]
    events = await history(sync)
    started = activity_starts(events, "pull_usage")
    assert [e.activity_task_started_event_attributes.attempt for e in started] == [1]
    assert_no_failure_recorded(events)
    for account in setup.accounts:
        await setup.client.get_workflow_handle(account_workflow_id(account)).describe()


async def test_long_429_is_retried_by_temporal_after_its_retry_after(setup: Setup) -> None:
    """Retry-After longer than the client waits in process: the attempt ends with a retryable
    RateLimited, Temporal's next attempt comes after the Retry-After and succeeds."""
    retry_after = int(MAX_INLINE_WAIT_S) + 2
    setup.mixpanel.faults.rate_limit_next(1, retry_after_s=retry_after)
    sync = await setup.start_sync()

    result = await asyncio.wait_for(sync.result(), timeout=30)
    setup.assert_whole_window(result)
    exports = setup.export_calls()
    assert [c.status for c in exports] == [429, 200]
    assert gaps(exports)[0] >= retry_after - CLOCK_SLACK_S, "retried before the Retry-After"
    assert [c.status for c in setup.engage_calls()] == [200]
    events = await history(sync)
    started = activity_starts(events, "pull_usage")
    assert [e.activity_task_started_event_attributes.attempt for e in started] == [2]
    failure = started[0].activity_task_started_event_attributes.last_failure
    info = failure.application_failure_info
    assert info.type == "RateLimited"
    assert not info.non_retryable
    assert info.next_retry_delay.ToTimedelta() == timedelta(seconds=retry_after)
    assert "429" in failure.message
    assert_no_failure_recorded(events)


async def test_persistent_429_hands_the_pull_to_temporal_for_a_minute(setup: Setup) -> None:
    """429s through every in-process retry (the hourly budget or the concurrency is spent):
    the attempt ends RateLimited and Temporal comes back a minute later; the sync is still
    running, not failed."""
    setup.mixpanel.faults.rate_limit_next(MAX_RATE_LIMIT_RETRIES + 1, retry_after_s=1)
    sync = await setup.start_sync()
    try:
        description = await eventually(
            sync.describe,
            lambda d: any(a.attempt == 2 for a in d.raw_description.pending_activities),
            timeout_s=20,
        )
        [pending] = description.raw_description.pending_activities
        assert description.status == WorkflowExecutionStatus.RUNNING
        assert pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED
        assert pending.last_failure.application_failure_info.type == "RateLimited"
        assert not pending.last_failure.application_failure_info.non_retryable
        wait = (
            pending.next_attempt_schedule_time.ToDatetime()
            - pending.last_attempt_complete_time.ToDatetime()
        )
        assert abs(wait.total_seconds() - PERSISTENT_RATE_LIMIT_WAIT_S) < 1
        exports = setup.export_calls()
        assert [c.status for c in exports] == [429] * (MAX_RATE_LIMIT_RETRIES + 1)
        assert all(gap >= 1 - CLOCK_SLACK_S for gap in gaps(exports))
        assert setup.engage_calls() == []
        assert_no_failure_recorded(await history(sync))
    finally:
        await sync.terminate("test over: the retry a minute later is not waited for")
