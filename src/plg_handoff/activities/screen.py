"""Lines no JSON engine can read: invalid UTF-8, or longer than a line may be. DuckDB refuses a
whole file for one such line, so one poison line would fail every pull of its window; the
ingestion screens the files when DuckDB cannot read them, sets those lines aside with their
reason and position, and rolls up the rest (issue 15, defect 1).

Screening runs only after DuckDB refused a file: a clean export pays nothing for it."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import duckdb

from plg_handoff.connectors.base import Quarantined
from plg_handoff.connectors.errors import ConnectorError, InvalidInput, TransientError

MAX_LINE_BYTES = 4 * 1024 * 1024  # a longer line is `line_too_long` (DuckDB's own maximum)
KEPT_PREFIX = 200  # of a too-long line, the first bytes kept for inspection
_READ = MAX_LINE_BYTES + 2  # a line, its \r\n


@dataclass
class Screened:
    files: list[Path]  # the readable lines of each file, in order
    quarantined: Counter[str] = field(default_factory=Counter)
    kept: list[Quarantined] = field(default_factory=list)


def screen(files: Sequence[Path], directory: Path, keep: int) -> Screened:
    """Copies each file's readable lines into `directory` (plain JSONL, one file per input,
    line order kept); the others are counted by reason and the first `keep` of them kept with
    their position (`<file>:<line>`, numbered from 1 in the original file)."""
    directory.mkdir(parents=True, exist_ok=True)
    screened = Screened(files=[])
    for index, path in enumerate(files):
        target = directory / f"{index:04d}-{path.name.removesuffix('.gz')}"
        with _open(path) as source, target.open("wb") as out:
            for number, line, too_long in _lines(source):
                reason = "line_too_long" if too_long else _unreadable(line)
                if reason is None:
                    out.write(line)
                    continue
                screened.quarantined[reason] += 1
                if len(screened.kept) < keep:
                    screened.kept.append(
                        Quarantined(
                            reason,
                            line[:KEPT_PREFIX].decode("utf-8", "backslashreplace"),
                            f"{path.name}:{number}",
                            "first 200 bytes kept" if too_long else "",
                        )
                    )
        screened.files.append(target)
    return screened


def _open(path: Path) -> BinaryIO:
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[return-value]  # GzipFile is a BinaryIO in all but name


def _lines(source: BinaryIO) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, line, too long) of each line, never holding more than one allowed line
    in memory: a too-long line yields its first bytes only."""
    number = 0
    while chunk := source.readline(_READ):
        number += 1
        if chunk.endswith(b"\n") or len(chunk) < _READ:
            content = chunk.rstrip(b"\r\n")
            yield number, chunk, len(content) > MAX_LINE_BYTES
            continue
        head = chunk
        while (rest := source.readline(_READ)) and not rest.endswith(b"\n"):
            pass
        yield number, head, True


def _unreadable(line: bytes) -> str | None:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    return None


_POSITION = re.compile(r"\b(line|row|byte|offset|position)\s*:?\s*(\d+)", re.IGNORECASE)


def engine_error(exc: duckdb.Error) -> ConnectorError:
    """DuckDB's refusal of an export as a typed error that carries no input data: its message
    can quote the line it choked on (emails, IPs, ids), and an activity's error becomes the
    failure in Temporal's history and a log line. Only the error's kind and the position it
    names are kept (issue 15, defect 2). Running out of memory or disk is transient; anything
    else the same export would hit again."""
    found = _POSITION.search(str(exc))
    at = f" at {found.group(1).lower()} {found.group(2)}" if found else ""
    transient = isinstance(exc, duckdb.IOException | duckdb.OutOfMemoryException)
    kind = TransientError if transient else InvalidInput
    return kind(
        vendor="ingestion",
        message=f"DuckDB could not roll the export up ({type(exc).__name__}{at}); its message"
        " is withheld: it may quote the export's data",
    )
