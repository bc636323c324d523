"""A worker killed (SIGKILL) in the middle of a usage pull: a second worker process retries the
pull, every account ends with the rollups an uninterrupted pull of the same data gives, and no
account gets a second handoff.

Real processes throughout: two `handoff worker` subprocesses against the session's Temporal dev
server, the Mixpanel emulator serving the export and the group profiles, the HubSpot emulator
behind the handoffs. The sync is the one the worker's Schedule starts when it creates it.

Temporal retries a pull whose worker died only once its heartbeat timeout (2 minutes in
`UsageSyncWorkflow`) has passed since the last heartbeat the server received; the worker was
killed, so nothing tells the server sooner. The test does not wait 2 minutes: after the kill it
shortens that one pending activity's heartbeat timeout with Temporal's `UpdateActivityOptions`
(what an operator does with `temporal activity update-options --heartbeat-timeout`), so the
server times the dead attempt out within seconds, on the same heartbeat-timeout path; once the
retry is scheduled, the heartbeat timeout is set back to the workflow's 2 minutes, so the retry
runs as it would in production."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import SecretStr
from temporalio.api.activity.v1 import ActivityOptions
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.workflowservice.v1 import UpdateActivityOptionsRequest
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from plg_handoff.activities.contracts import (
    USAGE_SIGNAL,
    AccountSummary,
    UsageUpdate,
    account_workflow_id,
)
from plg_handoff.activities.evaluate import EvaluateActivities, EvaluateInput
from plg_handoff.activities.usage import (
    SIGNAL_BATCH,
    PullProgress,
    PullUsageInput,
    PullUsageResult,
    UsageActivities,
)
from plg_handoff.config import Config, Secrets, load_config
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.sandbox.mixpanel.emulator import MixpanelEmulator
from plg_handoff.schedules import schedule_id
from plg_handoff.worker import build_crm
from plg_handoff.workflows.account import AccountWorkflow
from tests.conftest import TOKEN
from tests.support import activity_starts, eventually, gather_limited, usage_lines

pytestmark = pytest.mark.e2e
T = TypeVar("T")

HANDOFF = Path(sys.executable).parent / "handoff"
USER, SECRET = "sa.crash", "sa-secret-crash-7e1b"  # the emulator's test credentials
PROJECT_ID = 5151
# Enough accounts that the fan-out (SIGNAL_BATCH signals at a time, while the same worker runs
# the account workflows they start) lasts seconds: the kill lands in the middle of it.
ACCOUNTS = 250
KILL_AFTER = 40  # the kill comes once this account (past the first batch) is signalled
HOT_EVERY = 37  # every 37th account uses 9 of its 10 seats: its handoff opens
SHORT_HEARTBEAT_TIMEOUT = Duration(seconds=2)
WORKFLOW_HEARTBEAT_TIMEOUT = Duration(seconds=30)  # UsageSyncWorkflow's
QUERY_TRIES = 20


def is_hot(index: int) -> bool:
    return index % HOT_EVERY == 3


def build_events(accounts: list[str], days: Iterable[date]) -> dict[date, list[dict[str, Any]]]:
    """A few users a day per account, some events sent twice (same `$insert_id`), the hot
    accounts near their seat limit."""
    by_day: dict[date, list[dict[str, Any]]] = {}
    for day in days:
        lines: list[str] = []
        for index, account in enumerate(accounts):
            users = 9 if is_hot(index) else 1 + (index + day.day) % 4
            lines.extend(usage_lines(account, day, users=users, seats_used=users))
            if index % 5 == 0:
                lines.append(lines[-1])  # an at-least-once duplicate the rollup drops
        by_day[day] = [json.loads(line) for line in lines]
    return by_day


def profiles_of(accounts: list[str]) -> list[dict[str, Any]]:
    return [
        {"$distinct_id": a, "$properties": {"name": f"Co {a}", "plan": "team", "seat_limit": 10}}
        for a in accounts
    ]


def write_config(tmp_path: Path, address: str, mixpanel_url: str, hubspot_url: str) -> Path:
    name = f"crash-{uuid.uuid4().hex[:10]}"  # its own Schedule and task queue
    path = tmp_path / "handoff.toml"
    path.write_text(
        f"""
data_dir = "data"
[temporal]
address = "{address}"
task_queue = "{name}"
[log]
format = "json"
[[sources]]
kind = "mixpanel"
name = "{name}"
project_id = {PROJECT_ID}
base_url = "{mixpanel_url}"
data_group_id = "1"
window_days = 2
sync_interval = "1h"
[crm]
kind = "hubspot"
base_url = "{hubspot_url}"
""",
        encoding="utf-8",
    )
    return path


def worker_secrets() -> Secrets:
    return Secrets(
        hubspot_access_token=SecretStr(TOKEN),
        mixpanel_service_account_username=SecretStr(USER),
        mixpanel_service_account_secret=SecretStr(SECRET),
    )


def start_worker(config: Path, log: IO[str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["HANDOFF_HUBSPOT_ACCESS_TOKEN"] = TOKEN
    env["HANDOFF_MIXPANEL_SERVICE_ACCOUNT_USERNAME"] = USER
    env["HANDOFF_MIXPANEL_SERVICE_ACCOUNT_SECRET"] = SECRET
    env["HANDOFF_TEMPORAL_API_KEY"] = ""
    return subprocess.Popen(
        [str(HANDOFF), "worker", "--config", str(config)],
        env=env,
        stdout=log,  # a file: a pipe nobody reads would block a chatty worker
        stderr=subprocess.STDOUT,
        text=True,
    )


def tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-3000:]


async def exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def scheduled_runs(client: Client, source: str) -> list[str]:
    """Workflow ids of the sync runs the source's Schedule started, oldest first."""
    try:
        description = await client.get_schedule_handle(schedule_id(source)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return []
        raise
    return [
        result.action.workflow_id
        for result in description.info.recent_actions
        if isinstance(result.action, ScheduleActionExecutionStartWorkflow)
    ]


@dataclass
class PullActivity:
    """The sync's pending `pull_usage`, as the server describes it."""

    activity_id: str
    attempt: int
    state: PendingActivityState.ValueType
    progress: PullProgress | None  # the last heartbeat details the server received
    last_failure: str


async def pull_activity(client: Client, sync: WorkflowHandle[Any, Any]) -> PullActivity | None:
    pending = (await sync.describe()).raw_description.pending_activities
    if not pending:
        return None
    [activity] = pending
    progress = None
    if activity.heartbeat_details.payloads:
        [raw] = await client.data_converter.decode(activity.heartbeat_details.payloads)
        progress = PullProgress(**raw)
    return PullActivity(
        activity.activity_id,
        activity.attempt,
        activity.state,
        progress,
        activity.last_failure.message,
    )


async def set_heartbeat_timeout(
    client: Client, sync: WorkflowHandle[Any, Any], activity_id: str, heartbeat: Duration
) -> None:
    """`temporal activity update-options --heartbeat-timeout`, on this one activity."""
    await client.workflow_service.update_activity_options(
        UpdateActivityOptionsRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=sync.id),
            identity="test_worker_crash",
            id=activity_id,
            activity_options=ActivityOptions(heartbeat_timeout=heartbeat),
            update_mask=FieldMask(paths=["heartbeat_timeout"]),
        )
    )


class RecordingClient:
    """Stands in for the Temporal client of an uninterrupted reference pull: keeps the usage
    update each account would be signalled instead of signalling it."""

    def __init__(self) -> None:
        self.updates: dict[str, UsageUpdate] = {}

    async def start_workflow(
        self, *args: Any, start_signal_args: Sequence[Any] = (), **kwargs: Any
    ) -> None:
        [update] = start_signal_args
        assert isinstance(update, UsageUpdate)
        self.updates[update.account_id] = update


async def reference_pull(config: Config, days: list[str]) -> dict[str, UsageUpdate]:
    """The same pull of the same window from the same emulator, never interrupted."""
    recorder = RecordingClient()
    pull = UsageActivities(config, worker_secrets(), cast(Client, recorder)).pull_usage
    window = PullUsageInput(config.sources[0].name, end_day=max(days), window_days=len(days))
    result = await ActivityEnvironment().run(pull, window)
    assert result.days == days
    return recorder.updates


@dataclass
class Received:
    """The usage signals an account workflow got, and the rollups they leave it holding."""

    senders: list[str]  # the identity of each signal's client, "<pid>@<host>"
    days: dict[str, DayRollup]
    traits: AccountTraits | None


async def received(client: Client, account: str) -> Received:
    """Read from the account workflow's history. A usage signal replaces the days it carries
    (`AccountWorkflow.usage`), so the last rollup of each day is the one the workflow holds;
    the `state` query reports only how many days and the evaluation made of them."""
    handle = client.get_workflow_handle(account_workflow_id(account))
    got = Received([], {}, None)
    async for event in handle.fetch_history_events():
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            continue
        signal = event.workflow_execution_signaled_event_attributes
        if signal.signal_name != USAGE_SIGNAL:
            continue
        [update] = await client.data_converter.decode(signal.input.payloads, [UsageUpdate])
        assert isinstance(update, UsageUpdate)
        got.senders.append(signal.identity)
        got.days.update({d.day: d for d in update.days})
        got.traits = update.traits if update.traits is not None else got.traits
    return got


async def account_state(client: Client, account: str) -> AccountSummary:
    """Queried through the second worker; a query that went to the dead worker's sticky queue
    fails and is asked again."""
    handle = client.get_workflow_handle(account_workflow_id(account))
    for _ in range(QUERY_TRIES - 1):
        try:
            return await handle.query(AccountWorkflow.state)
        except RPCError:
            await asyncio.sleep(0.5)
    return await handle.query(AccountWorkflow.state)


async def test_killed_worker_mid_pull_retry_ends_with_identical_rollups(
    dev_env: WorkflowEnvironment, hubspot: HubSpotEmulator, tmp_path: Path
) -> None:
    client = dev_env.client
    prefix = f"crash{uuid.uuid4().hex[:6]}"  # workflow ids are namespace-wide
    accounts = [f"{prefix}-{n:04d}" for n in range(ACCOUNTS)]
    today = datetime.now(UTC).date()
    events = build_events(accounts, [today - timedelta(days=1), today])
    mixpanel = MixpanelEmulator(
        project_id=PROJECT_ID,
        username=USER,
        secret=SECRET,
        events=lambda day: events.get(day, []),
        profiles=profiles_of(accounts),
    )
    mixpanel.start()
    address = client.service_client.config.target_host
    config_path = write_config(tmp_path, address, mixpanel.url, hubspot.url)
    config = load_config(config_path)
    source = config.sources[0].name
    build_crm(config, worker_secrets()).ensure_properties()

    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers: list[subprocess.Popen[str]] = []
    try:
        with logs[0].open("w") as log:
            workers.append(start_worker(config_path, log))
        first = workers[0]
        [sync_id] = await eventually(
            lambda: scheduled_runs(client, source), lambda runs: len(runs) == 1, timeout_s=20
        )
        sync = client.get_workflow_handle(sync_id, result_type=PullUsageResult)

        # Kill the worker in the middle of the fan-out (accounts are signalled in id order).
        deadline = time.monotonic() + 30
        while not await exists(client, account_workflow_id(accounts[KILL_AFTER])):
            assert first.poll() is None, tail(logs[0])
            assert time.monotonic() < deadline, "the fan-out did not start"
            await asyncio.sleep(0.02)
        first.kill()  # SIGKILL: no graceful shutdown, the server is told nothing
        first.wait(timeout=10)
        crashed = await pull_activity(client, sync)
        assert crashed is not None
        assert crashed.attempt == 1
        assert crashed.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        assert not await exists(client, account_workflow_id(accounts[-1])), (
            "the fan-out was over before the kill: the test needs more accounts"
        )
        assert [c.status for c in mixpanel.calls if c.path == "/api/2.0/export"] == [200]

        with logs[1].open("w") as log:
            workers.append(start_worker(config_path, log))
        second = workers[1]
        await set_heartbeat_timeout(client, sync, crashed.activity_id, SHORT_HEARTBEAT_TIMEOUT)
        retry = await eventually(
            lambda: pull_activity(client, sync),
            lambda activity: activity is None or activity.attempt >= 2,
            timeout_s=20,
        )
        assert retry is not None, "the pull completed without a retry"
        await set_heartbeat_timeout(client, sync, crashed.activity_id, WORKFLOW_HEARTBEAT_TIMEOUT)
        assert retry.attempt == 2
        assert retry.last_failure == "activity Heartbeat timeout"
        resume_point = retry.progress.signalled if retry.progress is not None else 0

        result = await asyncio.wait_for(sync.result(), timeout=90)
        assert second.poll() is None, tail(logs[1])

        # One more attempt, on the second worker; the restarted worker's Schedule trigger did
        # not start another sync while this one ran (overlap policy SKIP).
        started = [
            e.activity_task_started_event_attributes
            for e in activity_starts([e async for e in sync.fetch_history_events()], "pull_usage")
        ]
        assert [(s.attempt, s.identity.split("@")[0]) for s in started] == [(2, str(second.pid))]
        assert await scheduled_runs(client, source) == [sync_id]

        total = sum(len(day) for day in events.values())
        assert result.read == total
        assert result.accepted + result.duplicates == total
        assert result.accounts == ACCOUNTS
        assert result.accounts_signalled == ACCOUNTS
        assert result.accounts_resumed == resume_point

        # Every account workflow holds exactly the rollups and traits of an uninterrupted pull.
        reference = await reference_pull(config, result.days)
        assert sorted(reference) == accounts
        got = await gather_limited(received(client, a) for a in accounts)
        for account, held in zip(accounts, got, strict=True):
            assert held.days == {d.day: d for d in reference[account].days}, account
            assert held.traits == reference[account].traits, account

        # The killed attempt signalled the first accounts (whole batches, then part of the one
        # in flight); the retry signalled every account from its resume point on. So an
        # account got one usage signal or two, never more.
        worker_of = {str(w.pid): n for n, w in enumerate(workers, start=1)}
        senders = [[worker_of[s.split("@")[0]] for s in r.senders] for r in got]
        by_first = [a for a, s in zip(accounts, senders, strict=True) if 1 in s]
        full_batches = len(by_first) // SIGNAL_BATCH * SIGNAL_BATCH
        assert KILL_AFTER < len(by_first) < ACCOUNTS
        assert (
            set(accounts[:full_batches])
            <= set(by_first)
            <= set(accounts[: full_batches + SIGNAL_BATCH])
        )
        assert resume_point % SIGNAL_BATCH == 0 and resume_point <= full_batches
        for index, account in enumerate(accounts):
            signalled_by = [1] * (account in by_first) + [2] * (index >= resume_point)
            assert senders[index] == signalled_by, account

        # What each account workflow answers: the days and the evaluation of the reference
        # rollups, and one handoff where that evaluation fires, none elsewhere.
        states = await gather_limited(account_state(client, a) for a in accounts)
        evaluate = EvaluateActivities(config).evaluate_account
        expected_handoffs: set[str] = set()
        for index, (account, state) in enumerate(zip(accounts, states, strict=True)):
            update = reference[account]
            assert state.days_tracked == len(update.days), account
            assert state.latest_day == max(d.day for d in update.days), account
            assert state.last_evaluation is not None, account
            expected = evaluate(
                EvaluateInput(
                    account,
                    update.traits or AccountTraits(),
                    sorted(update.days, key=lambda d: d.day),
                    state.last_evaluation.evaluated_on,
                )
            ).evaluation
            assert state.last_evaluation == expected, account
            assert expected.fired or not is_hot(index), account
            handoffs = [f"handoff/{account}/1"] if expected.fired else []
            assert (state.episode, state.handoffs) == (len(handoffs), handoffs), account
            expected_handoffs.update(handoffs)
        assert len(expected_handoffs) >= sum(map(is_hot, range(ACCOUNTS)))
        second_episodes = [f"{h.removesuffix('/1')}/2" for h in expected_handoffs]
        assert not any(await asyncio.gather(*(exists(client, h) for h in second_episodes)))
        deals = [d["properties"]["plg_handoff_id"] for d in hubspot.objects("deals")]
        assert len(deals) == len(set(deals)), "a handoff made two deals"
        assert set(deals) <= expected_handoffs
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)
        mixpanel.stop()
        try:
            await client.get_schedule_handle(schedule_id(source)).delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
