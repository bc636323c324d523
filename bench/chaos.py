"""Chaos suite: one population through the real worker, Temporal dev server and vendor
emulators, once without faults and then once per seed with them; the final CRM state and every
account's decision must be the same.

    python bench/chaos.py [--accounts 120] [--runs 10] [--worker-kills 5] [--server-kills 1]
        [--crm-fault-rate 0.2] [--seed 1] [--population-seed 1] [--timeout-s 900] [--keep DIR]

Faults of a chaos run, placed by its seed over the span the fault-free run took:
  - the worker SIGKILLed (`--worker-kills` times) and started again 0-2 s later;
  - the Temporal dev server SIGKILLed (`--server-kills` times) and started again on the same
    SQLite file and port; a worker that exits meanwhile is started again, as a supervisor
    (systemd, Kubernetes) would;
  - HubSpot failing `--crm-fault-rate` of the requests: half of them refused before the
    work (429, 500, 502, 503), half done and then answered 504 (the answer lost after the
    write committed), plus a few answers slower than the connector's timeout;
  - poison lines in the Mixpanel export (invalid UTF-8, a line over 4 MiB), in the fault-free
    run too: both must set them aside the same way.

Each run ends when the first cycle's sync is done, every account has been evaluated, every
account handed to sales has its deal at stage assigned or later, and the CRM has been quiet
for a few seconds; then the CRM's deals, tasks and companies and every account's route (route,
tier, triggers) are read and compared with the fault-free run's.

The last line: `chaos runs=... worker_kills=... server_kills=... duplicates=... lost=...
route_diffs=... crm_calls_ratio=... mixpanel_exports=... worst_recovery_s=...`, where
  - duplicates: deals beyond one per handoff, tasks beyond the fault-free run's per handoff,
    companies beyond one per name;
  - lost: handoffs with a deal in the fault-free run and none in a chaos run;
  - crm_calls_ratio: the chaos runs' HubSpot requests over the fault-free run's (per run);
  - worst_recovery_s: the longest time from a kill to the next successful vendor call (CRM
    or Mixpanel) while work remained."""

# ruff: noqa: S311  # seeded placement of faults, reproducible; nothing here is cryptography
from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError

if __package__ in (None, ""):  # run as a script: the repository root makes `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.population import Population, generate
from bench.scale import (
    ASSIGNED_OR_LATER,
    BIN,
    HUBSPOT_TOKEN,
    MIXPANEL_SECRET,
    MIXPANEL_USER,
    PROJECT_ID,
    WORKER_START_TIMEOUT_S,
    CountingHubSpot,
    ProcMeter,
    Workers,
    _evaluation_in,
    _free_port,
    _HeadlessDevServer,
    _list,
    hubspot_limits,
    worker_env,
    write_config,
)
from plg_handoff import search_attributes as sa
from plg_handoff.activities.usage import PullUsageResult
from plg_handoff.sandbox.mixpanel.emulator import MixpanelEmulator

POLL_S = 1.0
QUIET_S = 4.0  # the CRM answers nothing new for this long: the run is settled
CRM_TIMEOUT_S = 4.0  # the connector's timeout in the runs; slowed answers take longer
SLOW_ANSWER_S = 6.0
SLOW_ANSWERS = 3  # per chaos run
SERVER_DOWN_S = (1.0, 4.0)
WORKER_DOWN_S = (0.0, 2.0)
READ_CONCURRENCY = 8
LONG_LINE_BYTES = 4 * 1024 * 1024 + 4096


# --- the population and its poison -------------------------------------------------------


def poisoned(population: Population) -> Path:
    """The population's export with three lines no JSON engine can read, in the middle."""
    target = population.export_path.with_name("poisoned-export.jsonl.gz")
    if target.exists():
        return target
    with gzip.open(population.export_path, "rb") as source:
        lines = source.read().splitlines(keepends=True)
    middle = len(lines) // 2
    poison = [
        b'{"event": "Report Viewed", "properties": {"account_id": "\xff\xfe bad"}}\n',
        b'{"event": "Dashboard Viewed", "properties": {"note": "\xc3\x28"}}\n',
        b'{"event": "Report Viewed", "properties": {"blob": "' + b"a" * LONG_LINE_BYTES + b'"}}\n',
    ]
    with gzip.open(target, "wb", compresslevel=6) as out:
        out.writelines([*lines[:middle], *poison, *lines[middle:]])
    return target


# --- one run -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """A settled run's CRM and decisions."""

    routes: dict[str, str] = field(default_factory=dict)  # account -> "route tier triggers"
    deals: Counter[str] = field(default_factory=Counter)  # handoff id -> deals
    tasks: Counter[str] = field(default_factory=Counter)  # handoff id -> tasks on its deals
    companies: Counter[str] = field(default_factory=Counter)  # name -> companies
    crm_calls: int = 0
    crm_faults: int = 0
    mixpanel_exports: int = 0
    mixpanel_queries: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    settled: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Faults:
    seed: int
    worker_kills: int
    server_kills: int
    crm_fault_rate: float
    horizon_s: float  # faults fall within this span from the start


@dataclass
class RunReport:
    seed: int | None
    outcome: Outcome
    worker_kills: int = 0
    server_kills: int = 0
    worker_exits: int = 0  # a worker that stopped by itself (and was started again)
    recoveries: list[float] = field(default_factory=list)


class Stack:
    """The dev server, the emulators and the worker of one run, on free loopback ports."""

    def __init__(self, workdir: Path, population: Population, export: Path) -> None:
        self.workdir = workdir
        self.meter = ProcMeter()
        self.server = _HeadlessDevServer(
            workdir / "temporal", port=_free_port(), ui_port=_free_port()
        )
        kwargs, _ = hubspot_limits()
        self.hubspot = CountingHubSpot(token=HUBSPOT_TOKEN, **kwargs)
        self.mixpanel = MixpanelEmulator(
            project_id=PROJECT_ID,
            username=MIXPANEL_USER,
            secret=MIXPANEL_SECRET,
            profiles=population.profiles(),
            prebuilt_export=export,
        )
        self.config = workdir / "handoff.toml"
        self.env = worker_env()
        self.workers = Workers(self.config, self.env, workdir, self.meter)
        self.client: Client | None = None

    async def start(self) -> None:
        self.client = await self.server.start()
        write_config(
            self.config,
            self.workdir / "data",
            self.server.address,
            self.mixpanel.start(),
            self.hubspot.start(),
            crm_timeout_s=CRM_TIMEOUT_S,
        )
        setup = await asyncio.create_subprocess_exec(
            str(BIN / "handoff"), "crm", "setup", "--config", str(self.config),
            env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await setup.communicate()
        if setup.returncode != 0:
            raise RuntimeError(f"handoff crm setup failed: {output.decode(errors='replace')}")
        self.hubspot.reset_calls()
        self.hubspot.reset_statuses()
        await self.workers.wait_started(self.workers.start(0), WORKER_START_TIMEOUT_S)

    def live_client(self) -> Client:
        if self.client is None:
            raise RuntimeError("the run's Temporal server is not started")
        return self.client

    def progress(self) -> int:
        """Successful vendor answers so far: what moves whenever the daemon gets work done."""
        crm = sum(n for status, n in self.hubspot.status_counts().items() if status < 300)
        return crm + sum(1 for call in self.mixpanel.calls if call.status < 300)

    async def kill_server(self, down_s: float) -> None:
        pid = self.server.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.server.stop()  # reaps the killed process, closes its log
        await asyncio.sleep(down_s)
        self.client = await self.server.start(timeout_s=60)

    async def kill_worker(self, down_s: float) -> None:
        self.workers.stop(0, signal.SIGKILL)
        await asyncio.sleep(down_s)
        self.workers.start(0)

    def stop(self) -> None:
        self.workers.stop_all()
        self.server.stop()
        self.mixpanel.stop()
        self.hubspot.stop()


async def settle(stack: Stack, timeout_s: float) -> Outcome:
    """Waits for the run to settle (see the module's doc), then reads its outcome."""
    started = time.monotonic()
    deadline = started + timeout_s
    outcome = Outcome()
    evaluated: dict[str, tuple[bool, str | None]] = {}  # account -> (hand off, handoff id)
    quiet_since, last_calls = time.monotonic(), -1
    while time.monotonic() < deadline:
        await asyncio.sleep(POLL_S)
        calls = len(stack.hubspot.calls)
        if calls != last_calls:
            quiet_since, last_calls = time.monotonic(), calls
        try:
            ready = await _ready(stack, evaluated, outcome)
        except (RPCError, RuntimeError, OSError) as exc:  # the server is down: ask again
            outcome.notes.append(f"poll: {type(exc).__name__}")
            continue
        if ready and time.monotonic() - quiet_since >= QUIET_S:
            outcome.settled = True
            break
    outcome.seconds = time.monotonic() - started
    await _read_outcome(stack, outcome)
    return outcome


async def _ready(
    stack: Stack, evaluated: dict[str, tuple[bool, str | None]], outcome: Outcome
) -> bool:
    client = stack.live_client()
    syncs = await _list(client, 'WorkflowType="UsageSyncWorkflow" AND ExecutionStatus="Completed"')
    if not syncs:
        return False
    handle = client.get_workflow_handle(
        syncs[0].id, run_id=syncs[0].run_id, result_type=PullUsageResult
    )
    result = await handle.result()
    outcome.quarantined = dict(result.quarantined)
    expected = result.accounts
    accounts = [
        e.id.removeprefix("account/") for e in await _list(client, 'WorkflowType="AccountWorkflow"')
    ]
    if len(accounts) < expected:
        return False
    pending = [a for a in accounts if a not in evaluated]
    gate = asyncio.Semaphore(READ_CONCURRENCY)

    async def read(account: str) -> None:
        async with gate:
            history = await client.get_workflow_handle(f"account/{account}").fetch_history()
        seen = _evaluation_in(history)
        if seen is not None:
            evaluated[account] = (seen[1].hand_off, seen[2])

    await asyncio.gather(*(read(a) for a in pending))
    if len(evaluated) < len(accounts):
        return False
    stages = {
        e.id: e.typed_search_attributes.get(sa.HANDOFF_STAGE) or ""
        for e in await _list(client, 'WorkflowType="HandoffWorkflow"')
    }
    dealt = Counter(
        (d.get("properties") or {}).get("plg_handoff_id") for d in stack.hubspot.objects("deals")
    )
    return all(
        handoff is not None and stages.get(handoff) in ASSIGNED_OR_LATER and dealt[handoff] >= 1
        for hand_off, handoff in evaluated.values()
        if hand_off
    )


async def _read_outcome(stack: Stack, outcome: Outcome) -> None:
    client = stack.live_client()
    for _ in range(30):  # the server may be starting again after a late kill
        try:
            executions = await _list(client, 'WorkflowType="AccountWorkflow"')
            break
        except RPCError:
            await asyncio.sleep(1)
    else:
        outcome.notes.append("outcome: Temporal never answered")
        return
    gate = asyncio.Semaphore(READ_CONCURRENCY)

    async def route(account_id: str) -> None:
        async with gate:
            history = await client.get_workflow_handle(account_id).fetch_history()
        seen = _evaluation_in(history)
        if seen is None:
            outcome.routes[account_id] = "not evaluated"
            return
        evaluation = seen[1]
        triggers = ",".join(sorted(f.trigger for f in evaluation.fired))
        outcome.routes[account_id] = f"{evaluation.route} tier={evaluation.tier} {triggers}"

    await asyncio.gather(*(route(e.id) for e in executions))
    hubspot = stack.hubspot
    for deal in hubspot.objects("deals"):
        handoff = (deal.get("properties") or {}).get("plg_handoff_id") or "?"
        outcome.deals[handoff] += 1
        outcome.tasks[handoff] += len(hubspot.associations("deals", str(deal["id"]), "tasks"))
    for company in hubspot.objects("companies"):
        outcome.companies[(company.get("properties") or {}).get("name") or "?"] += 1
    outcome.crm_calls = len(hubspot.calls)
    outcome.crm_faults = hubspot.faults.injected + hubspot.faults.lost
    calls = stack.mixpanel.calls
    outcome.mixpanel_exports = sum(1 for c in calls if c.path == "/api/2.0/export")
    outcome.mixpanel_queries = len(calls)


async def run_once(
    population: Population,
    export: Path,
    workdir: Path,
    faults: Faults | None,
    timeout_s: float,
    say: Callable[[str], None],
) -> RunReport:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    stack = Stack(workdir, population, export)
    report = RunReport(seed=faults.seed if faults else None, outcome=Outcome())
    try:
        await stack.start()
        if faults is not None:
            rate = faults.crm_fault_rate / 2
            stack.hubspot.faults.fail_randomly(rate, (429, 500, 502, 503), seed=faults.seed)
            stack.hubspot.faults.lose_answers_randomly(rate, seed=faults.seed + 1)
        settling = asyncio.create_task(settle(stack, timeout_s))
        chaos = (
            asyncio.create_task(_inject(stack, faults, report, settling, say))
            if faults is not None
            else None
        )
        supervisor = asyncio.create_task(_supervise(stack, report, settling))
        report.outcome = await settling
        for task in (chaos, supervisor):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        stack.stop()
    return report


async def _inject(
    stack: Stack,
    faults: Faults,
    report: RunReport,
    settling: asyncio.Task[Outcome],
    say: Callable[[str], None],
) -> None:
    """Kills the worker and the server at the seed's moments, slows a few CRM answers past the
    connector's timeout, and measures each kill's recovery."""
    rng = random.Random(faults.seed)
    events = [("worker", rng.uniform(1.0, faults.horizon_s)) for _ in range(faults.worker_kills)]
    events += [("server", rng.uniform(2.0, faults.horizon_s)) for _ in range(faults.server_kills)]
    events += [("slow", rng.uniform(1.0, faults.horizon_s)) for _ in range(SLOW_ANSWERS)]
    events.sort(key=lambda event: event[1])
    t0 = time.monotonic()
    for kind, at in events:
        await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
        if settling.done():
            return
        before, killed_at = stack.progress(), time.monotonic()
        if kind == "slow":
            stack.hubspot.faults.slow_next(1, SLOW_ANSWER_S)
            continue
        if kind == "worker":
            report.worker_kills += 1
            await stack.kill_worker(rng.uniform(*WORKER_DOWN_S))
        else:
            report.server_kills += 1
            await stack.kill_server(rng.uniform(*SERVER_DOWN_S))
        say(f"  {time.monotonic() - t0:5.1f}s: killed the {kind}")
        asyncio.create_task(_recovery(stack, before, killed_at, report, settling))  # noqa: RUF006  # ends with the run


async def _recovery(
    stack: Stack,
    before: int,
    killed_at: float,
    report: RunReport,
    settling: asyncio.Task[Outcome],
) -> None:
    while not settling.done():
        if stack.progress() > before:
            report.recoveries.append(time.monotonic() - killed_at)
            return
        await asyncio.sleep(0.1)


async def _supervise(stack: Stack, report: RunReport, settling: asyncio.Task[Outcome]) -> None:
    """Starts the worker again when it exits by itself (as systemd or Kubernetes would)."""
    while not settling.done():
        await asyncio.sleep(0.5)
        worker = stack.workers.running.get(0)
        if worker is not None and worker.process.poll() is not None:
            report.worker_exits += 1
            stack.workers.stop(0)
            stack.workers.start(0)


# --- the comparison ------------------------------------------------------------------------


@dataclass
class ChaosSummary:
    runs: int = 0
    worker_kills: int = 0
    server_kills: int = 0
    worker_exits: int = 0
    duplicates: int = 0
    lost: int = 0
    route_diffs: int = 0
    unsettled: int = 0
    crm_calls_ratio: float = 0.0
    crm_faults: int = 0
    mixpanel_exports: int = 0
    mixpanel_exports_fault_free: int = 0
    worst_recovery_s: float = 0.0
    fault_free_s: float = 0.0
    details: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"chaos runs={self.runs} worker_kills={self.worker_kills} "
            f"server_kills={self.server_kills} worker_exits={self.worker_exits} "
            f"duplicates={self.duplicates} lost={self.lost} route_diffs={self.route_diffs} "
            f"unsettled={self.unsettled} crm_calls_ratio={self.crm_calls_ratio:.2f} "
            f"crm_faults={self.crm_faults} mixpanel_exports={self.mixpanel_exports} "
            f"(fault-free {self.mixpanel_exports_fault_free} a run) "
            f"worst_recovery_s={self.worst_recovery_s:.1f} fault_free_s={self.fault_free_s:.1f}"
        )


def compare(reference: Outcome, run: RunReport, summary: ChaosSummary) -> None:
    outcome = run.outcome
    doubled = {
        "deals": {k: n for k, n in outcome.deals.items() if n > 1},
        "tasks": {k: n for k, n in outcome.tasks.items() if n > reference.tasks.get(k, 0)},
        "companies": {k: n for k, n in outcome.companies.items() if n > 1},
    }
    duplicates = sum(n - 1 for n in doubled["deals"].values())
    duplicates += sum(n - reference.tasks.get(k, 0) for k, n in doubled["tasks"].items())
    duplicates += sum(n - 1 for n in doubled["companies"].values())
    lost = sorted(set(reference.deals) - set(outcome.deals))
    diffs = sorted(
        account
        for account in set(reference.routes) | set(outcome.routes)
        if reference.routes.get(account) != outcome.routes.get(account)
    )
    summary.runs += 1
    summary.worker_kills += run.worker_kills
    summary.server_kills += run.server_kills
    summary.worker_exits += run.worker_exits
    summary.duplicates += duplicates
    summary.lost += len(lost)
    summary.route_diffs += len(diffs)
    summary.unsettled += not outcome.settled
    summary.crm_faults += outcome.crm_faults
    summary.mixpanel_exports += outcome.mixpanel_exports
    summary.worst_recovery_s = max([summary.worst_recovery_s, *run.recoveries])
    same_quarantine = outcome.quarantined == reference.quarantined
    if duplicates or lost or diffs or not outcome.settled or not same_quarantine:
        first_diffs = [(a, reference.routes.get(a), outcome.routes.get(a)) for a in diffs[:3]]
        summary.details.append(
            f"seed {run.seed}: duplicates={duplicates} {doubled} lost={lost[:5]} "
            f"route_diffs={first_diffs} "
            f"settled={outcome.settled} quarantined={outcome.quarantined} "
            f"(fault-free {reference.quarantined}) notes={outcome.notes[-3:]}"
        )


async def run_chaos(
    accounts: int,
    workdir: Path,
    *,
    runs: int,
    worker_kills: int,
    server_kills: int,
    crm_fault_rate: float,
    seed: int = 1,
    population_seed: int = 1,
    timeout_s: float = 900,
    say: Callable[[str], None] = lambda _: None,
) -> ChaosSummary:
    """The fault-free run, then `runs` chaos runs with the seeds `seed`, `seed + 1`, ...; the
    population is the same for all (`population_seed`)."""
    population = await asyncio.to_thread(
        generate, accounts, workdir / "population", seed=population_seed
    )
    export = await asyncio.to_thread(poisoned, population)
    say(f"population: {accounts} accounts, {population.events:,} events, 3 poison lines")
    reference = await run_once(population, export, workdir / "fault-free", None, timeout_s, say)
    free = reference.outcome
    summary = ChaosSummary(fault_free_s=free.seconds)
    summary.mixpanel_exports_fault_free = free.mixpanel_exports
    say(
        f"fault-free: settled={free.settled} in {free.seconds:.1f}s, {sum(free.deals.values())} "
        f"deals, {free.crm_calls} CRM calls, quarantined {free.quarantined}"
    )
    if not free.settled:
        raise RuntimeError(f"the fault-free run did not settle: {free.notes[-5:]}")
    calls = []
    for n in range(runs):
        faults = Faults(seed + n, worker_kills, server_kills, crm_fault_rate, free.seconds * 0.8)
        run = await run_once(population, export, workdir / f"chaos-{n}", faults, timeout_s, say)
        compare(free, run, summary)
        calls.append(run.outcome.crm_calls)
        say(
            f"run {n + 1}/{runs} (seed {faults.seed}): settled={run.outcome.settled} in "
            f"{run.outcome.seconds:.1f}s, kills {run.worker_kills}+{run.server_kills}, "
            f"recoveries {[round(r, 1) for r in run.recoveries]}, CRM calls "
            f"{run.outcome.crm_calls} ({run.outcome.crm_faults} faults)"
        )
    summary.crm_calls_ratio = (sum(calls) / len(calls)) / free.crm_calls if calls else 0.0
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=120)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--worker-kills", type=int, default=5)
    parser.add_argument("--server-kills", type=int, default=1)
    parser.add_argument("--crm-fault-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1, help="the first chaos run's seed")
    parser.add_argument("--population-seed", type=int, default=1)
    parser.add_argument("--timeout-s", type=float, default=900)
    parser.add_argument("--keep", type=Path, help="keep the runs' files in this directory")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="plg-chaos-"))
    try:
        summary = asyncio.run(
            run_chaos(
                args.accounts,
                workdir,
                runs=args.runs,
                worker_kills=args.worker_kills,
                server_kills=args.server_kills,
                crm_fault_rate=args.crm_fault_rate,
                seed=args.seed,
                population_seed=args.population_seed,
                timeout_s=args.timeout_s,
                say=lambda text: print(text, flush=True),
            )
        )
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    for detail in summary.details:
        print(detail)
    print(summary.line())


if __name__ == "__main__":
    main()
