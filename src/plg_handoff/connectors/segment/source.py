"""Usage from Segment: the collector's spool and/or a copy of Segment's storage archive. Every
retained message is re-read each pull, so a re-pull of a window gives the same rollups; `group`
calls (whatever their day) map users to accounts."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from plg_handoff.config import Secrets, SegmentSourceConfig
from plg_handoff.connectors.base import Quarantined
from plg_handoff.connectors.mixpanel_shape import traits_from_profile
from plg_handoff.connectors.registry import register
from plg_handoff.connectors.segment.archive import SegmentArchiveReader
from plg_handoff.connectors.segment.messages import GroupMap, to_event
from plg_handoff.connectors.segment.spool import Spool
from plg_handoff.domain.usage import AccountTraits

USAGE_TYPES = frozenset({"track", "page", "screen"})


@register("source", "segment")
class SegmentUsageSource:
    def __init__(self, config: SegmentSourceConfig, secrets: Secrets | None = None) -> None:
        del secrets  # the spool is local; the collector holds the write keys
        self._config = config
        self._spool = (
            Spool(config.spool_dir, retention_seconds=config.retention.total_seconds())
            if config.spool_dir
            else None
        )
        self._archive = SegmentArchiveReader(config.archive_dir) if config.archive_dir else None
        self._groups = GroupMap()

    def export(self, days: Sequence[date], workdir: Path) -> list[Path]:
        """The usage messages as one JSONL file in the export shape. The spool's closed segments
        are acknowledged (moved to done/, kept for the retention) once converted."""
        del days  # group calls of any day are needed; the rollup keeps only the window
        pending = self._spool.segments() if self._spool else []
        segments = [*(self._spool.acknowledged() if self._spool else []), *pending]
        groups = GroupMap()
        for message in self._messages(segments):
            if isinstance(message, dict):
                groups.fold(message)
        out = workdir / "segment.jsonl"
        with out.open("w", encoding="utf-8") as lines:
            for message in self._messages(segments):
                if isinstance(message, str):  # an archive line that is not a JSON object
                    lines.write(message + "\n")
                    continue
                if message.get("type") not in USAGE_TYPES:
                    continue
                event = to_event(message, groups, self._config.account_property)
                # One it cannot convert still goes through, to be quarantined with a reason.
                lines.write(json.dumps(event if event is not None else message) + "\n")
        self._groups = groups
        if self._spool:
            for segment in pending:
                self._spool.acknowledge(segment)
        return [out]

    def traits(self) -> tuple[dict[str, AccountTraits], list[Quarantined]]:
        mapping = self._config.traits
        return {
            account: traits_from_profile(values, mapping)
            for account, values in self._groups.accounts().items()
        }, []

    def _messages(self, segments: list[Path]) -> Iterator[dict[str, Any] | str]:
        if self._archive:
            yield from self._archive.messages(None)
        if self._spool:
            for segment in segments:
                yield from self._spool.read(segment)
