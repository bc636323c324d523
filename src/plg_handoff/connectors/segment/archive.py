"""Segment's storage archive (the S3 destination's log files) read from a local directory.

Segment's classic Amazon S3 / AWS S3 destination writes gzip-compressed, newline-delimited JSON
of the spec messages as received (one full call per line), grouped by the UTC day the API
received them:

    s3://{bucket}/segment-logs/{source-id}/{received-day}/{file}.gz

where `received-day` is the unix timestamp, in milliseconds, of the start of that UTC day. A
copy of the bucket (or of one prefix of it) synced to disk is read from `root`. Supported:

    <root>/**/<day>/<file>.gz            files directly in a day folder
    <root>/**/<day>/<hour>/.../<file>.gz  optional hour (or any other) subfolders of a day folder

`<day>` is either the epoch milliseconds of the UTC day (12-13 digits, e.g. `1718841600000`;
a value that is not midnight-aligned counts for the UTC day it falls in) or `YYYY-MM-DD`. Day
folders are found at any depth under `root` (so `root` may be `segment-logs/`, one source's
folder, or a folder holding day folders), but not inside another day folder. Only `*.gz` files
inside a day folder are read; anything else is ignored. Files are read in order of day, then
path inside the day folder (hour subfolders sort by name), then the full path.

Reading never raises on bad content: a line that is not a JSON object is yielded as the raw
string for the caller to quarantine, a truncated gzip stream yields what could be decompressed
(a torn last line comes back as a raw string) and logs `segment.archive_truncated`, and a file
that is not gzip at all logs `segment.archive_corrupt` and yields nothing more.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from plg_handoff.logs import get_logger

log = get_logger(__name__)

ARCHIVE_SUFFIX = ".gz"
_READ_CHUNK = 1 << 16
_EPOCH_MS = re.compile(r"\d{12,13}")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def day_of_folder(name: str) -> date | None:
    """The UTC day a folder name stands for (epoch milliseconds or `YYYY-MM-DD`), else None."""
    if _EPOCH_MS.fullmatch(name):
        try:
            return datetime.fromtimestamp(int(name) / 1000, tz=UTC).date()
        except (OverflowError, OSError, ValueError):
            return None
    if _ISO_DAY.fullmatch(name):
        try:
            return date.fromisoformat(name)
        except ValueError:
            return None
    return None


def _day_folders(root: Path) -> Iterator[tuple[date, Path]]:
    try:
        children = sorted(root.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return
    for child in children:
        if not child.is_dir():
            continue
        day = day_of_folder(child.name)
        if day is not None:
            yield day, child
        else:
            yield from _day_folders(child)


def iter_archive_files(root: Path, days: Sequence[date] | None = None) -> list[Path]:
    """The `*.gz` files of these UTC days (all days when None) under `root`, in reading order."""
    wanted = None if days is None else frozenset(days)
    found: list[tuple[date, tuple[str, ...], Path]] = []
    for day, folder in _day_folders(root):
        if wanted is not None and day not in wanted:
            continue
        for path in folder.rglob(f"*{ARCHIVE_SUFFIX}"):
            if path.is_file():
                found.append((day, path.relative_to(folder).parts, path))
    found.sort()
    return [path for _, _, path in found]


def _parse(line: bytes) -> dict[str, Any] | str | None:
    text = line.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    return value if isinstance(value, dict) else text


def read_archive(path: Path) -> Iterator[dict[str, Any] | str]:
    """The messages of one archive file, in file order. A line that is not a JSON object is
    yielded as its raw text; blank lines are skipped. Never raises on bad content."""
    pending = b""
    with gzip.open(path, "rb") as stream:
        while True:
            try:
                chunk = stream.read1(_READ_CHUNK)  # one raw read: a later error loses nothing
            except EOFError:
                log.warning("segment.archive_truncated", path=str(path), torn_bytes=len(pending))
                break
            except (gzip.BadGzipFile, zlib.error) as error:
                log.warning("segment.archive_corrupt", path=str(path), error=str(error))
                break
            if not chunk:
                break
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                message = _parse(line)
                if message is not None:
                    yield message
    message = _parse(pending)
    if message is not None:
        yield message


class SegmentArchiveReader:
    """Messages from a local copy of Segment's storage archive (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def files(self, days: Sequence[date] | None = None) -> list[Path]:
        return iter_archive_files(self.root, days)

    def messages(self, days: Sequence[date] | None = None) -> Iterator[dict[str, Any] | str]:
        """Every message of these UTC days (all days when None: `group` calls that map users
        to accounts may sit on days outside a pull's window), in archive order."""
        for path in self.files(days):
            yield from read_archive(path)
