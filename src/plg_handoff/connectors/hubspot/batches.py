"""Batch answers matched to their inputs.

Each input of a batch create or upsert carries its position as `objectWriteTraceId`; HubSpot
echoes it on the record it wrote and in the context of an error it met, so a multi-status (207)
answer gives every input its own outcome: the record, or the error of that record alone."""

from __future__ import annotations

from typing import Any

from plg_handoff.connectors.errors import ConnectorError, InvalidInput, RecordError
from plg_handoff.connectors.hubspot.errors import VENDOR, record_errors


def trace_id(position: int) -> str:
    return str(position)


def outcomes_by_trace(answer: Any, count: int, what: str) -> list[Any | ConnectorError]:
    """One outcome per input, in order. An input with neither a record nor an error of its
    own (an error without a trace id) gets the unattributed errors: never a silent skip."""
    outcomes: list[Any | ConnectorError | None] = [None] * count
    for record in getattr(answer, "results", None) or []:
        position = _position(getattr(record, "object_write_trace_id", None), count)
        if position is not None:
            outcomes[position] = record
    unattributed = []
    for error in getattr(answer, "errors", None) or []:
        context = getattr(error, "context", None) or {}
        positions = [_position(t, count) for t in context.get("objectWriteTraceId") or []]
        mine = [p for p in positions if p is not None]
        for position in mine:
            outcomes[position] = InvalidInput(
                VENDOR, what, status=207, records=record_errors([error])
            )
        if not mine:
            unattributed.append(error)
    missing: ConnectorError = InvalidInput(
        VENDOR,
        what,
        status=207,
        records=record_errors(unattributed)
        or (RecordError(record="?", message="HubSpot answered nothing for this record"),),
    )
    return [missing if outcome is None else outcome for outcome in outcomes]


def _position(trace: Any, count: int) -> int | None:
    text = str(trace) if trace is not None else ""
    if not text.isdigit() or int(text) >= count:
        return None
    return int(text)
