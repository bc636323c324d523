"""A durable append-only spool of Segment messages: the collector appends, the sync drains.

Layout of the spool folder:

    <YYYYMMDDHH>-<seq>.jsonl        closed segments, one JSON message per line, oldest first
    <YYYYMMDDHH>-<seq>.jsonl.open   the segment the live writer appends to (never read)
    done/                           acknowledged segments, kept for re-pulls (see `retention`)
    quarantine/<YYYYMMDD>.jsonl     messages that failed validation, with the reason
    .writer.lock                    flock held by the one live writer

`append` returns only after the lines are written and fsynced. Concurrent callers are group
committed: whoever holds the I/O lock writes everything queued so far with one fsync, so one
fsync acknowledges many requests. A writer never appends to a file it did not create, so a
crash leaves at most one torn line, at the end of the file that was open; readers skip it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plg_handoff.logs import get_logger

log = get_logger(__name__)

OPEN_SUFFIX = ".open"
DONE_DIR = "done"
QUARANTINE_DIR = "quarantine"
LOCK_FILE = ".writer.lock"
WRITER_CLAIM_TIMEOUT_S = 5.0


class SpoolBusyError(RuntimeError):
    """Another live process already writes to this spool folder."""


class SpoolWriteError(OSError):
    """The messages were not made durable; the caller must not acknowledge them."""


@dataclass(frozen=True)
class QuarantineRecord:
    """A message that was not accepted, kept with why (same keys as the other quarantines)."""

    reason: str
    raw: str
    location: str
    detail: str = ""


@dataclass
class SpoolStats:
    appended: int = 0
    quarantined: int = 0
    fsyncs: int = 0
    torn_lines: int = 0
    corrupt_lines: int = 0


@dataclass
class _Pending:
    lines: bytes
    quarantine: bytes
    count: int
    quarantined: int
    done: bool = False
    error: BaseException | None = None


@dataclass
class _OpenSegment:
    path: Path
    fd: int
    opened_at: float
    size: int = 0


def encode_line(message: Mapping[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class Spool:
    def __init__(
        self,
        directory: Path,
        *,
        rotate_bytes: int = 64 * 1024 * 1024,
        rotate_seconds: float = 60.0,
        retention_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`retention_seconds`: None keeps acknowledged segments in `done/` forever, 0 deletes
        them on acknowledgement, N > 0 keeps them N seconds (purged on later acknowledgements)."""
        self.directory = directory
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.retention_seconds = retention_seconds
        self.stats = SpoolStats()
        self._clock = clock
        self._io_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._current: _OpenSegment | None = None
        self._lock_fd: int | None = None
        self._next_seq = 0
        directory.mkdir(parents=True, exist_ok=True)

    # -- writing ---------------------------------------------------------------------------

    def claim(self) -> None:
        """Becomes the spool's only writer; closes segments a crashed writer left open."""
        with self._io_lock:
            self._claim()

    def append(
        self,
        messages: Sequence[Mapping[str, Any]],
        quarantined: Sequence[QuarantineRecord] = (),
    ) -> None:
        """Durably appends; returns once everything given is fsynced, raises if it is not."""
        if not messages and not quarantined:
            return
        received_at = _iso(self._clock())
        pending = _Pending(
            lines=b"".join(encode_line(m) for m in messages),
            quarantine=b"".join(_quarantine_line(q, received_at) for q in quarantined),
            count=len(messages),
            quarantined=len(quarantined),
        )
        with self._queue_lock:
            self._queue.append(pending)
        with self._io_lock:
            if not pending.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        if pending.error is not None:
            raise SpoolWriteError(f"spool append failed: {pending.error}") from pending.error

    def rotate(self) -> Path | None:
        """Closes the open segment so `segments()` returns it; None when nothing was open."""
        with self._io_lock:
            return self._close_current()

    def rotate_if_due(self) -> Path | None:
        with self._io_lock:
            if self._current is not None and self._due(self._current):
                return self._close_current()
        return None

    def close(self) -> None:
        """Closes the open segment and gives up the writer lock."""
        with self._io_lock:
            self._close_current()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    # -- draining --------------------------------------------------------------------------

    def segments(self) -> list[Path]:
        """Closed, unacknowledged segments, oldest first."""
        self._recover_orphans()
        return sorted((p for p in self.directory.glob("*.jsonl") if p.is_file()), key=_order)

    def acknowledged(self) -> list[Path]:
        """Segments already applied and kept in `done/`, oldest first (for re-pulls)."""
        return sorted((self.directory / DONE_DIR).glob("*.jsonl"), key=_order)

    def read(self, path: Path) -> Iterator[dict[str, Any]]:
        """The messages of a segment. A torn last line (a crash mid-write, never acknowledged)
        and unparseable lines are skipped and counted, never raised."""
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.endswith(b"\n"):
                    self.stats.torn_lines += 1
                    log.warning("segment.spool_torn_line", segment=path.name, line=number)
                    return
                try:
                    message = json.loads(line)
                except ValueError:
                    message = None
                if not isinstance(message, dict):
                    self.stats.corrupt_lines += 1
                    log.error("segment.spool_corrupt_line", segment=path.name, line=number)
                    continue
                yield message

    def acknowledge(self, path: Path) -> None:
        """The sync applied `path`: move it to `done/` (or delete it, per `retention_seconds`)."""
        if self.retention_seconds == 0:
            path.unlink(missing_ok=True)
        else:
            done = self.directory / DONE_DIR
            done.mkdir(exist_ok=True)
            kept = done / path.name
            path.replace(kept)
            now = self._clock()
            os.utime(kept, (now, now))  # retention counts from acknowledgement
            _fsync_dir(done)
        _fsync_dir(self.directory)
        if self.retention_seconds:
            self._purge_done(self._clock() - self.retention_seconds)

    # -- internals -------------------------------------------------------------------------

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            self._write(batch)
        except Exception as exc:
            log.exception("segment.spool_write_failed", requests=len(batch))
            for pending in batch:
                pending.error = exc
        else:
            self.stats.appended += sum(p.count for p in batch)
            self.stats.quarantined += sum(p.quarantined for p in batch)
        finally:
            for pending in batch:
                pending.done = True

    def _write(self, batch: list[_Pending]) -> None:
        lines = b"".join(p.lines for p in batch)
        quarantine = b"".join(p.quarantine for p in batch)
        # Quarantine first: if it fails nothing was accepted, and the client's retry is clean.
        if quarantine:
            self._append_quarantine(quarantine)
        if lines:
            segment = self._segment_for_append()
            try:
                _write_all(segment.fd, lines)
                os.fsync(segment.fd)
            except OSError:
                self._abandon(segment)
                raise
            segment.size += len(lines)
            self.stats.fsyncs += 1
            if segment.size >= self.rotate_bytes:
                self._close_current()

    def _segment_for_append(self) -> _OpenSegment:
        if self._current is not None and self._due(self._current):
            self._close_current()
        if self._current is None:
            self._claim()
            now = self._clock()
            hour = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H")
            path = self.directory / f"{hour}-{self._next_seq:08d}.jsonl{OPEN_SUFFIX}"
            self._next_seq += 1
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o640)
            _fsync_dir(self.directory)
            self._current = _OpenSegment(path=path, fd=fd, opened_at=now)
        return self._current

    def _due(self, segment: _OpenSegment) -> bool:
        return (
            segment.size >= self.rotate_bytes
            or self._clock() - segment.opened_at >= self.rotate_seconds
        )

    def _close_current(self) -> Path | None:
        segment, self._current = self._current, None
        if segment is None:
            return None
        os.close(segment.fd)
        closed = segment.path.with_name(segment.path.name.removesuffix(OPEN_SUFFIX))
        segment.path.replace(closed)
        _fsync_dir(self.directory)
        log.info("segment.spool_rotated", segment=closed.name, bytes=segment.size)
        return closed

    def _abandon(self, segment: _OpenSegment) -> None:
        """A failed write may have left part of a line: cut it off, or at least make sure the
        next write starts a new file so no acknowledged line is glued to a torn one."""
        with contextlib.suppress(OSError):
            os.ftruncate(segment.fd, segment.size)
            os.fsync(segment.fd)
        with contextlib.suppress(OSError):
            self._close_current()

    def _append_quarantine(self, data: bytes) -> None:
        folder = self.directory / QUARANTINE_DIR
        if not folder.exists():
            folder.mkdir()
            _fsync_dir(self.directory)
        day = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y%m%d")
        path = folder / f"{day}.jsonl"
        created = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(folder)

    def _claim(self) -> None:
        if self._lock_fd is not None:
            return
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o640)
        deadline = time.monotonic() + WRITER_CLAIM_TIMEOUT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # A reader may hold it for a moment while it checks for a live writer.
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise SpoolBusyError(f"another process writes to {self.directory}") from None
                time.sleep(0.05)
        self._lock_fd = fd
        self._close_orphans()
        self._next_seq = self._highest_seq() + 1

    def _recover_orphans(self) -> None:
        """Readers in another process close what a dead writer left open (the live writer's
        file stays untouched: its lock is held)."""
        if self._lock_fd is not None or not any(self.directory.glob(f"*{OPEN_SUFFIX}")):
            return
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            self._close_orphans()
        finally:
            os.close(fd)

    def _close_orphans(self) -> None:
        orphans = sorted(self.directory.glob(f"*{OPEN_SUFFIX}"))
        for orphan in orphans:
            orphan.replace(orphan.with_name(orphan.name.removesuffix(OPEN_SUFFIX)))
            log.warning("segment.spool_orphan_closed", segment=orphan.name)
        if orphans:
            _fsync_dir(self.directory)

    def _highest_seq(self) -> int:
        folders = (self.directory, self.directory / DONE_DIR)
        return max((_order(p)[0] for f in folders for p in f.glob("*-*.jsonl*")), default=-1)

    def _purge_done(self, older_than: float) -> None:
        for path in (self.directory / DONE_DIR).glob("*.jsonl"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < older_than:
                    path.unlink()


def _order(path: Path) -> tuple[int, str]:
    """Write order: the sequence number (hours can repeat or go back with the clock)."""
    seq = path.name.split(".", 1)[0].rpartition("-")[2]
    return (int(seq) if seq.isdigit() else -1, path.name)


def _quarantine_line(record: QuarantineRecord, received_at: str) -> bytes:
    return encode_line(
        {
            "reason": record.reason,
            "location": record.location,
            "detail": record.detail,
            "receivedAt": received_at,
            "raw": record.raw,
        }
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
