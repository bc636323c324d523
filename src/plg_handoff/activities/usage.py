"""Pull usage from a source, roll it up per account-day, and signal each account's workflow."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from plg_handoff import search_attributes as sa
from plg_handoff.activities.contracts import (
    ACCOUNT_WORKFLOW,
    USAGE_SIGNAL,
    AccountInput,
    UsageUpdate,
    account_workflow_id,
)
from plg_handoff.activities.ingest import roll_up
from plg_handoff.config import Config, Secrets, SourceConfig
from plg_handoff.connectors.base import UsageSource
from plg_handoff.connectors.quarantine import write_quarantine
from plg_handoff.connectors.registry import load
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.logs import get_logger

log = get_logger(__name__)
# Digests ride in the workflow result (~30 bytes an account); past this many accounts the
# result would grow too large for history, and every account is signalled each cycle instead.
MAX_DIGESTS = 30_000
DIGEST_BYTES = 6  # 48 bits, 8 characters: a missed change is a 2**-48 chance per comparison
SIGNAL_BATCH = 32  # signals in flight at once, and the unit of resumable progress
HEARTBEAT_EVERY_S = 20  # at most; a quarter of the activity's heartbeat timeout if shorter


@dataclass
class PullUsageInput:
    source: str
    end_day: str | None = None  # ISO date; defaults to today (UTC)
    window_days: int | None = None  # defaults to the source's window_days
    previous_digests: str = ""  # the last completed pull's `digests`: traits are read only for
    # accounts whose rollups changed since, and unchanged accounts are not signalled again


@dataclass
class PullUsageResult:
    """Every line read is accounted for: read = accepted + duplicates + outside_window +
    sum(quarantined)."""

    source: str
    days: list[str]
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    outside_window: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    quarantine_file: str | None = None
    accounts: int = 0
    accounts_signalled: int = 0
    accounts_unchanged: int = 0  # same rollups as the last completed pull, and same traits
    # where they were read (traits are read for the accounts whose rollups changed)
    accounts_resumed: int = 0  # already signalled by an earlier attempt that crashed
    digests: str = ""  # "account=usage:traits" digests per account, newline-separated, for the
    # next pull


@dataclass(frozen=True)
class _Digests:
    """One account's rollups digest, and its traits digest ("" until traits are read)."""

    usage: str
    traits: str = ""


@dataclass
class _Pulled:
    result: PullUsageResult
    rollups: dict[str, list[DayRollup]]
    traits: dict[str, AccountTraits]
    usage_digests: dict[str, str]


class UsageActivities:
    def __init__(self, config: Config, secrets: Secrets, client: Client) -> None:
        self._config = config
        self._secrets = secrets
        self._client = client

    @activity.defn(name="pull_usage")
    async def pull_usage(self, request: PullUsageInput) -> PullUsageResult:
        source = self._config.source(request.source)
        days = _window(request, source)
        progress = PullProgress(sorted(d.isoformat() for d in days))
        previous = _unpack(request.previous_digests)
        keepalive = asyncio.create_task(_keep_heartbeating(progress))
        try:
            pulled = await asyncio.to_thread(
                self._read_and_roll_up, source, days, progress, previous
            )
        finally:
            keepalive.cancel()
        result = pulled.result
        digests = _current_digests(pulled, previous)
        # Signalled: the rollups changed, or traits were read and they changed.
        changed = sorted(a for a, digest in digests.items() if previous.get(a) != digest)
        result.accounts_unchanged = len(digests) - len(changed)
        result.accounts_signalled = await self._fan_out(pulled, changed)
        result.digests = _pack(digests) if len(digests) <= MAX_DIGESTS else ""
        log.info(
            "usage.pulled",
            source=source.name,
            read=result.read,
            accepted=result.accepted,
            duplicates=result.duplicates,
            outside_window=result.outside_window,
            quarantined=result.quarantined,
            accounts=result.accounts,
        )
        return result

    def _read_and_roll_up(
        self,
        source_config: SourceConfig,
        days: list[date],
        progress: PullProgress,
        previous: dict[str, _Digests],
    ) -> _Pulled:
        source: UsageSource = load("source", source_config.kind)(source_config, self._secrets)
        wanted = progress.days
        workdir = self._config.data_dir / "work"
        workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=workdir, prefix=f"{source_config.name}-") as tmp:
            files = source.export(days, Path(tmp))
            progress.files_exported = len(files)
            ingested = roll_up(
                files,
                account_property=source_config.account_property,
                gauges=source_config.gauges,
                metrics=source_config.metric_definitions(),
                known_events=source_config.known_event_names(),
                days=wanted,
                spill_dir=Path(tmp),
            )
        usage = {account: _usage_digest(d) for account, d in ingested.rollups.items()}
        # Traits (one API call an account for some sources) only where the rollups changed.
        changed = sorted(a for a, digest in usage.items() if _usage_changed(previous, a, digest))
        traits, bad_profiles = source.traits(changed)
        result = PullUsageResult(
            source=source_config.name,
            days=wanted,
            read=ingested.read,
            accepted=ingested.accepted,
            duplicates=ingested.duplicates,
            outside_window=ingested.outside_window,
            quarantined=ingested.quarantined,
            accounts=len(ingested.rollups),
        )
        kept = [*ingested.kept, *bad_profiles]
        if kept:
            directory = self._config.data_dir / "quarantine" / source_config.name
            result.quarantine_file = str(write_quarantine(directory, max(wanted), kept))
        return _Pulled(result=result, rollups=ingested.rollups, traits=traits, usage_digests=usage)

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


def _usage_digest(days: list[DayRollup]) -> str:
    return _digest([dataclasses.asdict(d) for d in days])


def _traits_digest(traits: AccountTraits) -> str:
    return _digest(dataclasses.asdict(traits))


def _digest(value: object) -> str:
    """URL-safe base64, so never ':' nor '=' (the separators of `_pack`)."""
    raw = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()[:DIGEST_BYTES]
    return base64.urlsafe_b64encode(raw).decode()


def _usage_changed(previous: dict[str, _Digests], account: str, digest: str) -> bool:
    before = previous.get(account)
    return before is None or before.usage != digest


def _current_digests(pulled: _Pulled, previous: dict[str, _Digests]) -> dict[str, _Digests]:
    """Each account's digests now; one whose traits were not read keeps its previous traits
    digest, so only a change of its rollups signals it."""
    digests = {}
    for account, usage in pulled.usage_digests.items():
        traits = pulled.traits.get(account)
        before = previous.get(account)
        if traits is not None:
            digests[account] = _Digests(usage, _traits_digest(traits))
        else:
            digests[account] = _Digests(usage, before.traits if before else "")
    return digests


def _pack(digests: dict[str, _Digests]) -> str:
    return "\n".join(
        f"{account}={digest.usage}:{digest.traits}" for account, digest in sorted(digests.items())
    )


def _unpack(packed: str) -> dict[str, _Digests]:
    """The packed digests; an entry of the older one-digest form (no ':') is left out, so that
    account counts as changed once."""
    digests = {}
    for line in packed.splitlines():
        account, equals, value = line.rpartition("=")
        usage, colon, traits = value.partition(":")
        if equals and colon:
            digests[account] = _Digests(usage, traits)
    return digests


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


def _window(request: PullUsageInput, source: SourceConfig) -> list[date]:
    end = date.fromisoformat(request.end_day) if request.end_day else datetime.now(UTC).date()
    size = request.window_days or source.window_days
    return [end - timedelta(days=offset) for offset in range(size)]
