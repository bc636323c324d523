"""Raw usage on disk (issue 15, defect 6): a pull killed mid-way leaves its raw export in its
work directory; the next start or pull removes it, never one a live process is using."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from plg_handoff.activities.workdirs import QUARANTINE_DAYS, remove_orphans, work_directory

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
