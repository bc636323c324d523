"""HubSpot failures -> typed connector errors -> Temporal application errors."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import urllib3
from hubspot.crm.deals.exceptions import ApiException as DealsApiException
from hubspot.crm.objects.tasks.exceptions import ApiException as TasksApiException
from temporalio.exceptions import ApplicationError

from plg_handoff.activities.errors import as_application_error
from plg_handoff.connectors.errors import (
    AuthError,
    Conflict,
    ConnectorError,
    InvalidInput,
    NotFound,
    RateLimited,
    RecordError,
    TransientError,
)
from plg_handoff.connectors.hubspot.errors import is_hubspot_api_error, map_error


def api_exception(
    status: int,
    *,
    category: str = "VALIDATION_ERROR",
    message: str = "Property values were not valid",
    headers: dict[str, str] | None = None,
    cls: type[Any] = DealsApiException,
) -> Exception:
    exc: Any = cls(status=status, reason="Reason Phrase")
    exc.body = json.dumps(
        {
            "status": "error",
            "message": message,
            "correlationId": "6b2d6b5e-0000-4c1e-9b1e-000000000000",
            "category": category,
        }
    )
    exc.headers = headers or {}
    assert isinstance(exc, Exception)
    return exc


STATUS_CASES = [
    pytest.param(400, InvalidInput, False, None, id="400-invalid-input"),
    pytest.param(401, AuthError, False, None, id="401-auth"),
    pytest.param(403, AuthError, False, None, id="403-auth"),
    pytest.param(404, NotFound, False, None, id="404-not-found"),
    pytest.param(409, Conflict, False, None, id="409-conflict"),
    pytest.param(418, InvalidInput, False, None, id="418-other-4xx-invalid"),
    pytest.param(422, InvalidInput, False, None, id="422-other-4xx-invalid"),
    pytest.param(423, TransientError, True, None, id="423-locked-transient"),
    pytest.param(429, RateLimited, True, 10.0, id="429-rate-limited-default-10s"),
    pytest.param(500, TransientError, True, None, id="500-transient"),
    pytest.param(502, TransientError, True, None, id="502-transient"),
    pytest.param(503, TransientError, True, None, id="503-transient"),
    pytest.param(504, TransientError, True, None, id="504-transient"),
    pytest.param(599, TransientError, True, None, id="599-other-5xx-transient"),
]


@pytest.mark.parametrize(("status", "cls", "retryable", "retry_after"), STATUS_CASES)
def test_map_error_by_status(
    status: int, cls: type[ConnectorError], retryable: bool, retry_after: float | None
) -> None:
    exc = api_exception(status)
    assert is_hubspot_api_error(exc)
    error = map_error(exc)
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.vendor == "hubspot"
    assert error.status == status
    assert error.retry_after == retry_after
    assert error.message == "VALIDATION_ERROR: Property values were not valid"
    assert str(error) == (
        f"hubspot: VALIDATION_ERROR: Property values were not valid (HTTP {status})"
    )


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        pytest.param({"Retry-After": "3"}, 3.0, id="Retry-After"),
        pytest.param({"retry-after": "2.5"}, 2.5, id="lower-case-header"),
        pytest.param({"Retry-After": "soon"}, None, id="unparseable-header"),
        pytest.param({"X-HubSpot-RateLimit-Max": "100"}, 10.0, id="other-headers-only"),
    ],
)
def test_rate_limited_retry_after(headers: dict[str, str], retry_after: float | None) -> None:
    error = map_error(
        api_exception(
            429,
            category="RATE_LIMITS",
            message="You have reached your ten_secondly_rolling limit.",
            headers=headers,
        )
    )
    assert isinstance(error, RateLimited)
    assert error.retry_after == retry_after
    assert error.message == "RATE_LIMITS: You have reached your ten_secondly_rolling limit."


def test_retry_after_on_a_5xx_is_kept() -> None:
    error = map_error(api_exception(503, headers={"Retry-After": "30"}))
    assert isinstance(error, TransientError)
    assert error.retry_after == 30.0


def test_other_sdk_sub_package_exception() -> None:
    exc = api_exception(
        404, category="OBJECT_NOT_FOUND", message="Task not found", cls=TasksApiException
    )
    error = map_error(exc)
    assert isinstance(error, NotFound)
    assert str(error) == "hubspot: OBJECT_NOT_FOUND: Task not found (HTTP 404)"


def test_body_as_bytes_without_category() -> None:
    exc = DealsApiException(status=400, reason="Bad Request")
    exc.body = json.dumps({"status": "error", "message": "bad pipeline"}).encode()
    error = map_error(exc)
    assert isinstance(error, InvalidInput)
    assert error.message == "bad pipeline"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(None, id="no-body"),
        pytest.param("<html>oops</html>", id="html-body"),
        pytest.param("[1, 2]", id="json-list-body"),
    ],
)
def test_body_without_message_falls_back_to_reason(body: str | None) -> None:
    exc = DealsApiException(status=502, reason="Bad Gateway")
    exc.body = body
    error = map_error(exc)
    assert isinstance(error, TransientError)
    assert error.message == "Bad Gateway"
    assert error.retry_after is None


def test_transport_errors_are_transient() -> None:
    conn = urllib3.connection.HTTPSConnection("api.hubapi.com", 443)
    refused = urllib3.exceptions.NewConnectionError(conn, "Failed to establish a new connection")
    exhausted = urllib3.exceptions.MaxRetryError(None, "/crm/v3/objects/deals", refused)  # type: ignore[arg-type]
    for exc, name in ((refused, "NewConnectionError"), (exhausted, "MaxRetryError")):
        assert not is_hubspot_api_error(exc)
        error = map_error(exc)
        assert type(error) is TransientError
        assert error.retryable is True
        assert error.status is None
        assert error.message.startswith(f"transport: {name}: ")


def test_is_hubspot_api_error() -> None:
    assert is_hubspot_api_error(DealsApiException(status=500, reason="x"))
    assert not is_hubspot_api_error(DealsApiException())  # no status: not an HTTP answer
    assert not is_hubspot_api_error(ValueError("nope"))
    assert not is_hubspot_api_error(urllib3.exceptions.HTTPError("transport"))


# --- as_application_error -------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls",
    [RateLimited, TransientError, AuthError, InvalidInput, NotFound, Conflict, ConnectorError],
)
def test_application_error_mirrors_connector_error(cls: type[ConnectorError]) -> None:
    error = cls("hubspot", "something", status=400)
    app = as_application_error(error)
    assert isinstance(app, ApplicationError)
    assert app.type == cls.__name__
    assert app.non_retryable is (not cls.retryable)
    assert app.message == "hubspot: something (HTTP 400)"
    assert app.next_retry_delay is None
    assert app.details == ()


def test_application_error_retry_delay_and_records() -> None:
    error = RateLimited(
        "hubspot",
        "RATE_LIMITS: slow down",
        status=429,
        retry_after=2.5,
        records=(
            RecordError(record="d-1", message="bad amount", fields=("amount",)),
            RecordError(record="d-2,d-3", message="unknown owner"),
        ),
    )
    app = as_application_error(error)
    assert app.type == "RateLimited"
    assert app.non_retryable is False
    assert app.next_retry_delay == timedelta(seconds=2.5)
    assert app.details == (
        {"record": "d-1", "message": "bad amount"},
        {"record": "d-2,d-3", "message": "unknown owner"},
    )
    assert app.message == (
        "hubspot: RATE_LIMITS: slow down (HTTP 429)\n  d-1: bad amount\n  d-2,d-3: unknown owner"
    )


def test_application_error_from_mapped_hubspot_error() -> None:
    app = as_application_error(map_error(api_exception(429, headers={"Retry-After": "4"})))
    assert (app.type, app.non_retryable, app.next_retry_delay) == (
        "RateLimited",
        False,
        timedelta(seconds=4),
    )
    app = as_application_error(map_error(api_exception(401, category="INVALID_AUTHENTICATION")))
    assert (app.type, app.non_retryable, app.next_retry_delay) == ("AuthError", True, None)
