"""Where raw usage sits on disk, and for how long (issue 15, defects 4 and 6).

A pull exports the source into a work directory under `<data_dir>/work/` and deletes it when it
ends. A process killed mid-pull cannot: its directory (a raw export with users' emails and IPs)
would stay forever. So each work directory holds a lock file its process keeps locked while it
works; any directory whose lock nobody holds is an orphan, removed when a worker starts and
before every pull. Quarantined lines (`<data_dir>/quarantine/<source>/`) are kept for
inspection `QUARANTINE_DAYS` days, then removed the same way.

A pull names its directory after itself (`resume_key`: the same for every attempt of one
activity), so a retried attempt finds the exports its predecessor finished downloading and
does not spend the vendor's query budget on them again. Such a directory outlives a failed or
killed attempt for `RESUME_HOURS` at most, its unfinished files removed; then it is an
orphan like any other."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from temporalio.exceptions import ApplicationError

from plg_handoff.connectors.downloads import (
    download_records,
    has_completed_downloads,
    keep_completed,
)
from plg_handoff.connectors.errors import ConnectorError
from plg_handoff.logs import get_logger

log = get_logger(__name__)
LOCK = ".in-use"
QUARANTINE_DAYS = 30
RESUME_HOURS = 1  # a retry comes within minutes (heartbeat timeout plus backoff)


@contextmanager
def work_directory(data_dir: Path, prefix: str, resume_key: str | None = None) -> Iterator[Path]:
    """A directory under `<data_dir>/work/`, locked while in use. Without `resume_key` a fresh
    one, removed after. With it, `<prefix><resume_key>`, as an earlier attempt left it (its
    completed downloads only); removed after a success or a definite failure, kept for the
    next attempt after a failure worth retrying."""
    root = data_dir / "work"
    root.mkdir(parents=True, exist_ok=True)
    if resume_key is None:
        with tempfile.TemporaryDirectory(dir=root, prefix=prefix) as tmp, _locked(Path(tmp)):
            yield Path(tmp)
        return
    directory = root / f"{prefix}{resume_key}"
    directory.mkdir(exist_ok=True)
    with _locked(directory, wait=False) as held:
        if not held:  # another live attempt of the same pull (one stuck past its timeout)
            with work_directory(data_dir, prefix) as fresh:
                yield fresh
            return
        keep_completed(directory, also=(LOCK,))
        if has_completed_downloads(directory):
            log.info("work.resumed", directory=directory.name)
        try:
            yield directory
        except BaseException as exc:
            if not _worth_resuming(exc):
                shutil.rmtree(directory, ignore_errors=True)
            raise
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def _locked(directory: Path, *, wait: bool = True) -> Iterator[bool]:
    """Holds the directory's lock file while the context lasts; yields False when another
    process holds it and `wait` is False."""
    fd = os.open(directory / LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def _worth_resuming(exc: BaseException) -> bool:
    """A failure Temporal retries; a definite one (bad input, bad credentials) is not."""
    if isinstance(exc, ConnectorError):
        return exc.retryable
    return not isinstance(exc, ApplicationError) or not exc.non_retryable


def remove_orphans(data_dir: Path, now: float | None = None) -> int:
    """Removes the work directories no live process holds (a killed pull's), except a pull's
    completed downloads for `RESUME_HOURS`, and quarantine files older than
    `QUARANTINE_DAYS`; returns how many work directories went."""
    now = time.time() if now is None else now
    removed = 0
    root = data_dir / "work"
    for directory in sorted(root.iterdir()) if root.is_dir() else []:
        if not directory.is_dir() or _held(directory):
            continue
        if _resumable(directory, now):
            keep_completed(directory, also=(LOCK,))
            continue
        shutil.rmtree(directory, ignore_errors=True)
        removed += 1
    cutoff = now - QUARANTINE_DAYS * 86_400
    quarantine = data_dir / "quarantine"
    for path in quarantine.glob("*/*.jsonl") if quarantine.is_dir() else []:
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
    if removed:
        log.info("work.orphans_removed", directories=removed, under=str(root))
    return removed


def _resumable(directory: Path, now: float) -> bool:
    """Whether the directory holds a download completed within `RESUME_HOURS`."""
    try:
        newest = max((r.stat().st_mtime for r in download_records(directory)), default=0.0)
    except OSError:
        return False
    return newest > now - RESUME_HOURS * 3600


def _held(directory: Path) -> bool:
    """Whether a live process holds the directory's lock (a directory without one, left by an
    earlier release or half made, is held by nobody)."""
    try:
        fd = os.open(directory / LOCK, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
