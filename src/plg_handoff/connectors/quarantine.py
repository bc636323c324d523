"""Quarantine: lines that could not be used, kept on disk with their reason for inspection."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from plg_handoff.connectors.base import Quarantined


def write_quarantine(directory: Path, name: str, items: Iterable[Quarantined]) -> Path:
    """Replaces `<directory>/<name>.jsonl` atomically: a re-pull of the same window rewrites
    the same file instead of appending the same lines again."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.jsonl"
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        for item in items:
            record = {
                "reason": item.reason,
                "location": item.location,
                "detail": item.detail,
                "raw": item.raw,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    Path(tmp).replace(target)
    return target
