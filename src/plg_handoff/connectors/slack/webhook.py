"""Posts one message to a Slack incoming webhook. The webhook URL is a secret: it is never
logged and never part of an error message (transport errors name only their type)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from plg_handoff.connectors.errors import TransientError
from plg_handoff.connectors.slack.errors import VENDOR, map_error


class SlackWebhook:
    def __init__(self, url: str, timeout_s: float = 10, session: requests.Session | None = None):
        self._url = url
        self._timeout_s = timeout_s
        self._session = session or requests.Session()

    def __repr__(self) -> str:
        return "SlackWebhook(url=<secret>)"

    def post(self, message: Mapping[str, Any]) -> None:
        """One message (`text` and/or `blocks`); raises a typed ConnectorError otherwise."""
        try:
            response = self._session.post(
                self._url, json=dict(message), timeout=self._timeout_s, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise TransientError(VENDOR, f"transport: {type(exc).__name__}") from None
        if response.status_code == 200:
            return
        raise map_error(response.status_code, response.text, response.headers)
