"""A local S3-compatible server, for tests and the demo: path-style requests
(`<url>/<bucket>/<key>`) on the shared threaded HTTP server.

Serves what the Segment archive reader uses, as S3 documents it:

- ListObjectsV2 (`GET /<bucket>?list-type=2`): `prefix`, `start-after`, `max-keys` (default and
  at most 1,000), opaque `continuation-token`s; `ListBucketResult` with `KeyCount`, `MaxKeys`,
  `IsTruncated`, `NextContinuationToken` and per object `Key`, `LastModified`, the quoted
  `ETag`, `Size` and `StorageClass`. Keys in UTF-8 binary order. (`delimiter` and the V1
  listing answer 501 NotImplemented.)
- GetObject and HeadObject: the body with `ETag`, `Content-Length`, `Last-Modified` and, when
  the object has one, `Content-Encoding`; `If-Match` (412 PreconditionFailed) and
  `If-None-Match` (304).
- HeadBucket.

Every request must carry a valid SigV4 `Authorization` header for the emulator's keys and
region (`sigv4.verify`): an unknown key id is 403 InvalidAccessKeyId, a wrong signature 403
SignatureDoesNotMatch, in S3's XML error shape (`<Error><Code>…</Code><Message>…</Message>
…<RequestId>…</RequestId></Error>`; HEAD answers carry no body). `faults` plans answers for the
next requests (503 SlowDown, 5xx, a dropped connection), and every request is recorded in
`calls` with its operation name."""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import socket
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from plg_handoff.http_server import (
    ServedEndpoint,
    ServerThread,
    TrackedRequestHandler,
    TrackingHTTPServer,
)
from plg_handoff.sandbox.planned import PlannedReplies

from .sigv4 import Keys, verify
from .store import Bucket, DirectoryBucket, MemoryBucket, StoredObject

__all__ = ["Call", "S3Emulator", "S3Faults"]

MAX_KEYS = 1000
XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
_XML_HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def _xml(text: str) -> str:
    return escape(text, {'"': "&quot;"})


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    drop: bool = False  # close the connection without answering


def _error(status: int, code: str, message: str, **extra: str) -> _Reply:
    fields = "".join(f"<{name}>{_xml(value)}</{name}>" for name, value in extra.items())
    body = f"<Error><Code>{code}</Code><Message>{_xml(message)}</Message>{fields}</Error>"
    return _Reply(status, _XML_HEAD + body.encode(), {"Content-Type": "application/xml"})


@dataclass(frozen=True)
class Call:
    """One request as the emulator saw it."""

    method: str
    operation: str  # "ListObjectsV2", "GetObject", "HeadObject", "HeadBucket", ...
    bucket: str
    key: str
    status: int


class S3Faults(PlannedReplies[_Reply]):
    """Answers planned for the next requests, in order, before any other check."""

    def slow_down_next(self, n: int, retry_after_s: float | None = None) -> None:
        headers = {} if retry_after_s is None else {"Retry-After": f"{retry_after_s:g}"}
        reply = _error(503, "SlowDown", "Please reduce your request rate.")
        self._plan(n, _Reply(reply.status, reply.body, {**reply.headers, **headers}))

    def fail_next(self, n: int, status: int = 500) -> None:
        codes = {500: "InternalError", 503: "ServiceUnavailable"}
        if not 500 <= status <= 599:
            raise ValueError(f"fail_next needs a 5xx status, got {status}")
        messages = {
            "InternalError": "We encountered an internal error. Please try again.",
            "ServiceUnavailable": "Service is unable to handle request.",
        }
        code = codes.get(status, "InternalError")
        self._plan(n, _error(status, code, messages[code]))

    def drop_next(self, n: int) -> None:
        self._plan(n, _Reply(0, drop=True))


class S3Emulator(ServedEndpoint):
    def __init__(
        self,
        *,
        access_key_id: str,
        secret_access_key: str,
        region: str = "us-east-1",
        session_token: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.region = region
        self._keys = Keys(access_key_id, secret_access_key, session_token)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()
        self._request_ids = itertools.count(1)
        self.faults = S3Faults()
        self.calls: list[Call] = []
        self._serving = ServerThread("s3-emulator", poll_interval=0.02)

    def __repr__(self) -> str:
        url = self._serving.url if self._serving.running else None
        return f"S3Emulator(region={self.region!r}, url={url!r})"

    # --- buckets ------------------------------------------------------------------------------

    def create_bucket(self, name: str, directory: Path | None = None) -> None:
        """An empty in-memory bucket, or one serving the files under `directory`."""
        with self._lock:
            self._buckets[name] = (
                MemoryBucket() if directory is None else DirectoryBucket(directory)
            )

    def put_object(
        self, bucket: str, key: str, data: bytes, *, content_encoding: str | None = None
    ) -> str:
        """Stores the object; returns its ETag (without quotes)."""
        return self._bucket(bucket).put(key, data, content_encoding).etag

    def delete_object(self, bucket: str, key: str) -> None:
        self._bucket(bucket).delete(key)

    def keys(self, bucket: str) -> list[str]:
        return self._bucket(bucket).list_keys()

    def _bucket(self, name: str) -> Bucket:
        with self._lock:
            found = self._buckets.get(name)
        if found is None:
            raise KeyError(f"no bucket {name!r}")
        return found

    # --- calls --------------------------------------------------------------------------------

    def count(self, operation: str | None = None) -> int:
        with self._lock:
            return sum(1 for c in self.calls if operation is None or c.operation == operation)

    def operations(self) -> Counter[str]:
        with self._lock:
            return Counter(c.operation for c in self.calls)

    def reset_calls(self) -> None:
        with self._lock:
            self.calls.clear()

    # --- server -------------------------------------------------------------------------------

    def _make_server(self, address: tuple[str, int]) -> _Server:
        return _Server(address, self)

    # --- requests -----------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> _Reply:
        """One request: `target` as on the request line, `headers` with lower-case names."""
        parts = urlsplit(target)
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        operation = _operation(method, bucket, key, query)
        reply = self._answer(method, parts.path, parts.query, headers, body, bucket, key, query)
        reply = _with_request_id(reply, f"{next(self._request_ids):016X}")
        with self._lock:
            self.calls.append(Call(method, operation, bucket, key, reply.status))
        return reply

    def _answer(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Mapping[str, str],
        body: bytes,
        bucket_name: str,
        key: str,
        query: dict[str, str],
    ) -> _Reply:
        planned = self.faults.take()
        if planned is not None:
            return planned
        refused = verify(
            method,
            raw_path,
            raw_query,
            headers,
            body,
            keys=self._keys,
            region=self.region,
            now=self._clock(),
        )
        if refused is not None:
            return _error(refused.status, refused.code, refused.message, **refused.extra)
        if method not in {"GET", "HEAD"}:
            return _error(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )
        if not bucket_name:
            return _error(501, "NotImplemented", "ListBuckets is not implemented by the sandbox.")
        with self._lock:
            bucket = self._buckets.get(bucket_name)
        if bucket is None:
            return _error(
                404,
                "NoSuchBucket",
                "The specified bucket does not exist",
                BucketName=bucket_name,
            )
        if key:
            return _object(bucket.get(key), key, headers, head=method == "HEAD")
        if method == "HEAD":
            return _Reply(200, headers={"x-amz-bucket-region": self.region})
        return _list(bucket_name, bucket, query)


def _operation(method: str, bucket: str, key: str, query: dict[str, str]) -> str:
    if not bucket:
        return "ListBuckets"
    if key:
        return {"GET": "GetObject", "HEAD": "HeadObject"}.get(method, f"{method}Object")
    if method == "HEAD":
        return "HeadBucket"
    if method == "GET":
        return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
    return f"{method}Bucket"


def _with_request_id(reply: _Reply, request_id: str) -> _Reply:
    if reply.drop:
        return reply
    body = reply.body
    if body.endswith(b"</Error>"):
        body = body[: -len(b"</Error>")] + f"<RequestId>{request_id}</RequestId></Error>".encode()
    headers = {**reply.headers, "x-amz-request-id": request_id}
    return _Reply(reply.status, body, headers)


def _object(
    found: StoredObject | None, key: str, headers: Mapping[str, str], *, head: bool
) -> _Reply:
    if found is None:
        return _error(404, "NoSuchKey", "The specified key does not exist.", Key=key)
    quoted = f'"{found.etag}"'
    meta = {
        "ETag": quoted,
        "Last-Modified": format_datetime(found.last_modified, usegmt=True),
        "Accept-Ranges": "bytes",
        "Content-Type": "binary/octet-stream",
    }
    if found.content_encoding:
        meta["Content-Encoding"] = found.content_encoding
    if_match = headers.get("if-match")
    if if_match is not None and not _etag_matches(if_match, found.etag):
        return _error(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            Condition="If-Match",
        )
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None and _etag_matches(if_none_match, found.etag):
        return _Reply(304, headers={"ETag": quoted})
    meta["Content-Length"] = str(found.size)
    return _Reply(200, b"" if head else found.data, meta)


def _etag_matches(header: str, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",")]
    return "*" in tags or etag in tags


def _list(name: str, bucket: Bucket, query: dict[str, str]) -> _Reply:
    if query.get("list-type") != "2":
        return _error(501, "NotImplemented", "Only ListObjectsV2 (list-type=2) is implemented.")
    if "delimiter" in query:
        return _error(501, "NotImplemented", "The sandbox does not implement delimiter.")
    raw_max = query.get("max-keys", str(MAX_KEYS))
    try:
        max_keys = int(raw_max)
    except ValueError:
        max_keys = -1
    if max_keys < 0:
        return _error(
            400,
            "InvalidArgument",
            "Provided max-keys not an integer or within integer range",
            ArgumentName="max-keys",
            ArgumentValue=raw_max,
        )
    max_keys = min(max_keys, MAX_KEYS)
    prefix = query.get("prefix", "")
    token = query.get("continuation-token")
    start_after = query.get("start-after", "")
    after = start_after
    if token is not None:
        decoded = _decode_token(token)
        if decoded is None:
            return _error(
                400,
                "InvalidArgument",
                "The continuation token provided is incorrect",
                ArgumentName="continuation-token",
            )
        after = decoded
    keys = [
        k
        for k in bucket.list_keys()
        if k.startswith(prefix) and (not after or k.encode() > after.encode())
    ]
    page, rest = keys[:max_keys], keys[max_keys:]
    contents = []
    for key in page:
        found = bucket.get(key)
        if found is None:  # deleted while listing
            continue
        contents.append(
            "<Contents>"
            f"<Key>{_xml(key)}</Key>"
            f"<LastModified>{found.last_modified.strftime('%Y-%m-%dT%H:%M:%S.000Z')}</LastModified>"
            f"<ETag>{_xml(chr(34) + found.etag + chr(34))}</ETag>"
            f"<Size>{found.size}</Size>"
            "<StorageClass>STANDARD</StorageClass>"
            "</Contents>"
        )
    parts = [
        f'<ListBucketResult xmlns="{XMLNS}">',
        f"<Name>{_xml(name)}</Name>",
        f"<Prefix>{_xml(prefix)}</Prefix>",
    ]
    if start_after:
        parts.append(f"<StartAfter>{_xml(start_after)}</StartAfter>")
    if token is not None:
        parts.append(f"<ContinuationToken>{_xml(token)}</ContinuationToken>")
    parts += [
        f"<KeyCount>{len(contents)}</KeyCount>",
        f"<MaxKeys>{max_keys}</MaxKeys>",
        f"<IsTruncated>{'true' if rest else 'false'}</IsTruncated>",
    ]
    if rest and page:
        parts.append(f"<NextContinuationToken>{_encode_token(page[-1])}</NextContinuationToken>")
    parts += [*contents, "</ListBucketResult>"]
    body = _XML_HEAD + "".join(parts).encode()
    return _Reply(200, body, {"Content-Type": "application/xml"})


def _encode_token(last_key: str) -> str:
    return base64.b64encode(b"sandbox:" + last_key.encode()).decode()


def _decode_token(token: str) -> str | None:
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(b"sandbox:"):
        return None
    try:
        return raw[len(b"sandbox:") :].decode()
    except UnicodeDecodeError:
        return None


class _Server(TrackingHTTPServer):
    def __init__(self, address: tuple[str, int], emulator: S3Emulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class _Handler(TrackedRequestHandler):
    server_version = "S3Sandbox/1.0"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self.read_body()
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        emulator = cast(_Server, self.server).emulator
        reply = emulator.handle(self.command, self.path, headers, body)
        try:
            self._write(reply)
        except OSError:
            self.close_connection = True

    def _write(self, reply: _Reply) -> None:
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        head = self.command == "HEAD"
        for name, value in reply.headers.items():
            if head and name == "Content-Length":
                continue
            self.send_header(name, value)
        if head:
            self.send_header("Content-Length", reply.headers.get("Content-Length", "0"))
            self.end_headers()
            return
        if reply.status != 304 and "Content-Length" not in reply.headers:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.status != 304:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request logging."""
