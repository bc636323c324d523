"""A Segment-compatible HTTP collector: what it answers 200 to is fsynced in the spool.

Speaks Segment's HTTP Tracking API (`/v1/batch`, `/v1/track`, `/v1/identify`, `/v1/group`,
`/v1/page`, `/v1/screen`, `/v1/alias`), so Segment libraries (`host=`) can point at it, and
takes a Segment "Webhooks" destination on `/v1/webhook` (one message of any type; the write key
as its shared secret, checked against `X-Signature`, or an `Authorization` header it adds).
Like Segment: 400 for malformed JSON and oversized payloads, 200 for the rest, with invalid
messages quarantined (and counted) instead of dropped.

Served by Uvicorn (a Starlette application) in a thread of its own with its own event loop,
within `ServerLimits`: idle connections closed, a request's headers and then its body each
within the read timeout (408), requests beyond `max_connections` answered 503. Parsing and the
spool's fsync run in a thread pool (`SPOOL_THREADS`), never on the event loop; the 200 goes out
only after `Spool.append` returned, i.e. once the messages are durable.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import threading
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from plg_handoff.asgi.body import BodyRefused, declared_length, discard_body, read_body
from plg_handoff.asgi.limits import ServerLimits
from plg_handoff.asgi.server import AsgiThread
from plg_handoff.connectors.segment.messages import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    stamp,
    validate,
)
from plg_handoff.connectors.segment.spool import QuarantineRecord, Spool, SpoolWriteError
from plg_handoff.logs import get_logger

log = get_logger(__name__)

BATCH_PATH = "/v1/batch"
WEBHOOK_PATH = "/v1/webhook"
SINGLE_PATHS: dict[str, str | None] = {f"/v1/{kind}": kind for kind in MESSAGE_TYPES}
SINGLE_PATHS[WEBHOOK_PATH] = None  # the message says its own type
ROTATION_CHECK_S = 1.0
DRAIN_LIMIT_BYTES = 8 * 1024 * 1024
SPOOL_THREADS = 32  # requests parsed and appended at once; the spool group-commits them
DEFAULT_LIMITS = ServerLimits(max_body_bytes=MAX_BATCH_BYTES, max_connections=200)


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]

    @classmethod
    def ok(cls) -> Reply:
        return cls(200, {"success": True})

    @classmethod
    def error(cls, status: int, code: str, message: str) -> Reply:
        # `code` + `message`: what Segment's libraries read from an error body.
        return cls(status, {"success": False, "code": code, "message": message})


@dataclass
class CollectorStats:
    requests: int = 0
    accepted: int = 0
    quarantined: int = 0
    rejected: Counter[int] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)


class SegmentCollector:
    def __init__(
        self, spool: Spool, write_keys: Iterable[str], limits: ServerLimits = DEFAULT_LIMITS
    ) -> None:
        self.spool = spool
        self._keys = tuple(k.encode() for k in write_keys if k)
        if not self._keys:
            raise ValueError("the Segment collector needs at least one write key")
        self.stats = CollectorStats()
        self.limits = limits
        self._stats_lock = threading.Lock()
        self._serving = AsgiThread("segment-collector", self._app(), limits)
        self._executor: ThreadPoolExecutor | None = None
        self._rotation: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._serving.running:
            raise RuntimeError(f"Segment collector already running at {self._serving.url}")
        self.spool.claim()
        self._stopping.clear()
        self._executor = ThreadPoolExecutor(SPOOL_THREADS, thread_name_prefix="segment-spool")
        try:
            url = self._serving.start(host, port)
        except OSError:
            self._executor.shutdown()
            self.spool.close()
            raise
        self._rotation = threading.Thread(
            target=self._rotate_loop, name="segment-spool-rotation", daemon=True
        )
        self._rotation.start()
        log.info("segment.collector_started", url=url, write_keys=len(self._keys))
        return url

    def stop(self) -> None:
        if not self._serving.running:
            return
        self._stopping.set()
        self._serving.stop()
        if self._executor is not None:
            self._executor.shutdown()
        if self._rotation is not None:
            self._rotation.join(timeout=5)
        self.spool.close()  # start() claimed it: close the open segment, release the lock
        log.info("segment.collector_stopped", **self.summary())

    @property
    def url(self) -> str:
        return self._serving.url

    def summary(self) -> dict[str, Any]:
        with self._stats_lock:
            return {
                "requests": self.stats.requests,
                "accepted": self.stats.accepted,
                "quarantined": self.stats.quarantined,
                "rejected": dict(self.stats.rejected),
            }

    def handle(
        self,
        path: str,
        body: bytes,
        *,
        authorization: str | None = None,
        content_encoding: str | None = None,
        signature: str | None = None,
    ) -> Reply:
        """One POST, from raw bytes to the reply; the HTTP plumbing is in `_Handler`."""
        reply = self._handle(path, body, authorization, content_encoding, signature)
        with self._stats_lock:
            self.stats.requests += 1
            if reply.status != 200:
                self.stats.rejected[reply.status] += 1
        if reply.status != 200:
            log.info(
                "segment.request_rejected",
                path=path,
                status=reply.status,
                code=reply.body["code"],
                reason=reply.body["message"],
            )
        return reply

    def _handle(
        self,
        path: str,
        body: bytes,
        authorization: str | None,
        content_encoding: str | None,
        signature: str | None,
    ) -> Reply:
        single = path in SINGLE_PATHS
        if not single and path != BATCH_PATH:
            return Reply.error(404, "not_found", f"no endpoint {path}")
        try:
            raw = _decode(body, content_encoding, MAX_MESSAGE_BYTES if single else MAX_BATCH_BYTES)
        except _Rejected as rejected:
            return rejected.reply
        header_ok = self._authorized(_basic_username(authorization)) or self._signed(raw, signature)
        try:
            payload = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            if not header_ok:
                return _unauthorized()
            return Reply.error(400, "invalid_json", f"malformed JSON: {exc}")
        if not isinstance(payload, dict):
            return _unauthorized() if not header_ok else _bad("the body must be a JSON object")
        key = payload.pop("writeKey", None)
        if not header_ok and not (isinstance(key, str) and self._authorized(key)):
            return _unauthorized()
        if not single:
            messages = payload.get("batch")
            if not isinstance(messages, list):
                return _bad("`batch` must be a list of messages")
            context = payload.get("context")
            return self._accept(
                messages,
                path,
                context if isinstance(context, dict) else None,
                payload.get("sentAt"),
            )
        if kind := SINGLE_PATHS[path]:
            payload["type"] = kind
        return self._accept([payload], path, None, payload.get("sentAt"))

    def _accept(
        self, messages: list[Any], path: str, context: Mapping[str, Any] | None, sent_at: Any
    ) -> Reply:
        received_at = _now_iso()
        accepted: list[dict[str, Any]] = []
        quarantined: list[QuarantineRecord] = []
        for index, message in enumerate(messages):
            if isinstance(message, dict):
                message.pop("writeKey", None)
            invalid = validate(message)
            if invalid is None:
                accepted.append(
                    stamp(message, received_at=received_at, batch_context=context, sent_at=sent_at)
                )
                continue
            if invalid.reason == "too_large" and path != BATCH_PATH:
                return Reply.error(400, "too_large", f"message too large: {invalid.detail}")
            quarantined.append(
                QuarantineRecord(
                    reason=invalid.reason,
                    raw=json.dumps(message, ensure_ascii=False),
                    location=f"{path}[{index}]",
                    detail=invalid.detail,
                )
            )
        try:
            self.spool.append(accepted, quarantined)
        except SpoolWriteError as exc:
            # The spool logged the traceback; this records what the client was told.
            log.warning("segment.spool_unavailable", error=str(exc.__cause__ or exc))
            return Reply.error(503, "unavailable", "could not store the messages; retry")
        with self._stats_lock:
            self.stats.accepted += len(accepted)
            self.stats.quarantined += len(quarantined)
            self.stats.reasons.update(q.reason for q in quarantined)
        if quarantined:
            log.warning(
                "segment.messages_quarantined",
                path=path,
                accepted=len(accepted),
                quarantined=len(quarantined),
                reasons=dict(Counter(q.reason for q in quarantined)),
            )
        log.debug("segment.batch_accepted", path=path, accepted=len(accepted))
        return Reply.ok()

    def _authorized(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        given = candidate.encode()
        # Compare against every key so timing does not reveal which one matched.
        return sum(hmac.compare_digest(given, key) for key in self._keys) > 0

    def _signed(self, body: bytes, signature: str | None) -> bool:
        """Segment's Webhooks destination signs the body: hex HMAC-SHA1 with the shared secret."""
        if not signature:
            return False
        given = signature.strip().lower().encode()
        expected = (hmac.new(key, body, hashlib.sha1).hexdigest().encode() for key in self._keys)
        return sum(hmac.compare_digest(given, digest) for digest in expected) > 0

    # -- HTTP ---------------------------------------------------------------------------------

    def _app(self) -> Starlette:
        methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]  # 405 but for POST
        return Starlette(routes=[Route("/{path:path}", self._request, methods=methods)])

    async def _request(self, request: Request) -> Response:
        """One request, from the socket to `handle` (in the thread pool) and back."""
        if request.method != "POST":
            return _response(Reply.error(405, "method_not_allowed", "POST messages to /v1/*"))
        length = declared_length(request)
        if "chunked" in request.headers.get("transfer-encoding", "").lower() or length is None:
            return _response(Reply.error(411, "length_required", "send a Content-Length"), True)
        if length > MAX_BATCH_BYTES:
            if length <= DRAIN_LIMIT_BYTES:
                # Closing with unread bytes resets the connection before the client reads the 400.
                await discard_body(request, length, self.limits.read_timeout_s)
            return _response(too_large(MAX_BATCH_BYTES), close=True)
        try:
            body = await read_body(request, MAX_BATCH_BYTES, self.limits.read_timeout_s)
        except BodyRefused as exc:
            log.info("segment.request_rejected", path=request.url.path, status=exc.status,
                     reason=str(exc))  # fmt: skip
            code = "timeout" if exc.status == 408 else "bad_request"
            return _response(Reply.error(exc.status, code, str(exc)), close=True)
        call = partial(
            self.handle,
            request.url.path,
            body,
            authorization=request.headers.get("authorization"),
            content_encoding=request.headers.get("content-encoding"),
            signature=request.headers.get("x-signature"),
        )
        try:
            reply = await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except Exception:
            log.exception("segment.request_failed", path=request.url.path)
            reply = Reply.error(500, "internal", "the collector failed; retry")
        return _response(reply)

    def _rotate_loop(self) -> None:
        while not self._stopping.wait(ROTATION_CHECK_S):
            try:
                self.spool.rotate_if_due()
            except OSError:
                log.exception("segment.spool_rotation_failed")


class _Rejected(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.body["message"])
        self.reply = reply


def _decode(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        try:
            raw = inflater.decompress(body, limit + 1)
        except zlib.error as exc:
            raise _Rejected(_bad(f"invalid gzip body: {exc}")) from exc
        if len(raw) <= limit and not inflater.eof:
            raise _Rejected(_bad("truncated gzip body"))
    elif encoding == "identity":
        raw = body
    else:
        raise _Rejected(Reply.error(415, "unsupported_encoding", f"{encoding!r} is not supported"))
    if len(raw) > limit:
        raise _Rejected(too_large(limit))
    return raw


def too_large(limit: int) -> Reply:
    return Reply.error(400, "too_large", f"request body exceeds {limit // 1024} KB")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _basic_username(authorization: str | None) -> str | None:
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0]


def _bad(message: str) -> Reply:
    return Reply.error(400, "bad_request", message)


def _unauthorized() -> Reply:
    return Reply.error(401, "unauthorized", "invalid or missing write key")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _response(reply: Reply, close: bool = False) -> Response:
    """`close`: the body was not read to its end, so the connection cannot carry another."""
    headers = {"Connection": "close"} if close else None
    return Response(
        json.dumps(reply.body).encode(),
        status_code=reply.status,
        media_type="application/json",
        headers=headers,
    )


if __name__ == "__main__":
    from plg_handoff.connectors.segment.__main__ import main

    main()
