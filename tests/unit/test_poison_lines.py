"""One poison line must not stop every sync (issue 15, defect 1): a line of invalid UTF-8 or
over 4 MiB is quarantined with its reason and position, counted, and the rest of the export is
rolled up, on the fast path and the exact path alike."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from plg_handoff.activities.ingest import IngestResult, roll_up
from plg_handoff.activities.screen import MAX_LINE_BYTES, engine_error
from plg_handoff.connectors.errors import InvalidInput, TransientError

DAY = "2026-05-04"
WHEN = int(datetime(2026, 5, 4, 10, tzinfo=UTC).timestamp())


def event(n: int, account: str = "acme", **props: object) -> bytes:
    properties = {"time": WHEN + n, "distinct_id": f"u{n % 3}", "$insert_id": f"i{n}",
                  "account_id": account, "seats_used": n % 7, **props}  # fmt: skip
    return (json.dumps({"event": "Report Viewed", "properties": properties}) + "\n").encode()


GOOD = [event(n) for n in range(20)]
INVALID_UTF8 = b'{"event": "Report Viewed", "properties": {"name": "caf\xe9 \xff"}}\n'
TOO_LONG = (
    b'{"event": "Report Viewed", "properties": {"blob": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}}\n'
)


def rolled(tmp_path: Path, lines: list[bytes], *, fast: bool, gz: bool = False) -> IngestResult:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / ("export.jsonl.gz" if gz else "export.jsonl")
    body = b"".join(lines)
    path.write_bytes(gzip.compress(body) if gz else body)
    return roll_up([path], account_property="account_id", gauges={"seats": "seats_used"},
                   days=[DAY], fast=fast, now=WHEN + 3600, spill_dir=tmp_path)  # fmt: skip


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "exact"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_invalid_utf8_lines_are_set_aside_and_the_rest_rolled_up(
    tmp_path: Path, fast: bool, gz: bool
) -> None:
    clean = rolled(tmp_path / "clean", GOOD, fast=fast, gz=gz)
    lines = [*GOOD[:5], INVALID_UTF8, *GOOD[5:12], INVALID_UTF8, *GOOD[12:]]
    got = rolled(tmp_path / "poisoned", lines, fast=fast, gz=gz)
    assert got.rollups == clean.rollups != {}
    assert got.quarantined == {"invalid_utf8": 2}
    assert got.read == len(lines) == got.accepted + got.duplicates + got.outside_window + 2
    name = "export.jsonl.gz" if gz else "export.jsonl"
    assert [(k.reason, k.location) for k in got.kept] == [
        ("invalid_utf8", f"{name}:6"),
        ("invalid_utf8", f"{name}:14"),
    ]
    assert got.path == ("fast" if fast else "exact")


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "exact"])
def test_a_line_over_4_mib_is_set_aside_and_the_rest_rolled_up(tmp_path: Path, fast: bool) -> None:
    clean = rolled(tmp_path / "clean", GOOD, fast=fast)
    got = rolled(tmp_path / "poisoned", [*GOOD[:3], TOO_LONG, *GOOD[3:]], fast=fast)
    assert got.rollups == clean.rollups
    assert got.quarantined == {"line_too_long": 1}
    (kept,) = got.kept
    assert (kept.reason, kept.location) == ("line_too_long", "export.jsonl:4")
    assert len(kept.raw) <= 200


def test_poison_beside_other_quarantine_reasons(tmp_path: Path) -> None:
    lines = [*GOOD, INVALID_UTF8, b"{not json\n", event(99, account="")]
    got = rolled(tmp_path, lines, fast=True)
    assert got.path == "exact"
    assert got.quarantined == {
        "invalid_utf8": 1,
        "missing_account": 1,
        "unparseable_json": 1,
    }
    assert got.read == len(lines)


def test_a_line_of_exactly_4_mib_is_read(tmp_path: Path) -> None:
    padding = MAX_LINE_BYTES - len(event(1, blob=""))
    line = event(1, blob="x" * padding)
    assert len(line.rstrip(b"\n")) <= MAX_LINE_BYTES
    got = rolled(tmp_path, [*GOOD, line], fast=False)
    assert got.quarantined == {}
    assert got.read == len(GOOD) + 1


def test_an_engine_error_keeps_its_kind_and_position_not_the_data() -> None:
    quoted = duckdb.ConversionException(
        'Could not convert string "jane@acme.example" to INT64 at line 7 of export.jsonl'
    )
    error = engine_error(quoted)
    assert isinstance(error, InvalidInput)
    assert "jane" not in str(error)
    assert "ConversionException at line 7" in str(error)
    assert isinstance(engine_error(duckdb.IOException("disk full")), TransientError)


def test_an_export_duckdb_cannot_read_fails_typed_and_without_its_text(tmp_path: Path) -> None:
    """A gzip file that is not one: nothing to set aside, so the pull fails, retryably (the
    next download may be whole), with no line of the export in its message."""
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(b"\x1f\x8b" + b"jane@acme.example " * 50)
    with pytest.raises(TransientError) as raised:
        roll_up([path], account_property="account_id", gauges={}, days=[DAY], spill_dir=tmp_path)
    assert "jane" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
