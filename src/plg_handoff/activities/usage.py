"""Pull usage from a source, roll it up per account-day, and signal each account's workflow."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

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
from plg_handoff.config import Config, SourceConfig
from plg_handoff.connectors.base import Quarantined, UsageSource
from plg_handoff.connectors.quarantine import write_quarantine
from plg_handoff.connectors.registry import load
from plg_handoff.domain.rollup import UsageRollup
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.logs import get_logger

log = get_logger(__name__)
SIGNAL_CONCURRENCY = 32


@dataclass
class PullUsageInput:
    source: str
    end_day: str | None = None  # ISO date; defaults to today (UTC)
    window_days: int | None = None  # defaults to the source's window_days


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


@dataclass
class _Pulled:
    result: PullUsageResult
    rollups: dict[str, list[DayRollup]]
    traits: dict[str, AccountTraits]


class UsageActivities:
    def __init__(self, config: Config, client: Client) -> None:
        self._config = config
        self._client = client

    @activity.defn(name="pull_usage")
    async def pull_usage(self, request: PullUsageInput) -> PullUsageResult:
        source = self._config.source(request.source)
        days = _window(request, source)
        pulled = await asyncio.to_thread(self._read_and_roll_up, source, days)
        activity.heartbeat("rolled up")
        result = pulled.result
        result.accounts_signalled = await self._fan_out(pulled)
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

    def _read_and_roll_up(self, source_config: SourceConfig, days: list[date]) -> _Pulled:
        source: UsageSource = load("source", source_config.kind)(source_config)
        wanted = {d.isoformat() for d in days}
        result = PullUsageResult(source=source_config.name, days=sorted(wanted))
        rollup = UsageRollup(source_config.gauges)
        quarantined: list[Quarantined] = []
        for line in source.read(days):
            result.read += 1
            if line.quarantined is not None:
                quarantined.append(line.quarantined)
                continue
            if line.events[0].day not in wanted:
                result.outside_window += 1
                continue
            added = [rollup.add(event) for event in line.events]
            if any(added):
                result.accepted += 1
            else:
                result.duplicates += 1
        traits, bad_profiles = source.traits()
        result.quarantined = dict(sorted(Counter(q.reason for q in quarantined).items()))
        quarantined.extend(bad_profiles)
        if quarantined:
            directory = self._config.data_dir / "quarantine" / source_config.name
            result.quarantine_file = str(write_quarantine(directory, max(wanted), quarantined))
        rollups = rollup.by_account()
        result.accounts = len(rollups)
        return _Pulled(result=result, rollups=rollups, traits=traits)

    async def _fan_out(self, pulled: _Pulled) -> int:
        limit = asyncio.Semaphore(SIGNAL_CONCURRENCY)

        async def signal(account_id: str, days: list[DayRollup]) -> None:
            update = UsageUpdate(account_id, days, pulled.traits.get(account_id))
            async with limit:
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

        await asyncio.gather(*(signal(a, d) for a, d in pulled.rollups.items()))
        return len(pulled.rollups)


def _window(request: PullUsageInput, source: SourceConfig) -> list[date]:
    end = date.fromisoformat(request.end_day) if request.end_day else datetime.now(UTC).date()
    size = request.window_days or source.window_days
    return [end - timedelta(days=offset) for offset in range(size)]
