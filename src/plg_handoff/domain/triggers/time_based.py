"""Time triggers: streaks, rituals, onboarding returns, long-term free use (DESIGN §4)."""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, timedelta

from pydantic import Field, model_validator

from plg_handoff.domain import windows
from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.triggers.feature import (
    ONE_DAY,
    active,
    count,
    current_run,
    daily,
    days_before,
    in_plans,
    span_total,
    window_total,
)
from plg_handoff.domain.triggers.registry import Signal, trigger
from plg_handoff.domain.triggers.series import parse_day, plural
from plg_handoff.domain.view import AccountView

IGNORED_EVENTS = ("Page Viewed", "$mp_web_page_view", "$identify", "$create_alias")


def _add(a: int, b: int) -> int:
    return a + b


def _days_after(day: date, n: int) -> date:
    try:
        return day + timedelta(days=n)
    except OverflowError:
        return date.max


def _number(x: float) -> str:
    """A figure as a rep reads it: 3, 2.5 (one decimal at most)."""
    return f"{round(x, 1):g}" if abs(x) < 1e6 else f"{round(x):d}"


def _per_day(x: float, noun: str) -> str:
    figure = _number(x)
    return f"{figure} {noun}" if figure == "1" else f"{figure} {noun}s"


class DailyActiveStreakRule(TriggerRule):
    conversion: float = Field(0.375, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    min_days: int = Field(
        30, ge=2, le=400, description="Consecutive days with any event (an unbroken streak)."
    )
    grace_days: int = Field(
        1,
        ge=0,
        le=7,
        description="The streak may end this many days before today: today's usage may still"
        " be arriving.",
    )


@trigger("daily_active_streak", "time")
def daily_active_streak(view: AccountView, rule: DailyActiveStreakRule) -> Signal | None:
    """Active every day for `min_days` days in a row, up to today (or `grace_days` before). It
    fired on the streak's `min_days`-th day."""
    events = daily(view, lambda d: sum(count(n) for n in d.events.values()), _add)
    end = next(
        (
            d
            for back in range(rule.grace_days + 1)
            if (d := days_before(view.today, back)) in events
        ),
        None,
    )
    if end is None:
        return None
    start = end
    while start > date.min and start - ONE_DAY in events:
        start -= ONE_DAY
    length = (end - start).days + 1
    if length < rule.min_days:
        return None
    users = daily(view, lambda d: count(d.active_users))
    streak = (start.toordinal(), end.toordinal())
    n_events = span_total(events, streak)
    n_users = span_total(users, streak)
    evidence = [f"Active every day for {length} days ({start.isoformat()} to {end.isoformat()})"]
    average = f"{_per_day(n_events / length, 'event')} a day on average"
    if n_users:
        average = f"{_per_day(n_users / length, 'active user')} and {average}"
    evidence.append(average)
    return Signal(
        evidence=evidence,
        figures={
            "streak_days": length,
            "events_per_day": round(n_events / length, 2),
            "active_users_per_day": round(n_users / length, 2),
        },
        fired_on=_days_after(start, rule.min_days - 1).isoformat(),
    )


class FeatureRitualRule(TriggerRule):
    conversion: float = Field(0.325, gt=0, le=1)
    tier: int = Field(3, ge=1, le=3)
    events: tuple[str, ...] = Field(
        (),
        description="Core feature events, each judged on its own; empty: the account's most used"
        " event over the weeks (leaving out `ignore_events`).",
    )
    ignore_events: tuple[str, ...] = Field(
        IGNORED_EVENTS,
        description="Events that are never the core feature when it is picked by use"
        " (page views, identity calls).",
    )
    weeks: int = Field(
        9,
        ge=2,
        le=52,
        description="7-day weeks looked at (~2 months), the last ending yesterday; today's usage"
        " counts in the last.",
    )
    min_weeks: int = Field(8, ge=1, le=52, description="Weeks of those the feature was used in.")
    min_uses_per_week: int = Field(
        1, ge=1, description="Uses of the feature that make a week count."
    )

    @model_validator(mode="after")
    def _weeks_fit(self) -> FeatureRitualRule:
        if self.min_weeks > self.weeks:
            raise ValueError("min_weeks cannot exceed weeks")
        return self


@trigger("feature_ritual", "time")
def feature_ritual(view: AccountView, rule: FeatureRitualRule) -> Signal | None:
    """A core feature used on a steady rhythm: in `min_weeks` of the last `weeks` weeks."""
    per_event: dict[str, dict[date, int]] = {}
    for rollup in view.days:
        day = parse_day(rollup.day)
        if day is None or day > view.today:
            continue
        for name, n in rollup.events.items():
            if isinstance(name, str) and (uses := count(n)):
                series = per_event.setdefault(name, {})
                series[day] = series.get(day, 0) + uses
    span = rule.weeks * 7
    if rule.events:
        candidates = [name for name in dict.fromkeys(rule.events) if name in per_event]
    else:
        ignored = set(rule.ignore_events)
        totals = [
            (-total, name)
            for name, series in per_event.items()
            if name not in ignored and (total := window_total(series, view.today, span))
        ]
        candidates = [min(totals)[1]] if totals else []
    if not candidates:
        return None

    def weekly(name: str, end: date) -> list[int]:
        """Uses per week, oldest first, the last week as of `end` (with its partial data)."""
        return [
            span_total(per_event[name], week)
            for week in reversed(windows.weeks(end.toordinal(), rule.weeks))
        ]

    def weeks_used(name: str, end: date) -> int:
        return sum(n >= rule.min_uses_per_week for n in weekly(name, end))

    def holds(end: date) -> bool:
        return any(weeks_used(name, end) >= rule.min_weeks for name in candidates)

    earliest = min(min(per_event[name]) for name in candidates)
    fired_on = current_run(view.today, holds, earliest)
    if fired_on is None:
        return None
    rituals = sorted(
        (-used, -sum(weekly(name, view.today)), name)
        for name in candidates
        if (used := weeks_used(name, view.today)) >= rule.min_weeks
    )
    evidence = [
        f'Used "{name}" in {-used} of the last {rule.weeks} weeks: {plural(-uses, "time")},'
        f" about {_number(-uses / rule.weeks)} a week"
        for used, uses, name in rituals
    ]
    lead_used, lead_uses, _ = rituals[0]
    return Signal(
        evidence=evidence,
        figures={
            "weeks_used": -lead_used,
            "weeks": rule.weeks,
            "uses": -lead_uses,
            "uses_per_week": round(-lead_uses / rule.weeks, 2),
        },
        fired_on=fired_on.isoformat(),
    )


class OnboardingReturnRule(TriggerRule):
    conversion: float = Field(0.425, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    min_returning_sessions: int = Field(
        10,
        ge=1,
        description="Sessions (`sessions`) after the first one within the onboarding window; a"
        " day with events but no sessions figure counts as one session.",
    )
    window_days: int = Field(
        30,
        ge=1,
        le=365,
        description="Days of onboarding, from the account's start: its signup date, or its first"
        " activity when that is earlier or the signup date is unknown.",
    )
    first_activity_fallback: bool = Field(
        False,
        description="Without a signup date, start at the first activity in the stored history."
        " Off by default: for an account older than the history (every account when the daemon"
        " is first deployed) that is not its real start, and it would look new.",
    )
    live_days: int = Field(
        30,
        ge=0,
        le=365,
        description="Days after the onboarding window during which a met condition still fires.",
    )


@trigger("onboarding_return", "time")
def onboarding_return(view: AccountView, rule: OnboardingReturnRule) -> Signal | None:
    """Came back again and again in the first weeks. Fired on the day the returns were met."""
    sessions = daily(
        view, lambda d: max(count(d.metrics.get("sessions")), 1 if active(d) else 0), _add
    )
    signup = parse_day(view.traits.signup_date)
    first_use = min(sessions, default=None)
    if signup is not None and (first_use is None or signup <= first_use):
        start, began = signup, "signup"
    elif first_use is not None and (signup is not None or rule.first_activity_fallback):
        start, began = first_use, "first use"
    else:
        return None
    end = _days_after(start, rule.window_days - 1)
    if view.today < start or view.today > _days_after(end, rule.live_days):
        return None
    last = min(end, view.today)
    total, met_on = 0, None
    in_window = sorted((d, n) for d, n in sessions.items() if start <= d <= last)
    for day, n in in_window:
        total += n
        if met_on is None and total - 1 >= rule.min_returning_sessions:
            met_on = day
    if met_on is None:
        return None
    returning = total - 1
    elapsed = (last - start).days + 1
    return Signal(
        evidence=[
            f"{returning} returning sessions in the first {elapsed} days after {began}"
            f" ({start.isoformat()})",
            f"Active on {len(in_window)} of those days",
        ],
        figures={
            "returning_sessions": returning,
            "active_days": len(in_window),
            "days_since_start": elapsed,
        },
        fired_on=met_on.isoformat(),
    )


class LongTermFreeRule(TriggerRule):
    conversion: float = Field(0.225, gt=0, le=1)
    tier: int = Field(3, ge=1, le=3)
    free_plans: tuple[str, ...] = Field(
        ("free",), description="Plans counted as free (compared case-insensitively)."
    )
    min_months: int = Field(6, ge=1, le=120, description="Distinct calendar months with activity.")
    min_active_days_per_month: int = Field(
        1, ge=1, le=31, description="Active days (any event) that make a month count."
    )
    recent_days: int = Field(
        35,
        ge=1,
        le=365,
        description="Still in use: the last activity must be within this many days (over a"
        " month, so a once-a-month user stays in).",
    )


@trigger("long_term_free", "time")
def long_term_free(view: AccountView, rule: LongTermFreeRule) -> Signal | None:
    """On a free plan and active in `min_months` distinct months, and still active."""
    if not in_plans(view.traits.plan, rule.free_plans):
        return None
    active_days = sorted(daily(view, lambda d: 1 if active(d) else 0))
    if not active_days:
        return None
    by_month: dict[tuple[int, int], list[date]] = {}
    for day in active_days:
        by_month.setdefault((day.year, day.month), []).append(day)
    # the day each month started to count
    counted_on = sorted(
        days[rule.min_active_days_per_month - 1]
        for days in by_month.values()
        if len(days) >= rule.min_active_days_per_month
    )

    def holds(end: date) -> bool:
        seen = bisect_right(active_days, end)
        return (
            bisect_right(counted_on, end) >= rule.min_months
            and seen > 0
            and active_days[seen - 1].toordinal()
            >= windows.window(end.toordinal(), rule.recent_days)[0]
        )

    fired_on = current_run(view.today, holds, active_days[0])
    if fired_on is None:
        return None
    months = sorted({(d.year, d.month) for d in counted_on})
    first, last = active_days[0], active_days[-1]
    since = (view.today.year - first.year) * 12 + view.today.month - first.month + 1
    return Signal(
        evidence=[
            f"On the {(view.traits.plan or '').strip()} plan and active in {len(months)}"
            f" different months since {first.isoformat()[:7]} ({plural(since, 'month')})",
            f"{plural(len(active_days), 'active day')} in all, last on {last.isoformat()}",
        ],
        figures={
            "active_months": len(months),
            "months_since_first_activity": since,
            "active_days": len(active_days),
        },
        fired_on=fired_on.isoformat(),
    )
