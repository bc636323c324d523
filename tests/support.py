"""Helpers for tests: usage files, the worker, polling."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from plg_handoff.activities.contracts import USAGE_SIGNAL, AccountInput, UsageUpdate
from plg_handoff.activities.usage import PullUsageResult
from plg_handoff.config import Config
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.sandbox.simulator import event
from plg_handoff.workflows.account import AccountWorkflow
from plg_handoff.workflows.handoff import HandoffStatus, HandoffWorkflow
from plg_handoff.workflows.usage_sync import UsageSyncInput, UsageSyncWorkflow

T = TypeVar("T")
# The day of the usage tests hand to a workflow that evaluates against the clock: evidence days
# old with no active day since would wait for a return visit (the `no_return` filter).
TODAY = datetime.now(UTC).date().isoformat()
HANDOFF = Path(sys.executable).parent / "handoff"  # the console script, as installed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_handoff(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`handoff <args> --config <config>` as an operator runs it, without the test's own
    HANDOFF_ variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    return subprocess.run(
        [str(HANDOFF), *args, "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def usage_lines(
    account_id: str, day: date, users: int, seats_used: int, per_user: int = 2
) -> list[str]:
    """`users` users of an account, each with `per_user` events on `day`, reporting seats."""
    midnight = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    return [
        json.dumps(
            event(
                "Report Viewed",
                midnight + timedelta(minutes=u * 10 + n),
                distinct_id=f"{account_id}-u{u}",
                account_id=account_id,
                insert_id=f"{account_id}-{day}-{u}-{n}",
                seats_used=seats_used,
            )
        )
        for u in range(users)
        for n in range(per_user)
    ]


def write_usage(directory: Path, name: str, lines: Iterable[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_profiles(path: Path, profiles: dict[str, dict[str, Any]]) -> None:
    path.write_text(
        "".join(
            json.dumps({"$distinct_id": account, "$properties": props}) + "\n"
            for account, props in profiles.items()
        ),
        encoding="utf-8",
    )


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout_s: float = 30
) -> T:
    """Polls until `done(value)`; visibility and signals lag a little behind a write."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await probe()
        if done(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s; last value: {value!r}")
        await asyncio.sleep(0.2)


async def gather_limited(calls: Iterable[Awaitable[T]], limit: int = 50) -> list[T]:
    """The awaitables, at most `limit` in flight (queries of many workflows at once)."""
    semaphore = asyncio.Semaphore(limit)

    async def one(call: Awaitable[T]) -> T:
        async with semaphore:
            return await call

    return await asyncio.gather(*(one(c) for c in calls))


HISTORIES = Path(__file__).parent / "histories"


async def record_history(client: Client, workflow_id: str, name: str) -> None:
    """With RECORD_HISTORIES=1, keeps this workflow's history for the replay tests: a later
    release must replay it unchanged."""
    if os.environ.get("RECORD_HISTORIES") != "1":
        return
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(history.to_json(), encoding="utf-8")


async def sync(client: Client, config: Config) -> PullUsageResult:
    """One usage sync of the config's "demo" source, run to its end."""
    return await client.execute_workflow(
        UsageSyncWorkflow.run,
        UsageSyncInput("demo"),
        id=f"usage-sync/demo/{config.temporal.task_queue}",
        task_queue=config.temporal.task_queue,
    )


async def handoff_status(client: Client, workflow_id: str) -> HandoffStatus | None:
    """The handoff's `status` query; None while the workflow does not exist yet."""
    handle = client.get_workflow_handle_for(HandoffWorkflow.run, workflow_id)
    try:
        return await handle.query(HandoffWorkflow.status)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def activity_starts(events: Iterable[HistoryEvent], activity_type: str) -> list[HistoryEvent]:
    """The ActivityTaskStarted events of one activity type (each carries its last attempt)."""
    events = list(events)
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    return [
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and scheduled.get(e.activity_task_started_event_attributes.scheduled_event_id)
        == activity_type
    ]


async def start_account_near_its_seat_limit(
    client: Client, task_queue: str, account_id: str, arr_potential: float | None = None
) -> None:
    """Starts the account's workflow with a day at 9 of its 10 seats: the seat-limit trigger
    fires and a handoff opens (a high ARR potential makes it tier 1)."""
    await client.start_workflow(
        AccountWorkflow.run,
        AccountInput(account_id),
        id=f"account/{account_id}",
        task_queue=task_queue,
        start_signal=USAGE_SIGNAL,
        start_signal_args=[
            UsageUpdate(
                account_id,
                [DayRollup(TODAY, {"Report Viewed": 30}, 9, {"seats": 9})],
                AccountTraits(
                    name=f"{account_id} Inc",
                    plan="team",
                    limits={"seats": 10},
                    arr_potential=arr_potential,
                ),
            )
        ],
    )
