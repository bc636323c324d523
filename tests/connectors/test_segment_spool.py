"""The durable spool behind the Segment collector: segments, rotation, crash leftovers, draining."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from plg_handoff.connectors.segment import spool as spool_module
from plg_handoff.connectors.segment.spool import (
    QuarantineRecord,
    Spool,
    SpoolBusyError,
    SpoolWriteError,
)


class FakeClock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def msg(n: int, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "E", "userId": "u", "messageId": f"m{n}", **extra}


def ids(spool: Spool, paths: list[Path] | None = None) -> list[str]:
    return [m["messageId"] for p in (paths or spool.segments()) for m in spool.read(p)]


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool")


def test_appended_messages_are_readable_after_rotation(spool: Spool) -> None:
    spool.append([msg(1), msg(2)])
    spool.append([msg(3)])
    assert spool.segments() == []  # the open segment is never handed to the sync
    closed = spool.rotate()
    assert closed is not None
    assert closed.name.endswith("-00000000.jsonl")
    assert spool.segments() == [closed]
    assert ids(spool) == ["m1", "m2", "m3"]
    assert spool.rotate() is None  # nothing open, no empty file
    spool.close()


def test_rotates_by_size_and_by_age(tmp_path: Path) -> None:
    clock = FakeClock()
    spool = Spool(tmp_path, rotate_bytes=200, rotate_seconds=60, clock=clock)
    for n in range(7):
        spool.append([msg(n, properties={"pad": "x" * 40})])
    assert len(spool.segments()) == 3  # ~120-byte lines: a segment closes after two
    assert spool.rotate_if_due() is None
    clock.now += 61
    assert spool.rotate_if_due() is not None
    assert ids(spool) == [f"m{n}" for n in range(7)]
    assert len(spool.segments()) == 4
    spool.close()


def test_segment_names_carry_the_hour_and_keep_increasing_across_restarts(tmp_path: Path) -> None:
    clock = FakeClock(1_750_003_600.0)  # 2025-06-15T16:06:40Z
    first = Spool(tmp_path, clock=clock)
    first.append([msg(1)])
    first.close()
    second = Spool(tmp_path, clock=clock)
    second.append([msg(2)])
    second.close()
    assert [p.name for p in second.segments()] == [
        "2025061516-00000000.jsonl",
        "2025061516-00000001.jsonl",
    ]
    assert ids(second) == ["m1", "m2"]


def test_a_torn_last_line_is_skipped_and_counted(spool: Spool) -> None:
    spool.append([msg(1), msg(2)])
    path = spool.rotate()
    assert path is not None
    with path.open("ab") as out:
        out.write(b'{"type":"track","messageId":"m3","ev')  # a crash in the middle of a write
    assert ids(spool) == ["m1", "m2"]
    assert spool.stats.torn_lines == 1
    spool.close()


def test_a_corrupt_line_in_the_middle_is_skipped_not_fatal(spool: Spool) -> None:
    path = spool.directory / "2025010100-00000007.jsonl"
    path.write_bytes(b'{"messageId":"a"}\n\x00\x00garbage\n[1,2]\n{"messageId":"b"}\n')
    assert ids(spool) == ["a", "b"]
    assert spool.stats.corrupt_lines == 2


def test_a_segment_left_open_by_a_dead_writer_is_closed_by_the_next_reader(
    tmp_path: Path,
) -> None:
    orphan = tmp_path / "2025010100-00000004.jsonl.open"
    orphan.write_bytes(b'{"messageId":"x"}\n{"messageId":"y"')
    reader = Spool(tmp_path)
    assert [p.name for p in reader.segments()] == ["2025010100-00000004.jsonl"]
    assert ids(reader) == ["x"]
    writer = Spool(tmp_path)
    writer.append([msg(9)])
    closed = writer.rotate()
    assert closed is not None
    assert closed.name.endswith("-00000005.jsonl")  # numbering continues after the orphan
    writer.close()


def test_a_reader_does_not_touch_the_live_writers_open_segment(tmp_path: Path) -> None:
    writer = Spool(tmp_path)
    writer.append([msg(1)])
    reader = Spool(tmp_path)
    assert reader.segments() == []
    assert len(list(tmp_path.glob("*.jsonl.open"))) == 1
    writer.close()
    assert ids(reader) == ["m1"]


def test_only_one_writer_per_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool_module, "WRITER_CLAIM_TIMEOUT_S", 0.1)
    first = Spool(tmp_path)
    first.claim()
    with pytest.raises(SpoolBusyError):
        Spool(tmp_path).claim()
    with pytest.raises(SpoolWriteError) as failed:
        Spool(tmp_path).append([msg(1)])
    assert isinstance(failed.value.__cause__, SpoolBusyError)
    first.close()
    Spool(tmp_path).claim()


def test_acknowledge_keeps_segments_in_done_by_default(spool: Spool) -> None:
    spool.append([msg(1)])
    path = spool.rotate()
    assert path is not None
    spool.acknowledge(path)
    assert spool.segments() == []
    assert [p.name for p in spool.acknowledged()] == [path.name]
    assert ids(spool, spool.acknowledged()) == ["m1"]  # a re-pull can read it again
    spool.close()


def test_acknowledge_deletes_with_zero_retention(tmp_path: Path) -> None:
    spool = Spool(tmp_path, retention_seconds=0)
    spool.append([msg(1)])
    path = spool.rotate()
    assert path is not None
    spool.acknowledge(path)
    assert spool.segments() == spool.acknowledged() == []
    spool.close()


def test_retention_purges_acknowledged_segments_once_expired(tmp_path: Path) -> None:
    clock = FakeClock()
    spool = Spool(tmp_path, retention_seconds=3600, clock=clock)
    spool.append([msg(1)])
    old = spool.rotate()
    assert old is not None
    spool.acknowledge(old)
    clock.now += 3601
    spool.append([msg(2)])
    new = spool.rotate()
    assert new is not None
    spool.acknowledge(new)
    assert [p.name for p in spool.acknowledged()] == [new.name]
    spool.close()


def test_quarantined_messages_are_kept_with_their_reason(spool: Spool) -> None:
    bad = QuarantineRecord("missing_event", json.dumps({"type": "track"}), "/v1/batch[1]")
    spool.append([msg(1)], [bad])
    assert spool.stats.appended == 1
    assert spool.stats.quarantined == 1
    [file] = (spool.directory / "quarantine").glob("*.jsonl")
    [record] = [json.loads(line) for line in file.read_text().splitlines()]
    assert record["reason"] == "missing_event"
    assert record["location"] == "/v1/batch[1]"
    assert json.loads(record["raw"]) == {"type": "track"}
    assert "receivedAt" in record
    spool.close()


def test_concurrent_appends_are_group_committed(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:  # a disk slow enough for requests to queue up even when
        time.sleep(0.02)  # a loaded machine schedules the writer threads late
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)

    def worker(t: int) -> None:
        for b in range(25):
            spool.append([msg(t * 1000 + b * 10 + i) for i in range(10)])

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spool.rotate()
    assert sorted(ids(spool)) == sorted(
        f"m{t * 1000 + b * 10 + i}" for t in range(8) for b in range(25) for i in range(10)
    )
    assert spool.stats.appended == 2000
    assert spool.stats.fsyncs < 100  # 200 appends: most fsyncs covered several requests
    spool.close()


def test_a_failed_write_raises_and_leaves_no_torn_line_behind(
    spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool.append([msg(1)])
    real_write = os.write

    def half_then_full(fd: int, data: Any) -> int:
        real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(SpoolWriteError):
        spool.append([msg(2)])
    monkeypatch.undo()
    spool.append([msg(3)])
    spool.rotate()
    assert ids(spool) == ["m1", "m3"]
    assert spool.stats.torn_lines == spool.stats.corrupt_lines == 0
    assert len(spool.segments()) == 2  # the next write went to a fresh segment
    spool.close()
