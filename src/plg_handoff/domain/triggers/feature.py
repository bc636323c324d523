"""Feature triggers: premium features, enterprise asks, workarounds, votes (DESIGN §4).

The helpers at the end of this module (an account's daily series, window totals, the current
run of days a condition held) are shared with the team and time triggers."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

from pydantic import Field, model_validator

from plg_handoff.domain import windows
from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.triggers.registry import Signal, trigger
from plg_handoff.domain.triggers.series import parse_day, plural
from plg_handoff.domain.usage import DayRollup
from plg_handoff.domain.view import AccountView

LOW_PLANS = ("free", "trial", "starter")
WORKAROUND_EVENTS = ("Data Imported", "Workflow Duplicated", "Content Copied")


class PremiumFeatureInterestRule(TriggerRule):
    conversion: float = Field(0.325, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    min_blocks: int = Field(
        3, ge=1, description="Locked premium features hit (`premium_blocks`) within the window."
    )
    window_days: int = Field(14, ge=1, le=365, description="Days the blocks are counted over.")
    low_plans: tuple[str, ...] = Field(
        LOW_PLANS, description="Free and low-tier plans (compared case-insensitively)."
    )
    no_plan_is_low: bool = Field(
        True, description="An account without a plan counts as free (the plan is unknown)."
    )


@trigger("premium_feature_interest", "feature", "intent")
def premium_feature_interest(view: AccountView, rule: PremiumFeatureInterestRule) -> Signal | None:
    """A free or low-tier account (or one without a plan) runs into locked premium features."""
    plan = plan_key(view.traits.plan)
    if plan is None:
        if not rule.no_plan_is_low:
            return None
        on_plan = "No plan on record"
    elif in_plans(plan, rule.low_plans):
        on_plan = f"On the {(view.traits.plan or '').strip()} plan"
    else:
        return None
    hit = window_hit(
        metric_daily(view, "premium_blocks"), view.today, rule.window_days, rule.min_blocks
    )
    if hit is None:
        return None
    return Signal(
        evidence=[
            f"Hit locked premium features {times(hit.total)} in {rule.window_days} days"
            f" (on {plural(hit.days, 'day')})",
            on_plan,
        ],
        figures={
            "premium_blocks": hit.total,
            "days_with_blocks": hit.days,
            "window_days": rule.window_days,
        },
        fired_on=hit.fired_on,
    )


class AdvancedCapabilityRequestRule(TriggerRule):
    conversion: float = Field(0.275, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    min_requests: int = Field(
        1,
        ge=1,
        description="Support tickets asking for an enterprise capability (`enterprise_requests`,"
        " e.g. SSO, SAML, audit log, SLA, SCIM) within the window.",
    )
    window_days: int = Field(30, ge=1, le=365, description="Days the requests are counted over.")


@trigger("advanced_capability_request", "feature", "intent")
def advanced_capability_request(
    view: AccountView, rule: AdvancedCapabilityRequestRule
) -> Signal | None:
    hit = window_hit(
        metric_daily(view, "enterprise_requests"), view.today, rule.window_days, rule.min_requests
    )
    if hit is None:
        return None
    tickets = "support ticket" if hit.total == 1 else "support tickets"
    return Signal(
        evidence=[
            f"Opened {hit.total} {tickets} asking for enterprise capabilities"
            f" (SSO, SAML, audit log, SLA, SCIM) in {rule.window_days} days"
        ],
        figures={"enterprise_requests": hit.total, "window_days": rule.window_days},
        fired_on=hit.fired_on,
    )


class WorkaroundBehaviorRule(TriggerRule):
    conversion: float = Field(0.225, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    min_actions: int = Field(
        5,
        ge=1,
        description="Workaround actions (`workaround_actions`: manual imports, duplicated"
        " workflows, copy-paste across projects) within the window.",
    )
    min_days: int = Field(
        3, ge=1, description="Distinct days with workaround actions: repeated, not one burst."
    )
    window_days: int = Field(14, ge=1, le=365, description="Days the actions are counted over.")
    action_events: tuple[str, ...] = Field(
        WORKAROUND_EVENTS,
        description="Event names the evidence breaks the actions down by (what the users did);"
        " the `workaround_actions` metric decides what counts.",
    )

    @model_validator(mode="after")
    def _days_fit_the_window(self) -> WorkaroundBehaviorRule:
        if self.min_days > self.window_days:
            raise ValueError("min_days cannot exceed window_days")
        return self


@trigger("workaround_behavior", "feature")
def workaround_behavior(view: AccountView, rule: WorkaroundBehaviorRule) -> Signal | None:
    """Repeated manual work the product's paid tiers automate, on several days."""
    hit = window_hit(
        metric_daily(view, "workaround_actions"),
        view.today,
        rule.window_days,
        rule.min_actions,
        rule.min_days,
    )
    if hit is None:
        return None
    evidence = [
        f"Worked around the product {times(hit.total)} on {plural(hit.days, 'day')}"
        f" in {rule.window_days} days"
    ]
    breakdown = [
        f"{name} {n}"
        for name in dict.fromkeys(rule.action_events)
        if (n := event_total(view, name, view.today, rule.window_days))
    ]
    if breakdown:
        evidence.append("Of which " + ", ".join(breakdown))
    return Signal(
        evidence=evidence,
        figures={
            "workaround_actions": hit.total,
            "days_with_workarounds": hit.days,
            "window_days": rule.window_days,
        },
        fired_on=hit.fired_on,
    )


class FeatureVoteRule(TriggerRule):
    conversion: float = Field(0.25, gt=0, le=1)
    tier: int = Field(3, ge=1, le=3)
    min_votes: int = Field(
        1,
        ge=1,
        description="Votes or comments on enterprise-tier feature requests (`feature_votes`)"
        " within the window.",
    )
    window_days: int = Field(30, ge=1, le=365, description="Days the votes are counted over.")


@trigger("feature_vote", "feature", "intent")
def feature_vote(view: AccountView, rule: FeatureVoteRule) -> Signal | None:
    hit = window_hit(
        metric_daily(view, "feature_votes"), view.today, rule.window_days, rule.min_votes
    )
    if hit is None:
        return None
    return Signal(
        evidence=[
            f"Voted or commented on enterprise-tier feature requests {times(hit.total)}"
            f" in {rule.window_days} days"
        ],
        figures={"feature_votes": hit.total, "window_days": rule.window_days},
        fired_on=hit.fired_on,
    )


class EnterpriseExplorationRule(TriggerRule):
    conversion: float = Field(0.3, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    min_visits: int = Field(
        3,
        ge=1,
        description="Visits to enterprise, SSO/security or admin pages (`enterprise_visits`)"
        " and pricing pages (`pricing_visits`) together within the window.",
    )
    window_days: int = Field(7, ge=1, le=365, description="Days the visits are counted over.")


@trigger("enterprise_exploration", "feature", "intent")
def enterprise_exploration(view: AccountView, rule: EnterpriseExplorationRule) -> Signal | None:
    enterprise = metric_daily(view, "enterprise_visits")
    pricing = metric_daily(view, "pricing_visits")
    both = {day: enterprise.get(day, 0) + pricing.get(day, 0) for day in enterprise | pricing}
    hit = window_hit(both, view.today, rule.window_days, rule.min_visits)
    if hit is None:
        return None
    n_enterprise = window_total(enterprise, view.today, rule.window_days)
    n_pricing = window_total(pricing, view.today, rule.window_days)
    return Signal(
        evidence=[
            f"Visited enterprise, security, admin or pricing pages {times(hit.total)}"
            f" in {rule.window_days} days",
            f"Enterprise, SSO, security or admin pages {n_enterprise}, pricing pages {n_pricing}",
        ],
        figures={
            "exploration_visits": hit.total,
            "enterprise_visits": n_enterprise,
            "pricing_visits": n_pricing,
            "window_days": rule.window_days,
        },
        fired_on=hit.fired_on,
    )


# --- shared with the team and time triggers ---------------------------------------------------

ONE_DAY = timedelta(days=1)
Series = Mapping[date, int]
V = TypeVar("V")


def count(value: object) -> int:
    """A daily figure as a count: positive whole numbers as they are, anything else 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if isinstance(value, float) and not math.isfinite(value):
        return 0
    return max(int(value), 0)


def daily(
    view: AccountView, read: Callable[[DayRollup], int], combine: Callable[[int, int], int] = max
) -> dict[date, int]:
    """`read` of each day up to today with a positive value (two rollups of one day combined)."""
    series: dict[date, int] = {}
    for rollup in view.days:
        day = parse_day(rollup.day)
        if day is None or day > view.today:
            continue
        value = read(rollup)
        if value > 0:
            series[day] = combine(series[day], value) if day in series else value
    return series


def metric_daily(view: AccountView, name: str) -> dict[date, int]:
    """A daily metric (two rollups of one day add up, as `AccountView.metric` does)."""
    return daily(view, lambda d: count(d.metrics.get(name)), lambda a, b: a + b)


def active(rollup: DayRollup) -> bool:
    """Any event on the day."""
    return any(count(n) for n in rollup.events.values())


def days_before(day: date, n: int) -> date:
    """`n` days before `day`, or the first representable day."""
    try:
        return day - timedelta(days=n)
    except OverflowError:
        return date.min


def span_items(series: Mapping[date, V], span: windows.Span) -> list[tuple[date, V]]:
    """The days of `series` within a span (`domain/windows.py`), newest first."""
    first, last = windows.dates(span)
    if len(series) < (last - first).days + 1:
        inside = [(d, v) for d, v in series.items() if first <= d <= last]
        return sorted(inside, key=lambda item: item[0], reverse=True)
    found: list[tuple[date, V]] = []
    for ordinal in range(last.toordinal(), first.toordinal() - 1, -1):
        day = date.fromordinal(ordinal)
        if day in series:
            found.append((day, series[day]))
    return found


def window_items(series: Mapping[date, V], end: date, days: int) -> list[tuple[date, V]]:
    """The days of `series` in the window of `days` days as of `end`, newest first."""
    return span_items(series, windows.window(end.toordinal(), days))


def window_values(series: Series, end: date, days: int) -> list[int]:
    """The values of the days with any in the window of `days` days as of `end`, newest first."""
    return [v for _, v in window_items(series, end, days) if v]


def window_total(series: Series, end: date, days: int) -> int:
    return sum(window_values(series, end, days))


def span_total(series: Series, span: windows.Span) -> int:
    return sum(v for _, v in span_items(series, span))


def current_run(today: date, holds: Callable[[date], bool], earliest: date) -> date | None:
    """The first day of the run of days ending today on which `holds` held (None when it does
    not hold today). The walk stops at `earliest`: before the first day of data nothing holds."""
    if not holds(today):
        return None
    first = today
    while first > earliest and holds(first - ONE_DAY):
        first -= ONE_DAY
    return first


@dataclass(frozen=True)
class WindowHit:
    total: int  # over the window as of today
    days: int  # days of the window with any
    fired_on: str  # first day of the current run of windows that met the thresholds


def window_hit(
    series: Series, today: date, window_days: int, min_total: int, min_days: int = 1
) -> WindowHit | None:
    """Whether the window as of today holds `min_total` on `min_days` days or more, and since
    when the windows as of each day have in a row."""

    def holds(end: date) -> bool:
        values = window_values(series, end, window_days)
        return sum(values) >= min_total and len(values) >= min_days

    if not series:
        return None
    first = current_run(today, holds, min(series))
    if first is None:
        return None
    values = window_values(series, today, window_days)
    return WindowHit(sum(values), len(values), first.isoformat())


def event_total(view: AccountView, name: str, end: date, days: int) -> int:
    return window_total(
        daily(view, lambda d: count(d.events.get(name)), lambda a, b: a + b), end, days
    )


def plan_key(plan: object) -> str | None:
    """A plan name compared case-insensitively; None for no plan."""
    text = plan.strip().casefold() if isinstance(plan, str) else ""
    return text or None


def in_plans(plan: object, plans: Collection[str]) -> bool:
    key = plan_key(plan)
    return key is not None and key in {p for p in map(plan_key, plans) if p}


def times(n: int) -> str:
    return plural(n, "time")
