"""The Segment usage source over a storage-archive copy: group calls from any day map users to
accounts, bad lines reach the quarantine, and the rollup is exact."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from plg_handoff.activities.ingest import roll_up
from plg_handoff.config import SegmentSourceConfig
from plg_handoff.connectors.segment import SegmentUsageSource
from plg_handoff.domain.usage import DayRollup

DAY = date(2026, 11, 20)


def message(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "receivedAt": "2026-11-20T10:00:00.000Z", **fields}


def write_archive(root: Path, folder: str, lines: list[str]) -> None:
    target = root / "segment-logs" / "src-1" / folder
    target.mkdir(parents=True, exist_ok=True)
    with gzip.open(target / "part-0001.gz", "wt", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))


def test_archive_messages_roll_up_per_account(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    earlier = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
    write_archive(
        archive,
        str(earlier),
        [json.dumps(message("group", userId="u1", groupId="acme", traits={"seat_limit": 10,
                                                                          "plan": "team"},
                            timestamp="2026-11-01T09:00:00Z", messageId="g1"))],
    )  # fmt: skip
    track = {"seats_used": 8}
    write_archive(
        archive,
        "2026-11-20",
        [
            json.dumps(message("track", userId="u1", event="Report Viewed", properties=track,
                               timestamp="2026-11-20T09:00:00Z", messageId="t1")),
            json.dumps(message("track", userId="u1", event="Report Viewed", properties=track,
                               timestamp="2026-11-20T09:00:00Z", messageId="t1")),
            json.dumps(message("page", userId="u1", name="Pricing",
                               timestamp="2026-11-20T09:05:00Z", messageId="p1")),
            json.dumps(message("track", userId="stranger", event="Report Viewed",
                               timestamp="2026-11-20T09:06:00Z", messageId="t9")),
            "{torn",
        ],
    )  # fmt: skip
    config = SegmentSourceConfig(kind="segment", name="seg", archive_dir=archive)
    source = SegmentUsageSource(config)
    work = tmp_path / "work"
    work.mkdir()

    files = source.export([DAY], work)
    result = roll_up(
        files, account_property="account_id", gauges={"seats": "seats_used"},
        days=[DAY.isoformat()], now=datetime(2026, 11, 21, tzinfo=UTC).timestamp(),
    )  # fmt: skip

    assert result.rollups == {
        "acme": [
            DayRollup(
                day="2026-11-20",
                events={"Page Viewed": 1, "Report Viewed": 1},
                active_users=1,
                gauges={"seats": 8.0},
            )
        ]
    }
    assert (result.read, result.accepted, result.duplicates) == (5, 2, 1)
    assert result.quarantined == {"missing_account": 1, "unparseable_json": 1}
    traits, bad = source.traits(["acme"])
    assert bad == []
    assert traits["acme"].limits == {"seats": 10.0}
    assert traits["acme"].plan == "team"
