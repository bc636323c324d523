"""decide(): the multiple-signal rule, filters, segment motion and tiers, with the reason in
words; properties: it never raises and a filtered account never reaches sales."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from plg_handoff.domain.decision import Decision, PqlRule, decide
from plg_handoff.domain.engine import evaluate
from plg_handoff.domain.filters import BLOCKING, FilterHit, FilterRules, apply_filters
from plg_handoff.domain.playbooks import TRIGGER_NAMES
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.segments import SEGMENTS
from plg_handoff.domain.triggers.registry import FiredTrigger
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.domain.view import AccountView

INTENT = {
    "premium_feature_interest",
    "advanced_capability_request",
    "feature_vote",
    "enterprise_exploration",
}
TIER_3 = {"seasonal_spike", "feature_vote", "scheduled_exports", "feature_ritual", "long_term_free"}
MID = AccountTraits(name="Acme", employees=250, arr_potential=40_000)
WHO = "sales-assist (250 employees, $40K ARR potential)"
PQL = PqlRule()


def ft(name: str, tier: int | None = None, kind: str | None = None) -> FiredTrigger:
    default_tier = 1 if name == "limit_reached" else 3 if name in TIER_3 else 2
    return FiredTrigger(
        trigger=name,
        category="volume",
        evidence=[f"{name} evidence"],
        figures={},
        conversion=0.3,
        tier=default_tier if tier is None else tier,
        score=3.0,
        fired_on="2024-05-10",
        kind=kind or ("intent" if name in INTENT else "usage"),
    )


def fh(name: str, route: str, reason: str = "why") -> FilterHit:
    return FilterHit(name, reason, route)


def run(
    *fired: FiredTrigger,
    filters: tuple[FilterHit, ...] = (),
    segment: str = "sales_assist",
    traits: AccountTraits = MID,
    rule: PqlRule = PQL,
) -> Decision:
    return decide(list(fired), list(filters), segment, traits, rule)


# --- the multiple-signal rule -----------------------------------------------------------------


@pytest.mark.parametrize(
    "strong",
    [
        "limit_reached",
        "limit_approaching",
        "multi_user",
        "integrations_connected",
        "consistent_overage",
    ],
)
def test_a_strong_trigger_alone_hands_off(strong: str) -> None:
    decision = run(ft(strong))
    assert decision.route == "sales"
    assert f"{strong} is a strong signal" in decision.reason


def test_the_reason_says_it_all() -> None:
    assert run(ft("limit_approaching")) == Decision(
        "sales",
        2,
        f"Handed to sales, tier 2: limit_approaching is a strong signal; {WHO}.",
    )


PQL_CASES = [
    pytest.param([ft("workaround_behavior")], PQL, "none", id="one-weak-usage-alone"),
    pytest.param([ft("premium_feature_interest")], PQL, "none", id="one-intent-alone"),
    pytest.param(
        [ft("workaround_behavior"), ft("api_growth")], PQL, "none", id="two-usage-no-intent"
    ),
    pytest.param(
        [ft("feature_vote"), ft("enterprise_exploration")], PQL, "none", id="two-intent-no-usage"
    ),
    pytest.param(
        [ft("workaround_behavior"), ft("premium_feature_interest")],
        PQL,
        "sales",
        id="weak-usage-plus-intent",
    ),
    pytest.param(
        [ft("workaround_behavior"), ft("workaround_behavior", kind="intent")],
        PQL,
        "none",
        id="one-trigger-twice-is-one",
    ),
    pytest.param(
        [ft("workaround_behavior"), ft("api_growth")],
        PqlRule(require_usage_and_intent=False),
        "sales",
        id="mix-not-required",
    ),
    pytest.param(
        [ft("workaround_behavior"), ft("premium_feature_interest")],
        PqlRule(min_triggers=3),
        "none",
        id="min-3-two-fired",
    ),
    pytest.param(
        [ft("workaround_behavior"), ft("api_growth"), ft("feature_vote")],
        PqlRule(min_triggers=3),
        "sales",
        id="min-3-three-fired",
    ),
    pytest.param(
        [ft("limit_approaching")], PqlRule(strong_triggers=()), "none", id="no-strong-triggers"
    ),
    pytest.param(
        [ft("workaround_behavior")],
        PqlRule(strong_triggers=("workaround_behavior",)),
        "sales",
        id="custom-strong",
    ),
    pytest.param(
        [ft("api_growth")],
        PqlRule(min_triggers=1, require_usage_and_intent=False),
        "sales",
        id="min-1-configured",
    ),
    pytest.param(
        [ft("api_growth", kind="mystery"), ft("feature_vote")],
        PQL,
        "none",
        id="unknown-kind-counts-as-neither",
    ),
]


@pytest.mark.parametrize(("fired", "rule", "route"), PQL_CASES)
def test_multiple_signal_rule(fired: list[FiredTrigger], rule: PqlRule, route: str) -> None:
    decision = run(*fired, rule=rule)
    assert decision.route == route
    assert (decision.tier > 0) is (route == "sales")


def test_not_a_pql_says_what_is_missing() -> None:
    decision = run(ft("premium_feature_interest"))
    assert decision.reason == (
        "Not a PQL yet: premium_feature_interest (intent) is not enough; a handoff needs a strong "
        "trigger (limit_reached, limit_approaching, multi_user, integrations_connected, "
        f"consistent_overage) or 2 triggers including a usage and an intent signal; {WHO}."
    )


def test_usage_plus_intent_names_both() -> None:
    decision = run(ft("workaround_behavior"), ft("premium_feature_interest"))
    assert decision.reason == (
        "Handed to sales, tier 2: workaround_behavior (usage) and premium_feature_interest "
        f"(intent) together; {WHO}."
    )


def test_nothing_fired() -> None:
    assert run() == Decision("none", 0, "No trigger fired.")
    assert run(filters=(fh("bot", "none"),)) == Decision("none", 0, "No trigger fired.")


# --- filters ----------------------------------------------------------------------------------

FILTER_CASES = [
    pytest.param((fh("bot", "none"),), "none", id="bot"),
    pytest.param((fh("one_session_tester", "none"),), "none", id="tester"),
    pytest.param((fh("competitor", "competitive_intel"),), "competitive_intel", id="competitor"),
    pytest.param(
        (fh("bulk_export_churn", "customer_success"),), "customer_success", id="bulk-export"
    ),
    pytest.param((fh("low_value", "nurture"),), "nurture", id="low-value"),
    pytest.param((fh("low_value", "nurture"), fh("bot", "none")), "none", id="bot-beats-low-value"),
    pytest.param(
        (fh("bot", "none"), fh("competitor", "competitive_intel")),
        "competitive_intel",
        id="competitor-beats-bot",
    ),
    pytest.param(
        (fh("low_value", "nurture"), fh("bulk_export_churn", "customer_success")),
        "customer_success",
        id="churn-beats-low-value",
    ),
]


@pytest.mark.parametrize(("filters", "route"), FILTER_CASES)
def test_a_blocking_filter_wins(filters: tuple[FilterHit, ...], route: str) -> None:
    for fired in (
        [ft("limit_reached")],
        [ft("api_growth")],
        [ft("api_growth"), ft("feature_vote")],
    ):
        for segment in SEGMENTS:
            decision = run(*fired, filters=filters, segment=segment)
            assert (decision.route, decision.tier) == (route, 0)


def test_a_filtered_reason_names_the_filter_and_its_numbers() -> None:
    bot = fh("bot", "none", "62% of events from bot user agents (310 of 500 in 30 days)")
    decision = run(ft("limit_reached"), filters=(fh("low_value", "nurture", "ARR $500"), bot))
    assert decision.reason == (
        "Not handed to sales (held): bot: 62% of events from bot user agents (310 of 500 in 30 "
        "days). Also: low_value: ARR $500."
    )


# --- segment motion ---------------------------------------------------------------------------


def test_self_serve_never_reaches_a_rep() -> None:
    small = AccountTraits(employees=20, arr_potential=5_000)
    decision = run(ft("limit_reached"), ft("feature_vote"), segment="self_serve", traits=small)
    assert (decision.route, decision.tier) == ("nurture", 0)
    assert decision.reason == (
        "Automated nurture, no sales touch: limit_reached is a strong signal, but the account is "
        "self-serve (20 employees, $5K ARR potential)."
    )
    assert run(ft("api_growth"), segment="self_serve", traits=small).route == "none"


ENTERPRISE = AccountTraits(employees=5_000, arr_potential=80_000)
ENTERPRISE_CASES = [
    pytest.param([ft("api_growth")], PQL, "sales", id="single-weak-usage"),
    pytest.param([ft("feature_vote")], PQL, "sales", id="single-intent"),
    pytest.param(
        [ft("api_growth")], PqlRule(enterprise_min_triggers=2), "none", id="min-2-one-fired"
    ),
    pytest.param(
        [ft("api_growth"), ft("webhook_configured")],
        PqlRule(enterprise_min_triggers=2),
        "sales",
        id="min-2-two-usage",
    ),
    pytest.param(
        [ft("api_growth")],
        PqlRule(enterprise_require_usage_and_intent=True),
        "none",
        id="mix-required",
    ),
    pytest.param(
        [ft("api_growth"), ft("feature_vote")],
        PqlRule(enterprise_require_usage_and_intent=True),
        "sales",
        id="mix-given",
    ),
]


@pytest.mark.parametrize(("fired", "rule", "route"), ENTERPRISE_CASES)
def test_enterprise_hands_off_on_a_weaker_signal(
    fired: list[FiredTrigger], rule: PqlRule, route: str
) -> None:
    assert run(*fired, segment="enterprise", traits=ENTERPRISE, rule=rule).route == route
    # the same signal on a sales-assist account is not enough
    if len(fired) == 1:
        assert run(*fired, rule=rule).route == "none"


def test_enterprise_reason() -> None:
    decision = run(ft("api_growth"), segment="enterprise", traits=ENTERPRISE)
    assert decision.reason == (
        "Handed to sales, tier 2: api_growth on an enterprise account, engaged from day one; "
        "enterprise (5,000 employees, $80K ARR potential)."
    )


# --- tiers ------------------------------------------------------------------------------------

SEASON = fh("seasonal", "soften", "evaluation season (Nov, Dec, Jan; account 12 days old)")
RIVALS = fh("competitor_evaluation", "escalate", "the account is evaluating competitors (3 visits)")
TIER_CASES = [
    pytest.param([ft("multi_user")], (), 40_000.0, 2, id="tier-of-the-trigger"),
    pytest.param([ft("multi_user"), ft("limit_reached")], (), 40_000.0, 1, id="lowest-number-wins"),
    pytest.param([ft("scheduled_exports"), ft("feature_vote")], (), 40_000.0, 3, id="tier-3-only"),
    pytest.param([ft("multi_user")], (), 100_000.0, 1, id="high-value-boundary"),
    pytest.param([ft("multi_user")], (), 99_999.0, 2, id="just-under-high-value"),
    pytest.param([ft("multi_user")], (), float("nan"), 2, id="nan-arr-not-high-value"),
    pytest.param([ft("multi_user")], (SEASON,), 40_000.0, 3, id="softened-2-to-3"),
    pytest.param([ft("limit_reached")], (SEASON,), 40_000.0, 2, id="softened-1-to-2"),
    pytest.param(
        [ft("scheduled_exports"), ft("feature_vote")], (SEASON,), 40_000.0, 3, id="tier-3-stays"
    ),
    pytest.param([ft("multi_user")], (SEASON,), 150_000.0, 2, id="high-value-softened"),
    pytest.param(
        [ft("scheduled_exports"), ft("feature_vote")],
        (RIVALS,),
        40_000.0,
        1,
        id="competitor-evaluation",
    ),
    pytest.param([ft("multi_user")], (SEASON, RIVALS), 40_000.0, 1, id="escalate-beats-soften"),
    pytest.param([ft("multi_user", tier=0)], (), 40_000.0, 1, id="tier-0-clamped"),
    pytest.param([ft("multi_user", tier=9)], (), 40_000.0, 3, id="tier-9-clamped"),
]


@pytest.mark.parametrize(("fired", "filters", "arr", "tier"), TIER_CASES)
def test_tiers(
    fired: list[FiredTrigger], filters: tuple[FilterHit, ...], arr: float, tier: int
) -> None:
    decision = run(*fired, filters=filters, traits=replace(MID, arr_potential=arr))
    assert (decision.route, decision.tier) == ("sales", tier)


def test_a_moved_tier_is_explained() -> None:
    high = run(ft("multi_user"), traits=replace(MID, arr_potential=120_000))
    assert high.reason.endswith(" From tier 2: high-value account ($120K ARR potential).")
    soft = run(ft("multi_user"), filters=(SEASON,))
    assert soft.reason.endswith(
        " From tier 2: one step softer for the evaluation season (Nov, Dec, Jan; account 12 days"
        " old)."
    )
    rivals = run(ft("scheduled_exports"), ft("feature_vote"), filters=(RIVALS,))
    assert "From tier 3: tier 1 because the account is evaluating competitors" in rivals.reason


def test_high_value_threshold_is_configurable() -> None:
    rule = PqlRule(high_value_arr=30_000)
    assert run(ft("multi_user"), rule=rule).tier == 1


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        (
            {"strong_triggers": ["limit_reached", "limit_reachd"]},
            r"unknown trigger\(s\) \['limit_reachd'\]",
        ),
        ({"min_triggers": 0}, "greater than or equal to 1"),
        ({"enterprise_min_triggers": 0}, "greater than or equal to 1"),
        ({"high_value_arr": -1}, "greater than or equal to 0"),
    ],
)
def test_bad_pql_rules_are_refused(settings_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PqlRule.model_validate(settings_)


def test_every_pql_rule_has_a_description() -> None:
    for name, info in PqlRule.model_fields.items():
        assert info.description, name


# --- properties -------------------------------------------------------------------------------

ROUTES = {"sales", "nurture", "customer_success", "competitive_intel", "none"}
odd_floats = st.none() | st.floats(allow_nan=True, allow_infinity=True)
fired_triggers = st.builds(
    FiredTrigger,
    trigger=st.sampled_from(sorted(TRIGGER_NAMES)) | st.text(max_size=8),
    category=st.just("volume"),
    evidence=st.lists(st.text(max_size=10), max_size=2),
    figures=st.just({}),
    conversion=st.floats(0.01, 1),
    tier=st.integers(-3, 9),
    score=st.floats(allow_nan=False),
    fired_on=st.just("2024-05-10"),
    kind=st.sampled_from(["usage", "intent", "other"]),
)
filter_hits = st.builds(
    FilterHit,
    filter=st.sampled_from(["bot", "competitor", "seasonal", "low_value", "x"]),
    reason=st.text(max_size=20),
    route=st.sampled_from([*BLOCKING, "soften", "escalate", "weird"]),
)
pql_rules = st.builds(
    PqlRule,
    strong_triggers=st.lists(st.sampled_from(sorted(TRIGGER_NAMES)), max_size=4).map(tuple),
    min_triggers=st.integers(1, 4),
    require_usage_and_intent=st.booleans(),
    enterprise_min_triggers=st.integers(1, 3),
    enterprise_require_usage_and_intent=st.booleans(),
    high_value_arr=st.floats(0, 1e7),
)
traits = st.builds(
    AccountTraits,
    name=st.none() | st.text(max_size=8),
    employees=st.none() | st.integers(-5, 10**6),
    arr_potential=odd_floats,
)


@settings(max_examples=150, deadline=None)
@given(
    fired=st.lists(fired_triggers, max_size=5),
    filters=st.lists(filter_hits, max_size=4),
    segment=st.sampled_from([*SEGMENTS, "", "odd"]),
    account=traits,
    rule=pql_rules,
)
def test_decide_never_raises_and_filtered_accounts_never_reach_sales(
    fired: list[FiredTrigger],
    filters: list[FilterHit],
    segment: str,
    account: AccountTraits,
    rule: PqlRule,
) -> None:
    decision = decide(fired, filters, segment, account, rule)
    assert decision.route in ROUTES
    assert decision.reason
    if decision.route == "sales":
        assert 1 <= decision.tier <= 3
        assert fired
        assert segment != "self_serve"
        assert not any(h.blocks for h in filters)
    else:
        assert decision.tier == 0
    if fired and any(h.blocks for h in filters):
        assert decision.route != "sales"


TODAY = date(2024, 12, 10)
metric_names = st.sampled_from(
    [
        "sessions",
        "bot_agent_events",
        "max_repeat",
        "distinct_ips",
        "api_requests",
        "work_product",
        "bulk_exports",
        "scheduled_exports",
        "competitor_visits",
    ]
)
rollups = st.builds(
    DayRollup,
    day=st.integers(-5, 120).map(lambda ago: (TODAY - timedelta(days=ago)).isoformat()),
    events=st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 200), max_size=4),
    active_users=st.integers(0, 5),
    metrics=st.dictionaries(metric_names, st.integers(0, 300), max_size=6),
)


@settings(max_examples=80, deadline=None)
@given(
    days=st.lists(rollups, max_size=12),
    fired=st.lists(fired_triggers, min_size=1, max_size=4),
    account=traits.map(lambda t: replace(t, domains=["rival.com"], signup_date="2024-11-30")),
    rule=pql_rules,
    segment=st.sampled_from(SEGMENTS),
)
def test_filters_then_decide_never_hand_a_filtered_account_to_sales(
    days: list[DayRollup],
    fired: list[FiredTrigger],
    account: AccountTraits,
    rule: PqlRule,
    segment: str,
) -> None:
    view = AccountView.of("a", account, days, TODAY)
    hits = apply_filters(view, fired, FilterRules(competitor_domains=("rival.com",)))
    assert hits[0].filter == "competitor"  # its domain is a competitor's
    decision = decide(fired, hits, segment, account, rule)
    assert decision.route == "competitive_intel"
    hits = apply_filters(view, fired, FilterRules())
    decision = decide(fired, hits, segment, account, rule)
    if any(h.blocks for h in hits):
        assert decision.route == hits[0].route != "sales"


# --- through the engine -----------------------------------------------------------------------


def _usage(**metrics: int) -> list[DayRollup]:
    """Twenty active days of a real team, seats at 9 of 10 on the last."""
    today = date(2024, 5, 10)
    return [
        DayRollup(
            day=(today - timedelta(days=ago)).isoformat(),
            events={"Report Viewed": 5, "Project Created": 1},
            active_users=2,
            gauges={"seats": 9} if ago == 0 else {},
            metrics={"sessions": 3, "distinct_ips": 2, "work_product": 1, **metrics},
        )
        for ago in range(20)
    ]


def test_engine_hands_a_real_team_at_its_seat_limit_to_sales() -> None:
    team = AccountTraits(
        name="Acme", plan="team", limits={"seats": 10}, employees=250, arr_potential=40_000
    )
    evaluation = evaluate("acme", team, _usage(), RuleSet(), date(2024, 5, 10))
    assert evaluation.segment == "sales_assist"
    assert evaluation.route == "sales"
    assert evaluation.filtered == []
    assert evaluation.playbook is not None
    assert evaluation.lead is not None
    assert evaluation.playbook.trigger == evaluation.lead.trigger
    assert "Acme" in evaluation.playbook.subject + evaluation.playbook.body


def test_engine_holds_the_same_team_when_bots_drive_it() -> None:
    team = AccountTraits(name="Acme", limits={"seats": 10}, employees=250, arr_potential=40_000)
    evaluation = evaluate("acme", team, _usage(bot_agent_events=6), RuleSet(), date(2024, 5, 10))
    assert [h.filter for h in evaluation.filtered] == ["bot"]
    assert (evaluation.route, evaluation.tier, evaluation.playbook) == ("none", 0, None)
    held = "Not handed to sales (held): bot: automation: 100% of events"
    assert evaluation.reason.startswith(held)
