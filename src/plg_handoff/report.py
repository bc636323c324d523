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

from temporalio.client import Client, WorkflowExecution

from plg_handoff import search_attributes as sa
from plg_handoff.config import Config
from plg_handoff.domain.calibration import (
    TriggerCalibration,
    calibrate,
    calibrated_conversions,
    priors,
)
from plg_handoff.domain.funnel import OUTCOMES, FunnelRecord, FunnelStats, GroupBy, funnel
from plg_handoff.logs import get_logger

log = get_logger(__name__)
HANDOFF_WORKFLOW = "HandoffWorkflow"
FUNNEL_MEMO = "funnel"
Format = Literal["table", "csv", "json"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json")


@dataclass
class FunnelReport:
    since: datetime
    by: GroupBy | None
    groups: list[FunnelStats]
    calibration: list[TriggerCalibration]
    skipped: int = 0  # handoffs whose funnel could not be read


def handoff_query(since: datetime, task_queue: str | None = None) -> str:
    query = f'WorkflowType="{HANDOFF_WORKFLOW}" AND SignalAt >= "{_rfc3339(since)}"'
    if task_queue:
        query += f' AND TaskQueue="{task_queue}"'
    return query


async def read_funnel(
    client: Client, since: datetime, task_queue: str | None = None
) -> tuple[list[FunnelRecord], int]:
    """The handoffs signalled since `since` and how many could not be read (logged)."""
    records: list[FunnelRecord] = []
    skipped = 0
    async for execution in client.list_workflows(handoff_query(since, task_queue)):
        try:
            records.append(await _record(execution))
        except ValueError as exc:
            skipped += 1
            log.warning("report.funnel_unreadable", workflow_id=execution.id, error=str(exc))
    return records, skipped


async def _record(execution: WorkflowExecution) -> FunnelRecord:
    memo = await execution.memo_value(FUNNEL_MEMO, default=None)
    if isinstance(memo, dict):
        return FunnelRecord.from_memo(execution.id, memo)
    return _from_search_attributes(execution)


def _from_search_attributes(execution: WorkflowExecution) -> FunnelRecord:
    """A handoff without the memo (started by an older release): what its attributes tell."""
    attributes = execution.typed_search_attributes
    signal_at = attributes.get(sa.SIGNAL_AT)
    if signal_at is None:
        raise ValueError(f"{execution.id}: neither a funnel memo nor SignalAt")
    stage = attributes.get(sa.HANDOFF_STAGE) or "opened"
    return FunnelRecord(
        handoff_key=execution.id,
        signal_at=signal_at,
        stage=stage,
        assigned_at=_epoch(attributes.get(sa.ASSIGNED_AT)),
        contacted_at=attributes.get(sa.CONTACTED_AT),
        meeting_at=_epoch(attributes.get(sa.MEETING_AT)),
        closed_at=attributes.get(sa.CLOSED_AT),
        outcome=stage if stage in OUTCOMES else None,
        tier=attributes.get(sa.TIER),
        trigger=attributes.get(sa.TRIGGER),
        segment=attributes.get(sa.SEGMENT),
        owner_id=attributes.get(sa.OWNER_ID),
    )


def _epoch(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


async def measure_calibration(
    client: Client, config: Config, now: datetime | None = None
) -> list[TriggerCalibration]:
    """Every trigger's calibration over the handoffs of `[calibration] lookback`."""
    settings = config.calibration
    since = (now or datetime.now(UTC)) - settings.lookback
    records, _ = await read_funnel(client, since, config.temporal.task_queue)
    result = calibrate(
        records,
        priors(config.rules),
        min_outcomes=settings.min_outcomes,
        prior_weight=settings.prior_weight,
    )
    return sorted(result.values(), key=lambda c: c.trigger)


async def measured_conversions(client: Client, config: Config) -> dict[str, float]:
    """The conversions scoring should use instead of the configured ones (applied only)."""
    return calibrated_conversions({c.trigger: c for c in await measure_calibration(client, config)})


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
        "since": _rfc3339(report.since),
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
    title = f"handoffs signalled since {_rfc3339(report.since)}"
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


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
