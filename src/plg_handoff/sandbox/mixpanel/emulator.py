"""A local emulator of Mixpanel's raw Export API and Engage API, for tests and the demo.

Follows `specs/mixpanel/export.openapi.yaml` and `query.openapi.yaml`: Basic auth by service
account (with `project_id`) or project secret, JSONL export streamed with chunked transfer
encoding and gzip, Engage profiles by id (`distinct_ids`) or paged by session, the documented
limits (60 queries per hour, 3 per second, 100 concurrent exports, 5 concurrent queries)
answered with 429 and Mixpanel's error body."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from plg_handoff.http_server import (
    ServedEndpoint,
    ServerThread,
    TrackedRequestHandler,
    TrackingHTTPServer,
)
from plg_handoff.sandbox.feeder import HISTORY_DAYS

from .dataset import simulated_events, simulated_profiles
from .engage import SANDBOX_DATA_GROUP_ID, EngageSessions
from .export import EventSource, encode_body, export_lines, parse_query
from .faults import FaultPlan, InjectedFailure
from .limits import QueryLimiter
from .protocol import JSONL, ApiError, Reply, error_reply, json_reply

__all__ = ["SANDBOX_DATA_GROUP_ID", "Call", "FaultPlan", "MixpanelEmulator"]

EXPORT_PATH = "/api/2.0/export"
ENGAGE_PATH = "/api/query/engage"
QUERY_API_CONCURRENCY = 5
Route = Callable[[dict[str, str], dict[str, str], Mapping[str, str], InjectedFailure | None], Reply]
AUTH_DOCS = "https://developer.mixpanel.com/reference/authentication"


@dataclass(frozen=True)
class Call:
    """One API request as the emulator saw it."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    status: int
    at: float  # time.monotonic() on arrival
    content_encoding: str | None = None
    auth: str | None = None  # "service_account" or "project_secret" once authenticated


class MixpanelEmulator(ServedEndpoint):
    def __init__(
        self,
        *,
        project_id: int,
        username: str,
        secret: str,
        project_secret: str | None = None,
        events: EventSource | None = None,
        profiles: list[dict[str, Any]] | None = None,
        rate_limits: bool = True,
        per_hour: int = 60,
        per_second: int = 3,
        max_concurrent: int = 100,
        data_group_id: str = SANDBOX_DATA_GROUP_ID,
        first_day: date | None = None,
        prebuilt_export: Path | None = None,
    ) -> None:
        """`prebuilt_export`: a gzip JSONL file served verbatim as the body of every export
        (for benchmarks, whose exports are too large to build per request in Python)."""
        self.project_id = project_id
        self._prebuilt_export = prebuilt_export
        self._username = username
        self._secret = secret
        self._project_secret = project_secret
        today = datetime.now(UTC).date()
        self._events = events or simulated_events(first_day or today - timedelta(HISTORY_DAYS))
        group_profiles = simulated_profiles() if profiles is None else profiles
        self.faults = FaultPlan()
        self.export_limiter = QueryLimiter(
            project_id=project_id,
            per_second=per_second,
            per_hour=per_hour,
            max_concurrent=max_concurrent,
            enabled=rate_limits,
        )
        self.query_limiter = QueryLimiter(
            project_id=project_id,
            per_second=per_second,
            per_hour=per_hour,
            max_concurrent=QUERY_API_CONCURRENCY,
            enabled=rate_limits,
        )
        self._engage = EngageSessions(lambda: group_profiles, data_group_id)
        self._calls: list[Call] = []
        self._calls_lock = threading.Lock()
        self._serving = ServerThread("mixpanel-emulator", poll_interval=0.02)

    def _make_server(self, address: tuple[str, int]) -> _Server:
        return _Server(address, self)

    @property
    def calls(self) -> list[Call]:
        """Every API request received, oldest first (a snapshot)."""
        with self._calls_lock:
            return list(self._calls)

    def reset_calls(self) -> None:
        with self._calls_lock:
            self._calls.clear()

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """One API request (`headers` with lower-case names); the reply may still stream."""
        arrived = time.monotonic()
        url = urlsplit(target)
        query = _single_values(url.query)
        form = _single_values(body.decode("utf-8", "replace")) if method == "POST" else {}
        auth: str | None = None
        try:
            route = self._route(method, url.path)
            project_id = query.get("project_id") or form.get("project_id")
            auth = self._authenticate(headers.get("authorization"), project_id)
            reply = self._admit(url.path, route, query, form, headers)
        except ApiError as error:
            reply = error_reply(target, error)
        call = Call(
            method, url.path, query, form, reply.status, arrived, reply.content_encoding, auth
        )
        with self._calls_lock:
            self._calls.append(call)
        return reply

    def _route(self, method: str, path: str) -> Route:
        routes: dict[str, tuple[str, Route]] = {
            EXPORT_PATH: ("GET", self._export),
            ENGAGE_PATH: ("POST", self._engage_page),
        }
        if path.rstrip("/") not in routes:
            raise ApiError(404, f"no such endpoint: {path}")
        allowed, route = routes[path.rstrip("/")]
        if method != allowed:
            raise ApiError(405, f"{method} is not allowed here; use {allowed}")
        return route

    def _authenticate(self, header: str | None, project_id: str | None) -> str:
        username, password = _basic(header)
        if _same(username, self._username) and _same(password, self._secret):
            if not project_id:
                raise ApiError(400, "project_id is required when using a service account")
            self._check_project(project_id)
            return "service_account"
        if self._project_secret and _same(username, self._project_secret) and password == "":
            if project_id:
                self._check_project(project_id)
            return "project_secret"
        raise ApiError(401, f"Unauthorized, invalid credentials. See {AUTH_DOCS}")

    def _check_project(self, project_id: str) -> None:
        if project_id.strip() != str(self.project_id):
            raise ApiError(403, f"no access to project_id {project_id!r}")

    def _admit(
        self,
        path: str,
        route: Route,
        query: dict[str, str],
        form: dict[str, str],
        headers: Mapping[str, str],
    ) -> Reply:
        failure = self.faults.take()
        if failure is not None and failure.status != 200:
            retry = failure.retry_after_s
            if failure.status == 429:
                raise ApiError(429, "Query rate limit exceeded (injected)", retry)
            raise ApiError(failure.status, "Internal server error (injected)")
        limiter = self.export_limiter if path.startswith(EXPORT_PATH) else self.query_limiter
        admission = limiter.admit()
        if not admission.allowed:
            raise ApiError(429, admission.error, admission.retry_after_s)
        try:
            reply = route(query, form, headers, failure)
        except BaseException:
            limiter.release()
            raise
        reply.on_close = limiter.release
        return reply

    def _export(
        self,
        query: dict[str, str],
        form: dict[str, str],
        headers: Mapping[str, str],
        failure: InjectedFailure | None,
    ) -> Reply:
        del form
        export = parse_query(query)
        accepts = headers.get("accept-encoding", "")
        if self._prebuilt_export is not None and "gzip" in accepts.lower():
            return Reply(
                200,
                _file_chunks(self._prebuilt_export),
                content_type=JSONL,
                content_encoding="gzip",
            )
        encoded = encode_body(
            export_lines(self._events, export, datetime.now(UTC).date()),
            accept_gzip="gzip" in accepts.lower(),
            cut_after_lines=failure.cut_after_lines if failure is not None else None,
        )
        return Reply(
            200,
            encoded.body,
            content_type=JSONL,
            headers={"Vary": "Accept-Encoding"},
            content_encoding=encoded.content_encoding,
            cut=failure is not None,
        )

    def _engage_page(
        self,
        query: dict[str, str],
        form: dict[str, str],
        headers: Mapping[str, str],
        failure: InjectedFailure | None,
    ) -> Reply:
        del query, headers
        if failure is not None:
            return Reply(200, b"", drop=True)
        return json_reply(200, self._engage.page(form))


def _file_chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as body:
        while chunk := body.read(size):
            yield chunk


def _single_values(encoded: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(encoded, keep_blank_values=True).items()}


def _basic(header: str | None) -> tuple[str, str]:
    if not header or not header.lower().startswith("basic "):
        raise ApiError(401, f"Unauthorized, HTTP Basic authentication required. See {AUTH_DOCS}")
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError(401, f"Unauthorized, malformed Basic credentials. See {AUTH_DOCS}") from None
    username, _, password = decoded.partition(":")
    return username, password


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


class _Server(TrackingHTTPServer):
    def __init__(self, address: tuple[str, int], emulator: MixpanelEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class _Handler(TrackedRequestHandler):
    server_version = "MixpanelSandbox/1.0"
    timeout = 120

    @property
    def _sandbox(self) -> _Server:
        return cast(_Server, self.server)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self.read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self._sandbox.emulator.handle(self.command, self.path, headers, body)
        try:
            self._write(reply)
        except OSError:
            self.close_connection = True
        finally:
            if reply.on_close is not None:
                reply.on_close()

    def _write(self, reply: Reply) -> None:
        if reply.drop:
            self._hang_up()
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if reply.content_encoding:
            self.send_header("Content-Encoding", reply.content_encoding)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if isinstance(reply.body, bytes):
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self._write_chunks(reply.body)
        if reply.cut:
            self._hang_up()
        else:
            self.wfile.write(b"0\r\n\r\n")

    def _write_chunks(self, blocks: Iterator[bytes]) -> None:
        for block in blocks:
            if block:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))

    def _hang_up(self) -> None:
        self.close_connection = True
        self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request logging."""
