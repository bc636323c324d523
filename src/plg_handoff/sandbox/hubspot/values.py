"""Timestamps and conversions between JSON values and HubSpot's string property values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def format_timestamp(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return format_timestamp(datetime.now(UTC))


def parse_datetime(value: str) -> datetime | None:
    """Epoch milliseconds, an ISO-8601 date or datetime (naive means UTC)."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_epoch_ms(value: str) -> int | None:
    parsed = parse_datetime(value)
    return None if parsed is None else int(parsed.timestamp() * 1000)


def parse_number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def stringify(raw: Any) -> str:
    """HubSpot accepts JSON numbers, booleans and null for property values and stores strings."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)
