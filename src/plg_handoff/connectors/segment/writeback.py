"""Tells Segment a handoff opened: a `PQL Triggered` track event and the account's PQL traits
as a `group` call, through `segment-analytics-python`. Message ids derive from the handoff, so
a retried announcement is deduplicated by Segment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from segment.analytics import Client
from segment.analytics.request import APIError

from plg_handoff.connectors.errors import (
    AuthError,
    ConnectorError,
    InvalidInput,
    RateLimited,
    TransientError,
)

VENDOR = "segment"
PQL_EVENT = "PQL Triggered"
STATUS_TABLE: Mapping[int, type[ConnectorError]] = {
    400: InvalidInput,
    401: AuthError,
    403: AuthError,
    413: InvalidInput,
    429: RateLimited,
}


class SegmentWriteback:
    def __init__(self, write_key: str, host: str, timeout_s: float = 10) -> None:
        # sync_mode: one POST per call in this thread, errors raised here; no background
        # queue whose default backoff could hold a flush for hours.
        self._client = Client(
            write_key, host=host.rstrip("/"), sync_mode=True, timeout=timeout_s, max_retries=0
        )

    def announce(
        self,
        handoff_key: str,
        account_id: str,
        properties: Mapping[str, Any],
        traits: Mapping[str, Any],
    ) -> None:
        anonymous_id = f"account:{account_id}"
        context = {"groupId": account_id}
        try:
            self._client.track(
                anonymous_id=anonymous_id,
                event=PQL_EVENT,
                properties=dict(properties),
                context=context,
                message_id=f"{handoff_key}/track",
            )
            self._client.group(
                anonymous_id=anonymous_id,
                group_id=account_id,
                traits=dict(traits),
                message_id=f"{handoff_key}/group",
            )
        except APIError as exc:
            cls = STATUS_TABLE.get(exc.status) or (
                TransientError if exc.status >= 500 else InvalidInput
            )
            raise cls(VENDOR, f"{exc.code}: {exc.message}", status=exc.status) from exc
        except requests.RequestException as exc:
            raise TransientError(VENDOR, f"transport: {type(exc).__name__}") from exc
