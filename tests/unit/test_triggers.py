"""`evaluate()` and the `limit_approaching` trigger: boundaries, evidence, score, properties.

At or over the limit is `limit_reached`'s (tests/unit/test_triggers_volume.py), not this one's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plg_handoff.domain.engine import Evaluation, FiredTrigger, evaluate
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.triggers.volume import LimitApproachingRule
from plg_handoff.domain.usage import AccountTraits, DayRollup

TODAY = date(2024, 5, 10)
DEFAULT_RULES = RuleSet()


def days(*values: float | None, last: date = TODAY) -> list[DayRollup]:
    """Consecutive days ending on `last`, one seats gauge each (None: no gauge that day)."""
    start = last - timedelta(days=len(values) - 1)
    return [
        DayRollup(
            day=(start + timedelta(days=i)).isoformat(),
            events={"Report Viewed": 1},
            active_users=1,
            gauges={} if value is None else {"seats": value},
        )
        for i, value in enumerate(values)
    ]


def traits(seats_limit: float | None = 10, arr_potential: float | None = None) -> AccountTraits:
    limits = {} if seats_limit is None else {"seats": seats_limit}
    return AccountTraits(name="Acme", plan="team", limits=limits, arr_potential=arr_potential)


def run(
    account_traits: AccountTraits,
    series: Sequence[DayRollup],
    rules: RuleSet = DEFAULT_RULES,
    today: date = TODAY,
) -> Evaluation:
    return evaluate("acme", account_traits, series, rules, today)


def only_trigger(evaluation: Evaluation) -> FiredTrigger:
    assert len(evaluation.fired) == 1, evaluation.fired
    return evaluation.fired[0]


# --- fires / does not fire ------------------------------------------------------------------

FIRING_CASES = [
    pytest.param(traits(10), days(8), RuleSet(), True, id="exactly-at-threshold-8-of-10"),
    pytest.param(traits(10), days(7.99), RuleSet(), False, id="just-under-7.99-of-10"),
    pytest.param(traits(10), days(9), RuleSet(), True, id="over-threshold-9-of-10"),
    # at or over the limit is limit_reached's (tested with it), not limit_approaching's
    pytest.param(traits(10), days(10), RuleSet(), False, id="at-limit-10-of-10"),
    pytest.param(traits(10), days(12), RuleSet(), False, id="over-limit-12-of-10"),
    pytest.param(traits(None), days(9), RuleSet(), False, id="no-limit-trait"),
    pytest.param(traits(0), days(9), RuleSet(), False, id="limit-zero"),
    pytest.param(traits(-5), days(9), RuleSet(), False, id="limit-negative"),
    pytest.param(traits(10), days(None, None), RuleSet(), False, id="gauge-missing"),
    pytest.param(traits(10), [], RuleSet(), False, id="no-days-at-all"),
    pytest.param(traits(10), days(9, 9, 7), RuleSet(), False, id="past-over-today-under"),
    pytest.param(traits(10), days(3, 4, 8), RuleSet(), True, id="past-under-today-over"),
    pytest.param(
        traits(10),
        days(5),
        RuleSet(limit_approaching=LimitApproachingRule(threshold=0.5)),
        True,
        id="custom-threshold-0.5-5-of-10",
    ),
    pytest.param(
        traits(10),
        days(4.99),
        RuleSet(limit_approaching=LimitApproachingRule(threshold=0.5)),
        False,
        id="custom-threshold-0.5-4.99-of-10",
    ),
    pytest.param(
        traits(10),
        days(7),
        RuleSet(limit_approaching=LimitApproachingRule(threshold=0.5)),
        True,
        id="custom-threshold-0.5-7-of-10",
    ),
    pytest.param(
        traits(10),
        days(9),
        RuleSet(limit_approaching=LimitApproachingRule(enabled=False)),
        False,
        id="disabled-rule",
    ),
]


@pytest.mark.parametrize(("account_traits", "series", "rules", "fires"), FIRING_CASES)
def test_limit_approaching_fires(
    account_traits: AccountTraits, series: list[DayRollup], rules: RuleSet, fires: bool
) -> None:
    evaluation = run(account_traits, series, rules)
    assert evaluation.account_id == "acme"
    assert evaluation.evaluated_on == "2024-05-10"
    approaching = [f for f in evaluation.fired if f.trigger == "limit_approaching"]
    assert len(approaching) == (1 if fires else 0)


def test_fired_trigger_fields() -> None:
    fired = only_trigger(run(traits(10), days(9)))
    assert fired.trigger == "limit_approaching"
    assert fired.category == "volume"
    assert fired.figures == {"seats_used": 9.0, "seats_limit": 10.0}
    assert fired.conversion == 0.375
    assert fired.tier == 2
    assert fired.fired_on == "2024-05-10"


def test_days_are_ordered_before_evaluation() -> None:
    """Rollups given newest first still make the newest day the one that counts."""
    series = days(9, 9, 7)
    assert run(traits(10), list(reversed(series))).fired == []
    fired = only_trigger(run(traits(10), list(reversed(days(1, 2, 9)))))
    assert fired.figures["seats_used"] == 9.0


# --- evidence -------------------------------------------------------------------------------

EVIDENCE_CASES = [
    pytest.param(days(9), ["9 of 10 seats in use (90%)"], id="single-day-no-rate"),
    pytest.param(
        days(5, None, None, 8),
        ["8 of 10 seats in use (80%)", "at the current rate full in 2 days"],
        id="3-seats-over-3-days-2-left",
    ),
    pytest.param(
        days(6, None, None, 9),
        ["9 of 10 seats in use (90%)", "at the current rate full in 1 day"],
        id="singular-1-day",
    ),
    pytest.param(
        # 4 -> 8.5 over 7 days = 0.642857/day; 1.5 left / 0.642857 = 2.33 -> 3 days.
        days(4, None, None, None, None, None, None, 8.5),
        ["8.5 of 10 seats in use (85%)", "at the current rate full in 3 days"],
        id="fractional-rate-rounds-up",
    ),
    pytest.param(
        # Only the last 7 gauged days count: 2 -> 8 over 6 days = 1/day -> 2 days.
        # (Over all 10 days it would be 8/9 per day -> 2.25 -> 3 days.)
        days(0, 0, 0, 2, 3, 4, 5, 6, 7, 8),
        ["8 of 10 seats in use (80%)", "at the current rate full in 2 days"],
        id="rate-uses-window-of-7",
    ),
    pytest.param(
        days(9, 9, 9),
        ["9 of 10 seats in use (90%)"],
        id="flat-no-rate",
    ),
    pytest.param(
        days(10, 9),
        ["9 of 10 seats in use (90%)"],
        id="falling-no-rate",
    ),
    pytest.param(
        days(6, 8, 10),
        ["10 of 10 seats in use (100%)", "seats limit reached"],
        id="limit-reached-at-100-percent",
    ),
    pytest.param(
        days(11, 12),
        ["12 of 10 seats in use (120%)", "seats limit reached"],
        id="over-limit",
    ),
    pytest.param(
        days(8.999),
        ["8.999 of 10 seats in use (90%)"],
        id="percent-rounded",
    ),
]


@pytest.mark.parametrize(("series", "evidence"), EVIDENCE_CASES)
def test_limit_approaching_evidence(series: list[DayRollup], evidence: list[str]) -> None:
    assert only_trigger(run(traits(10), series)).evidence == evidence


def test_evidence_with_custom_rate_window() -> None:
    rules = RuleSet(limit_approaching=LimitApproachingRule(rate_window_days=10))
    # 0 -> 8 over 9 days = 8/9 per day; 2 left -> 2.25 -> 3 days.
    fired = only_trigger(run(traits(10), days(0, 0, 0, 2, 3, 4, 5, 6, 7, 8), rules))
    assert fired.evidence[1] == "at the current rate full in 3 days"


# --- fired_on -------------------------------------------------------------------------------

FIRED_ON_CASES = [
    pytest.param(days(9), "2024-05-10", id="today-only"),
    pytest.param(days(8, 9, 9), "2024-05-08", id="whole-series-over"),
    pytest.param(days(9, 5, 8, 9), "2024-05-09", id="current-run-after-a-dip"),
    pytest.param(days(9, 9, 7.99, 8), "2024-05-10", id="dip-just-under-threshold-yesterday"),
    pytest.param(days(8, None, 9), "2024-05-08", id="day-without-gauge-does-not-break-run"),
]


@pytest.mark.parametrize(("series", "fired_on"), FIRED_ON_CASES)
def test_fired_on_is_first_day_of_current_run(series: list[DayRollup], fired_on: str) -> None:
    assert only_trigger(run(traits(10), series)).fired_on == fired_on


# --- score ----------------------------------------------------------------------------------

SCORE_CASES = [
    # value band points x (0.375 * 10 = 3.75) x 0.8 ** days since the first day over.
    pytest.param(None, days(9), 1 * 3.75 * 1, id="no-arr-1pt-today"),
    pytest.param(60_000, days(9), 5 * 3.75 * 1, id="60k-5pts-today"),
    pytest.param(25_000, days(9, 9), 3 * 3.75 * 0.8, id="25k-3pts-1-day"),
    pytest.param(60_000, days(8, 9, 9), 5 * 3.75 * 0.64, id="60k-5pts-2-days"),
    pytest.param(300_000, days(9, 9, 9, 9), 10 * 3.75 * 0.512, id="300k-10pts-3-days"),
    pytest.param(100_000, days(9, 5, 9), 7 * 3.75 * 1, id="100k-run-restarted-today"),
]


@pytest.mark.parametrize(("arr_potential", "series", "expected"), SCORE_CASES)
def test_limit_approaching_score(
    arr_potential: float | None, series: list[DayRollup], expected: float
) -> None:
    fired = only_trigger(run(traits(10, arr_potential=arr_potential), series))
    assert fired.score == round(expected, 2)


def test_score_hand_computed_values() -> None:
    """The same numbers written out: 5 x 3.75 x 0.64 = 12.0; 10 x 3.75 x 0.512 = 19.2."""
    assert only_trigger(run(traits(10, 60_000), days(8, 9, 9))).score == 12.0
    assert only_trigger(run(traits(10, 300_000), days(9, 9, 9, 9))).score == 19.2
    assert only_trigger(run(traits(10, 25_000), days(9, 9))).score == 9.0


def test_rollups_after_today_are_not_read() -> None:
    """An evaluation as of an earlier day sees that day's usage only: a later rollup neither
    fires the trigger nor moves `fired_on` past the day evaluated."""
    earlier = TODAY - timedelta(days=3)
    assert run(traits(10, 60_000), days(9), today=earlier).fired == []
    fired = only_trigger(run(traits(10, 60_000), days(5, 9, 5, 5, 5), today=earlier))
    assert fired.fired_on == earlier.isoformat()
    assert fired.figures["seats_used"] == 9.0
    assert fired.score == 18.75


def test_custom_threshold_changes_fired_on_and_score() -> None:
    rules = RuleSet(limit_approaching=LimitApproachingRule(threshold=0.5))
    fired = only_trigger(run(traits(10, 60_000), days(4, 5, 6, 7), rules))
    assert fired.fired_on == "2024-05-08"
    assert fired.score == round(5 * 3.75 * 0.64, 2)
    assert fired.evidence[0] == "7 of 10 seats in use (70%)"


# --- non-finite input (a single "Infinity" / "NaN" in the data) ----------------------------


def test_infinite_gauge_does_not_raise() -> None:
    """JSON `Infinity` or the string "inf" in seats_used is accepted by the rollup as a gauge;
    one such event must not make the whole account unevaluable."""
    evaluation = run(traits(10), days(5, float("inf")))
    assert evaluation.account_id == "acme"


def test_nan_limit_does_not_raise() -> None:
    """A profile with seat_limit "NaN" becomes a NaN limit; that is no usable limit."""
    evaluation = run(traits(float("nan")), days(1, 2))
    assert evaluation.fired == []


# --- properties -----------------------------------------------------------------------------

finite = st.floats(allow_nan=False, allow_infinity=False)
gauge_dicts = st.dictionaries(st.sampled_from(["seats", "projects", "other"]), finite, max_size=3)
day_rollups = st.lists(
    st.builds(
        lambda d, g: DayRollup(day=d.isoformat(), gauges=g),
        st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
        gauge_dicts,
    ),
    max_size=12,
)
limit_dicts = st.dictionaries(st.sampled_from(["seats", "projects"]), finite, max_size=2)
arr = st.none() | finite


@settings(max_examples=40, deadline=None)
@given(
    series=day_rollups,
    limits=limit_dicts,
    arr_potential=arr,
    today=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
)
def test_evaluate_is_deterministic(
    series: list[DayRollup], limits: dict[str, float], arr_potential: float | None, today: date
) -> None:
    account = AccountTraits(limits=limits, arr_potential=arr_potential)
    first = evaluate("a", account, series, DEFAULT_RULES, today)
    second = evaluate("a", account, series, DEFAULT_RULES, today)
    assert first == second
    assert first.evaluated_on == today.isoformat()


@settings(max_examples=80, deadline=None)
@given(
    series=day_rollups,
    limits=limit_dicts,
    arr_potential=arr,
    today=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
)
def test_evaluate_never_raises_on_finite_state(
    series: list[DayRollup], limits: dict[str, float], arr_potential: float | None, today: date
) -> None:
    evaluation = evaluate(
        "a", AccountTraits(limits=limits, arr_potential=arr_potential), series, DEFAULT_RULES, today
    )
    for fired in evaluation.fired:
        assert fired.score >= 0
        assert fired.fired_on <= today.isoformat()
        if fired.trigger in ("limit_approaching", "limit_reached"):
            assert fired.figures["seats_limit"] == limits["seats"]
            share = fired.figures["seats_used"] / fired.figures["seats_limit"]
            if fired.trigger == "limit_approaching":
                assert 0.8 <= share < 1
            else:
                assert share >= 1


moderate = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(moderate, min_size=1, max_size=10),
    limit=st.floats(min_value=1e-3, max_value=1e9),
    increase=st.floats(min_value=0, max_value=1e9),
)
def test_raising_latest_gauge_never_removes_trigger_or_lowers_used(
    values: list[float], limit: float, increase: float
) -> None:
    before = run(traits(limit), days(*values))
    raised = [*values[:-1], values[-1] + increase]
    after = run(traits(limit), days(*raised))
    if before.fired:  # limit_approaching, or limit_reached once the raise reaches the limit
        assert len(after.fired) == 1
        assert after.fired[0].trigger in ("limit_approaching", "limit_reached")
        assert after.fired[0].figures["seats_used"] >= before.fired[0].figures["seats_used"]
        assert after.fired[0].figures["seats_used"] == values[-1] + increase
