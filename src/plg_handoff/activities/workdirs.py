"""Where raw usage sits on disk, and for how long (issue 15, defect 6).

A pull exports the source into a work directory under `<data_dir>/work/` and deletes it when it
ends. A process killed mid-pull cannot: its directory (a raw export with users' emails and IPs)
would stay forever. So each work directory holds a lock file its process keeps locked while it
works; any directory whose lock nobody holds is an orphan, removed when a worker starts and
before every pull. Quarantined lines (`<data_dir>/quarantine/<source>/`) are kept for
inspection `QUARANTINE_DAYS` days, then removed the same way."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from plg_handoff.logs import get_logger

log = get_logger(__name__)
LOCK = ".in-use"
QUARANTINE_DAYS = 30


@contextmanager
def work_directory(data_dir: Path, prefix: str) -> Iterator[Path]:
    """A fresh directory under `<data_dir>/work/`, locked while in use, removed after."""
    root = data_dir / "work"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=prefix) as tmp:
        fd = os.open(Path(tmp) / LOCK, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield Path(tmp)
        finally:
            os.close(fd)  # closing releases the lock


def remove_orphans(data_dir: Path) -> int:
    """Removes the work directories no live process holds (a killed pull's), and quarantine
    files older than `QUARANTINE_DAYS`; returns how many work directories went."""
    removed = 0
    root = data_dir / "work"
    for directory in sorted(root.iterdir()) if root.is_dir() else []:
        if directory.is_dir() and not _held(directory):
            shutil.rmtree(directory, ignore_errors=True)
            removed += 1
    cutoff = time.time() - QUARANTINE_DAYS * 86_400
    quarantine = data_dir / "quarantine"
    for path in quarantine.glob("*/*.jsonl") if quarantine.is_dir() else []:
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
    if removed:
        log.info("work.orphans_removed", directories=removed, under=str(root))
    return removed


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
