"""Trigger evaluation over an account's daily usage. Pure and deterministic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from plg_handoff.domain.rules import LimitApproachingRule, QuotaSpec, RuleSet
from plg_handoff.domain.scoring import score
from plg_handoff.domain.usage import AccountTraits, DayRollup


@dataclass
class FiredTrigger:
    """A trigger that fired, with the numbers a rep reads."""

    trigger: str
    category: str
    evidence: list[str]
    figures: dict[str, float]
    conversion: float
    tier: int
    score: float
    fired_on: str


@dataclass
class Evaluation:
    account_id: str
    evaluated_on: str
    fired: list[FiredTrigger] = field(default_factory=list)

    @property
    def lead(self) -> FiredTrigger | None:
        """The highest-scoring trigger leads the opportunity."""
        return max(self.fired, key=lambda f: (f.score, -f.tier), default=None)


def evaluate(
    account_id: str,
    traits: AccountTraits,
    days: Sequence[DayRollup],
    rules: RuleSet,
    today: date,
) -> Evaluation:
    ordered = sorted(days, key=lambda d: d.day)
    fired: list[FiredTrigger] = []
    if rules.limit_approaching.enabled:
        fired.extend(_limit_approaching(traits, ordered, rules, today))
    return Evaluation(account_id=account_id, evaluated_on=today.isoformat(), fired=fired)


def _limit_approaching(
    traits: AccountTraits, days: Sequence[DayRollup], rules: RuleSet, today: date
) -> list[FiredTrigger]:
    rule = rules.limit_approaching
    fired: list[FiredTrigger] = []
    for quota in rule.quotas:
        limit = traits.limits.get(quota.limit)
        series = [
            (d.day, value)
            for d in days
            if (value := d.gauges.get(quota.gauge)) is not None and math.isfinite(value)
        ]
        if limit is None or not math.isfinite(limit) or limit <= 0 or not series:
            continue
        _, used = series[-1]
        if used / limit < rule.threshold:
            continue
        fired_on = _first_day_over(series, limit * rule.threshold)
        days_since = (today - date.fromisoformat(fired_on)).days
        fired.append(
            FiredTrigger(
                trigger="limit_approaching",
                category="volume",
                evidence=_quota_evidence(quota, used, limit, series, rule),
                figures={f"{quota.gauge}_used": used, f"{quota.gauge}_limit": limit},
                conversion=rule.conversion,
                tier=rule.tier,
                score=score(traits.arr_potential, rule.conversion, days_since, rules.scoring),
                fired_on=fired_on,
            )
        )
    return fired


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
    rule: LimitApproachingRule,
) -> list[str]:
    evidence = [f"{_fmt(used)} of {_fmt(limit)} {quota.unit} in use ({used / limit:.0%})"]
    days_to_limit = _days_to_limit(used, limit, series, rule.rate_window_days)
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
