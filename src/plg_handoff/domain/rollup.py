"""Roll usage events up per account and UTC day, deduplicated: the reference implementation
of the rollup rules, which the DuckDB ingestion engine is tested against."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from plg_handoff.domain.metrics import QUANTITY_KINDS, MetricDefinition, figure, quantity
from plg_handoff.domain.usage import DayRollup, UsageEvent


@dataclass
class _Event:
    """One distinct event (all its copies): whether any copy matched each metric, and the
    smallest value a matching copy carried."""

    name: str
    user: str
    time: int
    matched: dict[str, bool] = field(default_factory=dict)
    value: dict[str, str] = field(default_factory=dict)
    amount: dict[str, float] = field(default_factory=dict)  # `sum` and `max` quantities


@dataclass
class _DayAccumulator:
    events: dict[str, _Event] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)


class UsageRollup:
    """Accumulates events into per-(account, day) rollups, dropping duplicates by insert id."""

    def __init__(
        self,
        gauges: Mapping[str, str] | None = None,
        metrics: Mapping[str, MetricDefinition] | None = None,
    ) -> None:
        self._gauges = dict(gauges or {})
        self._metrics = dict(metrics or {})
        self._days: dict[tuple[str, str], _DayAccumulator] = defaultdict(_DayAccumulator)
        self.duplicates = 0

    def add(self, event: UsageEvent) -> bool:
        """Adds the event; returns False when it duplicates one already added."""
        acc = self._days[(event.account_id, event.day)]
        # A gauge keeps the day's maximum, which a duplicate cannot change wrongly: taking it
        # from every copy makes the result independent of which copy came first.
        for gauge, prop in self._gauges.items():
            value = quantity(event.properties.get(prop))
            if value is not None and value > acc.gauges.get(gauge, float("-inf")):
                acc.gauges[gauge] = value
        key = event.dedup_key
        first = key not in acc.events
        if first:
            acc.events[key] = _Event(event.name, event.distinct_id, event.time)
        else:
            self.duplicates += 1
        seen = acc.events[key]
        for name, metric in self._metrics.items():
            if not metric.matches(event.name, event.properties):
                continue
            seen.matched[name] = True
            if metric.kind in QUANTITY_KINDS:
                amount = metric.quantity(event.properties)
                if amount is not None and amount < seen.amount.get(name, math.inf):
                    seen.amount[name] = amount
                continue
            text = metric.value(event.properties)
            if text is not None and (name not in seen.value or text < seen.value[name]):
                seen.value[name] = text
        return first

    def by_account(self) -> dict[str, list[DayRollup]]:
        """The rollups, per account, oldest day first."""
        result: dict[str, list[DayRollup]] = defaultdict(list)
        for (account_id, day), acc in sorted(self._days.items()):
            events = list(acc.events.values())
            metrics: dict[str, float] = {}
            values: dict[str, list[str]] = {}
            for name, metric in self._metrics.items():
                matched = [e for e in events if e.matched.get(name)]
                if metric.kind == "values":
                    if found := sorted({e.value[name] for e in matched if name in e.value}):
                        values[name] = found[: metric.limit]
                elif day_figure := _figure(metric, name, matched):
                    metrics[name] = day_figure
            result[account_id].append(
                DayRollup(
                    day=day,
                    events=dict(sorted(Counter(e.name for e in events).items())),
                    active_users=len({e.user for e in events}),
                    gauges=dict(sorted(acc.gauges.items())),
                    metrics=dict(sorted(metrics.items())),
                    values=dict(sorted(values.items())),
                )
            )
        return dict(result)


def _figure(metric: MetricDefinition, name: str, matched: list[_Event]) -> float:
    amounts = [e.amount[name] for e in matched if name in e.amount]
    if metric.kind == "sum":
        return figure(math.fsum(amounts))
    if metric.kind == "max":
        return figure(max(amounts)) if amounts else 0
    if metric.kind == "count":
        return len(matched)
    if metric.kind == "distinct":
        return len({e.value[name] for e in matched if name in e.value})
    if metric.kind == "max_per_user":
        return max(Counter(e.user for e in matched).values(), default=0)
    if metric.kind == "max_repeat":
        return max(Counter((e.user, e.name) for e in matched).values(), default=0)
    times: dict[str, set[int]] = defaultdict(set)  # sessions
    for e in matched:
        times[e.user].add(e.time)
    gap = metric.timeout_minutes * 60
    return sum(
        1 + sum(b - a > gap for a, b in itertools.pairwise(ordered))
        for ordered in (sorted(ts) for ts in times.values())
    )
