"""The handoffs' funnel as Temporal visibility holds it (each HandoffWorkflow's `funnel` memo and
search attributes), read in pages: what the report, the weekly digest and self-calibration
measure from."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.client import Client, WorkflowExecution

from plg_handoff import search_attributes as sa
from plg_handoff.activities.contracts import deployment_queues
from plg_handoff.config import Config
from plg_handoff.domain.calibration import (
    TriggerCalibration,
    calibrate,
    calibrated_conversions,
    priors,
)
from plg_handoff.domain.funnel import OUTCOMES, FunnelRecord
from plg_handoff.logs import get_logger

log = get_logger(__name__)
HANDOFF_WORKFLOW = "HandoffWorkflow"
FUNNEL_MEMO = "funnel"
VISIBILITY_PAGE = 1_000


def handoff_query(since: datetime, task_queue: str | None = None) -> str:
    query = f'WorkflowType="{HANDOFF_WORKFLOW}" AND SignalAt >= "{rfc3339(since)}"'
    if task_queue:
        query += f" AND {deployment_queues(task_queue)}"
    return query


async def read_funnel(
    client: Client, since: datetime, task_queue: str | None = None
) -> tuple[list[FunnelRecord], int]:
    """The handoffs signalled since `since` and how many could not be read (logged)."""
    records: list[FunnelRecord] = []
    skipped = 0
    async for execution in client.list_workflows(
        handoff_query(since, task_queue), page_size=VISIBILITY_PAGE
    ):
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


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
