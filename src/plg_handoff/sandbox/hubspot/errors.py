"""HubSpot-shaped errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

VALIDATION_ERROR = "VALIDATION_ERROR"
OBJECT_NOT_FOUND = "OBJECT_NOT_FOUND"
CONFLICT = "CONFLICT"
RATE_LIMITS = "RATE_LIMITS"
INVALID_AUTHENTICATION = "INVALID_AUTHENTICATION"

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class ApiError(Exception):
    """An error answered to the client with HubSpot's error body."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
            **self.extra,
        }


def validation_error(message: str, **extra: Any) -> ApiError:
    return ApiError(400, VALIDATION_ERROR, message, extra=extra)


def not_found(message: str = "resource not found") -> ApiError:
    return ApiError(404, OBJECT_NOT_FOUND, message)


def rate_limited(retry_after_s: int) -> ApiError:
    return ApiError(
        429,
        RATE_LIMITS,
        "You have reached your ten_secondly_rolling limit.",
        extra={"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"},
        headers={"Retry-After": str(retry_after_s)},
    )


def secondly_limited() -> ApiError:
    """The CRM search endpoints' 4 requests/s per token are spent: a second's wait."""
    return ApiError(
        429,
        RATE_LIMITS,
        "You have reached your secondly limit.",
        extra={"errorType": "RATE_LIMIT", "policyName": "SECONDLY"},
        headers={"Retry-After": "1"},
    )


def daily_limited() -> ApiError:
    """The portal's daily allowance is spent: no Retry-After, it resets at midnight."""
    return ApiError(
        429,
        RATE_LIMITS,
        "You have reached your daily limit.",
        extra={"errorType": "RATE_LIMIT", "policyName": "DAILY"},
    )


@dataclass(frozen=True)
class PropertyIssue:
    """One entry of HubSpot's "Property values were not valid" list."""

    name: str
    message: str
    error: str

    def as_json(self) -> dict[str, Any]:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.error,
            "name": self.name,
            "localizedErrorMessage": self.message,
        }


def property_values_message(issues: Sequence[PropertyIssue]) -> str:
    detail = json.dumps([issue.as_json() for issue in issues], separators=(",", ":"))
    return f"Property values were not valid: {detail}"


def invalid_properties(issues: Sequence[PropertyIssue]) -> ApiError:
    return validation_error(property_values_message(issues))


@dataclass(frozen=True)
class RecordError:
    """A per-record failure inside a batch call (HubSpot StandardError)."""

    status: int
    category: str
    message: str
    context: dict[str, list[str]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "error",
            "category": self.category,
            "message": self.message,
            "context": self.context,
            "errors": [],
            "links": {},
        }

    def to_api_error(self) -> ApiError:
        return ApiError(self.status, self.category, self.message)
