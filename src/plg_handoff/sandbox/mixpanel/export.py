"""`GET /api/2.0/export`: parameters, the day / event / where filters, JSONL lines, and gzip
when asked for and the body is larger than 1400 bytes (as the OpenAPI spec documents)."""

from __future__ import annotations

import functools
import itertools
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .protocol import ApiError
from .where import WhereError, compile_where

EventSource = Callable[[date], Iterable[Mapping[str, Any] | str]]
MAX_LIMIT = 100_000
GZIP_MIN_BYTES = 1400
BLOCK_BYTES = 64 * 1024
GZIP_LEVEL = 1  # the emulator serves large exports to tests: speed over ratio
_MS_THRESHOLD = 100_000_000_000
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)  # compact, as Mixpanel


@dataclass(frozen=True)
class ExportQuery:
    from_date: date
    to_date: date
    events: frozenset[str] | None = None
    where: Callable[[Mapping[str, Any]], bool] | None = None
    limit: int | None = None
    time_in_ms: bool = False

    @functools.cached_property
    def starts_at(self) -> float:
        return _midnight(self.from_date)

    @functools.cached_property
    def ends_before(self) -> float:
        return _midnight(self.to_date + timedelta(days=1))


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def parse_query(params: Mapping[str, str]) -> ExportQuery:
    first, last = _date(params, "from_date"), _date(params, "to_date")
    if last < first:
        raise ApiError(400, "to_date must be on or after from_date")
    events = None
    if params.get("event"):
        try:
            names = json.loads(params["event"])
        except json.JSONDecodeError:
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ApiError(400, "event must be a JSON array of event names")
        events = frozenset(names)
    where = None
    if params.get("where"):
        try:
            where = compile_where(params["where"])
        except WhereError as exc:
            raise ApiError(400, f"invalid where expression {params['where']!r}: {exc}") from None
    limit = None
    if params.get("limit"):
        try:
            limit = int(params["limit"])
        except ValueError:
            limit = -1
        if not 1 <= limit <= MAX_LIMIT:
            raise ApiError(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    time_in_ms = params.get("time_in_ms", "false").lower() == "true"
    return ExportQuery(first, last, events, where, limit, time_in_ms)


def _date(params: Mapping[str, str], name: str) -> date:
    value = params.get(name)
    if not value:
        raise ApiError(400, f"{name} is a required parameter")
    bad = ApiError(400, f"{name} must be a date in yyyy-mm-dd format, got {value!r}")
    if not _DAY.fullmatch(value):
        raise bad
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise bad from None


def export_lines(source: EventSource, query: ExportQuery, today: date) -> Iterator[bytes]:
    """The export's lines (with their newline), day by day up to today. A `str` from the source
    is served verbatim and unfiltered (malformed lines for tests)."""
    served = 0
    day = query.from_date
    while day <= min(query.to_date, today):
        for item in source(day):
            if query.limit is not None and served >= query.limit:
                return
            if isinstance(item, str):
                line = item
            else:
                if not _selected(item, query):
                    continue
                line = _ENCODER.encode(_with_ms(item) if query.time_in_ms else item)
            served += 1
            yield line.encode("utf-8") + b"\n"
        day += timedelta(days=1)


def _selected(event: Mapping[str, Any], query: ExportQuery) -> bool:
    properties = event.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    when = _epoch_seconds(properties.get("time"))
    if when is not None and not query.starts_at <= when < query.ends_before:
        return False
    if query.events is not None and event.get("event") not in query.events:
        return False
    return query.where is None or query.where(properties)


def _epoch_seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value / 1000 if value > _MS_THRESHOLD else value


def _with_ms(event: Mapping[str, Any]) -> Mapping[str, Any]:
    properties = event.get("properties")
    if not isinstance(properties, Mapping):
        return event
    when = properties.get("time")
    if isinstance(when, int) and not isinstance(when, bool) and when < _MS_THRESHOLD:
        return {**event, "properties": {**properties, "time": when * 1000}}
    return event


@dataclass(frozen=True)
class EncodedBody:
    body: bytes | Iterator[bytes]
    content_encoding: str | None


def encode_body(
    lines: Iterator[bytes], *, accept_gzip: bool, cut_after_lines: int | None = None
) -> EncodedBody:
    """A body of at most 1400 bytes is sent whole and plain; a larger one is streamed, gzipped
    when the client accepts it. A cut body stops after some lines without ending the stream."""
    if cut_after_lines is not None:
        lines = itertools.islice(lines, cut_after_lines)
    head: list[bytes] = []
    size = 0
    for line in lines:
        head.append(line)
        size += len(line)
        if size > GZIP_MIN_BYTES:
            break
    else:
        if cut_after_lines is None:
            return EncodedBody(b"".join(head), None)
    blocks = _blocks(itertools.chain(head, lines))
    if not accept_gzip:
        return EncodedBody(blocks, None)
    return EncodedBody(_gzip(blocks, complete=cut_after_lines is None), "gzip")


def _blocks(lines: Iterable[bytes]) -> Iterator[bytes]:
    pending: list[bytes] = []
    size = 0
    for line in lines:
        pending.append(line)
        size += len(line)
        if size >= BLOCK_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


def _gzip(blocks: Iterable[bytes], *, complete: bool) -> Iterator[bytes]:
    """Each block is flushed, so what was generated reaches the client while the rest is still
    being generated; an incomplete stream never gets its trailer."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for block in blocks:
        yield compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)
    if complete:
        yield compressor.flush()
