"""Volume triggers (DESIGN §4): limit_reached, consistent_overage, rapid_growth, seasonal_spike
(limit_approaching is tests/unit/test_triggers.py's): boundaries, evidence, `fired_on`, the
rules' validation, and properties (never raises, deterministic, more usage never lowers)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from plg_handoff.domain.engine import evaluate
from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.triggers.registry import TRIGGERS, Signal
from plg_handoff.domain.triggers.volume import (
    ConsistentOverageRule,
    LimitApproachingRule,
    LimitReachedRule,
    OverageQuota,
    RapidGrowthRule,
    SeasonalSpikeRule,
    SeasonWindow,
)
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.domain.view import AccountView
from tests.unit.triggers_support import TODAY, ago

NAN, INF = float("nan"), float("inf")


def view_of(
    days: Sequence[DayRollup], traits: AccountTraits | None = None, today: date = TODAY
) -> AccountView:
    return AccountView.of("acme", traits or AccountTraits(), days, today)


def check(name: str, view: AccountView, rule: TriggerRule) -> Signal | None:
    signal = TRIGGERS[name].check(view, rule)
    if signal is not None:
        assert signal.fired_on <= view.today.isoformat()
        assert signal.evidence
    return signal


def readings(gauge: str, values: Mapping[str, float]) -> list[DayRollup]:
    """One rollup a day with the gauge's reading."""
    return [DayRollup(day=day, gauges={gauge: value}) for day, value in values.items()]


def seats(*values: float) -> list[DayRollup]:
    """Consecutive days of seats readings ending today."""
    return readings("seats", {ago(len(values) - 1 - i): v for i, v in enumerate(values)})


def limits(**values: float) -> AccountTraits:
    return AccountTraits(name="Acme", plan="team", limits=dict(values))


# --- limit_reached --------------------------------------------------------------------------

REACHED_CASES = [
    pytest.param(10, seats(10), LimitReachedRule(), True, id="exactly-at-limit"),
    pytest.param(10, seats(9.99), LimitReachedRule(), False, id="just-under-limit"),
    pytest.param(10, seats(12), LimitReachedRule(), True, id="over-limit"),
    pytest.param(10, seats(12), LimitReachedRule(threshold=1.2), True, id="custom-1.2-at"),
    pytest.param(10, seats(11.99), LimitReachedRule(threshold=1.2), False, id="custom-1.2-under"),
    pytest.param(None, seats(12), LimitReachedRule(), False, id="no-limit-trait"),
    pytest.param(0, seats(12), LimitReachedRule(), False, id="limit-zero"),
    pytest.param(-5, seats(12), LimitReachedRule(), False, id="limit-negative"),
    pytest.param(NAN, seats(12), LimitReachedRule(), False, id="limit-nan"),
    pytest.param(INF, seats(12), LimitReachedRule(), False, id="limit-infinite"),
    pytest.param(10, [], LimitReachedRule(), False, id="no-days"),
    pytest.param(10, seats(12, 12, 9), LimitReachedRule(), False, id="past-over-today-under"),
    pytest.param(10, seats(12, NAN), LimitReachedRule(), True, id="nan-reading-skipped"),
]


@pytest.mark.parametrize(("limit", "days", "rule", "fires"), REACHED_CASES)
def test_limit_reached_fires(
    limit: float | None, days: list[DayRollup], rule: LimitReachedRule, fires: bool
) -> None:
    traits = limits() if limit is None else limits(seats=limit)
    assert (check("limit_reached", view_of(days, traits), rule) is not None) == fires


def test_limit_reached_evidence_and_fired_on() -> None:
    signal = check(
        "limit_reached", view_of(seats(10, 9, 10, 11), limits(seats=10)), LimitReachedRule()
    )
    assert signal is not None
    assert signal.evidence == ["11 of 10 seats in use (110%)", "seats limit reached"]
    assert signal.figures == {"seats_used": 11, "seats_limit": 10}
    assert signal.fired_on == ago(1)


def test_approaching_and_reached_split_the_quotas() -> None:
    """Seats at the wall are limit_reached's, storage at 90 % is limit_approaching's."""
    days = [DayRollup(day=ago(0), gauges={"seats": 10, "storage_gb": 90})]
    view = view_of(days, limits(seats=10, storage_gb=100))
    reached = check("limit_reached", view, LimitReachedRule())
    approaching = check("limit_approaching", view, LimitApproachingRule())
    assert reached is not None
    assert approaching is not None
    assert reached.figures == {"seats_used": 10, "seats_limit": 10}
    assert approaching.figures == {"storage_gb_used": 90, "storage_gb_limit": 100}


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=8),
    limit=st.floats(1e-3, 1e6),
    increase=st.floats(0, 1e6),
)
def test_quota_triggers_are_exclusive_and_raising_keeps_one(
    values: list[float], limit: float, increase: float
) -> None:
    """At most one of approaching/reached fires for a quota, and raising today's reading
    never takes the quota out of both once one fired."""

    def fired(series: list[float]) -> list[str]:
        view = view_of(seats(*series), limits(seats=limit))
        return [
            name
            for name, rule in (
                ("limit_approaching", LimitApproachingRule()),
                ("limit_reached", LimitReachedRule()),
            )
            if check(name, view, rule) is not None
        ]

    before = fired(values)
    assert len(before) <= 1
    after = fired([*values[:-1], values[-1] + increase])
    assert len(after) <= 1
    if before:
        assert after
        assert not (before == ["limit_reached"] and after == ["limit_approaching"])


# --- consistent_overage ---------------------------------------------------------------------


def storage(values: Mapping[str, float]) -> list[DayRollup]:
    return readings("storage_gb", values)


STORAGE = limits(storage_gb=100)
OVER_3 = {"2024-03-15": 120, "2024-04-15": 110, "2024-05-02": 130}

OVERAGE_CASES = [
    pytest.param(OVER_3, TODAY, "2024-05-02", id="3-months-running"),
    pytest.param(
        {"2024-03-15": 120, "2024-04-15": 110, "2024-05-01": 90, "2024-05-03": 101},
        TODAY,
        "2024-05-03",
        id="fired-on-first-day-over-in-3rd-month",
    ),
    pytest.param(
        {"2024-02-20": 120, **OVER_3}, TODAY, "2024-04-15", id="4-months-fired-in-the-3rd"
    ),
    pytest.param(
        {"2024-03-15": 120, "2024-04-15": 100, "2024-05-02": 130},
        TODAY,
        None,
        id="a-month-exactly-at-limit-breaks-run",
    ),
    pytest.param(
        {"2024-03-15": 100.001, "2024-04-15": 100.001, "2024-05-02": 100.001},
        TODAY,
        "2024-05-02",
        id="just-over-each-month",
    ),
    pytest.param({"2024-04-15": 110, "2024-05-02": 130}, TODAY, None, id="2-months-one-below"),
    pytest.param(
        {"2024-02-15": 120, "2024-03-15": 120, "2024-05-02": 130},
        TODAY,
        None,
        id="month-without-reading-breaks-run",
    ),
    pytest.param(
        {"2024-02-15": 120, "2024-03-15": 120, "2024-04-15": 120, "2024-05-03": 90},
        TODAY,
        None,
        id="this-month-under-limit",
    ),
    pytest.param(
        {"2024-02-15": 120, "2024-03-15": 120, "2024-04-15": 120},
        TODAY,
        "2024-04-15",
        id="this-month-no-reading-yet-run-ends-last-month",
    ),
    pytest.param(
        {"2024-01-15": 120, "2024-02-15": 120, "2024-03-15": 120},
        TODAY,
        None,
        id="run-ended-two-months-ago",
    ),
    pytest.param(
        {
            "2024-03-01": 80,
            "2024-03-15": 120,
            "2024-03-31": 50,
            "2024-04-15": 110,
            "2024-05-02": 130,
        },
        TODAY,
        "2024-05-02",
        id="one-reading-over-is-the-month-max",
    ),
    pytest.param(
        {"2024-11-15": 120, "2024-12-15": 120, "2025-01-03": 120},
        date(2025, 1, 5),
        "2025-01-03",
        id="across-the-year-end",
    ),
    pytest.param(
        {"2024-03-15": INF, "2024-04-15": 110, "2024-05-02": 130},
        TODAY,
        None,
        id="infinite-reading-is-no-reading",
    ),
    pytest.param(
        {**OVER_3, "2024-05-11": 50}, TODAY, "2024-05-02", id="reading-after-today-unread"
    ),
]


@pytest.mark.parametrize(("values", "today", "fired_on"), OVERAGE_CASES)
def test_consistent_overage_fires(
    values: dict[str, float], today: date, fired_on: str | None
) -> None:
    signal = check(
        "consistent_overage", view_of(storage(values), STORAGE, today), ConsistentOverageRule()
    )
    assert (signal.fired_on if signal else None) == fired_on


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param(None, id="no-limit"),
        pytest.param(0, id="zero"),
        pytest.param(-100, id="negative"),
        pytest.param(NAN, id="nan"),
        pytest.param(INF, id="infinite"),
    ],
)
def test_consistent_overage_needs_a_usable_limit(limit: float | None) -> None:
    traits = limits() if limit is None else limits(storage_gb=limit)
    assert (
        check("consistent_overage", view_of(storage(OVER_3), traits), ConsistentOverageRule())
        is None
    )


def test_consistent_overage_custom_months() -> None:
    two = {"2024-04-15": 110, "2024-05-02": 130}
    rule = ConsistentOverageRule(months=2)
    signal = check("consistent_overage", view_of(storage(two), STORAGE), rule)
    assert signal is not None
    assert signal.fired_on == "2024-05-02"
    one = {"2024-05-02": 130}
    assert check("consistent_overage", view_of(storage(one), STORAGE), rule) is None


def test_consistent_overage_evidence() -> None:
    signal = check("consistent_overage", view_of(storage(OVER_3), STORAGE), ConsistentOverageRule())
    assert signal is not None
    assert signal.evidence == [
        "Over the plan limit of 100 GB of storage for 3 months running"
        " (Mar 2024 \u2013 May 2024; peak 130, 30% over)"
    ]
    assert signal.figures == {
        "storage_gb_overage_months": 3,
        "storage_gb_limit": 100,
        "storage_gb_peak": 130,
    }


def test_consistent_overage_longest_run_leads() -> None:
    days = storage(OVER_3) + readings(
        "seats", {"2024-02-01": 12, "2024-03-01": 12, "2024-04-01": 11, "2024-05-01": 11}
    )
    signal = check(
        "consistent_overage",
        view_of(days, limits(storage_gb=100, seats=10)),
        ConsistentOverageRule(),
    )
    assert signal is not None
    assert signal.evidence[0].startswith("Over the plan limit of 10 seats for 4 months running")
    assert signal.evidence[1].startswith("Over the plan limit of 100 GB of storage for 3 months")
    assert signal.fired_on == "2024-04-01"
    assert signal.figures["seats_overage_months"] == 4


PRICED = (OverageQuota(gauge="storage_gb", limit="storage_gb", unit="GB", overage_price=2.5),)
# Mar 20 GB over, Apr 10, May 30: 20 GB over on average x 2.5 = 50 a month in fees.
COST_CASES = [
    pytest.param(ConsistentOverageRule(), "team", [], {}, id="no-prices-no-cost-lines"),
    pytest.param(
        ConsistentOverageRule(quotas=PRICED),
        "team",
        ["Overage fees about $50 a month"],
        {"overage_fees_per_month": 50},
        id="overage-price-only",
    ),
    pytest.param(
        ConsistentOverageRule(quotas=PRICED, next_tier_price_increase={"Team": 40}),
        "team",
        [
            "Overage fees about $50 a month",
            "The next tier ($40 a month more) would save about $10 a month",
        ],
        {
            "overage_fees_per_month": 50,
            "next_tier_price_increase": 40,
            "next_tier_savings_per_month": 10,
        },
        id="next-tier-saves",
    ),
    pytest.param(
        ConsistentOverageRule(quotas=PRICED, next_tier_price_increase={"team": 80}),
        "team",
        [
            "Overage fees about $50 a month",
            "The next tier costs $80 a month more, no saving on the fees",
        ],
        {
            "overage_fees_per_month": 50,
            "next_tier_price_increase": 80,
            "next_tier_savings_per_month": -30,
        },
        id="next-tier-costs-more",
    ),
    pytest.param(
        ConsistentOverageRule(quotas=PRICED, next_tier_price_increase={"pro": 40}),
        "team",
        ["Overage fees about $50 a month"],
        {"overage_fees_per_month": 50},
        id="no-price-for-this-plan",
    ),
    pytest.param(
        ConsistentOverageRule(quotas=PRICED, next_tier_price_increase={"team": 40}),
        None,
        ["Overage fees about $50 a month"],
        {"overage_fees_per_month": 50},
        id="account-without-plan",
    ),
    pytest.param(
        ConsistentOverageRule(
            quotas=PRICED, next_tier_price_increase={"team": 40}, currency="\u20ac"
        ),
        "team",
        [
            "Overage fees about \u20ac50 a month",
            "The next tier (\u20ac40 a month more) would save about \u20ac10 a month",
        ],
        {
            "overage_fees_per_month": 50,
            "next_tier_price_increase": 40,
            "next_tier_savings_per_month": 10,
        },
        id="currency",
    ),
]


@pytest.mark.parametrize(("rule", "plan", "lines", "figures"), COST_CASES)
def test_consistent_overage_costs(
    rule: ConsistentOverageRule, plan: str | None, lines: list[str], figures: dict[str, float]
) -> None:
    traits = AccountTraits(plan=plan, limits={"storage_gb": 100})
    signal = check("consistent_overage", view_of(storage(OVER_3), traits), rule)
    assert signal is not None
    assert signal.evidence[1:] == lines
    costs = {k: v for k, v in signal.figures.items() if not k.startswith("storage_gb_")}
    assert costs == figures


def test_consistent_overage_fees_average_the_last_months_of_the_run() -> None:
    """A longer run with a big first month: the fee is the average of the last 3 months."""
    values = {"2024-02-15": 200, **OVER_3}
    signal = check(
        "consistent_overage",
        view_of(storage(values), STORAGE),
        ConsistentOverageRule(quotas=PRICED),
    )
    assert signal is not None
    assert signal.figures["overage_fees_per_month"] == 50


def test_overage_rule_validation() -> None:
    with pytest.raises(ValidationError):
        ConsistentOverageRule(months=0)
    with pytest.raises(ValidationError):
        ConsistentOverageRule(next_tier_price_increase={"team": -1})
    with pytest.raises(ValidationError):
        OverageQuota(gauge="seats", limit="seats", unit="seats", overage_price=NAN)


month_readings = st.lists(
    st.lists(st.tuples(st.integers(1, 10), st.floats(0, 300)), min_size=1, max_size=3),
    min_size=6,
    max_size=6,
)


def overage_days(entries: list[list[tuple[int, float]]], scale: float = 1) -> list[DayRollup]:
    """Readings of December 2023 (month 0) to May 2024 (month 5), up to today."""
    days: dict[str, float] = {}
    for month, month_entries in enumerate(entries):
        for day, value in month_entries:
            when = date(2023 + (month + 11) // 12, (month + 11) % 12 + 1, day)
            if when <= TODAY:
                days[when.isoformat()] = value * scale
    return storage(days)


@settings(max_examples=100, deadline=None)
@given(entries=month_readings, scale=st.floats(1, 100))
def test_more_storage_never_lowers_overage(
    entries: list[list[tuple[int, float]]], scale: float
) -> None:
    rule = ConsistentOverageRule(quotas=PRICED, next_tier_price_increase={"team": 40})
    before = check("consistent_overage", view_of(overage_days(entries), STORAGE), rule)
    after = check("consistent_overage", view_of(overage_days(entries, scale), STORAGE), rule)
    if before is None:
        return
    assert after is not None
    for figure in ("storage_gb_overage_months", "storage_gb_peak", "overage_fees_per_month"):
        assert after.figures[figure] >= before.figures[figure]
    assert (
        after.figures["next_tier_savings_per_month"]
        >= before.figures["next_tier_savings_per_month"]
    )


# --- rapid_growth ---------------------------------------------------------------------------


# The account's history begins before both windows compared (its baselines are read whole).
HISTORY = DayRollup(day=ago(120))


def events_on(counts: Mapping[int, int], event: str = "Report Viewed") -> list[DayRollup]:
    """Rollups `days ago -> events` of one event name, the history beginning 120 days ago."""
    return [HISTORY, *(DayRollup(day=ago(n), events={event: c}) for n, c in counts.items())]


# Comparisons of complete days: growth is days ago 1..30 against 31..60, velocity 1..7
# against 8..14; today's partial day is in neither. A day's usage counts from the day after,
# once it is complete: usage 5 days ago fires 4 days ago.
GROWTH_CASES = [
    pytest.param({45: 100, 5: 150}, RapidGrowthRule(), ago(4), id="exactly-plus-50%"),
    pytest.param({45: 100, 5: 149}, RapidGrowthRule(), None, id="one-below-plus-50%"),
    pytest.param({45: 99, 5: 1000}, RapidGrowthRule(), None, id="baseline-one-below-minimum"),
    pytest.param({5: 1000}, RapidGrowthRule(), None, id="no-baseline"),
    pytest.param({45: 200, 5: 150}, RapidGrowthRule(), None, id="decline"),
    pytest.param({60: 100, 1: 150}, RapidGrowthRule(), ago(0), id="window-edges-60-and-1"),
    pytest.param({61: 100, 1: 150}, RapidGrowthRule(), None, id="baseline-day-61-outside"),
    pytest.param({31: 100, 30: 150}, RapidGrowthRule(), ago(0), id="window-edges-31-and-30"),
    pytest.param({45: 100, 0: 1000}, RapidGrowthRule(), None, id="todays-usage-not-counted"),
    pytest.param({45: 100, 5: 199}, RapidGrowthRule(growth=1.0), None, id="custom-x2-under"),
    pytest.param({45: 100, 5: 200}, RapidGrowthRule(growth=1.0), ago(4), id="custom-x2-at"),
    pytest.param(
        {20: 100, 5: 150}, RapidGrowthRule(window_days=14), ago(4), id="custom-14-day-window"
    ),
    pytest.param({10: 25, 3: 50}, RapidGrowthRule(), ago(2), id="velocity-exactly-x2"),
    pytest.param({14: 25, 1: 50}, RapidGrowthRule(), ago(0), id="velocity-edges-14-and-1"),
    pytest.param({15: 25, 1: 50}, RapidGrowthRule(), None, id="velocity-baseline-day-15-outside"),
    pytest.param({8: 25, 7: 50}, RapidGrowthRule(), ago(0), id="velocity-edges-8-and-7"),
    pytest.param({10: 25, 3: 49}, RapidGrowthRule(), None, id="velocity-one-below-x2"),
    pytest.param({10: 24, 3: 1000}, RapidGrowthRule(), None, id="velocity-baseline-below-min"),
    pytest.param(
        {10: 25, 3: 50}, RapidGrowthRule(velocity_factor=None), None, id="velocity-switched-off"
    ),
    pytest.param({}, RapidGrowthRule(), None, id="no-days"),
]


@pytest.mark.parametrize(("counts", "rule", "fired_on"), GROWTH_CASES)
def test_rapid_growth_fires(
    counts: dict[int, int], rule: RapidGrowthRule, fired_on: str | None
) -> None:
    signal = check("rapid_growth", view_of(events_on(counts)), rule)
    assert (signal.fired_on if signal else None) == fired_on


def test_rapid_growth_fired_on_is_the_start_of_the_current_run() -> None:
    # The baseline (days ago 31..60 as of each day) reaches 100 on day -14 (T-45 enters it);
    # the last 30 complete days reach 175 on day -2, once day -3 is complete; the week before
    # the last 7 complete days holds the 25 of day -10 until day -2 too.
    signal = check("rapid_growth", view_of(events_on({45: 100, 10: 25, 3: 150})), RapidGrowthRule())
    assert signal is not None
    assert signal.fired_on == ago(2)
    assert signal.evidence == [
        "Usage up 75% month over month (100 \u2192 175 events a month)",
        "Usage \u00d76.0 week over week (25 \u2192 150 events a week)",
    ]
    assert signal.figures == {
        "growth": 0.75,
        "usage_before": 100,
        "usage_now": 175,
        "window_days": 30,
        "velocity": 6,
        "velocity_before": 25,
        "velocity_now": 150,
        "velocity_days": 7,
    }


def active_user_days(before: int, now: int) -> list[DayRollup]:
    """`before` active users a day on days ago 31..60, `now` on days ago 0..30."""
    return [
        DayRollup(day=ago(n), events={"Report Viewed": 1}, active_users=now if n <= 30 else before)
        for n in range(61)
    ]


MEASURE_CASES = [
    pytest.param(
        events_on({45: 100, 5: 150}),
        RapidGrowthRule(),
        ["Usage up 50% month over month (100 \u2192 150 events a month)"],
        id="events",
    ),
    pytest.param(
        events_on({20: 1000, 5: 1500}),
        RapidGrowthRule(window_days=14),
        ["Usage up 50% on the previous 14 days (1,000 \u2192 1,500 events in 14 days)"],
        id="events-custom-window-thousands",
    ),
    pytest.param(
        events_on({10: 25, 3: 50}),
        RapidGrowthRule(),
        ["Usage \u00d72.0 week over week (25 \u2192 50 events a week)"],
        id="velocity",
    ),
    pytest.param(
        active_user_days(4, 6),
        RapidGrowthRule(measure="active_users"),
        ["Active users up 50% month over month (4 \u2192 6 active users a day on average)"],
        id="active-users",
    ),
    pytest.param(
        [
            HISTORY,
            DayRollup(day=ago(45), metrics={"api_requests": 100}),
            DayRollup(day=ago(5), metrics={"api_requests": 150}),
        ],
        RapidGrowthRule(measure="metric", metric="api_requests"),
        ["api_requests up 50% month over month (100 \u2192 150 api_requests a month)"],
        id="metric",
    ),
    pytest.param(
        [
            HISTORY,
            DayRollup(day=ago(45), events={"Report Viewed": 100, "Login": 1000}),
            DayRollup(day=ago(5), events={"Report Viewed": 150}),
        ],
        RapidGrowthRule(event_names=("Report Viewed",)),
        ["Usage up 50% month over month (100 \u2192 150 events a month)"],
        id="only-named-events",
    ),
]


@pytest.mark.parametrize(("days", "rule", "evidence"), MEASURE_CASES)
def test_rapid_growth_evidence(
    days: list[DayRollup], rule: RapidGrowthRule, evidence: list[str]
) -> None:
    signal = check("rapid_growth", view_of(days), rule)
    assert signal is not None
    assert signal.evidence == evidence


def test_rapid_growth_measures_differ() -> None:
    """All events fell (1,100 -> 150); Report Viewed alone grew; active users held."""
    days = [
        HISTORY,
        DayRollup(day=ago(45), events={"Report Viewed": 100, "Login": 1000}, active_users=5),
        DayRollup(day=ago(5), events={"Report Viewed": 150}, active_users=5),
    ]
    assert check("rapid_growth", view_of(days), RapidGrowthRule()) is None
    assert check("rapid_growth", view_of(days), RapidGrowthRule(measure="active_users")) is None
    assert check("rapid_growth", view_of(days), RapidGrowthRule(event_names=("Report Viewed",)))


@pytest.mark.parametrize(
    "settings_",
    [
        pytest.param({"measure": "metric"}, id="metric-measure-without-metric"),
        pytest.param({"metric": "api_requests"}, id="metric-without-metric-measure"),
        pytest.param({"measure": "active_users", "event_names": ("A",)}, id="names-not-events"),
        pytest.param({"growth": 0}, id="growth-zero"),
        pytest.param({"velocity_factor": 1}, id="velocity-factor-1"),
        pytest.param({"min_baseline": 0}, id="baseline-zero"),
    ],
)
def test_rapid_growth_rule_validation(settings_: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RapidGrowthRule(**settings_)


usage_counts = st.dictionaries(st.integers(0, 70), st.integers(0, 400), max_size=25)


@settings(max_examples=150, deadline=None)
@given(counts=usage_counts, factor=st.integers(1, 20), extra=st.integers(0, 1000))
def test_more_usage_never_lowers_rapid_growth(
    counts: dict[int, int], factor: int, extra: int
) -> None:
    rule = RapidGrowthRule()
    before = check("rapid_growth", view_of(events_on(counts)), rule)
    if before is None:
        return
    scaled = check(
        "rapid_growth", view_of(events_on({n: c * factor for n, c in counts.items()})), rule
    )
    assert scaled is not None
    for figure in ("growth", "velocity"):  # the same ratios; a scaled baseline may add one
        if figure in before.figures:
            assert scaled.figures[figure] == pytest.approx(before.figures[figure])
    today_more = {**counts, 0: counts.get(0, 0) + extra}
    raised = check("rapid_growth", view_of(events_on(today_more)), rule)
    assert raised is not None
    for figure in ("growth", "velocity"):
        if figure in before.figures:
            assert raised.figures[figure] >= before.figures[figure]


# --- seasonal_spike -------------------------------------------------------------------------

SPRING = SeasonWindow(name="Spring sale", start="05-01", end="05-31")
SEASON_START = date(2024, 5, 1)


def season_usage(
    baseline: int,
    season: int | Sequence[int],
    first: date = date(2024, 1, 1),
    today: date = TODAY,
    start: date = SEASON_START,
) -> list[DayRollup]:
    """`baseline` events a day from `first` until the season starts, then `season` a day (or
    one count a season day)."""
    days = []
    for n in range((today - first).days + 1):
        day = first + timedelta(days=n)
        if day < start:
            count = baseline
        elif isinstance(season, int):
            count = season
        else:
            count = season[(day - start).days]
        days.append(DayRollup(day=day.isoformat(), events={"Report Viewed": count}))
    return days


def spring(**settings_: Any) -> SeasonalSpikeRule:
    return SeasonalSpikeRule(seasons=(SPRING,), **settings_)


MARCH = SeasonWindow(name="March madness", start="03-01", end="03-31")


def with_busy_march(days: list[DayRollup]) -> list[DayRollup]:
    return [
        DayRollup(day=d.day, events={"Report Viewed": 1000}) if d.day[5:7] == "03" else d
        for d in days
    ]


SPIKE_CASES = [
    pytest.param(season_usage(10, 20), spring(), TODAY, True, id="exactly-x2"),
    pytest.param(season_usage(10, 19), spring(), TODAY, False, id="one-below-x2"),
    pytest.param(season_usage(10, 40), SeasonalSpikeRule(), TODAY, False, id="no-seasons"),
    pytest.param(
        season_usage(10, 40),
        SeasonalSpikeRule(seasons=(SeasonWindow(name="June", start="06-01", end="06-30"),)),
        TODAY,
        False,
        id="today-outside-the-seasons",
    ),
    pytest.param(
        season_usage(10, 40, first=date(2024, 4, 3)), spring(), TODAY, True, id="28-baseline-days"
    ),
    pytest.param(
        season_usage(10, 40, first=date(2024, 4, 4)), spring(), TODAY, False, id="27-baseline-days"
    ),
    pytest.param(season_usage(0, 40), spring(), TODAY, False, id="baseline-zero"),
    pytest.param(season_usage(1, 2), spring(), TODAY, True, id="baseline-at-minimum-1-a-day"),
    pytest.param(
        season_usage(10, 40), spring(spike_factor=4), TODAY, True, id="custom-factor-x4-at"
    ),
    pytest.param(
        season_usage(10, 39), spring(spike_factor=4), TODAY, False, id="custom-factor-x4-under"
    ),
    pytest.param(
        with_busy_march(season_usage(10, 40)),
        SeasonalSpikeRule(seasons=(SPRING, MARCH)),
        TODAY,
        True,
        id="other-season-is-not-baseline",
    ),
    pytest.param(
        with_busy_march(season_usage(10, 40)),
        spring(),
        TODAY,
        False,
        id="busy-march-outside-seasons-is-baseline",
    ),
    # spike_days 7: the complete season days before today (days ago 1..7), none on its first
    pytest.param(
        season_usage(10, 40), spring(), SEASON_START, False, id="first-season-day-cannot-fire"
    ),
    pytest.param(
        season_usage(10, 40), spring(), SEASON_START + timedelta(days=1), True, id="second-day"
    ),
    pytest.param(
        season_usage(10, [15] * 9 + [1000]), spring(), TODAY, False, id="todays-usage-not-counted"
    ),
    pytest.param(
        season_usage(10, [15] * 2 + [20] * 7 + [0]),
        spring(),
        TODAY,
        True,
        id="days-ago-1-to-7-at-x2",
    ),
    pytest.param([], spring(), TODAY, False, id="no-days"),
]


@pytest.mark.parametrize(("days", "rule", "today", "fires"), SPIKE_CASES)
def test_seasonal_spike_fires(
    days: list[DayRollup], rule: SeasonalSpikeRule, today: date, fires: bool
) -> None:
    assert (check("seasonal_spike", view_of(days, today=today), rule) is not None) == fires


def test_seasonal_spike_evidence() -> None:
    signal = check("seasonal_spike", view_of(season_usage(10, 40)), spring())
    assert signal is not None
    assert signal.evidence == [
        "Usage spike in season Spring sale (May 1 \u2013 May 31): 40 events a day over the last"
        " 7 days, \u00d74.0 the 10 a day outside the seasons"
    ]
    assert signal.figures == {
        "spike": 4,
        "season_per_day": 40,
        "baseline_per_day": 10,
        "spike_days": 7,
    }
    assert signal.fired_on == "2024-05-02"


def test_seasonal_spike_on_the_first_season_days() -> None:
    """The season's first day has no complete season day to compare; the second compares
    the first (yesterday) alone."""
    first_day = view_of(season_usage(10, 40), today=SEASON_START)
    assert check("seasonal_spike", first_day, spring()) is None
    second_day = SEASON_START + timedelta(days=1)
    signal = check("seasonal_spike", view_of(season_usage(10, 40), today=second_day), spring())
    assert signal is not None
    assert "40 events a day yesterday," in signal.evidence[0]
    assert signal.figures["spike_days"] == 1
    assert signal.fired_on == "2024-05-02"


def test_seasonal_spike_fired_on_follows_the_rolling_window() -> None:
    # May 1-7 at 15 a day, then 60: as of May 9, May 2-8 averages 21.4, over 2 x 10; as of
    # May 8, May 1-7 is 15 (May 8 itself, partial then, is left out).
    signal = check("seasonal_spike", view_of(season_usage(10, [15] * 7 + [60] * 3)), spring())
    assert signal is not None
    assert signal.fired_on == "2024-05-09"


def test_seasonal_spike_across_the_year_end() -> None:
    holidays = SeasonWindow(name="Holidays", start="12-01", end="01-15")
    today = date(2025, 1, 5)
    days = season_usage(10, 30, first=date(2024, 6, 1), today=today, start=date(2024, 12, 1))
    signal = check(
        "seasonal_spike", view_of(days, today=today), SeasonalSpikeRule(seasons=(holidays,))
    )
    assert signal is not None
    assert signal.evidence[0].startswith(
        "Usage spike in season Holidays (Dec 1 \u2013 Jan 15): 30 events a day"
    )
    assert signal.fired_on == "2024-12-02"


def test_seasonal_spike_active_users() -> None:
    days = [
        DayRollup(day=d.day, active_users=d.events["Report Viewed"]) for d in season_usage(2, 5)
    ]
    signal = check("seasonal_spike", view_of(days), spring(measure="active_users"))
    assert signal is not None
    assert "5 active users a day over the last 7 days" in signal.evidence[0]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        pytest.param("02-30", "03-01", id="no-feb-30"),
        pytest.param("13-01", "12-31", id="month-13"),
        pytest.param("00-10", "01-31", id="month-0"),
        pytest.param("5-1", "05-31", id="not-mm-dd"),
        pytest.param("05-01", "05-32", id="day-32"),
    ],
)
def test_season_window_validation(start: str, end: str) -> None:
    with pytest.raises(ValidationError):
        SeasonWindow(name="x", start=start, end=end)


def test_season_window_leap_day_and_wrap() -> None:
    leap = SeasonWindow(name="Leap", start="02-29", end="03-02")
    assert leap.contains(date(2024, 2, 29))
    assert leap.contains(date(2023, 3, 1))
    assert not leap.contains(date(2023, 2, 28))
    wrap = SeasonWindow(name="Holidays", start="12-01", end="01-15")
    assert wrap.contains(date(2024, 12, 31))
    assert wrap.contains(date(2025, 1, 15))
    assert not wrap.contains(date(2025, 1, 16))
    with pytest.raises(ValidationError):
        SeasonalSpikeRule(baseline_days=30, min_baseline_days=31)


@settings(max_examples=100, deadline=None)
@given(
    baseline=st.integers(1, 50),
    season=st.lists(st.integers(0, 300), min_size=10, max_size=10),
    factor=st.integers(1, 10),
)
def test_more_season_usage_never_lowers_spike(
    baseline: int, season: list[int], factor: int
) -> None:
    before = check("seasonal_spike", view_of(season_usage(baseline, season)), spring())
    after = check(
        "seasonal_spike", view_of(season_usage(baseline, [c * factor for c in season])), spring()
    )
    if before is not None:
        assert after is not None
        assert after.figures["spike"] >= before.figures["spike"]


# --- every volume trigger: disabled, never raises, deterministic ----------------------------

FIRING = {
    "limit_reached": (seats(10), limits(seats=10)),
    "consistent_overage": (storage(OVER_3), STORAGE),
    "rapid_growth": (events_on({45: 100, 5: 150}), limits()),
    "seasonal_spike": (season_usage(10, 40), limits()),
}
SEASONS = RuleSet(seasonal_spike=spring())


@pytest.mark.parametrize("name", sorted(FIRING))
def test_disabled_volume_rule_never_fires(name: str) -> None:
    days, traits = FIRING[name]
    # in use today too: the engine holds a trigger without a return visit (`no_return`)
    days = [*days, DayRollup(day=ago(0), events={"Report Viewed": 1}, active_users=1)]
    rule = getattr(SEASONS, name)
    assert name in {f.trigger for f in evaluate("acme", traits, days, SEASONS, TODAY).fired}
    disabled = SEASONS.model_copy(update={name: rule.model_copy(update={"enabled": False})})
    assert name not in {f.trigger for f in evaluate("acme", traits, days, disabled, TODAY).fired}


floats = st.floats(allow_nan=True, allow_infinity=True)
near_days = st.integers(0, 200).map(ago)
rollups = st.lists(
    st.builds(
        DayRollup,
        day=near_days | st.sampled_from(["", "not-a-day", "2024-02-30", "9999-12-31"]),
        events=st.dictionaries(st.sampled_from(["Report Viewed", "Login"]), st.integers(-5, 10**6)),
        active_users=st.integers(-5, 1000),
        gauges=st.dictionaries(st.sampled_from(["seats", "storage_gb", "api_calls"]), floats),
        metrics=st.dictionaries(st.sampled_from(["api_requests"]), st.integers(-5, 10**6)),
    ),
    max_size=40,
)
any_traits = st.builds(
    AccountTraits,
    plan=st.none() | st.sampled_from(["team", "", "Pro"]),
    limits=st.dictionaries(st.sampled_from(["seats", "storage_gb", "api_calls"]), floats),
)
VOLUME_RULES: list[tuple[str, TriggerRule]] = [
    ("limit_approaching", LimitApproachingRule()),
    ("limit_reached", LimitReachedRule()),
    ("consistent_overage", ConsistentOverageRule()),
    (
        "consistent_overage",
        ConsistentOverageRule(months=1, quotas=PRICED, next_tier_price_increase={"team": 10}),
    ),
    ("rapid_growth", RapidGrowthRule()),
    (
        "rapid_growth",
        RapidGrowthRule(measure="active_users", min_baseline=1, velocity_min_baseline=1),
    ),
    ("rapid_growth", RapidGrowthRule(measure="metric", metric="api_requests", min_baseline=1)),
    ("seasonal_spike", spring(min_baseline_days=1, baseline_days=7)),
    (
        "seasonal_spike",
        SeasonalSpikeRule(seasons=(SeasonWindow(name="All year", start="01-01", end="12-31"),)),
    ),
]


@settings(max_examples=80, deadline=None)
@given(
    days=rollups,
    traits=any_traits,
    today=st.sampled_from([TODAY, date(1, 1, 2), date(9999, 12, 31)]),
)
def test_volume_triggers_never_raise_and_are_deterministic(
    days: list[DayRollup], traits: AccountTraits, today: date
) -> None:
    view = view_of(days, traits, today)
    for name, rule in VOLUME_RULES:
        first = check(name, view, rule)
        assert first == check(name, view, rule)
        if first is not None:
            assert not any(math.isnan(v) for v in first.figures.values())
