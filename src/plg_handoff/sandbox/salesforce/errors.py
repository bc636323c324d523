"""Salesforce's error shape: a JSON list of `{"message", "errorCode", "fields"}`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ApiError(Exception):
    def __init__(
        self, status: int, error_code: str, message: str, fields: Sequence[str] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = list(fields)

    def as_json(self) -> dict[str, Any]:
        return {"message": self.message, "errorCode": self.error_code, "fields": self.fields}

    def body(self) -> list[dict[str, Any]]:
        return [self.as_json()]


def invalid_field(sobject: str, name: str) -> ApiError:
    return ApiError(
        400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}", [name]
    )


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    return ApiError(404, "NOT_FOUND", message)
