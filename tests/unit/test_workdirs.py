"""Raw usage on disk (issue 15, defects 4 and 6): a pull killed mid-way leaves its raw export in
its work directory; the next start or pull removes it, never one a live process is using, and
keeps a finished download for the pull's retry only as long as a retry may come."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plg_handoff.activities.workdirs import (
    QUARANTINE_DAYS,
    RESUME_HOURS,
    remove_orphans,
    work_directory,
)
from plg_handoff.connectors.downloads import completed, save
from plg_handoff.connectors.errors import InvalidInput, TransientError

HOLD = """
import sys, time
from pathlib import Path
from plg_handoff.activities.workdirs import work_directory
with work_directory(Path(sys.argv[1]), "demo-") as tmp:
    (tmp / "export.jsonl").write_text('{"event": "x", "properties": {"$email": "jo@acme.io"}}')
    print(tmp, flush=True)
    time.sleep(120)
"""


def test_a_killed_pulls_work_directory_goes_and_a_live_ones_stays(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        held = Path(process.stdout.readline().strip())
        assert (held / "export.jsonl").exists()
        assert remove_orphans(tmp_path) == 0  # the live process holds it
        assert held.exists()
    finally:
        process.kill()
        process.communicate()
    assert held.exists()  # a SIGKILL leaves it behind
    assert remove_orphans(tmp_path) == 1
    assert not held.exists()


def test_a_directory_without_a_lock_is_an_orphan(tmp_path: Path) -> None:
    left = tmp_path / "work" / "demo-old"
    left.mkdir(parents=True)
    (left / "export.jsonl").write_text("{}")
    assert remove_orphans(tmp_path) == 1
    assert not left.exists()


def test_a_finished_pull_leaves_nothing_and_in_process_use_is_respected(tmp_path: Path) -> None:
    with work_directory(tmp_path, "demo-") as first:
        assert remove_orphans(tmp_path) == 0
        assert first.exists()
    assert not first.exists()
    assert list((tmp_path / "work").iterdir()) == []


def test_quarantined_lines_are_kept_for_their_retention(tmp_path: Path) -> None:
    directory = tmp_path / "quarantine" / "demo"
    directory.mkdir(parents=True)
    old, recent = directory / "2026-01-01.jsonl", directory / "2026-05-01.jsonl"
    for path in (old, recent):
        path.write_text("{}\n")
    expired = time.time() - (QUARANTINE_DAYS + 1) * 86_400
    os.utime(old, (expired, expired))
    remove_orphans(tmp_path)
    assert not old.exists()
    assert recent.exists()


EXPORT = "export-2026-05-01..2026-05-02.jsonl.gz"


def completed_download(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / EXPORT
    save(path, [b"\x1f\x8b raw export with jo@acme.io"], request="q1")
    return path


def test_a_killed_pulls_finished_download_waits_for_its_retry_then_goes(tmp_path: Path) -> None:
    left = tmp_path / "work" / "demo-pullkey"
    export = completed_download(left)
    (left / "export-2026-05-03..2026-05-03.jsonl.part").write_bytes(b"half")  # cut short
    (left / "duckdb_spill.tmp").write_bytes(b"spill")

    assert remove_orphans(tmp_path) == 0
    assert sorted(p.name for p in left.iterdir()) == sorted([export.name, export.name + ".done"])
    later = time.time() + RESUME_HOURS * 3600 + 60
    assert remove_orphans(tmp_path, now=later) == 1  # no retry came: raw data does not stay
    assert not left.exists()


def test_a_pull_resumes_in_its_own_directory_and_leaves_nothing_when_done(tmp_path: Path) -> None:
    with pytest.raises(TransientError), work_directory(tmp_path, "demo-", "key1") as first:
        completed_download(first)
        raise TransientError("mixpanel", "503 while reading profiles")
    assert completed(first / EXPORT, "q1")  # kept for a retry

    with work_directory(tmp_path, "demo-", "key1") as again:
        assert again == first
        assert completed(again / EXPORT, "q1")
    assert list((tmp_path / "work").iterdir()) == []


def test_a_definite_failure_keeps_no_raw_data(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput), work_directory(tmp_path, "demo-", "key2") as directory:
        completed_download(directory)
        raise InvalidInput("mixpanel", "invalid where expression")
    assert list((tmp_path / "work").iterdir()) == []
