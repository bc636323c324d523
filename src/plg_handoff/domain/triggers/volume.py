"""Volume triggers: quotas against plan limits, growth and seasonal spikes (DESIGN §4)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from pydantic import Field

from plg_handoff.domain.rules import QuotaSpec, TriggerRule
from plg_handoff.domain.triggers.registry import Signal, trigger
from plg_handoff.domain.view import AccountView

DEFAULT_QUOTAS = (
    QuotaSpec(gauge="seats", limit="seats", unit="seats"),
    QuotaSpec(gauge="storage_gb", limit="storage_gb", unit="GB of storage"),
    QuotaSpec(gauge="api_calls", limit="api_calls", unit="API calls this month"),
)


class LimitApproachingRule(TriggerRule):
    threshold: float = Field(0.8, gt=0, le=1, description="Fraction of the plan limit in use.")
    conversion: float = Field(0.375, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    rate_window_days: int = Field(7, ge=2, le=90, description="Days used for days-to-limit.")
    quotas: tuple[QuotaSpec, ...] = DEFAULT_QUOTAS


class LimitReachedRule(TriggerRule):
    threshold: float = Field(1.0, gt=0, le=10, description="Fraction of the limit: the wall.")
    conversion: float = Field(0.225, gt=0, le=1)
    tier: int = Field(1, ge=1, le=3)
    quotas: tuple[QuotaSpec, ...] = DEFAULT_QUOTAS


@trigger("limit_approaching", "volume")
def limit_approaching(view: AccountView, rule: LimitApproachingRule) -> Signal | None:
    """Any quota at or above the threshold but under the wall (the wall is limit_reached)."""
    return _quota_signal(view, rule.quotas, rule.threshold, 1.0, rule.rate_window_days)


@trigger("limit_reached", "volume")
def limit_reached(view: AccountView, rule: LimitReachedRule) -> Signal | None:
    return _quota_signal(view, rule.quotas, rule.threshold, math.inf, 7)


class ConsistentOverageRule(TriggerRule):
    conversion: float = Field(0.35, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("consistent_overage", "volume")
def consistent_overage(view: AccountView, rule: ConsistentOverageRule) -> Signal | None:
    return None  # to be written


class RapidGrowthRule(TriggerRule):
    conversion: float = Field(0.3, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("rapid_growth", "volume")
def rapid_growth(view: AccountView, rule: RapidGrowthRule) -> Signal | None:
    return None  # to be written


class SeasonalSpikeRule(TriggerRule):
    conversion: float = Field(0.2, gt=0, le=1)
    tier: int = Field(3, ge=1, le=3)


@trigger("seasonal_spike", "volume")
def seasonal_spike(view: AccountView, rule: SeasonalSpikeRule) -> Signal | None:
    return None  # to be written


def _quota_signal(
    view: AccountView,
    quotas: Sequence[QuotaSpec],
    at_least: float,
    below: float,
    rate_window_days: int,
) -> Signal | None:
    """The quotas whose latest use is in [at_least, below) of the plan limit; the fullest leads."""
    hits: list[tuple[float, str, list[str], dict[str, float]]] = []
    for quota in quotas:
        limit = view.traits.limits.get(quota.limit)
        series = [(d, v) for d, v in view.gauge_series(quota.gauge) if math.isfinite(v)]
        if limit is None or not math.isfinite(limit) or limit <= 0 or not series:
            continue
        used = series[-1][1]
        share = used / limit
        if not at_least <= share < below:
            continue
        fired_on = _first_day_over(series, limit * at_least)
        evidence = _quota_evidence(quota, used, limit, series, rate_window_days)
        figures = {f"{quota.gauge}_used": used, f"{quota.gauge}_limit": limit}
        hits.append((share, fired_on, evidence, figures))
    if not hits:
        return None
    hits.sort(key=lambda h: -h[0])
    return Signal(
        evidence=[line for hit in hits for line in hit[2]],
        figures={k: v for hit in hits for k, v in hit[3].items()},
        fired_on=hits[0][1],
    )


def _first_day_over(series: Sequence[tuple[str, float]], level: float) -> str:
    """The first day of the current run of days at or above the level."""
    first = series[-1][0]
    for day, value in reversed(series):
        if value < level:
            break
        first = day
    return first


def _quota_evidence(
    quota: QuotaSpec,
    used: float,
    limit: float,
    series: Sequence[tuple[str, float]],
    rate_window_days: int,
) -> list[str]:
    evidence = [f"{_fmt(used)} of {_fmt(limit)} {quota.unit} in use ({used / limit:.0%})"]
    days_to_limit = _days_to_limit(used, limit, series, rate_window_days)
    if used >= limit:
        evidence.append(f"{quota.unit} limit reached")
    elif days_to_limit is not None:
        unit = "day" if days_to_limit == 1 else "days"
        evidence.append(f"at the current rate full in {days_to_limit} {unit}")
    return evidence


def _days_to_limit(
    used: float, limit: float, series: Sequence[tuple[str, float]], window: int
) -> int | None:
    recent = series[-window:]
    first_day, first_value = recent[0]
    last_day, _ = recent[-1]
    span = (date.fromisoformat(last_day) - date.fromisoformat(first_day)).days
    if span <= 0 or used <= first_value:
        return None
    per_day = (used - first_value) / span
    return math.ceil((limit - used) / per_day)


def _fmt(value: float) -> str:
    return f"{value:g}"
