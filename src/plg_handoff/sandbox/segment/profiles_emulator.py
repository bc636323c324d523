"""A local emulator of Segment's Profile API account traits endpoint, over real HTTP.

Serves `GET /v1/spaces/<space>/collections/accounts/profiles/group_id:<id>/traits` as the
Profile API documents it: HTTP Basic auth with the access token as username and an empty
password, `{"traits": {...}, "cursor": {"url", "has_more", "next"}}` paged by `limit`
(default 10, at most 200) and `next`, an `include` filter, 404 with an error body for a
missing profile, and 429 with `Retry-After` beyond `per_second` requests in any 1-second
window. Tests can inject 429s and 5xx answers ahead of the next requests."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from plg_handoff.http_server import (
    ServedEndpoint,
    ServerThread,
    TrackedRequestHandler,
    TrackingHTTPServer,
)
from plg_handoff.sandbox.planned import PlannedReplies

__all__ = ["ProfilesFaults", "SegmentProfilesEmulator"]

TRAITS_PATH = re.compile(
    r"^/v1/spaces/(?P<space>[^/]+)/collections/accounts/profiles/(?P<profile>[^/]+)/traits$"
)
DEFAULT_LIMIT = 10
MAX_LIMIT = 200
WINDOW_S = 1.0


@dataclass(frozen=True)
class _Reply:
    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


def _error(status: int, code: str, message: str, **headers: str) -> _Reply:
    return _Reply(status, {"error": {"code": code, "message": message}}, headers)


class ProfilesFaults(PlannedReplies[_Reply]):
    """Answers planned for the next requests, in order, before any other check."""

    def rate_limit_next(self, n: int, retry_after_s: int = 1) -> None:
        reply = _error(
            429, "too_many_requests", "Too Many Requests", **{"Retry-After": str(retry_after_s)}
        )
        self._plan(n, reply)

    def fail_next(self, n: int, status: int = 500) -> None:
        if not 500 <= status <= 599:
            raise ValueError(f"fail_next needs a 5xx status, got {status}")
        self._plan(n, _error(status, "internal_error", "Internal Server Error"))


class _WindowLimiter:
    """At most `per_second` accepted requests in any sliding 1-second window."""

    def __init__(self, per_second: int) -> None:
        self._per_second = per_second
        self._accepted: deque[float] = deque()
        self._lock = threading.Lock()

    def allow(self, now: float) -> bool:
        with self._lock:
            while self._accepted and now - self._accepted[0] >= WINDOW_S:
                self._accepted.popleft()
            if len(self._accepted) >= self._per_second:
                return False
            self._accepted.append(now)
            return True


class SegmentProfilesEmulator(ServedEndpoint):
    def __init__(
        self,
        *,
        space_id: str,
        token: str,
        profiles: Mapping[str, Mapping[str, Any]],
        per_second: int = 100,
    ) -> None:
        self.space_id = space_id
        self._token = token
        self._profiles = {group_id: dict(traits) for group_id, traits in profiles.items()}
        self._limiter = _WindowLimiter(per_second)
        self._lock = threading.Lock()
        self.faults = ProfilesFaults()
        self.calls: list[str] = []
        self.arrivals: list[float] = []  # time.monotonic() per request, in arrival order
        self.throttled = 0  # 429s answered by the rate limit (not injected ones)
        self._serving = ServerThread("segment-profiles-emulator")

    def __repr__(self) -> str:
        return f"SegmentProfilesEmulator(space_id={self.space_id!r}, url={self._url_or_none()!r})"

    def _make_server(self, address: tuple[str, int]) -> _Server:
        return _Server(address, self)

    def _url_or_none(self) -> str | None:
        return self._serving.url if self._serving.running else None

    def handle(self, raw_path: str, authorization: str | None) -> _Reply:
        now = time.monotonic()
        parts = urlsplit(raw_path)
        with self._lock:
            self.calls.append(parts.path)
            self.arrivals.append(now)
        match = TRAITS_PATH.match(parts.path)
        if match is None:
            return _error(404, "not_found", "Resource not found")
        planned = self.faults.take()
        if planned is not None:
            return planned
        refused = self._check_access(authorization, unquote(match["space"]), now)
        if refused is not None:
            return refused
        return self._traits(unquote(match["profile"]), _query(parts.query))

    def _check_access(self, authorization: str | None, space: str, now: float) -> _Reply | None:
        if not _same(_basic_username(authorization), self._token):
            return _error(401, "unauthorized", "Invalid or missing access token")
        if space != self.space_id:
            return _error(403, "forbidden", "The access token has no access to this space")
        if not self._limiter.allow(now):
            with self._lock:
                self.throttled += 1
            return _error(429, "too_many_requests", "Too Many Requests", **{"Retry-After": "1"})
        return None

    def _traits(self, profile: str, query: dict[str, str]) -> _Reply:
        kind, _, group_id = profile.partition(":")
        traits = self._profiles.get(group_id) if kind == "group_id" else None
        if traits is None:
            return _error(404, "not_found", "Resource not found")
        limit = _limit(query.get("limit"))
        if limit is None:
            return _error(400, "bad_request", f"limit must be between 1 and {MAX_LIMIT}")
        return _Reply(200, _page(traits, query, limit))


def _page(traits: Mapping[str, Any], query: dict[str, str], limit: int) -> dict[str, Any]:
    include = [name for name in query.get("include", "").split(",") if name]
    names = sorted(name for name in traits if not include or name in include)
    start = query.get("next", "")
    names = [name for name in names if name >= start] if start else names
    shown, rest = names[:limit], names[limit:]
    following = rest[0] if rest else ""
    return {
        "traits": {name: traits[name] for name in shown},
        "cursor": {
            "url": f"?limit={limit}&next={following}" if rest else "",
            "has_more": bool(rest),
            "next": following,
        },
    }


def _query(encoded: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(encoded, keep_blank_values=True).items()}


def _limit(value: str | None) -> int | None:
    if value is None:
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        return None
    return limit if 1 <= limit <= MAX_LIMIT else None


def _basic_username(header: str | None) -> str:
    if not header or not header.lower().startswith("basic "):
        return ""
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[0]


def _same(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


class _Server(TrackingHTTPServer):
    def __init__(self, address: tuple[str, int], emulator: SegmentProfilesEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class _Handler(TrackedRequestHandler):
    server_version = "SegmentProfilesSandbox/1.0"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def do_GET(self) -> None:
        emulator = cast(_Server, self.server).emulator
        self._write(emulator.handle(self.path, self.headers.get("Authorization")))

    def _write(self, reply: _Reply) -> None:
        body = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request logging."""
