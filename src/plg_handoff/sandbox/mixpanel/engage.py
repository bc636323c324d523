"""`POST /api/query/engage`: group (or user) profiles, paged through a session.

Page 0 opens a session holding a snapshot of the matching profiles (those named by
`distinct_ids` / `distinct_id` when given, then filtered by `where`); a later page must name
the session (`session_id`), as Mixpanel requires."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .protocol import ApiError
from .where import WhereError, compile_where

SANDBOX_DATA_GROUP_ID = "1"
MAX_PAGE_SIZE = 1000
SESSION_TTL_S = 600.0


class EngageSessions:
    def __init__(
        self,
        group_profiles: Callable[[], Sequence[Mapping[str, Any]]],
        data_group_id: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._group_profiles = group_profiles
        self._data_group_id = data_group_id
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[float, tuple[Mapping[str, Any], ...]]] = {}

    def page(self, form: Mapping[str, str]) -> dict[str, Any]:
        page = _integer(form, "page", 0, minimum=0)
        page_size = min(_integer(form, "page_size", MAX_PAGE_SIZE, minimum=1), MAX_PAGE_SIZE)
        session_id = form.get("session_id") or None
        if page > 0 and session_id is None:
            raise ApiError(400, "session_id is required when page is above 0")
        profiles = self._session(session_id) if session_id is not None else self._open_session(form)
        if session_id is None:
            session_id = self._store(profiles)
        start = page * page_size
        return {
            "page": page,
            "page_size": page_size,
            "session_id": session_id,
            "status": "ok",
            "total": len(profiles),
            "results": list(profiles[start : start + page_size]),
        }

    def _open_session(self, form: Mapping[str, str]) -> tuple[Mapping[str, Any], ...]:
        group = form.get("data_group_id") or None
        if group is None:
            return ()  # user profiles: the sandbox project has only group profiles
        if group != self._data_group_id:
            raise ApiError(400, f"data_group_id {group!r} is not a group key of this project")
        profiles = tuple(self._group_profiles())
        wanted = _distinct_ids(form)
        if wanted is not None:
            profiles = tuple(p for p in profiles if str(p.get("$distinct_id")) in wanted)
        if form.get("where"):
            try:
                where = compile_where(form["where"])
            except WhereError as exc:
                raise ApiError(400, f"invalid where expression {form['where']!r}: {exc}") from None
            profiles = tuple(p for p in profiles if where(_properties(p)))
        return profiles

    def _store(self, profiles: tuple[Mapping[str, Any], ...]) -> str:
        session_id = f"{int(time.time())}-{secrets.token_hex(4).upper()}"
        with self._lock:
            now = self._clock()
            expired = [k for k, (at, _) in self._sessions.items() if at < now - SESSION_TTL_S]
            for key in expired:
                del self._sessions[key]
            self._sessions[session_id] = (now, profiles)
        return session_id

    def _session(self, session_id: str) -> tuple[Mapping[str, Any], ...]:
        with self._lock:
            entry = self._sessions.get(session_id)
        if entry is None or entry[0] < self._clock() - SESSION_TTL_S:
            raise ApiError(400, f"session_id {session_id!r} is unknown or has expired")
        return entry[1]


def _distinct_ids(form: Mapping[str, str]) -> set[str] | None:
    """The profiles asked for by id (`distinct_ids`, a JSON array, and/or `distinct_id`); None
    when the query names none."""
    if not form.get("distinct_ids") and not form.get("distinct_id"):
        return None
    wanted = {form["distinct_id"]} if form.get("distinct_id") else set()
    if form.get("distinct_ids"):
        try:
            ids = json.loads(form["distinct_ids"])
        except json.JSONDecodeError:
            ids = None
        if not isinstance(ids, list) or not all(_is_id(i) for i in ids):
            raise ApiError(400, "distinct_ids must be a JSON array of distinct ids")
        wanted.update(str(i) for i in ids)
    return wanted


def _is_id(value: object) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _integer(form: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = form.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ApiError(400, f"{name} must be an integer >= {minimum}, got {raw!r}")
    return value


def _properties(profile: Mapping[str, Any]) -> Mapping[str, Any]:
    properties = profile.get("$properties")
    return properties if isinstance(properties, Mapping) else {}
