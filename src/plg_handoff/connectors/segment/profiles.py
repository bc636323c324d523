"""Account traits from Segment's Profile API.

`GET /v1/spaces/<space_id>/collections/accounts/profiles/group_id:<id>/traits`, HTTP Basic
auth with the access token as username and an empty password; the answer is
`{"traits": {...}, "cursor": {"has_more": ..., "next": ...}}`, paged with `limit`/`next`.
The API allows 100 requests per second and answers 429 beyond that; a missing profile is 404.
Every failure is mapped once, through `_STATUS_ERRORS`, to a typed connector error."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import requests

from plg_handoff.connectors.errors import (
    AuthError,
    ConnectorError,
    InvalidInput,
    RateLimited,
    TransientError,
    retry_after,
)

__all__ = ["DEFAULT_BASE_URL", "SegmentProfilesClient"]

log = logging.getLogger(__name__)

VENDOR = "segment-profiles"
DEFAULT_BASE_URL = "https://profiles.segment.com"
PAGE_LIMIT = 200  # the Profile API's largest `limit` for traits
SHORT_WAIT_S = 2.0  # longer waits belong to Temporal's retry policy, not to this process
SHORT_RETRIES = 3
PACING_MARGIN = 1.02  # stay a little under the limit so network jitter cannot push us over it

_STATUS_ERRORS: dict[int, type[ConnectorError]] = {
    400: InvalidInput,
    401: AuthError,
    403: AuthError,
    429: RateLimited,
}


class _Pacer:
    """Spaces request starts evenly so no 1-second window holds more than `per_second`."""

    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError(f"max_per_second must be > 0, got {per_second}")
        self._interval = PACING_MARGIN / per_second
        self._next_at = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_at)
            self._next_at = start + self._interval
        if start > now:
            time.sleep(start - now)


def _message(response: requests.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return response.reason or "request failed"


def _error_for(response: requests.Response) -> ConnectorError:
    status = response.status_code
    kind = _STATUS_ERRORS.get(status)
    if kind is None:
        kind = TransientError if status >= 500 else ConnectorError
    wait = retry_after(response.headers) if status == 429 else None
    return kind(VENDOR, _message(response), status=status, retry_after=wait)


def _is_short(exc: RateLimited) -> bool:
    return exc.retry_after is not None and exc.retry_after <= SHORT_WAIT_S


class SegmentProfilesClient:
    """Reads account (group) traits; safe to share between threads."""

    def __init__(
        self,
        space_id: str,
        token: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 10,
        session: requests.Session | None = None,
        max_per_second: float = 100,
    ) -> None:
        self._space_id = space_id
        self._auth = (token, "")
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._session = session or _new_session()
        self._pacer = _Pacer(max_per_second)

    def __repr__(self) -> str:
        return f"SegmentProfilesClient(space_id={self._space_id!r}, base_url={self._base_url!r})"

    def account_traits(self, group_id: str) -> dict[str, Any] | None:
        """All traits of the account profile `group_id:<group_id>`, or None when it does not
        exist."""
        traits: dict[str, Any] = {}
        params: dict[str, str | int] = {"limit": PAGE_LIMIT}
        while True:
            page = self._get(self._traits_url(group_id), params)
            if page is None:
                return None
            traits.update(page.get("traits") or {})
            cursor = page.get("cursor") or {}
            if not cursor.get("has_more") or not cursor.get("next"):
                return traits
            params = {"limit": PAGE_LIMIT, "next": str(cursor["next"])}

    def many(self, group_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Traits per group id, paced under `max_per_second`; missing profiles are left out."""
        found: dict[str, dict[str, Any]] = {}
        for group_id in dict.fromkeys(group_ids):
            traits = self.account_traits(group_id)
            if traits is not None:
                found[group_id] = traits
        return found

    def close(self) -> None:
        self._session.close()

    def _traits_url(self, group_id: str) -> str:
        space = quote(self._space_id, safe="")
        profile = quote(f"group_id:{group_id}", safe=":")
        return f"{self._base_url}/v1/spaces/{space}/collections/accounts/profiles/{profile}/traits"

    def _get(self, url: str, params: dict[str, str | int]) -> dict[str, Any] | None:
        """One page, waiting out at most `SHORT_RETRIES` short 429s in process."""
        for attempt in range(SHORT_RETRIES + 1):
            try:
                return self._get_once(url, params)
            except RateLimited as exc:
                if attempt == SHORT_RETRIES or not _is_short(exc):
                    raise
                log.info("segment profiles: rate limited, retrying in %.2fs", exc.retry_after)
                time.sleep(exc.retry_after or 0)
        raise AssertionError("unreachable")

    def _get_once(self, url: str, params: dict[str, str | int]) -> dict[str, Any] | None:
        self._pacer.wait()
        try:
            response = self._session.get(
                url, params=params, auth=self._auth, timeout=self._timeout_s
            )
        except requests.RequestException as exc:
            raise TransientError(VENDOR, f"request failed: {type(exc).__name__}") from None
        if response.status_code == 404:
            return None
        if not response.ok:
            raise _error_for(response)
        return _json_object(response)


def _json_object(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise TransientError(VENDOR, "response is not JSON", status=response.status_code) from None
    if not isinstance(body, dict):
        raise TransientError(VENDOR, "response is not a JSON object", status=response.status_code)
    return body


def _new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session
