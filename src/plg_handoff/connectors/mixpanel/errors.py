"""Mixpanel failures mapped, in one table, to typed connector errors.

Mixpanel answers errors with `{"request": "<path?query>", "error": "<message>"}`; older export
servers answer plain text. Either way the message is kept for the operator."""

from __future__ import annotations

import json
from collections.abc import Mapping

from plg_handoff.connectors.errors import (
    AuthError,
    ConnectorError,
    InvalidInput,
    NotFound,
    RateLimited,
    TransientError,
    retry_after,
)

__all__ = ["VENDOR", "error_from_response", "retry_after", "transport_error"]

VENDOR = "mixpanel"
MAX_MESSAGE = 500

# status -> error class; any other 5xx is transient, any other 4xx invalid input.
STATUS_TABLE: Mapping[int, type[ConnectorError]] = {
    400: InvalidInput,  # a bad `where`, `event`, date or page: Mixpanel's message says which
    401: AuthError,
    402: AuthError,  # the plan does not include the API
    403: AuthError,  # no access to the project
    404: NotFound,
    408: TransientError,
    429: RateLimited,
}


def error_from_response(
    status: int, body: bytes | str, headers: Mapping[str, str]
) -> ConnectorError:
    cls = STATUS_TABLE.get(status) or (TransientError if status >= 500 else InvalidInput)
    return cls(VENDOR, _message(body, status), status=status, retry_after=retry_after(headers))


def transport_error(exc: BaseException) -> TransientError:
    """Connection refused or reset, timeouts, a stream cut short or a corrupt gzip body."""
    return TransientError(VENDOR, f"transport: {type(exc).__name__}: {exc}")


def _message(body: bytes | str, status: int) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("error"):
        text = str(parsed["error"])
    return text[:MAX_MESSAGE] or f"HTTP {status}"
