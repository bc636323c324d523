"""Roll usage events up per account and UTC day, deduplicated."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from plg_handoff.domain.usage import DayRollup, UsageEvent


@dataclass(frozen=True)
class GaugeDefinition:
    """A gauge (e.g. seats in use) read from a numeric event property; the day keeps its maximum."""

    name: str
    property: str


@dataclass
class _DayAccumulator:
    events: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    users: set[str] = field(default_factory=set)
    gauges: dict[str, float] = field(default_factory=dict)


class UsageRollup:
    """Accumulates events into per-(account, day) rollups, dropping duplicates by insert id."""

    def __init__(self, gauges: Mapping[str, str] | None = None) -> None:
        self._gauges = [GaugeDefinition(n, p) for n, p in (gauges or {}).items()]
        self._seen: set[str] = set()
        self._days: dict[tuple[str, str], _DayAccumulator] = defaultdict(_DayAccumulator)
        self.duplicates = 0

    def add(self, event: UsageEvent) -> bool:
        """Adds the event; returns False when it duplicates one already added."""
        acc = self._days[(event.account_id, event.day)]
        # A gauge keeps the day's maximum, which a duplicate cannot change wrongly: taking it
        # from every copy makes the result independent of which copy came first.
        for gauge in self._gauges:
            value = _number(event.properties.get(gauge.property))
            if value is not None and value > acc.gauges.get(gauge.name, float("-inf")):
                acc.gauges[gauge.name] = value
        key = event.dedup_key
        if key in self._seen:
            self.duplicates += 1
            return False
        self._seen.add(key)
        acc.events[event.name] += 1
        acc.users.add(event.distinct_id)
        return True

    def by_account(self) -> dict[str, list[DayRollup]]:
        """The rollups, per account, oldest day first."""
        result: dict[str, list[DayRollup]] = defaultdict(list)
        for (account_id, day), acc in sorted(self._days.items()):
            result[account_id].append(
                DayRollup(
                    day=day,
                    events=dict(sorted(acc.events.items())),
                    active_users=len(acc.users),
                    gauges=dict(sorted(acc.gauges.items())),
                )
            )
        return dict(result)


def _number(value: object) -> float | None:
    """A finite number from a JSON value; booleans, NaN and infinities are not usage figures."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
