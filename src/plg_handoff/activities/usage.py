"""Pull usage from a source, roll it up per account-day, and signal each account's workflow."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from plg_handoff import search_attributes as sa
from plg_handoff.activities.change_digests import (
    AccountDigest,
    DigestRef,
    Digests,
    DigestStore,
    traits_digest,
    unpack,
    usage_digest,
)
from plg_handoff.activities.contracts import (
    ACCOUNT_WORKFLOW,
    USAGE_SIGNAL,
    AccountInput,
    UsageUpdate,
    account_workflow_id,
)
from plg_handoff.activities.mapping_check import pull_warnings
from plg_handoff.activities.pull_days import PullDays, plan_days
from plg_handoff.activities.query_budget import SharedBudgets
from plg_handoff.activities.usage_read import export_into, read_traits
from plg_handoff.activities.workdirs import remove_orphans, work_directory
from plg_handoff.config import Config, Secrets, SourceConfig
from plg_handoff.connectors.budgets import budgets_from
from plg_handoff.connectors.quarantine import write_quarantine
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.logs import get_logger

log = get_logger(__name__)
SIGNAL_BATCH = 32  # signals in flight at once, and the unit of resumable progress
HEARTBEAT_EVERY_S = 20  # at most; a quarter of the activity's heartbeat timeout if shorter


@dataclass
class PullUsageInput:
    source: str
    end_day: str | None = None  # ISO date; defaults to today (UTC)
    window_days: int | None = None  # defaults to the source's window_days
    previous: PullUsageResult | None = None  # the last completed scheduled pull: the days it
    # pulled completely are not pulled again (unless end_day or window_days is given), traits
    # are read and signals sent only for the accounts whose usage changed since
    previous_digests: str = ""  # inline digests, as workflows of earlier releases pass them


@dataclass
class PullUsageResult:
    """Every line read is accounted for: read = accepted + duplicates + outside_window +
    sum(quarantined)."""

    source: str
    days: list[str]  # the days pulled
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    outside_window: int = 0  # events of other days than those pulled
    quarantined: dict[str, int] = field(default_factory=dict)
    quarantine_file: str | None = None
    accounts: int = 0
    accounts_signalled: int = 0
    accounts_unchanged: int = 0  # same rollups as the last completed pull, and same traits
    # where they were read (traits are read for the accounts whose rollups changed)
    accounts_resumed: int = 0  # already signalled by an earlier attempt that crashed
    complete_days: list[str] = field(default_factory=list)  # days of the window pulled after
    # they left the late-data horizon: the next scheduled pull skips them
    digest_file: DigestRef | None = None  # the accounts' change digests, for the next pull
    profiles_total: int | None = None  # profiles the source counted when it last read them all
    digests: str = ""  # inline digests: results of earlier releases carry them, honoured once
    mapping_warnings: list[str] = field(default_factory=list)  # settings the user wrote that
    # matched nothing in this pull (`mapping_check.pull_warnings`); `handoff preview` says more


@dataclass
class _Pulled:
    result: PullUsageResult
    rollups: dict[str, list[DayRollup]]
    traits: dict[str, AccountTraits]
    usage_changed: set[str]


class UsageActivities:
    def __init__(
        self,
        config: Config,
        secrets: Secrets,
        client: Client,
        *,
        share_budgets: bool = False,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        """`share_budgets`: vendors' per-project query budgets are kept by a durable entity
        every worker asks (the worker's setting), instead of in this process."""
        self._config = config
        self._secrets = secrets
        self._client = client
        self._share_budgets = share_budgets
        self._today = today

    @activity.defn(name="pull_usage")
    async def pull_usage(self, request: PullUsageInput) -> PullUsageResult:
        source = self._config.source(request.source)
        plan = self._plan(request, source)
        progress = PullProgress([d.isoformat() for d in plan.pulled])
        previous = await asyncio.to_thread(self._previous_digests, request, source, plan)
        since = request.previous.profiles_total if request.previous else None
        data_dir = self._config.data_dir
        await asyncio.to_thread(remove_orphans, data_dir)  # a killed pull's export, if stale
        # The export stays until the whole pull is done: a retry after a failure or a kill
        # anywhere (roll-up, traits, fan-out) reads it again instead of downloading it again.
        with work_directory(data_dir, f"{source.name}-", _resume_key()) as workdir:
            keepalive = asyncio.create_task(_keep_heartbeating(progress))
            try:
                with self._budgets():
                    pulled = await asyncio.to_thread(
                        self._read_and_roll_up,
                        source,
                        workdir,
                        plan.pulled,
                        progress,
                        previous,
                        since,
                    )
            finally:
                keepalive.cancel()
            result = await self._save_and_signal(pulled, source, plan, previous)
        log.info(
            "usage.pulled",
            source=source.name,
            days=len(result.days),
            read=result.read,
            accepted=result.accepted,
            duplicates=result.duplicates,
            outside_window=result.outside_window,
            quarantined=result.quarantined,
            mapping_warnings=result.mapping_warnings,
            accounts=result.accounts,
            traits_read=len(pulled.traits),
            signalled=result.accounts_signalled,
        )
        if result.mapping_warnings:
            log.warning(
                "usage.mapping_unmatched", source=source.name, settings=result.mapping_warnings
            )
        return result

    async def _save_and_signal(
        self, pulled: _Pulled, source: SourceConfig, plan: PullDays, previous: Digests | None
    ) -> PullUsageResult:
        """Keeps the accounts' digests for the next pull and signals those that changed."""
        result = pulled.result
        result.complete_days = plan.complete
        digests = _current_digests(pulled, previous, plan.horizon)
        result.digest_file = await asyncio.to_thread(self._digest_store(source).save, digests)
        changed = _changed_accounts(pulled, previous)
        result.accounts_unchanged = len(pulled.rollups) - len(changed)
        result.accounts_signalled = await self._fan_out(pulled, changed)
        return result

    def _budgets(self) -> AbstractContextManager[None]:
        if not self._share_budgets:
            return nullcontext()
        loop = asyncio.get_running_loop()
        return budgets_from(SharedBudgets(self._client, self._config.temporal.task_queue, loop))

    def _plan(self, request: PullUsageInput, source: SourceConfig) -> PullDays:
        """A scheduled pull skips the days its predecessor pulled completely; a manual one, or
        one given its own window, pulls the whole window."""
        end = date.fromisoformat(request.end_day) if request.end_day else self._today()
        window_days = request.window_days or source.window_days
        scheduled = request.end_day is None and request.window_days is None
        complete = request.previous.complete_days if request.previous and scheduled else []
        return plan_days(end, window_days, source.late_days(window_days), complete)

    def _digest_store(self, source: SourceConfig) -> DigestStore:
        return DigestStore(self._config.data_dir / "digests" / source.name)

    def _previous_digests(
        self, request: PullUsageInput, source: SourceConfig, plan: PullDays
    ) -> Digests | None:
        """The last completed pull's digests; None (every account changed) when there is none
        or its file cannot be read."""
        previous = request.previous
        if previous is not None and previous.digest_file is not None:
            return self._digest_store(source).load(previous.digest_file)
        inline = previous.digests if previous is not None else request.previous_digests
        if not inline:
            return None
        # Digests of earlier releases cover every day that pull pulled.
        days = previous.days if previous is not None else [d.isoformat() for d in plan.window]
        return Digests(days=frozenset(days), accounts=unpack(inline))

    def _read_and_roll_up(
        self,
        source_config: SourceConfig,
        workdir: Path,
        days: list[date],
        progress: PullProgress,
        previous: Digests | None,
        profiles_total: int | None,
    ) -> _Pulled:
        wanted = progress.days
        export = export_into(source_config, self._secrets, days, workdir)
        progress.files_exported = len(export.files)
        ingested = export.roll_up(wanted)
        source = export.source
        usage_changed = {
            account
            for account, rollups in ingested.rollups.items()
            if previous is None or previous.usage_changed(account, rollups)
        }
        # Traits (one API call an account for some sources) only where the rollups changed.
        traits = read_traits(source, sorted(usage_changed), profiles_total)
        result = PullUsageResult(
            source=source_config.name,
            days=wanted,
            read=ingested.read,
            accepted=ingested.accepted,
            duplicates=ingested.duplicates,
            outside_window=ingested.outside_window,
            quarantined=ingested.quarantined,
            accounts=len(ingested.rollups),
            mapping_warnings=[w.line() for w in pull_warnings(source_config, ingested.rollups)],
            profiles_total=(
                profiles_total if traits.profiles_total is None else traits.profiles_total
            ),
        )
        kept = [*ingested.kept, *traits.bad]
        if kept:
            directory = self._config.data_dir / "quarantine" / source_config.name
            result.quarantine_file = str(write_quarantine(directory, max(wanted), kept))
        return _Pulled(
            result=result,
            rollups=ingested.rollups,
            traits=traits.traits,
            usage_changed=usage_changed,
        )

    async def _fan_out(self, pulled: _Pulled, accounts: list[str]) -> int:
        """Signals the accounts (in id order) a batch at a time, heartbeating how far it got; a
        retry after a crash (same window) starts after the last batch fully signalled."""
        done = _resume_point(pulled.result.days)
        pulled.result.accounts_resumed = done
        for start in range(done, len(accounts), SIGNAL_BATCH):
            batch = accounts[start : start + SIGNAL_BATCH]
            await asyncio.gather(*(self._signal(a, pulled) for a in batch))
            activity.heartbeat(PullProgress(pulled.result.days, signalled=start + len(batch)))
        return len(accounts)

    async def _signal(self, account_id: str, pulled: _Pulled) -> None:
        update = UsageUpdate(account_id, pulled.rollups[account_id], pulled.traits.get(account_id))
        await self._client.start_workflow(
            ACCOUNT_WORKFLOW,
            AccountInput(account_id),
            id=account_workflow_id(account_id),
            task_queue=self._config.temporal.task_queue,
            start_signal=USAGE_SIGNAL,
            start_signal_args=[update],
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.ACCOUNT_ID, account_id)]
            ),
        )


def _resume_key() -> str:
    """The same for every attempt of this activity, and only for them."""
    info = activity.info()
    parts = (info.workflow_namespace, info.workflow_id, info.workflow_run_id, info.activity_id)
    return hashlib.sha256("\0".join(p or "" for p in parts).encode()).hexdigest()[:20]


@dataclass
class PullProgress:
    """Heartbeat details: how far the export got, and how many accounts (in id order) of
    this window were signalled; a retry resumes the signalling after them."""

    days: list[str]
    files_exported: int = 0
    signalled: int = 0


async def _keep_heartbeating(progress: PullProgress) -> None:
    """While the export and the rollup run in a thread, tell Temporal the pull is alive (and
    how far it got) well within the heartbeat timeout, however long the export is."""
    while True:
        activity.heartbeat(dataclasses.replace(progress))
        timeout = activity.info().heartbeat_timeout
        await asyncio.sleep(
            min(HEARTBEAT_EVERY_S, timeout.total_seconds() / 4) if timeout else HEARTBEAT_EVERY_S
        )


def _changed_accounts(pulled: _Pulled, previous: Digests | None) -> list[str]:
    """The accounts to signal, in id order: their rollups changed, or their traits were read
    and changed."""
    return sorted(
        account
        for account in pulled.rollups
        if account in pulled.usage_changed or _traits_changed(account, pulled, previous)
    )


def _traits_changed(account: str, pulled: _Pulled, previous: Digests | None) -> bool:
    """Whether the account's traits were read and differ from the last ones read."""
    traits = pulled.traits.get(account)
    if traits is None:
        return False
    before = previous.accounts.get(account) if previous is not None else None
    return before is None or before.traits != traits_digest(traits)


def _current_digests(pulled: _Pulled, previous: Digests | None, horizon: list[date]) -> Digests:
    """Each account's digests over the days the next scheduled pull pulls again (the
    late-data horizon); an account whose traits were not read keeps its previous traits
    digest, so only a change of its rollups signals it."""
    days = frozenset(d.isoformat() for d in horizon)
    accounts = {}
    for account, rollups in pulled.rollups.items():
        recent = [r for r in rollups if r.day in days]
        if not recent:
            continue
        traits = pulled.traits.get(account)
        before = previous.accounts.get(account) if previous is not None else None
        if traits is not None:
            accounts[account] = AccountDigest(usage_digest(recent), traits_digest(traits))
        else:
            accounts[account] = AccountDigest(usage_digest(recent), before.traits if before else "")
    return Digests(days=days, accounts=accounts)


def _resume_point(days: list[str]) -> int:
    details = activity.info().heartbeat_details
    if not details:
        return 0
    progress = details[0]
    if isinstance(progress, dict):  # heartbeat details arrive without a type hint
        progress = PullProgress(**progress)
    if not isinstance(progress, PullProgress) or progress.days != days:
        return 0
    return progress.signalled
