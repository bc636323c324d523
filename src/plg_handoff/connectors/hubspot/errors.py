"""HubSpot failures mapped, in one table, to typed connector errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

import urllib3

from plg_handoff.connectors.errors import (
    AuthError,
    Conflict,
    ConnectorError,
    InvalidInput,
    NotFound,
    RateLimited,
    RecordError,
    TransientError,
    retry_after,
)

VENDOR = "hubspot"
DAILY_WAIT_CAP_S = 3600.0

# status -> error class; anything 5xx not listed is transient, any other 4xx invalid input.
STATUS_TABLE: Mapping[int, type[ConnectorError]] = {
    400: InvalidInput,
    401: AuthError,
    403: AuthError,
    404: NotFound,
    409: Conflict,
    423: TransientError,  # locked: HubSpot asks to retry
    429: RateLimited,
    502: TransientError,
    503: TransientError,
    504: TransientError,
}


def is_hubspot_api_error(exc: BaseException) -> bool:
    """Every HubSpot sub-package has its own ApiException class; they share this shape."""
    return type(exc).__module__.startswith("hubspot.") and isinstance(
        getattr(exc, "status", None), int
    )


def map_error(exc: BaseException) -> ConnectorError:
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return TransientError(VENDOR, f"transport: {type(exc).__name__}: {exc}")
    status: int = exc.status  # type: ignore[attr-defined]  # checked by is_hubspot_api_error
    body = _json(getattr(exc, "body", None))
    headers: Mapping[str, str] = getattr(exc, "headers", None) or {}
    # status 0: the SDK's own wrapping of a TLS/protocol failure, before any HTTP answer
    cls = STATUS_TABLE.get(status) or (
        TransientError if status >= 500 or status == 0 else InvalidInput
    )
    message = str(body.get("message") or getattr(exc, "reason", "") or "error")
    if category := body.get("category"):
        message = f"{category}: {message}"
    return cls(VENDOR, message, status=status, retry_after=_retry_after(headers, status, body))


def record_errors(errors: list[Any]) -> tuple[RecordError, ...]:
    """Per-record errors of a 207 multi-status batch answer."""
    records = []
    for error in errors:
        context = getattr(error, "context", None) or {}
        ids = context.get("id") or context.get("ids") or ["?"]
        records.append(RecordError(record=",".join(ids), message=str(error.message)))
    return tuple(records)


def _retry_after(headers: Mapping[str, str], status: int, body: Mapping[str, Any]) -> float | None:
    if any(k.lower() == "retry-after" for k in headers):
        return retry_after(headers)
    daily_left = next(
        (v for k, v in headers.items() if k.lower() == "x-hubspot-ratelimit-daily-remaining"), None
    )
    if status == 429 and (body.get("policyName") == "DAILY" or daily_left == "0"):
        # The daily allowance resets at midnight in the portal's time zone, which we do not
        # know: wait for the next UTC midnight, but at most an hour, and look again.
        now = datetime.now(UTC)
        midnight = datetime.combine(now.date() + timedelta(days=1), time.min, UTC)
        return min((midnight - now).total_seconds(), DAILY_WAIT_CAP_S)
    # HubSpot's burst limit is per 10 s window; its own guidance is to wait for the window.
    return 10.0 if status == 429 else None


def _json(body: object) -> dict[str, Any]:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}
