"""Replies of the Mixpanel emulator, and Mixpanel's error body:
`{"request": "<path?query>", "error": "<message>"}`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

JSON = "application/json"
JSONL = "text/plain; charset=utf-8"


class ApiError(Exception):
    def __init__(self, status: int, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


@dataclass
class Reply:
    status: int
    body: bytes | Iterator[bytes]  # an iterator is sent with chunked transfer encoding
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    content_encoding: str | None = None
    cut: bool = False  # drop the connection instead of ending the chunked body
    drop: bool = False  # drop the connection without answering
    on_close: Callable[[], None] | None = None


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(payload).encode(), headers=headers or {})


def error_reply(request: str, error: ApiError) -> Reply:
    headers = {}
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(error.retry_after_s)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Mixpanel"'
    return json_reply(error.status, {"request": request, "error": error.message}, headers)
