"""Integration triggers: integrations, API growth, exports, webhooks (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from pydantic import Field, model_validator

from plg_handoff.domain import windows
from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.triggers.registry import Signal, trigger
from plg_handoff.domain.triggers.series import number, parse_day, plural
from plg_handoff.domain.triggers.volume import (
    MAX_RUN_DAYS,
    TIMES,
    baseline_total,
    daily_series,
    first_of_run,
    ratio,
    total_over,
)
from plg_handoff.domain.usage import DayRollup
from plg_handoff.domain.view import AccountView

MAX_NAMES = 10  # integrations a sentence lists by name


class IntegrationsConnectedRule(TriggerRule):
    conversion: float = Field(0.375, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    min_integrations: int = Field(
        3,
        ge=1,
        le=100,
        description="Distinct integrations connected (the `integrations` metric's values;"
        " without them, `integrations_connected` connections) within `lookback_days`.",
    )
    lookback_days: int = Field(
        120,
        ge=1,
        le=365,
        description="Days the connections are read over: an integration stays connected, so"
        " three connected a month apart are three (DESIGN: 3+ integrations connected).",
    )
    window_days: int = Field(
        120,
        ge=1,
        le=365,
        description="The newest connection must be this recent (e.g. 30: only depth that is"
        " still growing); by default any within the lookback, so accounts found at go-live"
        " with their integrations in place fire too.",
    )


@trigger("integrations_connected", "integration")
def integrations_connected(view: AccountView, rule: IntegrationsConnectedRule) -> Signal | None:
    """`min_integrations`+ distinct integrations connected within `lookback_days`, the newest
    within `window_days`; `fired_on` is the day the count reached it."""
    names: set[str] = set()
    reached_on: str | None = None
    newest: str | None = None
    for day in _window(view, rule.lookback_days):
        connected = set(map(str, day.values.get("integrations") or ()))
        if connected - names:
            newest = day.day
        names |= connected
        if reached_on is None and len(names) >= rule.min_integrations:
            reached_on = day.day
    recent = windows.dates(windows.window(view.today.toordinal(), rule.window_days))[0]
    if names:
        if reached_on is None or newest is None or newest < recent.isoformat():
            return None
        listed = sorted(names)
        more = len(listed) - MAX_NAMES
        listing = ", ".join(listed[:MAX_NAMES]) + (f" and {more} more" if more > 0 else "")
        return Signal(
            evidence=[
                f"{plural(len(names), 'integration')} connected in {rule.lookback_days} days,"
                f" the latest on {newest}: {listing}"
            ],
            figures={
                "integrations": len(names),
                "lookback_days": rule.lookback_days,
                "window_days": rule.window_days,
            },
            fired_on=reached_on,
        )
    # no integration names recorded: the connections counted
    hit = _count_reached(view, "integrations_connected", rule.lookback_days, rule.min_integrations)
    if hit is None or not _count_reached(view, "integrations_connected", rule.window_days, 1):
        return None
    total, fired_on = hit
    return Signal(
        evidence=[
            f"{plural(total, 'integration connection')} in {rule.lookback_days} days"
            " (integration names not recorded)"
        ],
        figures={"integrations": total, "lookback_days": rule.lookback_days},
        fired_on=fired_on,
    )


class ApiGrowthRule(TriggerRule):
    conversion: float = Field(0.325, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    growth_factor: float = Field(
        3.0,
        gt=1,
        le=1000,
        description="API requests (`api_requests`) of the last `window_days` at least this"
        " multiple of the baseline window's.",
    )
    window_days: int = Field(30, ge=1, le=120, description="Days of each window compared.")
    baseline_ends_days_ago: int = Field(
        60,
        ge=1,
        le=365,
        description="The baseline (`window_days` complete days) ends this many days before the"
        " last of the current window's (yesterday): 60 compares the last 30 complete days with"
        " the days 61 to 90 days ago (a quarter).",
    )
    min_baseline: int = Field(
        100,
        ge=1,
        description="API requests the baseline window needs (growth from nothing is no growth).",
    )
    min_rate_limited: int | None = Field(
        5,
        ge=1,
        description="Requests refused by the API rate limit (`api_rate_limited`, HTTP 429) within"
        " `rate_limited_days` that also fire the trigger; unset: the rate limit is not read.",
    )
    rate_limited_days: int = Field(7, ge=1, le=90, description="Days the 429s are counted over.")

    @model_validator(mode="after")
    def _windows_apart(self) -> ApiGrowthRule:
        if self.baseline_ends_days_ago < self.window_days:
            raise ValueError("baseline_ends_days_ago is less than window_days: the windows overlap")
        return self


@trigger("api_growth", "integration")
def api_growth(view: AccountView, rule: ApiGrowthRule) -> Signal | None:
    """API requests x`growth_factor` on the baseline window, or the API rate limit hit
    `min_rate_limited`+ times; `fired_on` is the earlier of the two."""
    evidence: list[str] = []
    figures: dict[str, float] = {}
    fired: list[str] = []
    requests = daily_series(view, lambda d: d.metrics.get("api_requests", 0))
    growth = _api_growth(requests, view, rule)
    if growth is not None:
        before, now, fired_on = growth
        span = rule.baseline_ends_days_ago + rule.window_days
        over = "in a quarter" if span == 90 else f"in {span} days"
        per = "a month" if rule.window_days == 30 else f"in {rule.window_days} days"
        evidence.append(
            f"API requests {TIMES}{ratio(now / before)} {over}"
            f" ({number(before)} → {number(now)} {per})"
        )
        figures |= {
            "api_growth": now / before,
            "api_requests_before": before,
            "api_requests_now": now,
        }
        fired.append(fired_on)
    if rule.min_rate_limited is not None:
        hit = _count_reached(
            view, "api_rate_limited", rule.rate_limited_days, rule.min_rate_limited
        )
        if hit is not None:
            total, fired_on = hit
            evidence.append(
                f"API rate limit hit {plural(total, 'time')} in {rule.rate_limited_days} days"
                " (requests refused with HTTP 429)"
            )
            figures["api_rate_limited"] = total
            fired.append(fired_on)
    if not fired:
        return None
    return Signal(evidence, figures, min(fired))


def _api_growth(
    requests: Mapping[int, float], view: AccountView, rule: ApiGrowthRule
) -> tuple[float, float, str] | None:
    days, lag = rule.window_days, rule.baseline_ends_days_ago

    today = view.today.toordinal()
    first_seen = min(requests, default=today)

    def totals(end: int) -> tuple[float, float] | None:
        last = windows.period(end, days)[1] - lag
        before = baseline_total(requests, (last - days + 1, last), first_seen)
        if before is None or not before >= rule.min_baseline:
            return None
        now = total_over(requests, windows.period(end, days))
        return (before, now) if now >= before * rule.growth_factor else None

    found = totals(today)
    if found is None:
        return None
    fired_on = first_of_run(lambda end: totals(end) is not None, today, MAX_RUN_DAYS)
    return found[0], found[1], date.fromordinal(fired_on).isoformat()


class ScheduledExportsRule(TriggerRule):
    conversion: float = Field(0.225, gt=0, le=1)
    tier: int = Field(3, ge=1, le=3)
    min_weeks: int = Field(
        3,
        ge=1,
        le=52,
        description="Weeks (7 complete days each, counted back from yesterday; today's exports"
        " count in the last) with a scheduled export"
        " (`scheduled_exports`): regular, not one burst. A one-off bulk export is no scheduled"
        " export (a churn-risk filter reads it).",
    )
    weeks: int = Field(4, ge=1, le=52, description="Weeks looked back over.")

    @model_validator(mode="after")
    def _min_within(self) -> ScheduledExportsRule:
        if self.min_weeks > self.weeks:
            raise ValueError("min_weeks is more than weeks")
        return self


@trigger("scheduled_exports", "integration")
def scheduled_exports(view: AccountView, rule: ScheduledExportsRule) -> Signal | None:
    """Scheduled exports in `min_weeks`+ of the last `weeks` weeks; `fired_on` is the first
    export of the `min_weeks`-th such week (oldest first)."""
    spans = windows.weeks(view.today.toordinal(), rule.weeks)
    exports = daily_series(view, lambda d: d.metrics.get("scheduled_exports", 0))
    weeks: dict[int, int] = {}  # weeks ago -> first export day (ordinal)
    total = 0.0
    for ordinal in sorted(o for o, n in exports.items() if n > 0):
        back = next((i for i, (first, last) in enumerate(spans) if first <= ordinal <= last), None)
        if back is not None:
            total += exports[ordinal]
            weeks.setdefault(back, ordinal)
    if len(weeks) < rule.min_weeks:
        return None
    fired_on = sorted(weeks.values())[rule.min_weeks - 1]
    return Signal(
        evidence=[
            f"Scheduled exports in {len(weeks)} of the last {plural(rule.weeks, 'week')}"
            f" ({plural(total, 'export')})"
        ],
        figures={"export_weeks": len(weeks), "scheduled_exports": total, "weeks": rule.weeks},
        fired_on=date.fromordinal(fired_on).isoformat(),
    )


class WebhookConfiguredRule(TriggerRule):
    conversion: float = Field(0.325, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    min_webhooks: int = Field(
        1, ge=1, le=100, description="Webhooks set up (`webhooks_configured`) within the window."
    )
    window_days: int = Field(30, ge=1, le=365, description="Days the webhooks are counted over.")


@trigger("webhook_configured", "integration")
def webhook_configured(view: AccountView, rule: WebhookConfiguredRule) -> Signal | None:
    """`min_webhooks`+ webhooks set up in the window; `fired_on` is the day the count reached it."""
    hit = _count_reached(view, "webhooks_configured", rule.window_days, rule.min_webhooks)
    if hit is None:
        return None
    total, fired_on = hit
    return Signal(
        evidence=[f"{plural(total, 'webhook')} set up in {rule.window_days} days"],
        figures={"webhooks_configured": total, "window_days": rule.window_days},
        fired_on=fired_on,
    )


def _count_reached(
    view: AccountView, metric: str, days: int, at_least: int
) -> tuple[float, str] | None:
    """A count metric's total over the window as of today, and the day its running total
    reached `at_least`; None while it has not."""
    total = 0.0
    reached_on: str | None = None
    for rollup in _window(view, days):
        total += rollup.metrics.get(metric, 0)
        if reached_on is None and total >= at_least:
            reached_on = rollup.day
    if reached_on is None or not total >= at_least:
        return None
    return total, reached_on


def _window(view: AccountView, days: int) -> list[DayRollup]:
    """The rollups of the window of `days` days as of today, oldest first (days that are no
    date left out)."""
    first, last = windows.window(view.today.toordinal(), days)
    kept: list[tuple[int, DayRollup]] = []
    for rollup in view.days:
        day = parse_day(rollup.day)
        if day is not None and first <= day.toordinal() <= last:
            kept.append((day.toordinal(), rollup))
    kept.sort(key=lambda k: k[0])
    return [rollup for _, rollup in kept]
