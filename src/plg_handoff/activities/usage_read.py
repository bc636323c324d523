"""Reading a usage source: export the days, roll the files up, read the accounts' traits.

The pull activity and `handoff preview` both read through here, so what a preview shows is
what a sync would see."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from plg_handoff.activities.ingest import IngestResult, roll_up
from plg_handoff.activities.workdirs import remove_orphans, work_directory
from plg_handoff.config import Secrets, SourceConfig
from plg_handoff.connectors.base import SupportsTraitsById, TraitsRead, UsageSource
from plg_handoff.connectors.registry import load


@dataclass(frozen=True)
class Export:
    """A source's export of some days, in a temporary directory that lives as long as the
    `exported` context."""

    config: SourceConfig
    source: UsageSource
    files: list[Path]
    workdir: Path

    def roll_up(self, days: Sequence[str]) -> IngestResult:
        """The rollups of these days (ISO dates), with the source's mapping."""
        return roll_up(
            self.files,
            account_property=self.config.account_property,
            gauges=self.config.gauges,
            metrics=self.config.metric_definitions(),
            known_events=self.config.known_event_names(),
            days=days,
            spill_dir=self.workdir,
        )

    def traits(self, accounts: Sequence[str], profiles_total: int | None = None) -> TraitsRead:
        return read_traits(self.source, list(accounts), profiles_total)


@contextmanager
def exported(
    config: SourceConfig, secrets: Secrets, days: Sequence[date], data_dir: Path
) -> Iterator[Export]:
    """Exports the days from the source into a fresh work directory under `data_dir/work`,
    removed when the context ends (`workdirs.py`)."""
    remove_orphans(data_dir)  # a killed pull's raw export goes before this one is made
    with work_directory(data_dir, f"{config.name}-") as tmp:
        yield export_into(config, secrets, days, tmp)


def export_into(
    config: SourceConfig, secrets: Secrets, days: Sequence[date], workdir: Path
) -> Export:
    """Exports the days from the source into `workdir` (which may hold the complete downloads
    of an earlier attempt: the source reads those instead of asking again)."""
    source: UsageSource = load("source", config.kind)(config, secrets)
    return Export(config, source, source.export(list(days), workdir), workdir)


def read_traits(source: UsageSource, accounts: list[str], profiles_total: int | None) -> TraitsRead:
    if isinstance(source, SupportsTraitsById):
        return source.read_traits(accounts, profiles_total)
    traits, bad = source.traits(accounts)
    return TraitsRead(traits, bad)
