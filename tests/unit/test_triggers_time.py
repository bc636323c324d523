"""Time triggers: daily_active_streak, feature_ritual, onboarding_return, long_term_free —
thresholds, windows, evidence, fired_on, and properties over random rollups."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from plg_handoff.domain.engine import TRIGGERS
from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.triggers.registry import Signal
from plg_handoff.domain.triggers.time_based import (
    DailyActiveStreakRule,
    FeatureRitualRule,
    LongTermFreeRule,
    OnboardingReturnRule,
)
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.domain.view import AccountView
from tests.unit.triggers_support import (
    TODAY,
    ago,
    assert_engine_fires_it_and_disabling_stops_it,
    assert_thresholds_described,
    check_trigger,
    fired_on,
)

TEAM = AccountTraits(name="Acme", plan="team")
FREE = AccountTraits(name="Acme", plan="free")
TIME_TRIGGERS = ("daily_active_streak", "feature_ritual", "onboarding_return", "long_term_free")


def on(
    days_ago: int, events: dict[str, int] | None = None, users: int = 1, **metrics: int
) -> DayRollup:
    return DayRollup(
        day=ago(days_ago),
        events={"Report Viewed": 1} if events is None else events,
        active_users=users,
        metrics={name: n for name, n in metrics.items() if n},
    )


def active(days_ago: Iterable[int], users: int = 1) -> list[DayRollup]:
    return [on(n, users=users) for n in days_ago]


def check(
    name: str,
    days: Sequence[DayRollup],
    rule: TriggerRule | None = None,
    traits: AccountTraits = TEAM,
    today: date = TODAY,
) -> Signal | None:
    return check_trigger(name, days, rule, traits, today)


# --- daily_active_streak --------------------------------------------------------------------

STREAK_CASES = [
    pytest.param(active(range(30)), None, ago(0), id="30-days-to-today"),
    pytest.param(active(range(29)), None, None, id="29-days-one-below"),
    pytest.param(active(range(34)), None, ago(4), id="34-days-fired-on-day-30"),
    pytest.param(active(range(1, 31)), None, ago(1), id="30-days-to-yesterday"),
    pytest.param(active(range(2, 32)), None, None, id="30-days-to-2-days-ago"),
    pytest.param(
        active(range(1, 31)), DailyActiveStreakRule(grace_days=0), None, id="no-grace-yesterday"
    ),
    pytest.param(
        active(range(3, 33)), DailyActiveStreakRule(grace_days=3), ago(3), id="grace-3-days"
    ),
    pytest.param(active([*range(15), *range(16, 40)]), None, None, id="one-day-missing"),
    pytest.param(
        [*active(range(29)), on(29, {"Report Viewed": 0})], None, None, id="zero-events-day"
    ),
    pytest.param([*active(range(29)), on(29, {})], None, None, id="empty-events-day"),
    pytest.param(active(range(7)), DailyActiveStreakRule(min_days=7), ago(0), id="custom-7"),
    pytest.param([], None, None, id="no-days"),
]


@pytest.mark.parametrize(("days", "rule", "expected"), STREAK_CASES)
def test_daily_active_streak(
    days: list[DayRollup], rule: DailyActiveStreakRule | None, expected: str | None
) -> None:
    assert fired_on(check("daily_active_streak", days, rule)) == expected


def test_daily_active_streak_evidence() -> None:
    days = [on(n, {"Report Viewed": 2, "Report Saved": 1}, users=3) for n in range(34)]
    signal = check("daily_active_streak", days)
    assert signal is not None
    assert signal.evidence == [
        "Active every day for 34 days (2024-04-07 to 2024-05-10)",
        "3 active users and 3 events a day on average",
    ]
    assert signal.figures == {
        "streak_days": 34,
        "events_per_day": 3.0,
        "active_users_per_day": 3.0,
    }
    no_users = check("daily_active_streak", active(range(30), users=0))
    assert no_users is not None
    assert no_users.evidence[1] == "1 event a day on average"


# --- feature_ritual -------------------------------------------------------------------------


def weekly_use(weeks: Iterable[int], event: str = "Report Viewed", n: int = 1) -> list[DayRollup]:
    """`event` used `n` times on the newest complete day of each given week: weeks of 7
    complete days counted back from yesterday (0: days ago 1..7, which today's data joins;
    1: days ago 8..14; ...), so on days ago 1, 8, 15, ..."""
    return [on(7 * week + 1, {event: n}) for week in weeks]


RITUAL_CASES = [
    pytest.param(weekly_use(range(9)), None, ago(7), id="9-of-9-weeks"),
    pytest.param(weekly_use([0, 1, 2, 3, 5, 6, 7, 8]), None, ago(0), id="8-of-9-weeks"),
    pytest.param(weekly_use([0, 1, 2, 3, 5, 6, 7]), None, None, id="7-of-9-one-below"),
    pytest.param(weekly_use(range(1, 9)), None, ago(7), id="not-this-week-8-of-9"),
    pytest.param(weekly_use(range(2, 10)), None, None, id="stopped-2-weeks-ago"),
    pytest.param(
        [*weekly_use(range(9)), on(1, {"Page Viewed": 500})],
        None,
        ago(7),
        id="page-views-are-no-core-feature",
    ),
    pytest.param(
        [*weekly_use(range(9)), on(1, {"Bulk Edit": 500})],
        None,
        None,
        id="most-used-event-is-not-steady",
    ),
    pytest.param(
        [*weekly_use(range(9)), on(1, {"Bulk Edit": 500})],
        FeatureRitualRule(events=("Report Viewed",)),
        ago(7),
        id="configured-core-feature",
    ),
    pytest.param(
        [*weekly_use(range(9)), on(1, {"Bulk Edit": 500})],
        FeatureRitualRule(events=("Bulk Edit", "Dashboard Viewed")),
        None,
        id="configured-features-not-steady",
    ),
    pytest.param(
        weekly_use(range(9)),
        FeatureRitualRule(min_uses_per_week=2),
        None,
        id="1-a-week-under-2-a-week",
    ),
    pytest.param(
        weekly_use(range(4)),
        FeatureRitualRule(weeks=4, min_weeks=4),
        ago(0),
        id="custom-4-of-4",
    ),
    pytest.param([*weekly_use(range(1, 8)), on(0)], None, ago(0), id="today-joins-the-newest-week"),
    pytest.param(weekly_use(range(1, 8)), None, None, id="7-of-9-without-today"),
    pytest.param([on(0, {})], None, None, id="no-events"),
    pytest.param([], None, None, id="no-days"),
]


@pytest.mark.parametrize(("days", "rule", "expected"), RITUAL_CASES)
def test_feature_ritual(
    days: list[DayRollup], rule: FeatureRitualRule | None, expected: str | None
) -> None:
    assert fired_on(check("feature_ritual", days, rule)) == expected


def test_feature_ritual_evidence() -> None:
    days = [*weekly_use(range(9), n=3), *weekly_use([0, 1, 2, 3, 4, 5, 6, 8], "Dashboard Viewed")]
    signal = check("feature_ritual", days)
    assert signal is not None
    assert signal.evidence == [
        'Used "Report Viewed" in 9 of the last 9 weeks: 27 times, about 3 a week'
    ]
    assert signal.figures == {"weeks_used": 9, "weeks": 9, "uses": 27, "uses_per_week": 3.0}
    both = check(
        "feature_ritual", days, FeatureRitualRule(events=("Dashboard Viewed", "Report Viewed"))
    )
    assert both is not None
    assert both.evidence == [
        'Used "Report Viewed" in 9 of the last 9 weeks: 27 times, about 3 a week',
        'Used "Dashboard Viewed" in 8 of the last 9 weeks: 8 times, about 0.9 a week',
    ]


def test_feature_ritual_refuses_more_weeks_than_it_looks_at() -> None:
    with pytest.raises(ValidationError, match="min_weeks cannot exceed weeks"):
        FeatureRitualRule(weeks=4, min_weeks=5)


# --- onboarding_return ----------------------------------------------------------------------


def sessions(counts: dict[int, int]) -> list[DayRollup]:
    """days ago -> sessions that day."""
    return [on(n, sessions=s) for n, s in counts.items()]


def signed_up(days_ago: int | None, plan: str = "team") -> AccountTraits:
    return AccountTraits(plan=plan, signup_date=None if days_ago is None else ago(days_ago))


ONBOARDING_CASES = [
    pytest.param(sessions({29: 1, 20: 5, 10: 5}), signed_up(29), None, ago(10), id="10-returns"),
    pytest.param(sessions({29: 1, 20: 5, 10: 4}), signed_up(29), None, None, id="9-one-below"),
    pytest.param(sessions({29: 6, 0: 5}), signed_up(29), None, ago(0), id="window-last-day"),
    pytest.param(
        sessions({30: 6, 0: 5}), signed_up(30), None, None, id="day-after-window-not-counted"
    ),
    pytest.param(sessions({5: 11}), signed_up(5), None, ago(5), id="met-on-the-first-day"),
    pytest.param(
        sessions({40: 11}), signed_up(40), None, ago(40), id="still-live-10-days-after-window"
    ),
    pytest.param(sessions({59: 11}), signed_up(59), None, ago(59), id="last-live-day"),
    pytest.param(sessions({60: 11}), signed_up(60), None, None, id="past-live-days"),
    pytest.param(
        sessions({40: 11}),
        signed_up(40),
        OnboardingReturnRule(live_days=0),
        None,
        id="live-days-0",
    ),
    pytest.param(
        sessions({45: 5, 40: 6}),
        signed_up(None),
        OnboardingReturnRule(first_activity_fallback=True),
        ago(40),
        id="from-first-activity",
    ),
    pytest.param(
        sessions({45: 5, 40: 6}), signed_up(None), None, None, id="no-signup-no-fallback-default"
    ),
    pytest.param(sessions({20: 11}), signed_up(50), None, None, id="signup-long-before-use"),
    pytest.param(sessions({20: 5, 10: 6}), signed_up(15), None, ago(10), id="used-before-signup"),
    pytest.param(sessions({3: 11}), signed_up(-5), None, ago(3), id="signup-in-future"),
    pytest.param(
        sessions({3: 11}),
        AccountTraits(signup_date="2024-05-07T09:30:00Z"),
        None,
        ago(3),
        id="signup-timestamp",
    ),
    pytest.param(
        sessions({3: 11}),
        AccountTraits(signup_date="last spring"),
        OnboardingReturnRule(first_activity_fallback=True),
        ago(3),
        id="bad-signup",
    ),
    pytest.param(
        [on(n) for n in range(11)], signed_up(10), None, ago(0), id="no-sessions-metric-1-a-day"
    ),
    pytest.param([on(n) for n in range(10)], signed_up(9), None, None, id="10-days-no-metric"),
    pytest.param(
        sessions({6: 3, 0: 3}),
        signed_up(6),
        OnboardingReturnRule(min_returning_sessions=5, window_days=7),
        ago(0),
        id="custom-5-in-7",
    ),
    pytest.param([], signed_up(3), None, None, id="no-days"),
]


@pytest.mark.parametrize(("days", "traits", "rule", "expected"), ONBOARDING_CASES)
def test_onboarding_return(
    days: list[DayRollup],
    traits: AccountTraits,
    rule: OnboardingReturnRule | None,
    expected: str | None,
) -> None:
    assert fired_on(check("onboarding_return", days, rule, traits)) == expected


def test_onboarding_return_evidence() -> None:
    signal = check("onboarding_return", sessions({17: 2, 12: 4, 8: 6}), traits=signed_up(17))
    assert signal is not None
    assert signal.evidence == [
        "11 returning sessions in the first 18 days after signup (2024-04-23)",
        "Active on 3 of those days",
    ]
    assert signal.figures == {"returning_sessions": 11, "active_days": 3, "days_since_start": 18}
    first_use = check(
        "onboarding_return",
        sessions({45: 5, 40: 6}),
        OnboardingReturnRule(first_activity_fallback=True),
        traits=signed_up(None),
    )
    assert first_use is not None
    assert first_use.evidence[0] == (
        "10 returning sessions in the first 30 days after first use (2024-03-26)"
    )


# --- long_term_free -------------------------------------------------------------------------


def monthly(months: int, last: date = TODAY) -> list[DayRollup]:
    """Active on the 1st of `months` months, the last of them `last`'s month, and on `last`."""
    firsts = []
    year, month = last.year, last.month
    for _ in range(months):
        firsts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return [on((TODAY - d).days) for d in {*firsts, last}]


LONG_TERM_CASES = [
    pytest.param(monthly(6), FREE, None, "2024-05-01", id="6-months"),
    pytest.param(monthly(5), FREE, None, None, id="5-months-one-below"),
    pytest.param(monthly(14), FREE, None, "2023-09-01", id="14-months-since-the-6th"),
    pytest.param(monthly(6), AccountTraits(plan=" FREE "), None, "2024-05-01", id="plan-case"),
    pytest.param(monthly(6), TEAM, None, None, id="paid-plan"),
    pytest.param(monthly(6), AccountTraits(), None, None, id="no-plan"),
    # recent_days 35: the last activity within the 35 complete days before today or today
    pytest.param(
        monthly(6, last=TODAY - timedelta(days=35)), FREE, None, "2024-04-01", id="active-35-ago"
    ),
    pytest.param(monthly(6, last=TODAY - timedelta(days=36)), FREE, None, None, id="gone-36-days"),
    pytest.param(
        monthly(6, last=TODAY - timedelta(days=10)),
        FREE,
        LongTermFreeRule(recent_days=10),
        "2024-04-30",
        id="custom-recent-10-active-10-ago",
    ),
    pytest.param(
        monthly(6, last=TODAY - timedelta(days=11)),
        FREE,
        LongTermFreeRule(recent_days=10),
        None,
        id="custom-recent-10-gone-11-days",
    ),
    pytest.param(
        monthly(6), FREE, LongTermFreeRule(min_active_days_per_month=2), None, id="2-days-a-month"
    ),
    pytest.param(
        monthly(6),
        AccountTraits(plan="hobby"),
        LongTermFreeRule(free_plans=("free", "hobby")),
        "2024-05-01",
        id="custom-free-plans",
    ),
    pytest.param(monthly(3), FREE, LongTermFreeRule(min_months=3), "2024-05-01", id="custom-3"),
    pytest.param([on(0, {})], FREE, None, None, id="no-events"),
    pytest.param([], FREE, None, None, id="no-days"),
]


@pytest.mark.parametrize(("days", "traits", "rule", "expected"), LONG_TERM_CASES)
def test_long_term_free(
    days: list[DayRollup],
    traits: AccountTraits,
    rule: LongTermFreeRule | None,
    expected: str | None,
) -> None:
    assert fired_on(check("long_term_free", days, rule, traits)) == expected


def since(*days: date) -> list[DayRollup]:
    return [on((TODAY - d).days) for d in days]


def test_long_term_free_gap_in_use_restarts_the_run() -> None:
    """Active on the 1st of August to February (the 6th month counted on January 1st), away
    from February 2nd to March 31st (over 35 days): the run restarts on April 1st."""
    firsts = [date(2023, m, 1) for m in range(8, 13)] + [date(2024, m, 1) for m in (1, 2, 4, 5)]
    assert fired_on(check("long_term_free", since(*firsts, TODAY), traits=FREE)) == "2024-04-01"
    steady = [*firsts, date(2024, 3, 1)]
    assert fired_on(check("long_term_free", since(*steady, TODAY), traits=FREE)) == "2024-01-01"


def test_long_term_free_evidence() -> None:
    signal = check("long_term_free", monthly(8), traits=FREE)
    assert signal is not None
    assert signal.evidence == [
        "On the free plan and active in 8 different months since 2023-10 (8 months)",
        "9 active days in all, last on 2024-05-10",
    ]
    assert signal.figures == {
        "active_months": 8,
        "months_since_first_activity": 8,
        "active_days": 9,
    }


# --- through the engine ---------------------------------------------------------------------

FIRING: dict[str, tuple[AccountTraits, list[DayRollup]]] = {
    "daily_active_streak": (TEAM, active(range(30))),
    "feature_ritual": (TEAM, weekly_use([0, 1, 2, 3, 5, 6, 7, 8])),
    "onboarding_return": (signed_up(5), sessions({5: 1, 0: 10})),
    # five months of use, then back today after 39 days: the 6th month counts today
    "long_term_free": (
        FREE,
        since(date(2023, 12, 1), *(date(2024, m, 1) for m in range(1, 5)), TODAY),
    ),
}


@pytest.mark.parametrize("name", TIME_TRIGGERS)
def test_engine_fires_and_disabled_rule_does_not(name: str) -> None:
    assert_engine_fires_it_and_disabling_stops_it(name, "time", *FIRING[name])


@pytest.mark.parametrize("name", TIME_TRIGGERS)
def test_rule_thresholds_are_described(name: str) -> None:
    assert_thresholds_described(name)


# --- properties -----------------------------------------------------------------------------

rollups = st.lists(
    st.builds(
        lambda day, events, users, n: DayRollup(
            day=day.isoformat(),
            events=events,
            active_users=users,
            metrics={"sessions": n} if n else {},
        ),
        st.dates(min_value=TODAY - timedelta(days=250), max_value=TODAY + timedelta(days=3)),
        st.dictionaries(st.sampled_from(["a", "b", "Page Viewed"]), st.integers(-2, 5)),
        st.integers(-2, 5),
        st.integers(-2, 8),
    ),
    max_size=40,
)
traits = st.builds(
    AccountTraits,
    plan=st.sampled_from([None, "", "free", "Free", "team"]),
    signup_date=st.none()
    | st.sampled_from(["", "junk", "2024-13-01"])
    | st.dates(TODAY - timedelta(days=90), TODAY + timedelta(days=5)).map(date.isoformat),
)


@settings(max_examples=60, deadline=None)
@given(days=rollups, account=traits, today=st.dates(TODAY - timedelta(days=10), TODAY))
def test_never_raises_and_is_deterministic(
    days: list[DayRollup], account: AccountTraits, today: date
) -> None:
    for name in TIME_TRIGGERS:
        first = check(name, days, traits=account, today=today)
        assert first == check(name, list(reversed(days)), traits=account, today=today)
        if first is not None:
            assert first.evidence
            assert all(math.isfinite(v) for v in first.figures.values())
            assert date.fromisoformat(first.fired_on) <= today


def test_dense_history_stays_fast() -> None:
    """400 days of every trigger's data (the retention) evaluate in well under a second."""
    days = [
        DayRollup(
            day=ago(n),
            events={f"E{i}": 3 for i in range(20)},
            active_users=3,
            metrics={"sessions": 2},
        )
        for n in range(400)
    ]
    for name in TIME_TRIGGERS:
        check(name, days, traits=FREE)


def test_any_state_is_tolerated() -> None:
    odd = [
        DayRollup(day="garbage", events={"a": 5}, metrics={"sessions": 50}),
        DayRollup(day=ago(0), events={"a": None}, active_users=None),  # type: ignore[dict-item, arg-type]
        DayRollup(day=ago(1), events={"a": float("inf")}, metrics={"sessions": None}),  # type: ignore[dict-item]
    ]
    for name in TIME_TRIGGERS:
        assert check(name, odd, traits=AccountTraits(plan="free", signup_date="x")) is None
    near_max = [DayRollup(day="9999-12-30", events={"a": 1}, metrics={"sessions": 20})]
    for name in TIME_TRIGGERS:
        view = AccountView.of("a", FREE, near_max, date(9999, 12, 31))
        TRIGGERS[name].check(view, getattr(RuleSet(), name))
