"""Usage events and their compact per-account-day rollups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One product event attributed to an account (the Mixpanel export shape, parsed)."""

    name: str
    time: int
    distinct_id: str
    account_id: str
    insert_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def day(self) -> str:
        return datetime.fromtimestamp(self.time, UTC).date().isoformat()

    @property
    def dedup_key(self) -> str:
        """Mixpanel's own rule: events with the same name, distinct_id, time and `$insert_id`
        are one event. Per account, because one event of a user in several groups counts once
        for each of them."""
        return "\x1f".join(
            (self.account_id, self.name, self.distinct_id, str(self.time), self.insert_id or "")
        )


@dataclass
class DayRollup:
    """Absolute usage of one account on one UTC day: re-computing it always gives the same value."""

    day: str
    events: dict[str, int] = field(default_factory=dict)
    active_users: int = 0
    gauges: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # see domain.metrics; 0 is left out
    values: dict[str, list[str]] = field(default_factory=dict)  # `values` metrics, sorted


@dataclass
class AccountTraits:
    """What the usage system knows about an account (group profile)."""

    name: str | None = None
    plan: str | None = None
    limits: dict[str, float] = field(default_factory=dict)
    employees: int | None = None
    arr_potential: float | None = None
    region: str | None = None
    industry: str | None = None
    domains: list[str] = field(default_factory=list)
    signup_date: str | None = None
