"""Typed connector errors: every vendor failure is mapped once to one of these.

`retryable` tells Temporal's retry policy what to do; `retry_after` (seconds) comes from the
vendor's own rate-limit answer when it gives one."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import ClassVar


@dataclass(frozen=True)
class RecordError:
    """One record a vendor refused, with its reason."""

    record: str
    message: str
    fields: tuple[str, ...] = ()


@dataclass
class ConnectorError(Exception):
    retryable: ClassVar[bool] = False

    vendor: str
    message: str
    status: int | None = None
    retry_after: float | None = None
    records: tuple[RecordError, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        details = "".join(f"\n  {r.record}: {r.message}" for r in self.records)
        return f"{self.vendor}: {self.message}{status}{details}"


class RateLimited(ConnectorError):
    retryable = True


class TransientError(ConnectorError):
    retryable = True


class AuthError(ConnectorError):
    """Credentials are missing, wrong or lack a scope: a person has to act."""


class InvalidInput(ConnectorError):
    """The vendor refused the data we sent; retrying the same data cannot succeed."""


class SetupRequired(ConnectorError):
    """The CRM lacks something the daemon cannot create itself (Salesforce custom fields over
    REST): the message says what a person must create."""


class NotFound(ConnectorError):
    pass


class Conflict(ConnectorError):
    pass


def retry_after(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` in seconds, from either of its two forms (delta-seconds or HTTP date)."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
