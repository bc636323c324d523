"""From an API request arriving to its handler: calls log, auth, faults, rate limits."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping

from .errors import (
    AUTH_MESSAGE,
    INVALID_AUTHENTICATION,
    ApiError,
    daily_limited,
    rate_limited,
    secondly_limited,
)
from .faults import FaultPlan, InjectedFailure
from .ratelimit import RateDecision, RateLimiter, SearchLimiter, is_search
from .routing import Request, Response, Router, error_response, parse_json_body
from .store import CrmStore

logger = logging.getLogger(__name__)

_SERVER_ERRORS = {
    500: "internal error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Gateway:
    def __init__(
        self,
        *,
        token: str,
        store: CrmStore,
        faults: FaultPlan,
        limiter: RateLimiter,
        search_limiter: SearchLimiter,
        router: Router,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._token = token
        self._store = store
        self._faults = faults
        self._limiter = limiter
        self._search_limiter = search_limiter
        self._router = router
        self._sleep = sleep
        self._calls: list[tuple[str, str]] = []
        self._refusals: Counter[str] = Counter()
        self._calls_lock = threading.Lock()

    def calls(self) -> list[tuple[str, str]]:
        with self._calls_lock:
            return list(self._calls)

    def refusals(self) -> dict[str, int]:
        """429 answers by HubSpot's policyName (injected ones included)."""
        with self._calls_lock:
            return dict(self._refusals)

    def reset_calls(self) -> None:
        with self._calls_lock:
            self._calls.clear()
            self._refusals.clear()

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        raw_body: bytes,
        authorization: str | None,
    ) -> Response:
        with self._calls_lock:
            self._calls.append((method, path))
        if authorization != f"Bearer {self._token}":
            return error_response(ApiError(401, INVALID_AUTHENTICATION, AUTH_MESSAGE))
        delay = self._faults.take_delay()
        if delay > 0:
            self._sleep(delay)
        failure = self._faults.take_failure()
        if failure is not None:
            return self._injected(failure)
        if is_search(method, path) and not self._search_limiter.acquire():
            return self._refused(secondly_limited(), self._limiter.peek())
        decision = self._limiter.acquire()
        if not decision.allowed:
            refusal = (
                daily_limited()
                if decision.daily_remaining == 0
                else rate_limited(decision.retry_after_s)
            )
            return self._refused(refusal, decision)
        response = self._dispatch(method, path, query, raw_body)
        response.headers.update(self._limiter.headers(decision))
        writes = method != "GET" and not is_search(method, path)
        if writes and response.status < 300 and self._faults.take_lost_answer():
            return self._injected(InjectedFailure(504))
        return response

    def _refused(self, refusal: ApiError, decision: RateDecision) -> Response:
        self._count_refusal(refusal)
        response = error_response(refusal)
        response.headers.update(self._limiter.headers(decision))
        return response

    def _count_refusal(self, refusal: ApiError) -> None:
        with self._calls_lock:
            self._refusals[str(refusal.extra.get("policyName", "UNKNOWN"))] += 1

    def _injected(self, failure: InjectedFailure) -> Response:
        headers = self._limiter.headers(self._limiter.peek())
        if failure.status == 429:
            refusal = rate_limited(failure.retry_after_s)
            self._count_refusal(refusal)
            response = error_response(refusal)
            headers["X-HubSpot-RateLimit-Remaining"] = "0"
        else:
            message = _SERVER_ERRORS.get(failure.status, "internal error")
            response = error_response(ApiError(failure.status, "INTERNAL_ERROR", message))
        response.headers.update(headers)
        return response

    def _dispatch(
        self, method: str, path: str, query: Mapping[str, list[str]], raw_body: bytes
    ) -> Response:
        try:
            route, params = self._router.resolve(method, path)
            request = Request(method, path, query, parse_json_body(raw_body), params)
            with self._store.lock:
                response = route.handler(request)
                if route.mutates and response.status < 300:
                    self._store.persist()
        except ApiError as error:
            response = error_response(error)
        except Exception as exc:  # a sandbox bug must still answer like HubSpot's 500s
            logger.exception("HubSpot sandbox failed on %s %s", method, path)
            response = error_response(ApiError(500, "INTERNAL_ERROR", f"internal error: {exc!r}"))
        return response
