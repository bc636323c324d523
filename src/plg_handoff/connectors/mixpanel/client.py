"""HTTP client of Mixpanel's raw Export API (`/api/2.0/export`) and the Engage API
(`/api/query/engage`), streaming and paced to the documented limits.

Days are UTC days: Mixpanel interprets `from_date`/`to_date` in UTC for projects created from
2023 on, and in the project's timezone for older ones. For an older project set its timezone to
UTC, or expect the edges of a window to be shifted by its offset (the usage pull re-reads a
window of several days each cycle, and the rollup keeps events by their own UTC timestamp).

The export is not deduplicated by Mixpanel: the rollup deduplicates on `$insert_id`."""

from __future__ import annotations

import contextlib
import json
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal, NamedTuple

import requests
import urllib3

from plg_handoff.connectors import downloads
from plg_handoff.connectors.budgets import QueryBudget
from plg_handoff.connectors.errors import RateLimited, TransientError

from .errors import VENDOR, error_from_response, transport_error
from .limits import PER_HOUR, budget
from .stream import CHUNK_BYTES, TruncatedStream, gunzip, split_lines

Region = Literal["us", "eu", "in"]

EXPORT_PATH = "/api/2.0/export"
ENGAGE_PATH = "/api/query/engage"
# (export host, query host) per data-residency region, as in the OpenAPI `servers`.
REGION_HOSTS: Mapping[Region, tuple[str, str]] = {
    "us": ("https://data.mixpanel.com", "https://mixpanel.com"),
    "eu": ("https://data-eu.mixpanel.com", "https://eu.mixpanel.com"),
    "in": ("https://data-in.mixpanel.com", "https://in.mixpanel.com"),
}
MAX_PAGE_SIZE = 1000
MAX_INLINE_WAIT_S = 2.0  # a 429 asking for longer is handed to Temporal's retry policy
MAX_RATE_LIMIT_RETRIES = 3
# 429s that persist through the in-process retries, whatever wait they ask for, mean the hourly
# budget or the concurrency is spent: Temporal comes back a minute later, not in a second.
PERSISTENT_RATE_LIMIT_WAIT_S = 60.0
MAX_ERROR_BODY = 64 * 1024
STREAM_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
    zlib.error,
    TruncatedStream,
)


@dataclass(frozen=True)
class Endpoints:
    export: str
    engage: str


def endpoints(region: Region = "us", base_url: str | None = None) -> Endpoints:
    """The region's hosts, or both APIs under `base_url` (an emulator or a proxy)."""
    if base_url:
        root = base_url.rstrip("/")
        return Endpoints(export=root + EXPORT_PATH, engage=root + ENGAGE_PATH)
    export_host, query_host = REGION_HOSTS[region]
    return Endpoints(export=export_host + EXPORT_PATH, engage=query_host + ENGAGE_PATH)


@dataclass(frozen=True, repr=False)
class MixpanelCredentials:
    """A Basic-auth pair: a service account's username and secret (sent with `project_id`),
    or the legacy project secret as the username with an empty password."""

    username: str
    secret: str
    service_account: bool = True

    @classmethod
    def for_service_account(cls, username: str, secret: str) -> MixpanelCredentials:
        return cls(username, secret, service_account=True)

    @classmethod
    def for_project_secret(cls, secret: str) -> MixpanelCredentials:
        return cls(secret, "", service_account=False)

    def __repr__(self) -> str:
        if self.service_account:
            return f"MixpanelCredentials(service_account={self.username!r})"
        return "MixpanelCredentials(project_secret)"


class EngagePage(NamedTuple):
    results: list[Any]
    total: int | None  # the profiles matching the query, every page together


class ExportLine(NamedTuple):
    text: str
    location: str  # e.g. "export:2026-11-20..2026-11-22:line 7"


class MixpanelClient:
    def __init__(
        self,
        *,
        project_id: int,
        credentials: MixpanelCredentials,
        region: Region = "us",
        base_url: str | None = None,
        timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
        session: requests.Session | None = None,
        export_pacer: QueryBudget | None = None,
        query_pacer: QueryBudget | None = None,
        exports_per_hour: int = PER_HOUR,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoints = endpoints(region, base_url)
        self._project_id = project_id
        self._credentials = credentials
        self._timeout = (connect_timeout_s, timeout_s)
        self._session = session
        self._export_pacer = export_pacer or budget(
            f"export:{self.endpoints.export}:{project_id}", per_hour=exports_per_hour
        )
        self._query_pacer = query_pacer or budget(f"query:{self.endpoints.engage}:{project_id}")
        self._sleep = sleep

    def export(
        self,
        from_date: date,
        to_date: date,
        *,
        events: Sequence[str] = (),
        where: str | None = None,
    ) -> Iterator[ExportLine]:
        """Every non-blank line of the export of the UTC days `from_date`..`to_date`, streamed
        and decoded chunk by chunk. The request goes out when iteration starts."""
        label = _label(from_date, to_date)
        with self._export_response(from_date, to_date, events, where) as response:
            try:
                lines = split_lines(_decoded_body(response))
                for number, text in enumerate(lines, start=1):
                    if text.strip():
                        yield ExportLine(text, f"{label}:line {number}")
            except STREAM_ERRORS as exc:
                raise transport_error(exc) from exc

    def export_to_file(
        self,
        from_date: date,
        to_date: date,
        directory: Path,
        *,
        events: Sequence[str] = (),
        where: str | None = None,
    ) -> Path | None:
        """The export body written to `directory` as it arrives, not decoded:
        `export-<from>..<to>.jsonl.gz` when Mixpanel gzipped it, else `.jsonl`; None when the
        export is empty. A transfer cut short raises `TransientError` and leaves no file (a
        gzip body is not decoded here, so its integrity is left to the reader).

        A complete download of the same query already in `directory` (an earlier attempt of
        the same pull saved it, `connectors/downloads.py`) is used as it is: no query spent."""
        stem = f"export-{from_date.isoformat()}..{to_date.isoformat()}"
        request = downloads.request_digest(
            self.endpoints.export, self._project_id, from_date, to_date, list(events), where
        )
        for suffix in (".jsonl.gz", ".jsonl"):
            done = directory / (stem + suffix)
            if downloads.completed(done, request):
                return done if done.stat().st_size > 0 else None
        with self._export_response(from_date, to_date, events, where) as response:
            suffix = ".jsonl.gz" if _content_encoding(response) == "gzip" else ".jsonl"
            path = directory / (stem + suffix)
            chunks = response.raw.stream(CHUNK_BYTES, decode_content=False)
            try:
                size = downloads.save(path, chunks, request)
            except STREAM_ERRORS as exc:
                raise transport_error(exc) from exc
        return path if size > 0 else None

    @contextlib.contextmanager
    def _export_response(
        self, from_date: date, to_date: date, events: Sequence[str], where: str | None
    ) -> Iterator[requests.Response]:
        params = {
            **self._project_params(),
            "from_date": from_date.isoformat(),
            "to_date": to_date.isoformat(),
        }
        if events:
            params["event"] = json.dumps(list(events))
        if where:
            params["where"] = where
        headers = {"Accept-Encoding": "gzip", "Accept": "text/plain"}
        with self._session_scope() as session:
            response = self._send(
                session, "GET", self.endpoints.export, self._export_pacer, params, headers=headers
            )
            with contextlib.closing(response):
                yield response

    def engage(
        self,
        data_group_id: str | None = None,
        *,
        distinct_ids: Sequence[str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Any]:
        """Every profile (`{"$distinct_id": ..., "$properties": {...}}`) of the Engage query,
        page by page; with `distinct_ids`, only those profiles."""
        for page in self.engage_pages(
            data_group_id, distinct_ids=distinct_ids, page_size=page_size
        ):
            yield from page.results

    def engage_pages(
        self,
        data_group_id: str | None = None,
        *,
        distinct_ids: Sequence[str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[EngagePage]:
        """The Engage query's pages: page 0 opens a session, later pages name it."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}, got {page_size}")
        form = {"page_size": str(page_size)}
        if data_group_id:
            form["data_group_id"] = data_group_id
        if distinct_ids is not None:
            form["distinct_ids"] = json.dumps(list(distinct_ids))
        page, seen, session_id = 0, 0, None
        with self._session_scope() as session:
            while True:
                fields = {**form, "page": str(page)}
                if session_id:
                    fields["session_id"] = session_id
                body = self._engage_page(session, fields)
                results = body.get("results")
                if not isinstance(results, list):
                    raise TransientError(VENDOR, "engage answered without a `results` list")
                total = body.get("total")
                total = total if isinstance(total, int) and not isinstance(total, bool) else None
                yield EngagePage(results, total)
                seen += len(results)
                size = body.get("page_size")
                size = size if isinstance(size, int) and size > 0 else page_size
                if len(results) < size or (total is not None and seen >= total):
                    return
                session_id = str(body.get("session_id") or "")
                if not session_id:
                    raise TransientError(VENDOR, "engage answered without a session_id to page")
                page += 1

    def _engage_page(self, session: requests.Session, fields: dict[str, str]) -> dict[str, Any]:
        response = self._send(
            session,
            "POST",
            self.endpoints.engage,
            self._query_pacer,
            self._project_params(),
            data=fields,
        )
        with contextlib.closing(response):
            try:
                body = response.json()
            except (ValueError, *STREAM_ERRORS) as exc:
                raise transport_error(exc) from exc
        if not isinstance(body, dict):
            raise TransientError(VENDOR, "engage answered with something else than an object")
        return body

    def _project_params(self) -> dict[str, str]:
        return {"project_id": str(self._project_id)} if self._credentials.service_account else {}

    @contextlib.contextmanager
    def _session_scope(self) -> Iterator[requests.Session]:
        """The injected session, or one per query (its connections closed with it)."""
        if self._session is not None:
            yield self._session
            return
        with requests.Session() as session:
            yield session

    def _send(
        self,
        session: requests.Session,
        method: str,
        url: str,
        pacer: QueryBudget,
        params: Mapping[str, str],
        *,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One query, paced, its body not read yet; a 429 asking for a short wait is waited
        out in process a bounded number of times, anything else raises its typed error."""
        attempt = 0
        while True:
            pacer.acquire()
            try:
                response = session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    auth=(self._credentials.username, self._credentials.secret),
                    timeout=self._timeout,
                    stream=True,
                )
            except requests.RequestException as exc:
                raise transport_error(exc) from exc
            if response.status_code < 400:
                return response
            error = error_from_response(
                response.status_code, _error_body(response), response.headers
            )
            if not isinstance(error, RateLimited):
                raise error
            wait = error.retry_after
            if wait is None:
                wait = min(MAX_INLINE_WAIT_S, 0.5 * 2**attempt)
            if wait > MAX_INLINE_WAIT_S:
                raise error
            if attempt == MAX_RATE_LIMIT_RETRIES:
                later = max(wait, PERSISTENT_RATE_LIMIT_WAIT_S)
                raise RateLimited(VENDOR, error.message, status=429, retry_after=later)
            self._sleep(wait)
            attempt += 1


def _label(from_date: date, to_date: date) -> str:
    return f"export:{from_date.isoformat()}..{to_date.isoformat()}"


def _content_encoding(response: requests.Response) -> str:
    """`gzip` or the empty string (identity): gzip is the only encoding asked for."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("gzip", "", "identity"):
        raise TransientError(VENDOR, f"export answered with an unsupported encoding {encoding!r}")
    return "gzip" if encoding == "gzip" else ""


def _decoded_body(response: requests.Response) -> Iterator[bytes]:
    encoding = _content_encoding(response)
    chunks = response.raw.stream(CHUNK_BYTES, decode_content=False)
    return gunzip(chunks) if encoding == "gzip" else iter(chunks)


def _error_body(response: requests.Response) -> bytes:
    with contextlib.closing(response):
        try:
            return bytes(response.raw.read(MAX_ERROR_BODY, decode_content=True) or b"")
        except STREAM_ERRORS:
            return b""
