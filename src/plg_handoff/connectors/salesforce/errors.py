"""Salesforce failures mapped, in one table, to typed connector errors."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import requests

from plg_handoff.connectors.errors import (
    AuthError,
    Conflict,
    ConnectorError,
    InvalidInput,
    NotFound,
    RateLimited,
    RecordError,
    TransientError,
)

VENDOR = "salesforce"
# Salesforce names no wait for REQUEST_LIMIT_EXCEEDED (a rolling 24 h limit, or too many
# concurrent long requests): no retry in this process, Temporal's retry comes back later.
LIMIT_RETRY_AFTER_S = 60.0

# (status, errorCode) first, then (status, None); else 5xx transient and other 4xx invalid.
ERROR_TABLE: Mapping[tuple[int, str | None], type[ConnectorError]] = {
    (300, None): Conflict,  # more than one record has this external id
    (400, "UNABLE_TO_LOCK_ROW"): TransientError,
    (400, "INVALID_QUERY_LOCATOR"): TransientError,
    (400, None): InvalidInput,
    (401, None): AuthError,  # INVALID_SESSION_ID: the connector logs in again once first
    (403, "REQUEST_LIMIT_EXCEEDED"): RateLimited,
    (403, None): AuthError,  # INSUFFICIENT_ACCESS, API_DISABLED_FOR_ORG, ...
    (404, None): NotFound,
    (409, None): Conflict,
    (500, None): TransientError,
    (502, None): TransientError,
    (503, None): TransientError,
    (504, None): TransientError,
}


def is_salesforce_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("simple_salesforce") and isinstance(
        getattr(exc, "status", None), int
    )


def is_transport_error(exc: BaseException) -> bool:
    return isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout)


def error_class(status: int, code: str | None) -> type[ConnectorError]:
    return (
        ERROR_TABLE.get((status, code))
        or ERROR_TABLE.get((status, None))
        or (TransientError if status >= 500 else InvalidInput)
    )


def map_error(exc: BaseException, record: str = "") -> ConnectorError:
    if is_transport_error(exc):
        return TransientError(VENDOR, f"transport: {type(exc).__name__}: {exc}")
    status: int = exc.status  # type: ignore[attr-defined]  # checked by is_salesforce_error
    return map_answer(status, getattr(exc, "content", None), record)


def map_answer(status: int, content: object, record: str = "") -> ConnectorError:
    """An error answer (status and body), e.g. a composite subrequest's, as a typed error."""
    errors = _errors(content)
    if status == 300:
        urls = [e for e in errors if isinstance(e, str)]
        return Conflict(
            VENDOR,
            f"more than one record has this external id: {', '.join(urls) or '?'}",
            status=status,
        )
    dicts = [e for e in errors if isinstance(e, dict)]
    code = str(dicts[0].get("errorCode")) if dicts else None
    cls = error_class(status, code)
    message = "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in dicts)
    return cls(
        VENDOR,
        message or f"HTTP {status}",
        status=status,
        retry_after=LIMIT_RETRY_AFTER_S if cls is RateLimited else None,
        records=record_errors(record, dicts) if cls is InvalidInput else (),
    )


def record_errors(record: str, errors: Sequence[Mapping[str, Any]]) -> tuple[RecordError, ...]:
    """Per-record errors, from the REST error list or an sObject Collection result."""
    return tuple(
        RecordError(
            record=record or "?",
            message=f"{e.get('errorCode') or e.get('statusCode')}: {e.get('message')}",
            fields=tuple(str(f) for f in e.get("fields") or ()),
        )
        for e in errors
    )


def _errors(content: object) -> list[Any]:
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except json.JSONDecodeError:
            return [{"errorCode": "UNKNOWN", "message": str(content)[:500]}]
    if isinstance(content, dict):
        return [content]
    return list(content) if isinstance(content, list) else []
