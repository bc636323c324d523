"""Slack's incoming-webhook answers mapped once to the typed connector errors. Slack answers
errors in plain text (`invalid_payload`, `no_service`, ...), which becomes the message."""

from __future__ import annotations

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

VENDOR = "slack"
STATUS_TABLE: Mapping[int, type[ConnectorError]] = {
    400: InvalidInput,  # invalid_payload, no_text, too_many_attachments, ...
    403: AuthError,  # action_prohibited: a workspace admin restricted the webhook
    404: NotFound,  # no_service, channel_not_found: the webhook is revoked or wrong
    410: NotFound,  # channel_is_archived
    429: RateLimited,
}


def map_error(status: int, body: str, headers: Mapping[str, str]) -> ConnectorError:
    cls = STATUS_TABLE.get(status) or (TransientError if status >= 500 else InvalidInput)
    code = body.strip()[:200] or "no answer"
    return cls(
        VENDOR,
        code,
        status=status,
        retry_after=retry_after(headers) if cls is RateLimited else None,
    )
