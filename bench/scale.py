"""Scale benchmark: one sync cycle of N accounts through the real worker, end to end.

    python bench/scale.py --accounts 1000 [--accounts 10000] [--timeout-s 1800] [--workers 1]
        [--total-timeout-s S] [--no-replay] [--restart-worker-at-s S [--restart-signal TERM]]
        [--raw-sws N] [--keep DIR]

Per size it generates a population (bench/population.py: ~700 Mixpanel export events an
account over 14 days, a third built to be PQLs, group profiles for traits), starts a Temporal
dev server on a SQLite file, the Mixpanel emulator serving the export and the Engage profiles,
and the HubSpot emulator with HubSpot's published limits (190 requests / 10 s; 4 searches/s
when the emulator supports it), all on free loopback ports; writes a handoff.toml, creates the
CRM properties (`handoff crm setup`) and starts `handoff worker` (K processes on one task
queue). The worker's Schedule runs the first cycle as it starts; the benchmark measures until
every account is evaluated (its evaluation's local activity marker in its history, read from
the server alone so that measuring costs the worker nothing) and every account the engine
hands to sales has a HandoffWorkflow at stage assigned (or later) with its deal in the
emulator, or the timeout. Then every account's `state` query, which must answer with the
evaluation its history holds; a second cycle with no new data (the Schedule triggered
again), the raw signal-with-start rate of trivial entity workflows on the same server, and,
with --replay (default), a replay of every AccountWorkflow and HandoffWorkflow history.

The last lines read, one per size:
`scale accounts=N cycle_s=... evaluated_per_s=... handoffs=... handoff_pace_ratio=... ...`

Definitions:
  - t0 is the first sync workflow's start time (Temporal's clock, this machine);
  - cycle_s: the sync workflow's run (pull, fan-out, refresh); evaluated_s: t0 until the
    last account's evaluation completed (the time of its marker event);
  - last_deal_s: t0 until the newest deal's createdAt; handoffs_per_s over that span, and
    crm_handoffs_per_s between the first and the last deal (the CRM-bound phase);
  - deal_lag_p50_s / p95 / max: from a handed-off account's evaluation (its marker) to its
    deal's createdAt: whether handing off keeps up with evaluating;
  - crm_calls_per_handoff: HubSpot requests answered within the limit (429s excluded) during
    the first cycle's work, startup and refresh included, per handoff; the CRM limit's own pace
    is 19 calls/s divided by that, and handoff_pace_ratio = crm_handoffs_per_s / that pace;
  - raw_sws_per_s: trivial entity workflows signal-with-started (32 in flight, as the pull
    does) and processed per second by a minimal worker of this process on its own task queue;
    fanout_ratio = evaluated_per_s / raw_sws_per_s."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, TypeVar

from google.protobuf.message import Message
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowExecution, WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, Worker

if __package__ in (None, ""):  # run as a script: the repository root makes `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.population import Population, generate
from plg_handoff import search_attributes as sa
from plg_handoff.activities.evaluate import EvaluateResult
from plg_handoff.activities.usage import PullUsageResult
from plg_handoff.devserver import DevServer
from plg_handoff.domain.engine import Evaluation
from plg_handoff.payloads import DATA_CONVERTER
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.sandbox.hubspot.routing import Response
from plg_handoff.sandbox.mixpanel.emulator import MixpanelEmulator
from plg_handoff.schedules import schedule_id
from plg_handoff.workflows.account import AccountWorkflow
from plg_handoff.workflows.registry import ALL_WORKFLOWS
from plg_handoff.workflows.usage_sync import UsageSyncWorkflow

T = TypeVar("T")
BIN = Path(sys.executable).parent
HUBSPOT_TOKEN = "scale-hubspot-token"  # noqa: S105  # the emulator's token for this run
MIXPANEL_USER, MIXPANEL_SECRET = "sa.scale", "scale-secret-51e0"
PROJECT_ID = 4242
SOURCE = "scale"
TASK_QUEUE = "plg-scale"
HUBSPOT_PER_10S = 190
HUBSPOT_SEARCH_PER_S = 4
POLL_S = 2.0
READ_CONCURRENCY = 8
READ_BATCH = 32
QUERY_CONCURRENCY = 16
QUERY_ALL_TIMEOUT_S = 900
FETCH_CONCURRENCY = 8
SWS_BATCH = 32  # signals in flight at once, as the pull fans out
RAW_SWS_CAP = 2000
HISTORY_SAMPLE = 300  # histories read for the figures without --replay
ASSIGNED_OR_LATER = frozenset({"assigned", "contacted", "meeting", "won", "lost"})
WORKER_START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20
CYCLE2_TIMEOUT_S = 300
RAW_TIMEOUT_S = 180
REPLAY_TIMEOUT_S = 900
NONDETERMINISM = re.compile(r"nondetermin|TMPRL1100", re.IGNORECASE)


# --- processes -------------------------------------------------------------------------------


def _proc_sample(pid: int) -> tuple[float, float] | None:
    """(CPU seconds of the process and its reaped children, peak RSS MB) from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = sum(int(v) for v in fields[11:15]) / ticks  # utime, stime, cutime, cstime
    hwm = 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return cpu, hwm


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, ValueError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


class ProcMeter:
    """CPU and peak RSS per role (worker, server), every process and its descendants; sampled
    often and right before a process is stopped, so nothing is lost at exit."""

    def __init__(self) -> None:
        self._roles: dict[int, str] = {}
        self._cpu: dict[int, float] = {}
        self._peak: dict[int, float] = {}

    def track(self, pid: int, role: str) -> None:
        self._roles[pid] = role

    def sample(self) -> None:
        for pid, role in list(self._roles.items()):
            for each in [pid, *self._descendants(pid)]:
                got = _proc_sample(each)
                if got is None:
                    continue
                self._roles.setdefault(each, role)
                self._cpu[each] = max(self._cpu.get(each, 0.0), got[0])
                self._peak[each] = max(self._peak.get(each, 0.0), got[1])

    def _descendants(self, pid: int) -> list[int]:
        out, todo = [], [pid]
        while todo:
            kids = _children(todo.pop())
            out += kids
            todo += kids
        return out

    def cpu_s(self, role: str) -> float:
        return sum(c for pid, c in self._cpu.items() if self._roles.get(pid) == role)

    def peak_rss_mb(self, role: str) -> float:
        return max((p for pid, p in self._peak.items() if self._roles.get(pid) == role), default=0)


class _HeadlessDevServer(DevServer):
    def command(self) -> list[str]:
        return [*super().command(), "--headless"]

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None


@dataclass
class _WorkerProcess:
    index: int
    incarnation: int
    process: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]


class Workers:
    """`handoff worker --config FILE` processes, each with its own log file."""

    def __init__(self, config: Path, env: dict[str, str], log_dir: Path, meter: ProcMeter) -> None:
        self.config = config
        self.env = env
        self.log_dir = log_dir
        self.meter = meter
        self.running: dict[int, _WorkerProcess] = {}
        self.logs: list[Path] = []
        self.restarts = 0
        self._incarnations: Counter[int] = Counter()

    def start(self, index: int) -> _WorkerProcess:
        self._incarnations[index] += 1
        incarnation = self._incarnations[index]
        log_path = self.log_dir / f"worker-{index}-{incarnation}.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [str(BIN / "handoff"), "worker", "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,
        )
        self.meter.track(process.pid, "worker")
        started = _WorkerProcess(index, incarnation, process, log_path, log)
        self.running[index] = started
        self.logs.append(log_path)
        return started

    async def wait_started(self, worker: _WorkerProcess, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            text = worker.log_path.read_text(encoding="utf-8", errors="replace")
            if "worker.started" in text:
                return
            if worker.process.poll() is not None:
                raise RuntimeError(
                    f"worker {worker.index} exited with {worker.process.returncode}: {text[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"worker {worker.index} not started in {timeout_s}s")
            await asyncio.sleep(0.2)

    def stop(self, index: int, sig: int = signal.SIGTERM) -> None:
        worker = self.running.pop(index, None)
        if worker is None:
            return
        self.meter.sample()
        if worker.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.process.pid, sig)
            try:
                worker.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.process.pid, signal.SIGKILL)
                worker.process.wait(STOP_TIMEOUT_S)
        worker.log.close()

    async def restart(self, index: int, sig: int) -> None:
        self.stop(index, sig)
        self.restarts += 1
        await self.wait_started(self.start(index), WORKER_START_TIMEOUT_S)

    def stop_all(self) -> None:
        for index in list(self.running):
            self.stop(index)


class CountingHubSpot(HubSpotEmulator):
    """The HubSpot emulator, counting its API answers by status (429s included)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.statuses: Counter[int] = Counter()
        self._status_lock = threading.Lock()

    def respond(self, *args: Any, **kwargs: Any) -> Response:
        response = super().respond(*args, **kwargs)
        path = str(args[1] if len(args) > 1 else kwargs.get("path", ""))
        if not path.startswith("/_sandbox") and path not in ("/", "/index.html", "/favicon.ico"):
            with self._status_lock:
                self.statuses[response.status] += 1
        return response

    def status_counts(self) -> Counter[int]:
        with self._status_lock:
            return Counter(self.statuses)

    def reset_statuses(self) -> None:
        with self._status_lock:
            self.statuses.clear()


def hubspot_limits() -> tuple[dict[str, Any], str]:
    """HubSpot's published limits, as far as this emulator supports them: 190 requests per
    10 s, and 4 CRM searches a second when it has a parameter for that."""
    params = inspect.signature(HubSpotEmulator.__init__).parameters
    kwargs: dict[str, Any] = {}
    if "rate_limit_per_10s" in params:
        kwargs["rate_limit_per_10s"] = HUBSPOT_PER_10S
    search = [name for name in params if "search" in name]
    if search:
        kwargs[search[0]] = HUBSPOT_SEARCH_PER_S
        return kwargs, f"{search[0]}={HUBSPOT_SEARCH_PER_S}"
    return kwargs, "search limit not supported by the emulator"


# --- the report ------------------------------------------------------------------------------


@dataclass
class ScaleReport:
    accounts: int
    workers: int
    events: int = 0
    expected_pqls: int = 0
    export_mb: float = 0.0
    generate_s: float = 0.0
    hubspot_limits: str = ""
    # the first cycle
    sync_runs: int = 0  # UsageSyncWorkflows started by the first phase (Schedule triggers)
    cycle_s: float | None = None
    pull: dict[str, Any] = field(default_factory=dict)
    listed_accounts: int = 0
    evaluated: int = 0
    evaluated_s: float | None = None
    evaluated_per_s: float = 0.0
    routes: dict[str, int] = field(default_factory=dict)
    engine_hand_off: int = 0  # accounts whose last evaluation says sales
    expected_handed_off: int = 0  # generator's PQLs the engine handed off
    unexpected_handed_off: int = 0  # engine handed off, the generator did not intend it
    handoffs: int = 0  # HandoffWorkflows listed
    handoff_stages: dict[str, int] = field(default_factory=dict)
    handoffs_assigned: int = 0  # hand_off accounts with an assigned handoff and its deal
    missing: list[str] = field(default_factory=list)  # hand_off accounts without (first 20)
    deals: int = 0
    duplicate_deals: list[str] = field(default_factory=list)
    orphan_deals: int = 0  # deals of accounts the engine did not hand off
    last_deal_s: float | None = None
    handoffs_per_s: float = 0.0
    crm_handoffs_per_s: float = 0.0
    # from an account's evaluation to its deal: whether handing off keeps up with evaluating
    deal_lag_p50_s: float | None = None
    deal_lag_p95_s: float | None = None
    deal_lag_max_s: float | None = None
    crm_calls: int = 0
    crm_calls_by_route: dict[str, int] = field(default_factory=dict)
    crm_statuses: dict[str, int] = field(default_factory=dict)
    crm_calls_per_handoff: float = 0.0
    crm_pace_handoffs_per_s: float = 0.0
    handoff_pace_ratio: float = 0.0
    crm_429: int = 0
    mixpanel_calls: int = 0
    mixpanel_429: int = 0
    failed_reads: int = 0  # account histories the benchmark could not read while measuring
    read_errors: list[str] = field(default_factory=list)
    # after the first cycle: every account's `state` query, as an operator would ask it
    queries: int = 0
    failed_queries: int = 0
    query_errors: list[str] = field(default_factory=list)
    query_mismatches: int = 0  # the query's last evaluation is not the one in the history
    complete: bool = False
    timed_out: bool = False
    phase1_s: float = 0.0
    worker_cpu_s_phase1: float = 0.0
    server_cpu_s_phase1: float = 0.0
    # the second cycle, no new data
    cycle2_s: float | None = None
    cycle2_ratio: float | None = None
    cycle2_calls: int = 0
    cycle2_calls_ratio: float | None = None
    cycle2_signalled: int | None = None
    cycle2_step: str = ""  # how far the second cycle got
    # raw signal-with-start on the same server
    raw_sws: int = 0
    raw_sws_per_s: float = 0.0
    fanout_ratio: float | None = None
    # histories
    histories: int = 0
    largest_history: str = ""
    largest_history_events: int = 0
    largest_history_bytes: int = 0
    largest_payload_bytes: int = 0
    largest_payload: str = ""
    failed_activities: int = 0
    activity_retries: int = 0
    local_activity_failures: int = 0
    workflow_task_failures: int = 0
    replayed: int = 0
    replay_failures: int = 0
    first_replay_error: str = ""
    # processes and logs
    worker_cpu_s: float = 0.0
    worker_peak_rss_mb: float = 0.0
    server_cpu_s: float = 0.0
    server_peak_rss_mb: float = 0.0
    db_mb: float = 0.0
    worker_restarts: int = 0
    nondeterminism: int = 0
    log_failed_activities: int = 0
    log_problems: dict[str, int] = field(default_factory=dict)  # warning/error lines by event
    notes: list[str] = field(default_factory=list)

    @property
    def every_pql_handed_off(self) -> bool:
        return self.complete and self.handoffs_assigned == self.engine_hand_off

    def summary_line(self) -> str:
        def num(value: float | None, digits: int = 1) -> str:
            return "na" if value is None else f"{value:.{digits}f}"

        return (
            f"scale accounts={self.accounts} workers={self.workers} events={self.events}"
            f" cycle_s={num(self.cycle_s)} evaluated_s={num(self.evaluated_s)}"
            f" evaluated_per_s={num(self.evaluated_per_s)}"
            f" expected_pqls={self.expected_pqls} handoffs={self.handoffs_assigned}"
            f"/{self.engine_hand_off} last_deal_s={num(self.last_deal_s)}"
            f" handoffs_per_s={num(self.handoffs_per_s, 2)}"
            f" handoff_pace_ratio={num(self.handoff_pace_ratio, 2)}"
            f" deal_lag_p50_s={num(self.deal_lag_p50_s)} deal_lag_p95_s={num(self.deal_lag_p95_s)}"
            f" crm_calls_per_handoff={num(self.crm_calls_per_handoff, 2)}"
            f" crm_429={self.crm_429} failed_reads={self.failed_reads}"
            f" failed_queries={self.failed_queries}/{self.queries}"
            f" failed_activities={self.failed_activities} nondeterminism={self.nondeterminism}"
            f" replay_failures={self.replay_failures}/{self.replayed}"
            f" cycle2_ratio={num(self.cycle2_ratio, 2)}"
            f" cycle2_calls_ratio={num(self.cycle2_calls_ratio, 3)}"
            f" raw_sws_per_s={num(self.raw_sws_per_s)} fanout_ratio={num(self.fanout_ratio, 2)}"
            f" worker_cpu_s={num(self.worker_cpu_s)}"
            f" worker_rss_mb={num(self.worker_peak_rss_mb, 0)}"
            f" server_cpu_s={num(self.server_cpu_s)}"
            f" server_rss_mb={num(self.server_peak_rss_mb, 0)} db_mb={num(self.db_mb)}"
            f" complete={self.complete}"
        )

    def lines(self) -> Iterator[str]:
        yield f"== {self.accounts:,} accounts, {self.workers} worker(s) =="
        for key, value in dataclasses.asdict(self).items():
            if key in ("accounts", "workers"):
                continue
            if isinstance(value, float):
                value = round(value, 3)
            yield f"  {key}: {value}"
        yield f"  every_pql_handed_off: {self.every_pql_handed_off}"


# --- helpers ---------------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def worker_env() -> dict[str, str]:
    """This process's environment for `handoff` commands, with the emulators' credentials
    instead of any HANDOFF_ setting of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(
        HANDOFF_HUBSPOT_ACCESS_TOKEN=HUBSPOT_TOKEN,
        HANDOFF_MIXPANEL_SERVICE_ACCOUNT_USERNAME=MIXPANEL_USER,
        HANDOFF_MIXPANEL_SERVICE_ACCOUNT_SECRET=MIXPANEL_SECRET,
        PYTHONUNBUFFERED="1",
    )
    return env


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a TOML basic string for the paths and URLs written here


def write_config(
    path: Path,
    data_dir: Path,
    temporal: str,
    mixpanel: str,
    hubspot: str,
    *,
    crm_timeout_s: float | None = None,
) -> None:
    crm_timeout = f'timeout = "{crm_timeout_s:g}s"\n' if crm_timeout_s is not None else ""
    path.write_text(
        f"""data_dir = {_toml_string(str(data_dir))}

[temporal]
address = {_toml_string(temporal)}
task_queue = {_toml_string(TASK_QUEUE)}

[[sources]]
kind = "mixpanel"
name = {_toml_string(SOURCE)}
project_id = {PROJECT_ID}
base_url = {_toml_string(mixpanel)}
data_group_id = "1"
window_days = 14
sync_interval = "24h"

[crm]
kind = "hubspot"
base_url = {_toml_string(hubspot)}
{crm_timeout}
[log]
level = "info"
format = "json"
""",
        encoding="utf-8",
    )


async def _bounded(items: Sequence[T], limit: int, fn: Callable[[T], Awaitable[Any]]) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(item: T) -> None:
        async with gate:
            await fn(item)

    await asyncio.gather(*(one(item) for item in items))


async def _list(client: Client, query: str) -> list[WorkflowExecution]:
    return [execution async for execution in client.list_workflows(query, page_size=1000)]


def _epoch(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


async def _new_sync(client: Client, known: set[str], timeout_s: float) -> WorkflowExecution:
    """The UsageSyncWorkflow run not in `known` (visibility lags a little)."""
    deadline = time.monotonic() + timeout_s
    while True:
        for execution in await _list(client, 'WorkflowType="UsageSyncWorkflow"'):
            if execution.run_id not in known:
                return execution
        if time.monotonic() > deadline:
            raise TimeoutError("no new UsageSyncWorkflow appeared")
        await asyncio.sleep(0.25)


def _evaluation_in(history: WorkflowHistory) -> tuple[float, Evaluation, str | None] | None:
    """An account's latest evaluation in its history: when its local activity completed, what
    it decided, and the handoff the account started last (None if none)."""
    found: tuple[float, Evaluation] | None = None
    handoff_id: str | None = None
    for event in history.events:
        if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
            handoff_id = event.start_child_workflow_execution_initiated_event_attributes.workflow_id
        if not event.HasField("marker_recorded_event_attributes"):
            continue
        details = event.marker_recorded_event_attributes.details
        if "result" not in details or "data" not in details:
            continue
        [marker] = DATA_CONVERTER.payload_converter.from_payloads(details["data"].payloads)
        if not isinstance(marker, dict) or marker.get("activity_type") != "evaluate_account":
            continue
        [result] = DATA_CONVERTER.payload_converter.from_payloads(
            details["result"].payloads, [EvaluateResult]
        )
        found = (event.event_time.ToDatetime(tzinfo=UTC).timestamp(), result.evaluation)
    return None if found is None else (*found, handoff_id)


def _deal_created(deal: dict[str, Any]) -> float | None:
    text = deal.get("createdAt") or (deal.get("properties") or {}).get("createdate")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _route_of(method: str, path: str) -> str:
    """A call's route with ids masked: POST /crm/v3/objects/deals/{id}."""
    parts = ["{id}" if re.fullmatch(r"\d+", p) else p for p in path.split("/")]
    return f"{method} {'/'.join(parts)}"


# --- the first cycle -------------------------------------------------------------------------


@dataclass
class _Account:
    evaluated_at: float | None = None
    route: str = ""
    hand_off: bool = False
    handoff_id: str | None = None


class _Phase1:
    def __init__(
        self,
        client: Client,
        hubspot: CountingHubSpot,
        report: ScaleReport,
        population: Population,
    ) -> None:
        self.client = client
        self.hubspot = hubspot
        self.report = report
        self.population = population
        self.accounts: dict[str, _Account] = {}
        self.stages: dict[str, str] = {}
        self.sync_result: PullUsageResult | None = None

    async def read_round(self) -> None:
        """Reads the histories of the accounts not yet seen evaluated, in id order (the order
        the pull signals them), a batch at a time; a batch with none evaluated (and no read
        failing) ends the round. Histories come from the server alone: the worker does no work
        for them (a query would make it replay every account that left its cache)."""
        pending = sorted(a for a, s in self.accounts.items() if s.evaluated_at is None)
        for start in range(0, len(pending), READ_BATCH):
            batch = pending[start : start + READ_BATCH]
            before = (self.report.evaluated, self.report.failed_reads)
            await _bounded(batch, READ_CONCURRENCY, self._read)
            if (self.report.evaluated, self.report.failed_reads) == before:
                return  # the rest was signalled later still: next round

    async def _read(self, account_id: str) -> None:
        handle = self.client.get_workflow_handle(f"account/{account_id}")
        try:
            history = await handle.fetch_history()
        except Exception as exc:  # noqa: BLE001  # every kind of failed read is counted
            self.report.failed_reads += 1
            if len(self.report.read_errors) < 5:
                self.report.read_errors.append(f"{account_id}: {type(exc).__name__}: {exc}")
            return
        seen = _evaluation_in(history)
        if seen is None:
            return
        state = self.accounts[account_id]
        state.evaluated_at, evaluation, state.handoff_id = seen
        state.route = evaluation.route
        state.hand_off = evaluation.hand_off
        self.report.evaluated += 1

    async def query_all(self) -> None:
        """After the cycle, every account's `state` query as an operator asks it (Temporal UI,
        `handoff explain`): each must answer, with the evaluation its history holds."""
        await _bounded(sorted(self.accounts), QUERY_CONCURRENCY, self._query)

    async def _query(self, account_id: str) -> None:
        handle = self.client.get_workflow_handle_for(AccountWorkflow.run, f"account/{account_id}")
        self.report.queries += 1
        try:
            summary = await handle.query(AccountWorkflow.state, rpc_timeout=timedelta(seconds=60))
        except Exception as exc:  # noqa: BLE001  # every kind of failed query is counted
            self.report.failed_queries += 1
            if len(self.report.query_errors) < 5:
                self.report.query_errors.append(f"{account_id}: {type(exc).__name__}: {exc}")
            return
        seen, evaluation = self.accounts[account_id], summary.last_evaluation
        if evaluation is None or (evaluation.route, evaluation.hand_off) != (
            seen.route,
            seen.hand_off,
        ):
            self.report.query_mismatches += 1

    async def list_accounts(self) -> None:
        for execution in await _list(self.client, 'WorkflowType="AccountWorkflow"'):
            account_id = execution.id.removeprefix("account/")
            self.accounts.setdefault(account_id, _Account())
        self.report.listed_accounts = len(self.accounts)

    async def list_handoffs(self) -> None:
        for execution in await _list(self.client, 'WorkflowType="HandoffWorkflow"'):
            stage = execution.typed_search_attributes.get(sa.HANDOFF_STAGE) or ""
            self.stages[execution.id] = stage

    def deals(self) -> tuple[Counter[str], list[float]]:
        by_handoff: Counter[str] = Counter()
        created: list[float] = []
        for deal in self.hubspot.objects("deals"):
            key = (deal.get("properties") or {}).get("plg_handoff_id")
            if key:
                by_handoff[key] += 1
            at = _deal_created(deal)
            if at is not None:
                created.append(at)
        return by_handoff, created

    def deal_lags(self) -> list[float]:
        """Seconds from each handed-off account's evaluation to its deal's creation."""
        created = {
            (deal.get("properties") or {}).get("plg_handoff_id"): _deal_created(deal)
            for deal in self.hubspot.objects("deals")
        }
        lags = []
        for state in self.handed_off().values():
            at = created.get(state.handoff_id)
            if at is not None and state.evaluated_at is not None:
                lags.append(at - state.evaluated_at)
        return sorted(lags)

    def handed_off(self) -> dict[str, _Account]:
        return {a: s for a, s in self.accounts.items() if s.hand_off}

    def assigned(self, by_handoff: Counter[str]) -> list[str]:
        return [
            a
            for a, s in self.handed_off().items()
            if s.handoff_id
            and self.stages.get(s.handoff_id) in ASSIGNED_OR_LATER
            and by_handoff[s.handoff_id] >= 1
        ]

    def done(self, by_handoff: Counter[str]) -> bool:
        if self.sync_result is None:
            return False
        expected = self.sync_result.accounts
        if len(self.accounts) < expected or self.report.evaluated < len(self.accounts):
            return False
        return len(self.assigned(by_handoff)) == len(self.handed_off())


async def _first_cycle(
    client: Client,
    hubspot: CountingHubSpot,
    mixpanel: MixpanelEmulator,
    workers: Workers,
    meter: ProcMeter,
    report: ScaleReport,
    population: Population,
    *,
    started_at: float,
    timeout_s: float,
    restart_at_s: float | None,
    restart_signal: int,
    say: Callable[[str], None],
) -> float:
    """Measures the cycle the worker's Schedule started; returns t0 (epoch seconds)."""
    phase = _Phase1(client, hubspot, report, population)
    sync = await _new_sync(client, set(), 60)
    t0 = _epoch(sync.start_time) or time.time()
    sync_handle = client.get_workflow_handle_for(UsageSyncWorkflow.run, sync.id, run_id=sync.run_id)
    result_task = asyncio.ensure_future(sync_handle.result())
    deadline = started_at + timeout_s

    async def restart_later(delay_s: float) -> None:
        await asyncio.sleep(max(0.0, t0 + delay_s - time.time()))
        await workers.restart(0, restart_signal)
        report.notes.append(
            f"worker 0 restarted with {signal.Signals(restart_signal).name} "
            f"{time.time() - t0:.1f}s into the cycle"
        )

    restart = (
        asyncio.ensure_future(restart_later(restart_at_s)) if restart_at_s is not None else None
    )
    by_handoff: Counter[str] = Counter()
    next_say = time.monotonic() + 10
    try:
        while True:
            meter.sample()
            if phase.sync_result is None and result_task.done():
                phase.sync_result = result_task.result()
                described = await sync_handle.describe()
                close = _epoch(described.close_time)
                report.cycle_s = (close - t0) if close else time.time() - t0
            if phase.sync_result is None or len(phase.accounts) < phase.sync_result.accounts:
                await phase.list_accounts()
            await phase.read_round()
            if phase.handed_off():
                await phase.list_handoffs()
            by_handoff, _ = phase.deals()
            if time.monotonic() >= next_say:
                next_say = time.monotonic() + 10
                say(
                    f"  {time.time() - t0:.0f}s: sync {'done' if phase.sync_result else 'running'},"
                    f" {report.evaluated}/{len(phase.accounts)} evaluated,"
                    f" {len(phase.assigned(by_handoff))}/{len(phase.handed_off())} handoffs"
                    f" assigned, stages {dict(Counter(phase.stages.values()))}"
                )
            if phase.done(by_handoff):
                report.complete = True
                break
            if time.time() > deadline:
                report.timed_out = True
                report.notes += await _running_syncs(client)
                break
            await asyncio.sleep(POLL_S)
    finally:
        for task in (result_task, restart):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        failed = restart is not None and restart.done() and not restart.cancelled()
        if failed and restart is not None and restart.exception() is not None:
            report.notes.append(f"worker restart failed: {restart.exception()!r}")
    meter.sample()
    report.phase1_s = time.time() - t0
    report.worker_cpu_s_phase1 = meter.cpu_s("worker")
    report.server_cpu_s_phase1 = meter.cpu_s("server")
    _first_cycle_figures(phase, report, population, t0, by_handoff)
    _call_figures(hubspot, mixpanel, report)
    report.sync_runs = len(await _list(client, 'WorkflowType="UsageSyncWorkflow"'))
    if report.complete:
        try:
            await asyncio.wait_for(phase.query_all(), QUERY_ALL_TIMEOUT_S)
        except TimeoutError:
            report.notes.append(f"queries: {report.queries} asked in {QUERY_ALL_TIMEOUT_S}s")
        say(f"queries: {report.queries} asked, {report.failed_queries} failed")
    return t0


def _first_cycle_figures(
    phase: _Phase1,
    report: ScaleReport,
    population: Population,
    t0: float,
    by_handoff: Counter[str],
) -> None:
    if phase.sync_result is not None:
        result = phase.sync_result
        report.pull = {
            "read": result.read,
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "outside_window": result.outside_window,
            "quarantined": dict(result.quarantined),
            "accounts": result.accounts,
            "signalled": result.accounts_signalled,
        }
    evaluated = [s.evaluated_at for s in phase.accounts.values() if s.evaluated_at is not None]
    if evaluated and report.evaluated == len(phase.accounts) and report.complete:
        report.evaluated_s = max(evaluated) - t0
        report.evaluated_per_s = report.evaluated / max(report.evaluated_s, 1e-9)
    report.routes = dict(Counter(s.route for s in phase.accounts.values() if s.route))
    handed = phase.handed_off()
    report.engine_hand_off = len(handed)
    expected = population.expected_pqls
    report.expected_handed_off = len(expected & handed.keys())
    report.unexpected_handed_off = len(handed.keys() - expected)
    report.handoffs = len(phase.stages)
    report.handoff_stages = dict(Counter(phase.stages.values()))
    assigned = phase.assigned(by_handoff)
    report.handoffs_assigned = len(assigned)
    report.missing = sorted(set(handed) - set(assigned))[:20]
    deals, created = phase.deals()
    report.deals = sum(deals.values())
    report.duplicate_deals = sorted(k for k, n in deals.items() if n > 1)[:20]
    wanted = {s.handoff_id for s in handed.values() if s.handoff_id}
    report.orphan_deals = sum(n for k, n in deals.items() if k not in wanted)
    accounts_with_deals = Counter(k.split("/")[1] for k in deals if k.count("/") >= 2)
    report.duplicate_deals += sorted(
        f"account {a}: {n} deals" for a, n in accounts_with_deals.items() if n > 1
    )[:20]
    if created:
        report.last_deal_s = max(created) - t0
        report.handoffs_per_s = len(created) / max(report.last_deal_s, 1e-9)
        span = max(created) - min(created)
        if len(created) > 1 and span > 0:
            report.crm_handoffs_per_s = (len(created) - 1) / span
    lags = phase.deal_lags()
    if lags:
        report.deal_lag_p50_s = lags[len(lags) // 2]
        report.deal_lag_p95_s = lags[min(len(lags) - 1, int(len(lags) * 0.95))]
        report.deal_lag_max_s = lags[-1]


def _call_figures(
    hubspot: CountingHubSpot, mixpanel: MixpanelEmulator, report: ScaleReport
) -> None:
    statuses = hubspot.status_counts()
    report.crm_statuses = {str(k): v for k, v in sorted(statuses.items())}
    report.crm_429 = statuses.get(429, 0)
    report.crm_calls = sum(statuses.values())
    report.crm_calls_by_route = dict(Counter(_route_of(m, p) for m, p in hubspot.calls))
    within_limit = report.crm_calls - report.crm_429
    if report.handoffs_assigned:
        report.crm_calls_per_handoff = within_limit / report.handoffs_assigned
        report.crm_pace_handoffs_per_s = HUBSPOT_PER_10S / 10 / report.crm_calls_per_handoff
        if report.crm_handoffs_per_s:
            report.handoff_pace_ratio = report.crm_handoffs_per_s / report.crm_pace_handoffs_per_s
    calls = mixpanel.calls
    report.mixpanel_calls = len(calls)
    report.mixpanel_429 = sum(1 for c in calls if c.status == 429)


# --- the second cycle ------------------------------------------------------------------------


async def _second_cycle(
    client: Client,
    hubspot: CountingHubSpot,
    mixpanel: MixpanelEmulator,
    report: ScaleReport,
) -> None:
    """The Schedule triggered again with no new data: the scheduled run sees the last
    completion's digests, so no account should be signalled."""
    deadline = time.monotonic() + CYCLE2_TIMEOUT_S
    report.cycle2_step = "waiting for running syncs to end"
    running = 'WorkflowType="UsageSyncWorkflow" AND ExecutionStatus="Running"'
    while (await client.count_workflows(running)).count:
        if time.monotonic() > deadline:
            report.notes.append("second cycle skipped: a sync was still running")
            return
        await asyncio.sleep(0.5)
    known = {e.run_id for e in await _list(client, 'WorkflowType="UsageSyncWorkflow"')}
    first_calls = report.crm_calls + report.mixpanel_calls
    hubspot.reset_calls()
    mixpanel.reset_calls()
    report.cycle2_step = "triggering the schedule"
    await client.get_schedule_handle(schedule_id(SOURCE)).trigger()
    report.cycle2_step = "waiting for the triggered sync to appear"
    sync = await _new_sync(client, known, 60)
    report.cycle2_step = f"waiting for {sync.id} to complete"
    handle = client.get_workflow_handle_for(UsageSyncWorkflow.run, sync.id, run_id=sync.run_id)
    result = await asyncio.wait_for(handle.result(), max(1.0, deadline - time.monotonic()))
    report.cycle2_step = "done"
    described = await handle.describe()
    start, close = _epoch(described.start_time), _epoch(described.close_time)
    if start is not None and close is not None:
        report.cycle2_s = close - start
        if report.cycle_s:
            report.cycle2_ratio = report.cycle2_s / report.cycle_s
    report.cycle2_signalled = result.accounts_signalled
    report.cycle2_calls = len(hubspot.calls) + len(mixpanel.calls)
    if first_calls:
        report.cycle2_calls_ratio = report.cycle2_calls / first_calls


async def _running_syncs(client: Client) -> list[str]:
    """What each running sync waits for: its pending activities, attempts and last failure."""
    lines = []
    running = 'WorkflowType="UsageSyncWorkflow" AND ExecutionStatus="Running"'
    for execution in await _list(client, running):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        described = await handle.describe()
        pending = [
            f"{p.activity_type.name} state={p.state} attempt={p.attempt}"
            f" last_failure={p.last_failure.message[:200]!r}"
            for p in described.raw_description.pending_activities
        ]
        lines.append(f"running {execution.id}: {pending or 'no pending activity'}")
    return lines


# --- raw signal-with-start -------------------------------------------------------------------


class _RawCounter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.processed = 0


_RAW = _RawCounter()


@workflow.defn(name="ScaleRawEntity", sandboxed=False)
class RawEntityWorkflow:
    """A trivial entity workflow: started by its first signal, done once it handled it."""

    def __init__(self) -> None:
        self._poked = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._poked)

    @workflow.signal
    def poke(self) -> None:
        self._poked = True
        if not workflow.unsafe.is_replaying():
            with _RAW.lock:
                _RAW.processed += 1


async def raw_signal_with_start(client: Client, count: int, timeout_s: float) -> float:
    """Signal-with-starts `count` entity workflows, 32 in flight (as the pull does), and
    returns how many a second a minimal worker processed."""
    task_queue = f"scale-raw-{uuid.uuid4().hex[:8]}"
    with _RAW.lock:
        _RAW.processed = 0
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[RawEntityWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        started = time.perf_counter()
        for first in range(0, count, SWS_BATCH):
            await asyncio.gather(
                *(
                    client.start_workflow(
                        RawEntityWorkflow.run,
                        id=f"raw/{task_queue}/{n}",
                        task_queue=task_queue,
                        start_signal="poke",
                    )
                    for n in range(first, min(count, first + SWS_BATCH))
                )
            )
        while True:
            with _RAW.lock:
                processed = _RAW.processed
            if processed >= count:
                break
            if time.perf_counter() - started > timeout_s:
                raise TimeoutError(f"raw signal-with-start: {processed} of {count} processed")
            await asyncio.sleep(0.05)
        return count / (time.perf_counter() - started)


# --- histories and replay --------------------------------------------------------------------


def _payload_sizes(message: Message) -> Iterator[int]:
    if isinstance(message, Payload):
        yield message.ByteSize()
        return
    for _, value in message.ListFields():
        if isinstance(value, Message):
            yield from _payload_sizes(value)
        elif hasattr(value, "values") and callable(value.values):  # a map field
            for item in value.values():
                if isinstance(item, Message):
                    yield from _payload_sizes(item)
        elif isinstance(value, str | bytes | int | float | bool):
            continue
        else:  # a repeated field
            for item in value:
                if isinstance(item, Message):
                    yield from _payload_sizes(item)


def _history_figures(history: WorkflowHistory, report: ScaleReport) -> None:
    events = list(history.events)
    size = sum(e.ByteSize() for e in events)
    report.histories += 1
    if len(events) > report.largest_history_events:
        report.largest_history_events = len(events)
        report.largest_history = f"{history.workflow_id} ({len(events)} events, {size} bytes)"
    report.largest_history_bytes = max(report.largest_history_bytes, size)
    for event in events:
        kind = event.event_type
        if kind in (
            EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        ):
            report.failed_activities += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            report.activity_retries += max(
                0, event.activity_task_started_event_attributes.attempt - 1
            )
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            if event.marker_recorded_event_attributes.HasField("failure"):
                report.local_activity_failures += 1
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            report.workflow_task_failures += 1
            cause = event.workflow_task_failed_event_attributes.cause
            if cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR:
                report.nondeterminism += 1
        biggest = max(_payload_sizes(event), default=0)
        if biggest > report.largest_payload_bytes:
            report.largest_payload_bytes = biggest
            name = EventType.Name(kind).removeprefix("EVENT_TYPE_")
            report.largest_payload = f"{history.workflow_id} {name}: {biggest} bytes"


async def _histories(client: Client, report: ScaleReport, replay: bool, deadline: float) -> None:
    """Reads the histories (all of them with replay, else a sample), takes their figures,
    and replays every AccountWorkflow and HandoffWorkflow."""
    executions: list[WorkflowExecution] = []
    for kind in ("AccountWorkflow", "HandoffWorkflow", "UsageSyncWorkflow", "OwnerPoolWorkflow"):
        listed = await _list(client, f'WorkflowType="{kind}"')
        if not replay and kind in ("AccountWorkflow", "HandoffWorkflow"):
            listed = listed[:: max(1, len(listed) // (HISTORY_SAMPLE // 2))]
        executions += listed
    fetched: list[tuple[str, WorkflowHistory]] = []

    async def fetch(execution: WorkflowExecution) -> None:
        if time.monotonic() > deadline:
            return
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        _history_figures(history, report)
        fetched.append((execution.workflow_type, history))

    await _bounded(executions, FETCH_CONCURRENCY, fetch)
    if len(fetched) < len(executions):
        report.notes.append(f"histories: read {len(fetched)} of {len(executions)} in time")
    if not replay:
        return
    to_replay = [h for kind, h in fetched if kind in ("AccountWorkflow", "HandoffWorkflow")]

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in to_replay:
            if time.monotonic() > deadline:
                return
            yield history

    replayer = Replayer(workflows=list(ALL_WORKFLOWS), data_converter=DATA_CONVERTER)
    async with replayer.workflow_replay_iterator(each()) as results:
        async for result in results:
            report.replayed += 1
            if result.replay_failure is not None:
                report.replay_failures += 1
                if not report.first_replay_error:
                    report.first_replay_error = (
                        f"{result.history.workflow_id}: {result.replay_failure!r}"[:500]
                    )
    if report.replayed < len(to_replay):
        report.notes.append(f"replay: {report.replayed} of {len(to_replay)} in time")


def scan_logs(paths: Sequence[Path], report: ScaleReport) -> None:
    problems: Counter[str] = Counter()
    for path in paths:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if NONDETERMINISM.search(line):
                    report.nondeterminism += 1
                if "Completing activity as failed" in line:
                    report.log_failed_activities += 1
                try:
                    record = json.loads(line)
                except ValueError:
                    if "WARN" in line or "ERROR" in line:  # the Temporal core's own lines
                        problems[line.strip()[:80]] += 1
                    continue
                if not isinstance(record, dict):
                    continue
                level = str(record.get("level", ""))
                if level in ("warning", "error", "critical", "exception"):
                    problems[f"{level}: {str(record.get('event', ''))[:70]}"] += 1
    report.log_problems = dict(problems.most_common(15))


def _db_mb(data_dir: Path) -> float:
    return sum(p.stat().st_size for p in data_dir.glob("temporal.db*")) / 1e6


# --- one size --------------------------------------------------------------------------------


async def run_scale(
    accounts: int,
    workdir: Path,
    timeout_s: float = 1800,
    *,
    workers: int = 1,
    replay: bool = True,
    restart_worker_at_s: float | None = None,
    restart_signal: int = signal.SIGKILL,
    seed: int = 7,
    raw_sws: int | None = None,
    total_timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScaleReport:
    """One size, end to end; every process it starts is stopped before it returns.
    `timeout_s` bounds the first cycle; `total_timeout_s` (if given) the whole run, the phases
    after the first cycle being cut short (and noted) when it runs out."""
    say = progress or (lambda _: None)
    overall = time.monotonic() + (total_timeout_s if total_timeout_s is not None else 1e9)

    async def phase(name: str, work: Awaitable[None], cap_s: float) -> None:
        seconds = min(cap_s, overall - time.monotonic())
        if seconds < 1:
            report.notes.append(f"{name}: skipped, out of time")
            if inspect.iscoroutine(work):
                work.close()
            return
        try:
            await asyncio.wait_for(work, seconds)
        except TimeoutError:
            report.notes.append(f"{name}: cut short after {seconds:.0f}s")
            report.notes += await _running_syncs(client)

    async def raw(count: int) -> None:
        report.raw_sws = count
        report.raw_sws_per_s = await raw_signal_with_start(client, count, RAW_TIMEOUT_S)
        if report.evaluated_per_s:
            report.fanout_ratio = report.evaluated_per_s / report.raw_sws_per_s

    report = ScaleReport(accounts=accounts, workers=workers)
    population = await asyncio.to_thread(generate, accounts, workdir / "population", seed=seed)
    report.events = population.events
    report.expected_pqls = len(population.expected_pqls)
    report.export_mb = population.export_path.stat().st_size / 1e6
    report.generate_s = population.seconds
    say(f"population: {population.events:,} events, {report.expected_pqls} PQLs intended")

    meter = ProcMeter()
    data_dir = workdir / "temporal"
    server = _HeadlessDevServer(data_dir, port=_free_port(), ui_port=_free_port())
    hubspot_kwargs, report.hubspot_limits = hubspot_limits()
    hubspot = CountingHubSpot(token=HUBSPOT_TOKEN, **hubspot_kwargs)
    mixpanel = MixpanelEmulator(
        project_id=PROJECT_ID,
        username=MIXPANEL_USER,
        secret=MIXPANEL_SECRET,
        profiles=population.profiles(),
        prebuilt_export=population.export_path,
    )
    config = workdir / "handoff.toml"
    env = worker_env()
    pool = Workers(config, env, workdir, meter)
    started_at = time.time()
    try:
        client = await server.start()
        if server.pid is not None:
            meter.track(server.pid, "server")
        write_config(config, workdir / "data", server.address, mixpanel.start(), hubspot.start())
        setup = await asyncio.to_thread(
            subprocess.run,
            [str(BIN / "handoff"), "crm", "setup", "--config", str(config)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if setup.returncode != 0:
            raise RuntimeError(f"handoff crm setup failed: {setup.stdout}{setup.stderr}")
        hubspot.reset_calls()  # the setup's calls are not the cycle's
        hubspot.reset_statuses()
        started_at = time.time()
        launched = [pool.start(i) for i in range(workers)]
        for each in launched:
            await pool.wait_started(each, WORKER_START_TIMEOUT_S)
        say("worker(s) started; measuring the first cycle")
        await _first_cycle(
            client,
            hubspot,
            mixpanel,
            pool,
            meter,
            report,
            population,
            started_at=started_at,
            timeout_s=timeout_s,
            restart_at_s=restart_worker_at_s,
            restart_signal=restart_signal,
            say=say,
        )
        say(f"first cycle: complete={report.complete} in {report.phase1_s:.1f}s")
        if report.complete:
            await phase(
                "second cycle", _second_cycle(client, hubspot, mixpanel, report), CYCLE2_TIMEOUT_S
            )
            say(f"second cycle: {report.cycle2_s}s")
        count = raw_sws if raw_sws is not None else min(accounts, RAW_SWS_CAP)
        if count > 0:
            await phase("raw signal-with-start", raw(count), RAW_TIMEOUT_S)
            say(f"raw signal-with-start: {report.raw_sws_per_s:.1f}/s")
        meter.sample()
        left = min(REPLAY_TIMEOUT_S, overall - time.monotonic())
        await phase("histories", _histories(client, report, replay, time.monotonic() + left), left)
        say(f"histories: {report.histories} read, {report.replayed} replayed")
    finally:
        meter.sample()
        pool.stop_all()
        meter.sample()
        server.stop()
        mixpanel.stop()
        hubspot.stop()
    report.worker_restarts = pool.restarts
    report.worker_cpu_s = meter.cpu_s("worker")
    report.worker_peak_rss_mb = meter.peak_rss_mb("worker")
    report.server_cpu_s = meter.cpu_s("server")
    report.server_peak_rss_mb = meter.peak_rss_mb("server")
    report.db_mb = _db_mb(data_dir)
    scan_logs(pool.logs, report)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, action="append", help="repeat for more sizes")
    parser.add_argument("--timeout-s", type=float, default=1800, help="for the first cycle")
    parser.add_argument(
        "--total-timeout-s", type=float, default=None, help="for everything of one size"
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--replay", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--restart-worker-at-s", type=float, default=None)
    parser.add_argument("--restart-signal", choices=("KILL", "TERM"), default="KILL")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--raw-sws", type=int, default=None, help=f"default min(N, {RAW_SWS_CAP})")
    parser.add_argument("--keep", type=Path, default=None, help="work directory to keep")
    args = parser.parse_args()
    sizes = args.accounts or [1000]
    reports = []
    for size in sizes:
        base = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
        workdir = base / f"n{size}"
        try:
            report = asyncio.run(
                run_scale(
                    size,
                    workdir,
                    args.timeout_s,
                    workers=args.workers,
                    replay=args.replay,
                    restart_worker_at_s=args.restart_worker_at_s,
                    restart_signal=getattr(signal, f"SIG{args.restart_signal}"),
                    seed=args.seed,
                    raw_sws=args.raw_sws,
                    total_timeout_s=args.total_timeout_s,
                    progress=lambda line: print(f"[{time.strftime('%H:%M:%S')}] {line}"),
                )
            )
        finally:
            if args.keep is None:
                shutil.rmtree(base, ignore_errors=True)
        for line in report.lines():
            print(line, flush=True)
        reports.append(report)
    for report in reports:
        print(report.summary_line())


if __name__ == "__main__":
    main()
