"""`handoff report`: the funnel of handoffs read from Temporal visibility (each HandoffWorkflow's
`funnel` memo and search attributes), grouped and rendered as a table, CSV or JSON, with each
trigger's calibration (configured prior beside the measured and smoothed win rate)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from temporalio.client import Client

from plg_handoff.activities.funnel_reader import measure_calibration, read_funnel, rfc3339
from plg_handoff.config import Config
from plg_handoff.domain.calibration import TriggerCalibration
from plg_handoff.domain.funnel import FunnelStats, GroupBy, funnel

Format = Literal["table", "csv", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json")


@dataclass
class FunnelReport:
    since: datetime
    by: GroupBy | None
    groups: list[FunnelStats]
    calibration: list[TriggerCalibration]
    skipped: int = 0  # handoffs whose funnel could not be read


async def build_report(
    client: Client, config: Config, since: datetime, by: GroupBy | None
) -> FunnelReport:
    records, skipped = await read_funnel(client, since, config.temporal.task_queue)
    calibration = await measure_calibration(client, config)
    return FunnelReport(since, by, funnel(records, by), calibration, skipped)


def default_since(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=90)


COLUMNS = (
    ("group", "group"),
    ("handoffs", "handoffs"),
    ("contacted", "contacted"),
    ("contact_rate", "contact %"),
    ("meetings", "meetings"),
    ("contact_to_meeting_rate", "contact>meeting %"),
    ("won", "won"),
    ("meeting_to_won_rate", "meeting>won %"),
    ("p50_hours_to_contact", "p50 h to contact"),
    ("p90_hours_to_contact", "p90 h to contact"),
    ("sla_breach_rate", "SLA breach %"),
)
CALIBRATION_COLUMNS = (
    ("trigger", "trigger"),
    ("prior", "prior %"),
    ("outcomes", "outcomes"),
    ("wins", "wins"),
    ("measured", "measured %"),
    ("smoothed", "smoothed %"),
    ("applied", "scoring uses"),
)


def render(report: FunnelReport, fmt: Format) -> str:
    if fmt == "json":
        return json.dumps(_as_json(report), indent=2) + "\n"
    if fmt == "csv":
        return _csv(report.groups)
    return _table(report)


def _as_json(report: FunnelReport) -> dict[str, Any]:
    return {
        "since": rfc3339(report.since),
        "by": report.by,
        "percentiles": "nearest rank",
        "groups": [dataclasses.asdict(g) for g in report.groups],
        "calibration": [
            {**dataclasses.asdict(c), "conversion": c.conversion} for c in report.calibration
        ],
        "skipped": report.skipped,
    }


def _csv(groups: Sequence[FunnelStats]) -> str:
    out = io.StringIO()
    names = [f.name for f in dataclasses.fields(FunnelStats)]
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for group in groups:
        writer.writerow({k: "" if v is None else v for k, v in dataclasses.asdict(group).items()})
    return out.getvalue()


def _table(report: FunnelReport) -> str:
    title = f"handoffs signalled since {rfc3339(report.since)}"
    if report.by:
        title += f", by {report.by}"
    rows = [[_cell(name, getattr(g, name)) for name, _ in COLUMNS] for g in report.groups]
    parts = [title, _grid([h for _, h in COLUMNS], rows)]
    shown = [c for c in report.calibration if c.outcomes or c.applied]
    if shown:
        parts.append("calibration (win rate per trigger; prior = configured conversion)")
        parts.append(
            _grid(
                [h for _, h in CALIBRATION_COLUMNS],
                [
                    [
                        c.trigger,
                        _percent(c.prior),
                        str(c.outcomes),
                        str(c.wins),
                        _percent(c.measured),
                        _percent(c.smoothed),
                        "smoothed" if c.applied else "prior",
                    ]
                    for c in shown
                ],
            )
        )
    if report.skipped:
        parts.append(f"{report.skipped} handoff(s) skipped: their funnel could not be read")
    return "\n\n".join(parts) + "\n"


def _cell(name: str, value: object) -> str:
    if name.endswith("_rate"):
        return _percent(value if isinstance(value, float) else None)
    if isinstance(value, float):
        return f"{value:.1f}"
    return "-" if value is None else str(value)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}"


def _grid(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
