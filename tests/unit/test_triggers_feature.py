"""Feature triggers: premium_feature_interest, advanced_capability_request, workaround_behavior,
feature_vote, enterprise_exploration — thresholds, windows, plans, evidence, fired_on, and
properties over random rollups."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from plg_handoff.domain.engine import TRIGGERS
from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.triggers.feature import (
    AdvancedCapabilityRequestRule,
    EnterpriseExplorationRule,
    FeatureVoteRule,
    PremiumFeatureInterestRule,
    WorkaroundBehaviorRule,
)
from plg_handoff.domain.triggers.registry import Signal
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.domain.view import AccountView
from tests.unit.triggers_support import (
    TODAY,
    ago,
    assert_engine_fires_it_and_disabling_stops_it,
    assert_thresholds_described,
    check_trigger,
)

FREE = AccountTraits(name="Acme", plan="free")
FEATURE_TRIGGERS = (
    "premium_feature_interest",
    "advanced_capability_request",
    "workaround_behavior",
    "feature_vote",
    "enterprise_exploration",
)


def on(days_ago: int, events: dict[str, int] | None = None, /, **metrics: int) -> DayRollup:
    """A day `days_ago` before TODAY with these metrics (0 left out, as the rollup does)."""
    return DayRollup(
        day=ago(days_ago),
        events={"Report Viewed": 1} if events is None else events,
        active_users=1,
        metrics={name: n for name, n in metrics.items() if n},
    )


def each(name: str, counts: dict[int, int]) -> list[DayRollup]:
    """One day per entry: days ago -> the metric `name` that day."""
    return [on(days_ago, **{name: n}) for days_ago, n in counts.items()]


def check(
    name: str,
    days: Sequence[DayRollup],
    rule: TriggerRule | None = None,
    traits: AccountTraits = FREE,
    today: date = TODAY,
) -> Signal | None:
    return check_trigger(name, days, rule, traits, today)


# --- premium_feature_interest ---------------------------------------------------------------

BLOCKS = "premium_blocks"

PREMIUM_CASES = [
    pytest.param(each(BLOCKS, {0: 3}), None, FREE, ago(0), id="exactly-3-today"),
    pytest.param(each(BLOCKS, {0: 2}), None, FREE, None, id="one-below-2"),
    # The window of 14 days: the 14 complete days before today and today (days ago 0..14).
    pytest.param(
        each(BLOCKS, {14: 1, 5: 1, 0: 1}), None, FREE, ago(0), id="3-over-14-days-and-today"
    ),
    pytest.param(each(BLOCKS, {15: 1, 5: 1, 0: 1}), None, FREE, None, id="oldest-just-outside"),
    pytest.param(each(BLOCKS, {3: 4}), None, FREE, ago(3), id="fired-3-days-ago"),
    # Blocks 20 days ago hold the windows as of days ago 20..6; new blocks 5 days ago keep
    # the run going, 4 days ago they start a new one.
    pytest.param(each(BLOCKS, {20: 3, 5: 3}), None, FREE, ago(20), id="run-kept-by-new-blocks"),
    pytest.param(each(BLOCKS, {20: 3, 4: 3}), None, FREE, ago(4), id="run-broken-then-again"),
    pytest.param(each(BLOCKS, {0: 9}), None, AccountTraits(plan="team"), None, id="paid-plan"),
    pytest.param(each(BLOCKS, {0: 3}), None, AccountTraits(plan=" Free "), ago(0), id="plan-case"),
    pytest.param(each(BLOCKS, {0: 3}), None, AccountTraits(plan="starter"), ago(0), id="starter"),
    pytest.param(each(BLOCKS, {0: 3}), None, AccountTraits(), ago(0), id="no-plan-counts"),
    pytest.param(each(BLOCKS, {0: 3}), None, AccountTraits(plan=""), ago(0), id="empty-plan"),
    pytest.param(
        each(BLOCKS, {0: 3}),
        PremiumFeatureInterestRule(no_plan_is_low=False),
        AccountTraits(),
        None,
        id="no-plan-excluded",
    ),
    pytest.param(
        each(BLOCKS, {0: 3}),
        PremiumFeatureInterestRule(low_plans=("basic",)),
        AccountTraits(plan="Basic"),
        ago(0),
        id="custom-low-plan",
    ),
    pytest.param(
        each(BLOCKS, {0: 3}),
        PremiumFeatureInterestRule(low_plans=("basic",)),
        FREE,
        None,
        id="free-not-in-custom-list",
    ),
    pytest.param(
        each(BLOCKS, {7: 2, 0: 3}),
        PremiumFeatureInterestRule(min_blocks=5, window_days=7),
        FREE,
        ago(0),
        id="custom-5-in-7",
    ),
    pytest.param(
        each(BLOCKS, {8: 2, 0: 3}),
        PremiumFeatureInterestRule(min_blocks=5, window_days=7),
        FREE,
        None,
        id="custom-5-in-7-one-day-outside",
    ),
    pytest.param([on(0), on(1)], None, FREE, None, id="metric-missing"),
    pytest.param([], None, FREE, None, id="no-days"),
    pytest.param([on(-1, premium_blocks=5)], None, FREE, None, id="future-day-ignored"),
]


@pytest.mark.parametrize(("days", "rule", "traits", "fired_on"), PREMIUM_CASES)
def test_premium_feature_interest(
    days: list[DayRollup],
    rule: PremiumFeatureInterestRule | None,
    traits: AccountTraits,
    fired_on: str | None,
) -> None:
    signal = check("premium_feature_interest", days, rule, traits)
    assert (signal and signal.fired_on) == fired_on


def test_premium_feature_interest_evidence() -> None:
    signal = check("premium_feature_interest", each(BLOCKS, {9: 1, 2: 3}))
    assert signal is not None
    assert signal.evidence == [
        "Hit locked premium features 4 times in 14 days (on 2 days)",
        "On the free plan",
    ]
    assert signal.figures == {"premium_blocks": 4, "days_with_blocks": 2, "window_days": 14}
    signal = check("premium_feature_interest", each(BLOCKS, {0: 3}), traits=AccountTraits())
    assert signal is not None
    assert signal.evidence[1] == "No plan on record"


# --- count-in-a-window triggers -------------------------------------------------------------

COUNT_TRIGGERS = [
    # trigger, metric, default window, default minimum
    ("advanced_capability_request", "enterprise_requests", 30, 1),
    ("feature_vote", "feature_votes", 30, 1),
]


@pytest.mark.parametrize(("name", "metric", "window", "minimum"), COUNT_TRIGGERS)
@pytest.mark.parametrize(
    ("offset", "extra", "fires"),
    [
        pytest.param(0, 0, True, id="at-minimum-today"),
        pytest.param(-1, 0, True, id="at-minimum-last-day-of-window"),
        pytest.param(-2, 0, False, id="just-outside-window"),
        pytest.param(0, -1, False, id="one-below-minimum"),
    ],
)
def test_count_triggers_boundaries(
    name: str, metric: str, window: int, minimum: int, offset: int, extra: int, fires: bool
) -> None:
    """`offset` 0: today; -1: the window's first day (the window is the `window` complete days
    before today and today, so its first day is `window` days ago); -2: the day before it."""
    days_ago = {0: 0, -1: window, -2: window + 1}[offset]
    signal = check(name, each(metric, {days_ago: minimum + extra}))
    assert (signal is not None) is fires
    if signal is not None:
        assert signal.fired_on == ago(days_ago)
        assert signal.figures[metric] == minimum
        assert signal.figures["window_days"] == window


@pytest.mark.parametrize(("name", "metric", "window", "minimum"), COUNT_TRIGGERS)
def test_count_triggers_missing_data(name: str, metric: str, window: int, minimum: int) -> None:
    assert check(name, []) is None
    assert check(name, [on(0), on(3)]) is None
    assert check(name, each("premium_blocks", {0: 10})) is None


def test_advanced_capability_request_custom_and_evidence() -> None:
    rule = AdvancedCapabilityRequestRule(min_requests=2, window_days=10)
    assert check("advanced_capability_request", each("enterprise_requests", {9: 1}), rule) is None
    signal = check("advanced_capability_request", each("enterprise_requests", {9: 1, 1: 1}), rule)
    assert signal is not None
    assert signal.fired_on == ago(1)
    assert signal.evidence == [
        "Opened 2 support tickets asking for enterprise capabilities"
        " (SSO, SAML, audit log, SLA, SCIM) in 10 days"
    ]
    single = check("advanced_capability_request", each("enterprise_requests", {4: 1}))
    assert single is not None
    assert single.evidence[0].startswith("Opened 1 support ticket asking")


def test_feature_vote_custom_and_evidence() -> None:
    rule = FeatureVoteRule(min_votes=3, window_days=7)
    assert check("feature_vote", each("feature_votes", {0: 2, 8: 5}), rule) is None
    signal = check("feature_vote", each("feature_votes", {0: 2, 7: 1}), rule)
    assert signal is not None
    assert signal.evidence == [
        "Voted or commented on enterprise-tier feature requests 3 times in 7 days"
    ]
    assert signal.figures == {"feature_votes": 3, "window_days": 7}


# --- workaround_behavior --------------------------------------------------------------------

WORK = "workaround_actions"

WORKAROUND_CASES = [
    pytest.param(each(WORK, {14: 2, 5: 2, 0: 1}), None, ago(0), id="5-actions-on-3-days"),
    pytest.param(each(WORK, {13: 2, 5: 1, 0: 1}), None, None, id="4-actions-one-below"),
    pytest.param(each(WORK, {5: 3, 0: 2}), None, None, id="5-actions-on-2-days"),
    pytest.param(each(WORK, {0: 50}), None, None, id="one-burst-is-no-habit"),
    pytest.param(each(WORK, {15: 2, 5: 2, 0: 1}), None, None, id="a-day-outside-14"),
    pytest.param(each(WORK, {9: 1, 6: 2, 3: 2}), None, ago(3), id="fired-3-days-ago"),
    pytest.param(
        each(WORK, {2: 1, 1: 1}),
        WorkaroundBehaviorRule(min_actions=2, min_days=2, window_days=3),
        ago(1),
        id="custom-2-on-2-in-3",
    ),
    pytest.param([on(0), on(1), on(2)], None, None, id="metric-missing"),
    pytest.param([], None, None, id="no-days"),
]


@pytest.mark.parametrize(("days", "rule", "fired_on"), WORKAROUND_CASES)
def test_workaround_behavior(
    days: list[DayRollup], rule: WorkaroundBehaviorRule | None, fired_on: str | None
) -> None:
    signal = check("workaround_behavior", days, rule)
    assert (signal and signal.fired_on) == fired_on


def test_workaround_behavior_evidence_names_the_actions() -> None:
    days = [
        on(10, {"Data Imported": 2}, workaround_actions=2),
        on(4, {"Data Imported": 1, "Content Copied": 2}, workaround_actions=3),
        on(0, {"Workflow Duplicated": 1, "Report Viewed": 9}, workaround_actions=1),
    ]
    signal = check("workaround_behavior", days)
    assert signal is not None
    assert signal.evidence == [
        "Worked around the product 6 times on 3 days in 14 days",
        "Of which Data Imported 3, Workflow Duplicated 1, Content Copied 2",
    ]
    assert signal.figures == {
        "workaround_actions": 6,
        "days_with_workarounds": 3,
        "window_days": 14,
    }
    bare = check("workaround_behavior", each(WORK, {10: 2, 4: 2, 0: 2}))
    assert bare is not None
    assert bare.evidence == ["Worked around the product 6 times on 3 days in 14 days"]


def test_workaround_rule_refuses_more_days_than_its_window() -> None:
    with pytest.raises(ValidationError, match="min_days cannot exceed window_days"):
        WorkaroundBehaviorRule(min_days=8, window_days=7)


# --- enterprise_exploration -----------------------------------------------------------------

EXPLORATION_CASES = [
    pytest.param([on(0, enterprise_visits=2, pricing_visits=1)], None, ago(0), id="2-plus-1"),
    pytest.param([on(0, enterprise_visits=3)], None, ago(0), id="enterprise-only"),
    pytest.param([on(0, pricing_visits=3)], None, ago(0), id="pricing-only"),
    pytest.param([on(0, enterprise_visits=1, pricing_visits=1)], None, None, id="2-one-below"),
    pytest.param(
        [on(7, pricing_visits=1), on(3, enterprise_visits=1), on(0, pricing_visits=1)],
        None,
        ago(0),
        id="3-days-in-a-week-and-today",
    ),
    pytest.param(
        [on(8, pricing_visits=1), on(3, enterprise_visits=1), on(0, pricing_visits=1)],
        None,
        None,
        id="one-visit-8-days-ago",
    ),
    # The 7 complete days before today count whatever time of day it is: with nothing today
    # yet, the visit 7 days ago is still in (it held since yesterday, days ago 8..1).
    pytest.param(
        [on(7, pricing_visits=1), on(4, pricing_visits=1), on(1, pricing_visits=1)],
        None,
        ago(1),
        id="visits-7-4-1-days-ago-nothing-today",
    ),
    pytest.param(
        [on(2, enterprise_visits=3), on(1, pricing_visits=1)], None, ago(2), id="fired-2-days-ago"
    ),
    pytest.param(
        [on(9, pricing_visits=2)],
        EnterpriseExplorationRule(min_visits=2, window_days=10),
        ago(9),
        id="custom-2-in-10",
    ),
    pytest.param([on(0), on(1)], None, None, id="metrics-missing"),
    pytest.param([], None, None, id="no-days"),
]


@pytest.mark.parametrize(("days", "rule", "fired_on"), EXPLORATION_CASES)
def test_enterprise_exploration(
    days: list[DayRollup], rule: EnterpriseExplorationRule | None, fired_on: str | None
) -> None:
    signal = check("enterprise_exploration", days, rule)
    assert (signal and signal.fired_on) == fired_on


def test_enterprise_exploration_evidence() -> None:
    days = [on(5, enterprise_visits=2), on(1, pricing_visits=1, enterprise_visits=1)]
    signal = check("enterprise_exploration", days)
    assert signal is not None
    assert signal.evidence == [
        "Visited enterprise, security, admin or pricing pages 4 times in 7 days",
        "Enterprise, SSO, security or admin pages 3, pricing pages 1",
    ]
    assert signal.figures == {
        "exploration_visits": 4,
        "enterprise_visits": 3,
        "pricing_visits": 1,
        "window_days": 7,
    }


# --- through the engine ---------------------------------------------------------------------

FIRING_DAYS: dict[str, list[DayRollup]] = {
    "premium_feature_interest": each(BLOCKS, {0: 3}),
    "advanced_capability_request": each("enterprise_requests", {0: 1}),
    "workaround_behavior": each(WORK, {2: 2, 1: 2, 0: 1}),
    "feature_vote": each("feature_votes", {0: 1}),
    "enterprise_exploration": [on(0, enterprise_visits=3)],
}


@pytest.mark.parametrize("name", FEATURE_TRIGGERS)
def test_engine_fires_and_disabled_rule_does_not(name: str) -> None:
    assert_engine_fires_it_and_disabling_stops_it(name, "feature", FREE, FIRING_DAYS[name])


@pytest.mark.parametrize("name", FEATURE_TRIGGERS)
def test_rule_thresholds_are_described(name: str) -> None:
    assert_thresholds_described(name)


def test_rules_load_from_config_values() -> None:
    rules = RuleSet.model_validate(
        {"premium_feature_interest": {"low_plans": ["basic", "free"], "window_days": 30}}
    )
    assert rules.premium_feature_interest.low_plans == ("basic", "free")
    with pytest.raises(ValidationError):
        RuleSet.model_validate({"enterprise_exploration": {"min_visits": 0}})


# --- properties -----------------------------------------------------------------------------

METRICS = [
    "premium_blocks",
    "enterprise_requests",
    "workaround_actions",
    "feature_votes",
    "pricing_visits",
    "enterprise_visits",
]
rollups = st.lists(
    st.builds(
        lambda day, events, metrics: DayRollup(day=day.isoformat(), events=events, metrics=metrics),
        st.dates(min_value=TODAY - timedelta(days=40), max_value=TODAY + timedelta(days=3)),
        st.dictionaries(
            st.sampled_from(["Data Imported", "Content Copied", "x"]), st.integers(-3, 9)
        ),
        st.dictionaries(st.sampled_from(METRICS), st.integers(-3, 9)),
    ),
    max_size=25,
)
plans = st.sampled_from([None, "", "free", "FREE", "team", "starter", "enterprise"])


def assert_well_formed(signal: Signal | None, today: date) -> None:
    if signal is None:
        return
    assert signal.evidence
    assert all(isinstance(line, str) and line for line in signal.evidence)
    assert all(math.isfinite(v) for v in signal.figures.values())
    assert date.fromisoformat(signal.fired_on) <= today


@settings(max_examples=60, deadline=None)
@given(days=rollups, plan=plans, today=st.dates(TODAY - timedelta(days=10), TODAY))
def test_never_raises_and_is_deterministic(
    days: list[DayRollup], plan: str | None, today: date
) -> None:
    traits = AccountTraits(plan=plan)
    for name in FEATURE_TRIGGERS:
        first = check(name, days, traits=traits, today=today)
        again = check(name, list(reversed(days)), traits=traits, today=today)
        assert first == again
        assert_well_formed(first, today)


@settings(max_examples=30, deadline=None)
@given(days=rollups)
def test_more_blocks_never_remove_premium_interest(days: list[DayRollup]) -> None:
    before = check("premium_feature_interest", days)
    more = [*days, on(0, premium_blocks=1)]
    after = check("premium_feature_interest", more)
    if before is not None:
        assert after is not None
        assert after.figures["premium_blocks"] >= before.figures["premium_blocks"]


def test_any_state_is_tolerated() -> None:
    odd: list[Any] = [
        DayRollup(day="not-a-day", metrics={"premium_blocks": 9}),
        DayRollup(day=ago(0), metrics={"premium_blocks": float("nan")}),
        DayRollup(day=ago(1), events={"x": True}, metrics={"premium_blocks": None}),  # type: ignore[dict-item]
    ]
    for name in FEATURE_TRIGGERS:
        assert check(name, odd, traits=AccountTraits(plan=None)) is None
    near_min = AccountView.of(
        "a", FREE, [DayRollup(day="0001-01-01", metrics={BLOCKS: 5})], date(1, 1, 3)
    )
    for name in FEATURE_TRIGGERS:
        TRIGGERS[name].check(near_min, getattr(RuleSet(), name))
