"""Usage from the Segment collector's spool: every retained segment is re-read each pull, so a
re-pull of a window gives the same rollups; `group` calls map users to accounts."""

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
from plg_handoff.connectors.segment.messages import GroupMap, to_event
from plg_handoff.connectors.segment.spool import Spool
from plg_handoff.domain.usage import AccountTraits

USAGE_TYPES = frozenset({"track", "page", "screen"})


@register("source", "segment")
class SegmentSpoolSource:
    def __init__(self, config: SegmentSourceConfig, secrets: Secrets | None = None) -> None:
        del secrets  # the spool is local; the collector holds the write keys
        self._config = config
        self._spool = Spool(config.spool_dir, retention_seconds=config.retention.total_seconds())
        self._groups = GroupMap()

    def export(self, days: Sequence[date], workdir: Path) -> list[Path]:
        """The spool's usage messages as one JSONL file in the export shape. Closed segments
        are acknowledged (moved to done/, kept for the retention) once converted."""
        del days  # the spool is not partitioned by day: every retained message is read
        pending = self._spool.segments()
        segments = [*self._spool.acknowledged(), *pending]
        groups = GroupMap()
        for message in self._messages(segments):
            groups.fold(message)
        out = workdir / "segment.jsonl"
        with out.open("w", encoding="utf-8") as lines:
            for message in self._messages(segments):
                if message.get("type") not in USAGE_TYPES:
                    continue
                event = to_event(message, groups, self._config.account_property)
                # One it cannot convert still goes through, to be quarantined with a reason.
                lines.write(json.dumps(event if event is not None else message) + "\n")
        self._groups = groups
        for segment in pending:
            self._spool.acknowledge(segment)
        return [out]

    def traits(self) -> tuple[dict[str, AccountTraits], list[Quarantined]]:
        mapping = self._config.traits
        return {
            account: traits_from_profile(values, mapping)
            for account, values in self._groups.accounts().items()
        }, []

    def _messages(self, segments: list[Path]) -> Iterator[dict[str, Any]]:
        for segment in segments:
            yield from self._spool.read(segment)
