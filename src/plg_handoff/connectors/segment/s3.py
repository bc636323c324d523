"""A minimal S3 client over `requests`: ListObjectsV2 and GetObject (streamed to a file), signed
with AWS Signature Version 4.

It works with AWS and with S3-compatible stores (MinIO, Cloudflare R2, Ceph RGW, localstack).
With an `endpoint_url`, requests are path-style: `<endpoint>/<bucket>/<key>`. Without one they
go to AWS's regional endpoint, virtual-hosted style (`https://<bucket>.s3.<region>.amazonaws.com/
<key>`), or path-style (`https://s3.<region>.amazonaws.com/<bucket>/<key>`) for a bucket name
with a dot, which AWS's wildcard TLS certificate would not cover.

Every request is a GET with an empty body. It carries `x-amz-date`, `x-amz-content-sha256` (the
SHA-256 of the empty body) and, with temporary credentials, `x-amz-security-token`; all of them
are signed along with `host` and any other header given. Object bodies are written to disk
exactly as stored (`Accept-Encoding: identity`, no transparent decoding of a `Content-Encoding:
gzip` object), and their size is checked.

Failures are mapped once, by S3's XML error `<Code>` first and else by HTTP status, through
`_CODE_ERRORS` and `_STATUS_ERRORS`: bad or unauthorised credentials are `AuthError`; a
missing bucket, a wrong region or endpoint are `InvalidInput` (the configuration is wrong:
retrying cannot help, a person has to fix `archive_url`, `s3_region` or `s3_endpoint_url`);
a missing key is `NotFound` (an object listed and then deleted, e.g. by a lifecycle rule, is
simply gone: callers skip it); `SlowDown` is `RateLimited` (with `Retry-After` if sent); other
5xx answers, a changed object (`If-Match` failed) and connection errors are `TransientError`.
At most `retries` quick retries (default 2, 0.2 s then 0.4 s apart, or a `Retry-After` up to
2 s) are made in process; longer waits are Temporal's retry policy's job. Credentials and
signatures are never logged nor put in error messages.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote, unquote, urlsplit

import requests
import urllib3

from plg_handoff.connectors.errors import (
    AuthError,
    ConnectorError,
    InvalidInput,
    NotFound,
    RateLimited,
    TransientError,
    retry_after,
)
from plg_handoff.logs import get_logger

__all__ = [
    "EMPTY_SHA256",
    "MAX_KEYS",
    "S3Client",
    "S3Credentials",
    "S3Location",
    "S3Object",
    "aws_endpoint",
    "sign",
]

log = get_logger(__name__)
T = TypeVar("T")

VENDOR = "s3"
ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_KEYS = 1000  # ListObjectsV2 returns at most 1,000 keys a page
SHORT_WAIT_S = 2.0  # longer waits belong to Temporal's retry policy, not to this process
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF_S = 0.2
_DOWNLOAD_CHUNK = 1 << 20
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_RETRIED_STATUSES = frozenset({500, 502, 503, 504})

# S3's own error codes, checked first: the same status means different things.
_CODE_ERRORS: dict[str, type[ConnectorError]] = {
    "AccessDenied": AuthError,
    "AccountProblem": AuthError,
    "ExpiredToken": AuthError,
    "InvalidAccessKeyId": AuthError,
    "InvalidToken": AuthError,
    "RequestTimeTooSkewed": AuthError,  # the clock is off: a person has to fix it
    "SignatureDoesNotMatch": AuthError,
    "AuthorizationHeaderMalformed": InvalidInput,  # usually `s3_region` is not the bucket's
    "InvalidBucketName": InvalidInput,
    "NoSuchBucket": InvalidInput,  # `archive_url` names a bucket that does not exist
    "PermanentRedirect": InvalidInput,  # the bucket lives in another region or endpoint
    "NoSuchKey": NotFound,  # the object is gone (deleted since it was listed)
    "SlowDown": RateLimited,
    "TooManyRequests": RateLimited,
    "InternalError": TransientError,
    "PreconditionFailed": TransientError,  # the object changed since it was listed: re-list
    "RequestTimeout": TransientError,
    "ServiceUnavailable": TransientError,
    "TemporaryRedirect": TransientError,  # a new bucket's DNS is still spreading
}
_STATUS_ERRORS: dict[int, type[ConnectorError]] = {
    301: InvalidInput,
    307: TransientError,
    400: InvalidInput,
    401: AuthError,
    403: AuthError,
    404: NotFound,
    412: TransientError,
    429: RateLimited,
    500: TransientError,
    502: TransientError,
    503: TransientError,
    504: TransientError,
}


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class S3Object:
    key: str
    etag: str  # without its quotes
    size: int
    last_modified: str = ""


@dataclass(frozen=True)
class S3Location:
    """`s3://bucket/prefix`: the prefix is taken literally (no percent-decoding) and always as a
    folder: `s3://b/logs` lists `logs/...`, never `logs2/...`."""

    bucket: str
    prefix: str  # "" or ending with "/"

    @classmethod
    def parse(cls, url: str) -> S3Location:
        if not url.startswith("s3://"):
            raise ValueError(f"an S3 URL starts with s3://, got {url!r}")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise ValueError(
                f"{bucket!r} is not an S3 bucket name (3-63 lower-case letters, digits, '.', '-')"
            )
        prefix = prefix.strip("/")
        return cls(bucket, f"{prefix}/" if prefix else "")

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def aws_endpoint(region: str) -> str:
    return f"https://s3.{region}.amazonaws.com"


# --- Signature Version 4 ----------------------------------------------------------------------


def _uri_encode(value: str, *, keep_slash: bool) -> str:
    """SigV4's encoding: every byte but A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex); `/` kept
    in paths. S3 paths are encoded once (not twice as for other services)."""
    return quote(value, safe="/-_.~" if keep_slash else "-_.~")


def _canonical_query(query: str) -> str:
    pairs: list[tuple[str, str]] = []
    for item in query.split("&") if query else []:
        name, _, value = item.partition("=")
        pairs.append(
            (
                _uri_encode(unquote(name), keep_slash=False),
                _uri_encode(unquote(value), keep_slash=False),
            )
        )
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    credentials: S3Credentials,
    region: str,
    *,
    now: datetime,
    payload_sha256: str = EMPTY_SHA256,
    service: str = "s3",
) -> dict[str, str]:
    """The headers to send for `method url`: `headers` plus `host`, `x-amz-date`,
    `x-amz-content-sha256`, `x-amz-security-token` (temporary credentials) and `Authorization`.
    `url` must be encoded as it is sent (the path is signed as given; the query is
    canonicalised); every header in the result but `Authorization` is signed."""
    parts = urlsplit(url)
    amz_date = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    signed: dict[str, str] = {name.lower(): value for name, value in headers.items()}
    signed["host"] = _host(url)
    signed["x-amz-date"] = amz_date
    signed["x-amz-content-sha256"] = payload_sha256
    if credentials.session_token:
        signed["x-amz-security-token"] = credentials.session_token
    names = sorted(signed)
    canonical_headers = "".join(
        f"{name}:{' '.join(signed[name].split())}\n" for name in names
    )  # values trimmed, inner runs of spaces collapsed
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        [
            method.upper(),
            parts.path or "/",
            _canonical_query(parts.query),
            canonical_headers,
            signed_headers,
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + credentials.secret_access_key).encode("utf-8"), day)
    for step in (region, service, "aws4_request"):
        key = _hmac(key, step)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope},"
        f"SignedHeaders={signed_headers},Signature={signature}"
    )
    return signed


# --- errors -----------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _parse_xml(body: bytes) -> ET.Element:
    """S3 answers are XML without a DTD; one with a DOCTYPE is refused rather than parsed
    (entity expansion). Raises ValueError on anything that is not well-formed XML."""
    if b"<!DOCTYPE" in body[:1024].upper():
        raise ValueError("XML with a DOCTYPE")
    try:
        return ET.fromstring(body)  # noqa: S314  # no DTD (checked above); expat >= 2.4 limits expansion
    except ET.ParseError as exc:
        raise ValueError(str(exc)) from None


def _error_fields(body: bytes) -> dict[str, str]:
    """`<Error><Code>…</Code><Message>…</Message>…</Error>` as a dict (empty when absent)."""
    try:
        root = _parse_xml(body)
    except ValueError:
        return {}
    if _local(root.tag) != "Error":
        return {}
    return {_local(child.tag): (child.text or "").strip() for child in root}


def _error_for(response: requests.Response, what: str) -> ConnectorError:
    status = response.status_code
    # A HEAD answer has no body; a proxy may answer HTML: both fall back to the status.
    fields = _error_fields(response.content) if response.request.method != "HEAD" else {}
    code = fields.get("Code", "")
    kind = _CODE_ERRORS.get(code) or _STATUS_ERRORS.get(status)
    if kind is None:
        kind = TransientError if status >= 500 else ConnectorError
    text = fields.get("Message") or response.reason or "request failed"
    if code == "AuthorizationHeaderMalformed" and fields.get("Region"):
        text += f" (the bucket's region is {fields['Region']!r}: set s3_region)"
    if code in {"PermanentRedirect", "TemporaryRedirect"} and fields.get("Endpoint"):
        text += f" (use endpoint {fields['Endpoint']!r})"
    message = f"{what}: {code + ': ' if code else ''}{text}"
    wait = retry_after(response.headers) if kind is RateLimited else None
    return kind(VENDOR, message, status=status, retry_after=wait)


# --- the client -------------------------------------------------------------------------------


class S3Client:
    """ListObjectsV2 and GetObject against one endpoint; safe to share between threads."""

    def __init__(
        self,
        credentials: S3Credentials,
        *,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        timeout_s: float = 30,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
        session: requests.Session | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self._credentials = credentials
        self.region = region
        self._endpoint = (endpoint_url or aws_endpoint(region)).rstrip("/")
        self._virtual_hosted = endpoint_url is None
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._session = session or _new_session()
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return (
            f"S3Client(endpoint={self._endpoint!r}, region={self.region!r}, "
            f"access_key_id={self._credentials.access_key_id!r})"
        )

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def close(self) -> None:
        self._session.close()

    def list_objects(
        self, bucket: str, prefix: str = "", *, max_keys: int = MAX_KEYS
    ) -> Iterator[S3Object]:
        """Every object whose key starts with `prefix`, in key order, a page of `max_keys` at a
        time (ListObjectsV2, following `NextContinuationToken`)."""
        if not 1 <= max_keys <= MAX_KEYS:
            raise ValueError(f"max_keys must be between 1 and {MAX_KEYS}, got {max_keys}")
        token: str | None = None
        seen: set[str] = set()
        while True:
            objects, token = self._list_page(bucket, prefix, token, max_keys)
            yield from objects
            if token is None:
                return
            if token in seen:
                raise TransientError(VENDOR, f"list {bucket}: the listing repeats a page")
            seen.add(token)

    def download(self, bucket: str, key: str, dest: Path, *, etag: str | None = None) -> S3Object:
        """GetObject of `key` into `dest` (overwritten), bytes as stored. With `etag`, only that
        version (`If-Match`): a changed object is a TransientError (list again)."""
        headers = {"accept-encoding": "identity"}
        if etag:
            headers["if-match"] = f'"{etag}"'
        what = f"get s3://{bucket}/{key}"
        return self._with_retries(what, lambda: self._download_once(bucket, key, dest, headers))

    # --- requests -----------------------------------------------------------------------------

    def _url(self, bucket: str, key: str = "") -> str:
        path = _uri_encode(key, keep_slash=True)
        if self._virtual_hosted and "." not in bucket:
            scheme, _, host = self._endpoint.partition("://")
            return f"{scheme}://{bucket}.{host}/{path}"
        return f"{self._endpoint}/{_uri_encode(bucket, keep_slash=False)}/{path}"

    def _list_page(
        self, bucket: str, prefix: str, token: str | None, max_keys: int
    ) -> tuple[list[S3Object], str | None]:
        params = {"list-type": "2", "max-keys": str(max_keys)}
        if prefix:
            params["prefix"] = prefix
        if token:
            params["continuation-token"] = token
        query = "&".join(
            f"{_uri_encode(k, keep_slash=False)}={_uri_encode(v, keep_slash=False)}"
            for k, v in sorted(params.items())
        )
        url = f"{self._url(bucket)}?{query}"
        what = f"list s3://{bucket}/{prefix}"

        def once() -> tuple[list[S3Object], str | None]:
            with self._get(url, {}, what, stream=False) as response:
                return _parse_listing(response.content, what)

        return self._with_retries(what, once)

    def _download_once(
        self, bucket: str, key: str, dest: Path, headers: dict[str, str]
    ) -> S3Object:
        what = f"get s3://{bucket}/{key}"
        with self._get(self._url(bucket, key), headers, what, stream=True) as response:
            expected = response.headers.get("Content-Length")
            written = 0
            try:
                with dest.open("wb") as out:
                    for block in response.raw.stream(_DOWNLOAD_CHUNK, decode_content=False):
                        out.write(block)
                        written += len(block)
            except (requests.RequestException, urllib3.exceptions.HTTPError, ConnectionError) as e:
                raise TransientError(VENDOR, f"{what}: download cut: {type(e).__name__}") from None
            if expected is not None and expected.isdigit() and int(expected) != written:
                raise TransientError(VENDOR, f"{what}: got {written} of {expected} bytes")
            etag = _unquote_etag(response.headers.get("ETag", ""))
            return S3Object(key, etag, written, response.headers.get("Last-Modified", ""))

    def _get(
        self, url: str, headers: dict[str, str], what: str, *, stream: bool
    ) -> requests.Response:
        signed = sign("GET", url, headers, self._credentials, self.region, now=self._clock())
        try:
            response = self._session.get(
                url, headers=signed, timeout=self._timeout_s, stream=stream, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise TransientError(VENDOR, f"{what}: request failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            try:
                error = _error_for(response, what)
            finally:
                response.close()
            raise error
        return response

    def _with_retries(self, what: str, call: Callable[[], T]) -> T:
        for attempt in range(self._retries + 1):
            try:
                return call()
            except (RateLimited, TransientError) as exc:
                wait = self._short_wait(exc, attempt)
                if attempt == self._retries or wait is None:
                    raise
                log.info("s3.retrying", what=what, error=exc.message, wait_s=round(wait, 3))
                time.sleep(wait)
        raise AssertionError("unreachable")

    def _short_wait(self, exc: ConnectorError, attempt: int) -> float | None:
        """How long to wait before retrying in process, or None to leave it to Temporal."""
        if exc.status is not None and exc.status not in _RETRIED_STATUSES and exc.status != 429:
            return None  # e.g. 412: the same request cannot succeed
        if exc.retry_after is not None:
            return exc.retry_after if exc.retry_after <= SHORT_WAIT_S else None
        return float(self._backoff_s * 2.0**attempt)


def _unquote_etag(value: str) -> str:
    value = value.strip()
    value = value.removeprefix("W/")
    return value.strip('"')


def _parse_listing(body: bytes, what: str) -> tuple[list[S3Object], str | None]:
    try:
        root = _parse_xml(body)
    except ValueError as exc:
        raise TransientError(VENDOR, f"{what}: the listing is not XML: {exc}") from None
    if _local(root.tag) != "ListBucketResult":
        raise TransientError(VENDOR, f"{what}: unexpected answer <{_local(root.tag)}>")
    objects: list[S3Object] = []
    truncated = False
    token: str | None = None
    for child in root:
        name = _local(child.tag)
        if name == "IsTruncated":
            truncated = (child.text or "").strip().lower() == "true"
        elif name == "NextContinuationToken":
            token = (child.text or "").strip() or None
        elif name == "Contents":
            fields = {_local(item.tag): item.text or "" for item in child}
            try:
                size = int(fields.get("Size", ""))
            except ValueError:
                raise TransientError(VENDOR, f"{what}: an object without a size") from None
            if "Key" not in fields:
                raise TransientError(VENDOR, f"{what}: an object without a key")
            etag = _unquote_etag(fields.get("ETag", ""))
            objects.append(S3Object(fields["Key"], etag, size, fields.get("LastModified", "")))
    if truncated and token is None:
        raise TransientError(VENDOR, f"{what}: a truncated listing without a continuation token")
    return objects, token if truncated else None


def _new_session() -> requests.Session:
    session = requests.Session()
    # No proxies or .netrc from the environment: netrc auth would replace our signature.
    session.trust_env = False
    return session
