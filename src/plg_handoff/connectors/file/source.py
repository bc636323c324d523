"""Reads `*.jsonl` usage files and a group-profile file from local disk."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

from plg_handoff.config import FileSourceConfig, Secrets
from plg_handoff.connectors.base import ParsedLine, Quarantined
from plg_handoff.connectors.mixpanel_shape import parse_event_line, traits_from_profile
from plg_handoff.connectors.registry import register
from plg_handoff.domain.usage import AccountTraits


@register("source", "file")
class FileUsageSource:
    def __init__(self, config: FileSourceConfig, secrets: Secrets | None = None) -> None:
        del secrets  # local files need none
        self._config = config

    def files(self) -> list[Path]:
        path = self._config.path
        if path.is_dir():
            return sorted(p for p in path.glob("*.jsonl") if p.is_file())
        return [path] if path.exists() else []

    def export(self, days: Sequence[date], workdir: Path) -> list[Path]:
        del days, workdir  # plain files are not partitioned by day: all are read
        return self.files()

    def read(self, days: Sequence[date]) -> Iterator[ParsedLine]:
        """Line by line through the reference parser (for inspection and tests)."""
        del days  # plain files are not partitioned by day: every line is read
        for path in self.files():
            with path.open(encoding="utf-8", errors="replace") as lines:
                for number, line in enumerate(lines, start=1):
                    if line.strip():
                        yield parse_event_line(
                            line.rstrip("\n"),
                            f"{path.name}:{number}",
                            self._config.account_property,
                        )

    def traits(self, accounts: Sequence[str]) -> tuple[dict[str, AccountTraits], list[Quarantined]]:
        """Every profile in the file: reading them all costs no more than reading a few."""
        del accounts
        path = self._config.traits_path
        traits: dict[str, AccountTraits] = {}
        bad: list[Quarantined] = []
        if path is None or not path.exists():
            return traits, bad
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                location = f"{path.name}:{number}"
                try:
                    profile = json.loads(line)
                except json.JSONDecodeError as exc:
                    bad.append(
                        Quarantined("unparseable_profile", line.rstrip("\n"), location, str(exc))
                    )
                    continue
                account_id = profile.get("$distinct_id") if isinstance(profile, dict) else None
                properties = profile.get("$properties") if isinstance(profile, dict) else None
                if not account_id or not isinstance(properties, dict):
                    bad.append(Quarantined("bad_profile", line.rstrip("\n"), location))
                    continue
                traits[str(account_id)] = traits_from_profile(properties, self._config.traits)
        return traits, bad
