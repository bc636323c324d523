"""Segment's storage archive read from disk: day folders in both layouts, hours, bad content."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from plg_handoff.connectors.segment import archive as archive_module
from plg_handoff.connectors.segment.archive import (
    SegmentArchiveReader,
    day_of_folder,
    iter_archive_files,
    read_archive,
)

SOURCE = "segment-logs/src-123"
DAY1 = date(2024, 6, 20)
DAY2 = date(2024, 6, 21)
DAY3 = date(2024, 6, 22)


def epoch_ms(day: date) -> str:
    return str(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000))


def track(n: int, user: str = "u1") -> dict[str, Any]:
    return {"type": "track", "event": f"E{n}", "userId": user, "messageId": f"m{n}"}


def write_gz(path: Path, lines: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    with gzip.open(path, "wb") as out:
        out.write(body.encode())
    return path


class RecordingLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> RecordingLog:
    recorder = RecordingLog()
    monkeypatch.setattr(archive_module, "log", recorder)
    return recorder


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """DAY1 in the epoch-ms layout (flat), DAY2 in the epoch-ms layout with hour folders,
    DAY3 in the YYYY-MM-DD layout with a mix of flat files and hour folders."""
    root = tmp_path / "bucket"
    src = root / SOURCE
    write_gz(src / epoch_ms(DAY1) / "b.gz", [track(2), track(3)])
    write_gz(src / epoch_ms(DAY1) / "a.gz", [track(1)])
    write_gz(src / epoch_ms(DAY2) / "13" / "x.gz", [track(6)])
    write_gz(src / epoch_ms(DAY2) / "09" / "y.gz", [track(4), track(5)])
    write_gz(src / DAY3.isoformat() / "00.gz", [track(7)])
    write_gz(src / DAY3.isoformat() / "05" / "z.gz", [track(8)])
    # Not archive files, or not in a day folder: ignored.
    (src / epoch_ms(DAY1) / "notes.txt").write_text("hello")
    write_gz(src / "stray.gz", [track(99)])
    (src / "misc").mkdir()
    return root


def events(messages: list[dict[str, Any] | str]) -> list[str]:
    return [m["event"] if isinstance(m, dict) else m for m in messages]


def test_day_folder_names() -> None:
    assert day_of_folder("1718841600000") == DAY1
    assert day_of_folder(epoch_ms(DAY3)) == DAY3
    assert day_of_folder("1718841600000") == day_of_folder("1718845200000")  # same UTC day
    assert day_of_folder("2024-06-21") == DAY2
    assert day_of_folder("2024-13-40") is None
    assert day_of_folder("13") is None
    assert day_of_folder("misc") is None


def test_all_days_sorted_in_both_layouts(archive: Path) -> None:
    files = iter_archive_files(archive)
    names = [p.relative_to(archive / SOURCE).as_posix() for p in files]
    assert names == [
        f"{epoch_ms(DAY1)}/a.gz",
        f"{epoch_ms(DAY1)}/b.gz",
        f"{epoch_ms(DAY2)}/09/y.gz",
        f"{epoch_ms(DAY2)}/13/x.gz",
        f"{DAY3.isoformat()}/00.gz",
        f"{DAY3.isoformat()}/05/z.gz",
    ]


def test_selection_by_days(archive: Path) -> None:
    assert [p.name for p in iter_archive_files(archive, [DAY2])] == ["y.gz", "x.gz"]
    assert [p.name for p in iter_archive_files(archive, [DAY3, DAY1])] == [
        "a.gz",
        "b.gz",
        "00.gz",
        "z.gz",
    ]
    assert iter_archive_files(archive, [date(2024, 1, 1)]) == []
    assert iter_archive_files(archive, []) == []


def test_root_may_be_the_source_folder(archive: Path) -> None:
    assert iter_archive_files(archive / SOURCE) == iter_archive_files(archive)


def test_reader_messages_in_order(archive: Path) -> None:
    reader = SegmentArchiveReader(archive)
    assert events(list(reader.messages(None))) == [f"E{n}" for n in range(1, 9)]
    assert events(list(reader.messages([DAY2]))) == ["E4", "E5", "E6"]
    assert events(list(reader.messages([DAY1, DAY3]))) == ["E1", "E2", "E3", "E7", "E8"]


def test_empty_and_missing_folders(tmp_path: Path) -> None:
    root = tmp_path / "bucket"
    (root / SOURCE / epoch_ms(DAY1) / "07").mkdir(parents=True)
    (root / SOURCE / DAY2.isoformat()).mkdir(parents=True)
    assert iter_archive_files(root) == []
    assert list(SegmentArchiveReader(root).messages(None)) == []
    assert iter_archive_files(tmp_path / "absent") == []
    assert list(SegmentArchiveReader(tmp_path / "absent").messages([DAY1])) == []


def test_bad_lines_are_yielded_as_strings(tmp_path: Path, recorded: RecordingLog) -> None:
    path = write_gz(
        tmp_path / "mixed.gz",
        [track(1), "{not json", "", "   ", "[1, 2]", '"text"', "42", "null", track(2)],
    )
    with gzip.open(path, "ab") as out:
        out.write(b"\xff\xfe broken utf-8\n")
    assert list(read_archive(path)) == [
        track(1),
        "{not json",
        "[1, 2]",
        '"text"',
        "42",
        "null",
        track(2),
        "\ufffd\ufffd broken utf-8",
    ]
    assert recorded.events == []


def test_last_line_without_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "f.gz"
    with gzip.open(path, "wb") as out:
        out.write((json.dumps(track(1)) + "\n" + json.dumps(track(2))).encode())
    assert list(read_archive(path)) == [track(1), track(2)]


def test_long_lines_across_read_chunks(tmp_path: Path) -> None:
    big = [{**track(n), "properties": {"pad": "x" * 50_000}} for n in range(5)]
    path = write_gz(tmp_path / "big.gz", big)
    assert list(read_archive(path)) == big


def test_truncated_gzip_yields_what_was_read(tmp_path: Path, recorded: RecordingLog) -> None:
    lines = [{**track(n), "properties": {"n": n, "pad": "p" * (n % 7)}} for n in range(2000)]
    path = write_gz(tmp_path / "t.gz", lines)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    got = list(read_archive(path))
    complete = [m for m in got if isinstance(m, dict)]
    assert complete, "the decompressible prefix is read"
    assert complete == lines[: len(complete)]
    assert len(complete) < len(lines)
    # At most the torn last line comes back as a raw string, for quarantine.
    assert len(got) - len(complete) <= 1
    assert all(isinstance(m, dict) for m in got[:-1])
    assert [event for event, _ in recorded.events] == ["segment.archive_truncated"]
    assert recorded.events[0][1]["path"] == str(path)


def test_truncated_file_does_not_stop_the_reader(tmp_path: Path, recorded: RecordingLog) -> None:
    day = tmp_path / epoch_ms(DAY1)
    write_gz(day / "a.gz", [track(1)])
    cut = write_gz(day / "b.gz", [track(2), track(3)])
    cut.write_bytes(cut.read_bytes()[:-8])  # drop the gzip trailer (CRC + size)
    write_gz(day / "c.gz", [track(4)])
    assert events(list(SegmentArchiveReader(tmp_path).messages([DAY1]))) == [
        "E1",
        "E2",
        "E3",
        "E4",
    ]
    assert [event for event, _ in recorded.events] == ["segment.archive_truncated"]


def test_not_gzip_is_logged_not_raised(tmp_path: Path, recorded: RecordingLog) -> None:
    path = tmp_path / "plain.gz"
    path.write_text(json.dumps(track(1)) + "\n")
    assert list(read_archive(path)) == []
    assert [event for event, _ in recorded.events] == ["segment.archive_corrupt"]


def test_empty_gzip_file(tmp_path: Path, recorded: RecordingLog) -> None:
    path = write_gz(tmp_path / "empty.gz", [])
    (tmp_path / "zero.gz").write_bytes(b"")
    assert list(read_archive(path)) == []
    assert list(read_archive(tmp_path / "zero.gz")) == []
    assert recorded.events == []
