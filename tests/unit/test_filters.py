"""False-positive filters: positive, negative and boundary cases for each, with the reason and
the route they record."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from plg_handoff.domain.filters import FilterHit, FilterRules, apply_filters
from plg_handoff.domain.triggers.registry import FiredTrigger
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.domain.view import AccountView

TODAY = date(2024, 5, 10)  # May: outside the default evaluation season
RULES = FilterRules()
FIRED = [
    FiredTrigger(
        "limit_approaching", "volume", ["9 of 10 seats in use (90%)"], {}, 0.375, 2, 3.75, "x"
    )
]
HEALTHY = AccountTraits(name="Acme", employees=250, arr_potential=40_000, domains=["acme.com"])


def day(
    ago: int,
    events: dict[str, int] | None = None,
    users: int = 2,
    **metrics: int,
) -> DayRollup:
    return DayRollup(
        day=(TODAY - timedelta(days=ago)).isoformat(),
        events={"Report Viewed": 5, "Project Created": 1} if events is None else events,
        active_users=users,
        metrics={k: v for k, v in metrics.items() if v},
    )


def healthy_days(**overrides: float) -> list[DayRollup]:
    """A real team: active on 20 of the last 30 days, 3 sessions a day, real work."""
    base: dict[str, float] = {
        "sessions": 3,
        "distinct_ips": 3,
        "work_product": 1,
        "max_repeat": 5,
    }
    metrics = {k: v for k, v in {**base, **overrides}.items() if v}
    return [replace(day(ago), metrics=metrics) for ago in range(0, 30) if ago % 3 != 2]


def hits(
    days: list[DayRollup],
    traits: AccountTraits = HEALTHY,
    rules: FilterRules = RULES,
    today: date = TODAY,
    fired: list[FiredTrigger] = FIRED,
) -> list[FilterHit]:
    return apply_filters(AccountView.of("acme", traits, days, today), fired, rules)


def hit(name: str, found: list[FilterHit]) -> FilterHit | None:
    matching = [h for h in found if h.filter == name]
    assert len(matching) <= 1
    return matching[0] if matching else None


def test_a_healthy_account_passes_every_filter() -> None:
    assert hits(healthy_days()) == []


def test_nothing_is_filtered_when_nothing_fired() -> None:
    assert hits([day(5, sessions=1, bot_agent_events=6)], fired=[]) == []


# --- one-session testers ----------------------------------------------------------------------

HOLD = FilterRules(tester_hold_new_bursts=True)
TESTER_CASES = [
    # a burst (at most 2 sessions on at most 2 days by at most 2 users), then no return visit
    pytest.param(
        [day(10, sessions=2)],
        RULES,
        "burst then gone: all activity in 2 sessions, none since 2024-04-30 (10 days)",
        id="gone-10-days",
    ),
    pytest.param([day(3, sessions=1)], RULES, "burst then gone", id="gone-exactly-3-days"),
    pytest.param([day(2, sessions=1)], RULES, None, id="2-days-quiet-not-yet-gone"),
    pytest.param([day(0, sessions=1)], RULES, None, id="fresh-burst-not-held-by-default"),
    pytest.param([day(9), day(8)], RULES, "2 active days", id="no-sessions-metric-2-days"),
    pytest.param(
        [day(6, sessions=1), day(5, sessions=1)], RULES, "2 sessions", id="2-days-2-sessions"
    ),
    pytest.param(
        [day(6, sessions=2), day(5, sessions=1)], RULES, None, id="2-days-3-sessions-returned"
    ),
    pytest.param([day(5, sessions=3)], RULES, None, id="3-sessions-one-day"),
    pytest.param([day(7), day(6), day(5)], RULES, None, id="3-days-no-sessions-metric"),
    pytest.param([day(5, users=3)], RULES, None, id="3-users-a-team-not-a-tester"),
    pytest.param([day(5, users=9)], RULES, None, id="9-users-no-sessions-metric"),
    pytest.param([day(5, users=2, sessions=2)], RULES, "2 sessions", id="2-users-boundary"),
    # holding fresh bursts until the account returns (opt-in)
    pytest.param([day(0, sessions=1)], HOLD, "waiting for a return visit", id="hold-fresh"),
    pytest.param([day(2, sessions=2)], HOLD, "(last 2024-05-08)", id="hold-2-days-old"),
    pytest.param([day(3, sessions=1)], HOLD, "burst then gone", id="hold-gone"),
    # configurable
    pytest.param(
        [day(5, sessions=1)], FilterRules(tester_quiet_days=7), None, id="custom-quiet-7-days"
    ),
    pytest.param(
        [day(5, sessions=4)], FilterRules(tester_max_sessions=4), "4 sessions", id="custom-sessions"
    ),
    pytest.param(
        [day(6, sessions=1), day(5, sessions=1)],
        FilterRules(tester_max_active_days=1),
        None,
        id="custom-max-days",
    ),
    pytest.param(
        [day(5, users=3, sessions=2)], FilterRules(tester_max_users=3), "2", id="custom-users"
    ),
    pytest.param([day(5, events={}, sessions=0)], RULES, None, id="no-activity-at-all"),
]


@pytest.mark.parametrize(("days", "rules", "reason"), TESTER_CASES)
def test_one_session_tester(days: list[DayRollup], rules: FilterRules, reason: str | None) -> None:
    found = hit("one_session_tester", hits(days, rules=rules))
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert found.route == "none"
        assert reason in found.reason


# --- bots and automation ----------------------------------------------------------------------

BOT_CASES = [
    # bot user agents: share of the window's events (6 events a day in healthy_days)
    pytest.param(
        healthy_days(bot_agent_events=3),
        FilterRules(),
        "50% of events from bot user agents (60 of 120 in 30 days)",
        id="agents-50%-boundary",
    ),
    pytest.param(
        healthy_days(bot_agent_events=6), FilterRules(), "100% of events", id="agents-100%"
    ),
    pytest.param(healthy_days(bot_agent_events=2), FilterRules(), None, id="agents-33%"),
    pytest.param(
        healthy_days(bot_agent_events=2),
        FilterRules(bot_agent_share=0.3),
        "33% of events",
        id="agents-custom-share",
    ),
    pytest.param(
        [*healthy_days(), day(40, bot_agent_events=10_000)],
        FilterRules(),
        None,
        id="agents-outside-window",
    ),
    # one action repeated
    pytest.param(
        healthy_days(max_repeat=100),
        FilterRules(),
        "repeated the same action 100 times",
        id="repeat-100",
    ),
    pytest.param(healthy_days(max_repeat=99), FilterRules(), None, id="repeat-99"),
    pytest.param(
        healthy_days(max_repeat=500, api_requests=600),
        FilterRules(),
        None,
        id="repeat-is-api-calls",
    ),
    pytest.param(
        healthy_days(max_repeat=500, api_requests=600),
        FilterRules(bot_repeat_excludes_api=False),
        "500 times",
        id="repeat-api-not-excluded",
    ),
    pytest.param(
        healthy_days(max_repeat=500, api_requests=10),
        FilterRules(),
        "500 times",
        id="repeat-beyond-api-calls",
    ),
    pytest.param(
        healthy_days(max_repeat=20),
        FilterRules(bot_max_repeat=20, bot_weak_repeat=10),
        "20 times",
        id="repeat-custom",
    ),
    # rotating IPs (distinct IPs per active user per day, 2 users a day): a weak sign only,
    # since mobile networks, VPNs and office NATs rotate them too
    pytest.param(healthy_days(distinct_ips=11), FilterRules(), None, id="ips-alone-are-weak"),
    pytest.param(
        healthy_days(distinct_ips=11, max_repeat=30),
        FilterRules(),
        "5.5 distinct IPs per active user",
        id="ips-and-weak-repeats",
    ),
    pytest.param(
        healthy_days(distinct_ips=11, bot_agent_events=1),  # 1 of 6 events: 17 %
        FilterRules(),
        "17% of events from bot user agents",
        id="ips-and-some-bot-agents",
    ),
    pytest.param(
        healthy_days(distinct_ips=10, max_repeat=30),
        FilterRules(),
        None,
        id="ips-5-per-user-boundary-and-weak-repeats",
    ),
    pytest.param(
        healthy_days(distinct_ips=5, max_repeat=40),
        FilterRules(bot_max_ips_per_user=2),
        "2.5 distinct IPs",
        id="ips-custom",
    ),
    pytest.param(
        healthy_days(max_repeat=40, bot_agent_events=1),
        FilterRules(),
        "repeated the same action 40 times",
        id="two-weak-signs-without-ips",
    ),
    pytest.param(healthy_days(max_repeat=40), FilterRules(), None, id="one-weak-repeat-sign"),
]


@pytest.mark.parametrize(("days", "rules", "reason"), BOT_CASES)
def test_bot(days: list[DayRollup], rules: FilterRules, reason: str | None) -> None:
    found = hit("bot", hits(days, rules=rules))
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert found.route == "none"
        assert reason in found.reason


def test_bot_figures_name_each_indicator_with_its_weight() -> None:
    found = hit("bot", hits(healthy_days(bot_agent_events=3)))
    assert found is not None
    assert found.figures == {"bot_weight": 2, "bot_share": 0.5, "bot_share_weight": 2}
    assert found.reason.endswith("(60 of 120 in 30 days) (strong)")

    two_weak = hit("bot", hits(healthy_days(distinct_ips=11, max_repeat=30)))
    assert two_weak is not None
    assert two_weak.figures == {
        "bot_weight": 2,
        "max_repeat": 30,
        "max_repeat_weight": 1,
        "ips_per_user_day": 5.5,
        "ips_per_user_day_weight": 1,
    }
    assert two_weak.reason.count("(weak)") == 2


# --- competitor research ----------------------------------------------------------------------


def audit(types: int, touched: int, *, work: int = 0, ago: int = 0) -> list[DayRollup]:
    """Three days, 3 sessions, over `types` event types: `touched` of them used once, the rest 5
    times each."""
    counts = {f"Feature {i} Opened": 1 if i < touched else 5 for i in range(types)}
    return [
        day(
            ago + n,
            events={name: k for i, (name, k) in enumerate(counts.items()) if i % 3 == n},
            sessions=1,
            work_product=work if n == 0 else 0,
        )
        for n in range(3)
    ]


@pytest.mark.parametrize("ago", [0, 3], ids=["fresh", "gone"])
def test_a_burst_of_clicks_on_everything_is_a_tester_not_an_audit(ago: int) -> None:
    burst = [day(ago, events={f"Feature {i} Opened": 1 for i in range(20)}, sessions=1)]
    found = hits(burst)
    assert [(h.filter, h.route) for h in found] == [("one_session_tester", "none")]
    if ago == 0:
        assert found[0].reason == (
            "a burst of clicks on everything (20 of 20 event types touched at most twice, all in "
            "1 session, no work product): waiting for a return visit"
        )
    found = hits(burst, rules=FilterRules(disabled=("one_session_tester",)))
    assert [h.filter for h in found] == ["competitor"]


def test_a_fresh_burst_with_real_work_is_not_held() -> None:
    events = {f"Feature {i} Opened": 1 for i in range(20)}
    assert hits([day(0, events=events, sessions=1, work_product=1)]) == []


COMPETITOR_CASES = [
    pytest.param(
        ["acme.com", "Rival.com"],
        healthy_days(),
        FilterRules(competitor_domains=("rival.com",)),
        "email domain rival.com belongs to a known competitor",
        id="domain",
    ),
    pytest.param(
        ["eu.rival.com"],
        healthy_days(),
        FilterRules(competitor_domains=("rival.com",)),
        "eu.rival.com",
        id="subdomain",
    ),
    pytest.param(
        ["jane@rival.com"],
        healthy_days(),
        FilterRules(competitor_domains=("RIVAL.com",)),
        "rival.com",
        id="email-address-and-case",
    ),
    pytest.param(
        ["www.rival.com"],
        healthy_days(),
        FilterRules(competitor_domains=("rival.com",)),
        "rival.com",
        id="www-prefix",
    ),
    pytest.param(
        ["https://www.Rival.com/pricing"],
        healthy_days(),
        FilterRules(competitor_domains=("rival.com",)),
        "email domain rival.com belongs",
        id="website-url",
    ),
    pytest.param(
        ["notrival.com"],
        healthy_days(),
        FilterRules(competitor_domains=("rival.com",)),
        None,
        id="lookalike-domain",
    ),
    pytest.param(
        ["rival.com"], healthy_days(), FilterRules(), None, id="no-competitors-configured"
    ),
    pytest.param(
        [],
        audit(10, 10),
        FilterRules(),
        "one-touch audit: 10 of 10 event types (100%) used at most twice in 30 days",
        id="audit-all-touched",
    ),
    pytest.param(
        [], audit(10, 8), FilterRules(), "8 of 10 event types (80%)", id="audit-80%-boundary"
    ),
    pytest.param([], audit(10, 7), FilterRules(), None, id="audit-70%"),
    pytest.param([], audit(9, 9), FilterRules(), None, id="audit-too-few-event-types"),
    pytest.param([], audit(10, 10, work=1), FilterRules(), None, id="audit-with-work-product"),
    pytest.param(
        [],
        [*audit(10, 10), day(200, work_product=1)],
        FilterRules(),
        None,
        id="audit-old-work-product",
    ),
    pytest.param([], audit(10, 10, ago=31), FilterRules(), None, id="audit-outside-window"),
    pytest.param(
        [], audit(5, 5), FilterRules(audit_min_event_types=5), "5 of 5", id="audit-custom-min-types"
    ),
]


@pytest.mark.parametrize(("domains", "days", "rules", "reason"), COMPETITOR_CASES)
def test_competitor(
    domains: list[str], days: list[DayRollup], rules: FilterRules, reason: str | None
) -> None:
    found = hit("competitor", hits(days, replace(HEALTHY, domains=domains), rules))
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert found.route == "competitive_intel"
        assert reason in found.reason


# --- competitor evaluation (escalates) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "rules", "escalates"),
    [
        pytest.param([day(1, competitor_visits=2)], FilterRules(), True, id="2-visits"),
        pytest.param([day(1, competitor_visits=1)], FilterRules(), False, id="1-visit"),
        pytest.param(
            [day(13, competitor_visits=1), day(0, competitor_visits=1)],
            FilterRules(),
            True,
            id="2-visits-in-14-days",
        ),
        pytest.param(
            [day(14, competitor_visits=1), day(0, competitor_visits=1)],
            FilterRules(),
            True,
            id="2-visits-on-the-window-edges",
        ),
        pytest.param(
            [day(15, competitor_visits=1), day(0, competitor_visits=1)],
            FilterRules(),
            False,
            id="one-visit-just-outside",
        ),
        pytest.param([day(20, competitor_visits=5)], FilterRules(), False, id="outside-window"),
        pytest.param(
            [day(1, competitor_visits=1)],
            FilterRules(competitor_evaluation_min_visits=1),
            True,
            id="custom-min",
        ),
    ],
)
def test_competitor_evaluation(extra: list[DayRollup], rules: FilterRules, escalates: bool) -> None:
    found = hit("competitor_evaluation", hits([*healthy_days(), *extra], rules=rules))
    assert (found is not None) is escalates
    if found is not None:
        assert found.route == "escalate"
        assert "comparison/migration page visits" in found.reason


# --- bulk export churn ------------------------------------------------------------------------

BULK_CASES = [
    pytest.param(
        [day(3, bulk_exports=1)],
        "1 one-off bulk export in 30 days and no scheduled exports in 90",
        id="one-bulk-export",
    ),
    pytest.param([day(3, bulk_exports=2)], "2 one-off bulk exports", id="two-bulk-exports"),
    # the window of 30 days: the 30 complete days before today and today (days ago 0..30)
    pytest.param([day(30, bulk_exports=1)], "1 one-off", id="bulk-at-window-edge"),
    pytest.param([day(31, bulk_exports=1)], None, id="bulk-outside-window"),
    pytest.param(
        [day(3, bulk_exports=1), day(60, scheduled_exports=1)], None, id="with-scheduled-exports"
    ),
    pytest.param(
        [day(3, bulk_exports=1), day(95, scheduled_exports=1)],
        "1 one-off",
        id="scheduled-too-long-ago",
    ),
    pytest.param(
        [day(3, bulk_exports=1), day(90, scheduled_exports=1)],
        None,
        id="scheduled-at-lookback-edge",
    ),
    pytest.param(
        [day(3, bulk_exports=1), day(91, scheduled_exports=1)],
        "1 one-off",
        id="scheduled-just-outside-lookback",
    ),
    pytest.param([], None, id="no-exports"),
]


@pytest.mark.parametrize(("extra", "reason"), BULK_CASES)
def test_bulk_export_churn(extra: list[DayRollup], reason: str | None) -> None:
    found = hit("bulk_export_churn", hits([*healthy_days(), *extra]))
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert found.route == "customer_success"
        assert reason in found.reason


# --- low account value ------------------------------------------------------------------------

LOW_VALUE_CASES = [
    pytest.param(
        500.0,
        FilterRules(),
        "ARR potential $500 is below the $1K a rep's touch needs ($200 a touch x 5)",
        id="500-vs-1000",
    ),
    pytest.param(999.99, FilterRules(), "below", id="just-under"),
    pytest.param(1_000.0, FilterRules(), None, id="at-minimum"),
    pytest.param(40_000.0, FilterRules(), None, id="worth-a-touch"),
    pytest.param(None, FilterRules(), None, id="unknown-arr"),
    pytest.param(float("nan"), FilterRules(), None, id="nan-arr"),
    pytest.param(0.0, FilterRules(), "$0", id="zero-arr"),
    pytest.param(
        500.0,
        FilterRules(cost_of_touch=200, min_value_ratio=2.5),
        None,
        id="ratio-2.5-500-is-enough",
    ),
    pytest.param(
        500.0, FilterRules(cost_of_touch=300, min_value_ratio=2), "$600", id="custom-cost"
    ),
    pytest.param(500.0, FilterRules(cost_of_touch=0), None, id="free-touch"),
]


@pytest.mark.parametrize(("arr", "rules", "reason"), LOW_VALUE_CASES)
def test_low_value(arr: float | None, rules: FilterRules, reason: str | None) -> None:
    found = hit("low_value", hits(healthy_days(), replace(HEALTHY, arr_potential=arr), rules))
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert found.route == "nurture"
        assert reason in found.reason


# --- seasonal evaluation cycles ---------------------------------------------------------------

DECEMBER = date(2024, 12, 10)

SEASONAL_CASES = [
    pytest.param(
        DECEMBER,
        "2024-11-10",
        FilterRules(),
        "evaluation season (Nov, Dec, Jan; account 30 days old)",
        id="december-young",
    ),
    pytest.param(
        date(2025, 1, 31), "2024-12-01", FilterRules(), "account 61 days old", id="january-young"
    ),
    pytest.param(
        DECEMBER, "2024-09-12", FilterRules(), "account 89 days old", id="december-89-days"
    ),
    pytest.param(DECEMBER, "2024-09-10", FilterRules(), None, id="december-90-days-established"),
    pytest.param(
        DECEMBER,
        "2023-01-01",
        FilterRules(seasonal_max_account_age_days=0),
        "evaluation season",
        id="any-age",
    ),
    pytest.param(date(2024, 10, 31), "2024-10-01", FilterRules(), None, id="october-out-of-season"),
    pytest.param(
        date(2024, 10, 31),
        "2024-10-01",
        FilterRules(evaluation_months=(10,)),
        "(Oct;",
        id="custom-months",
    ),
    pytest.param(DECEMBER, "2024-11-10", FilterRules(evaluation_months=()), None, id="no-season"),
    pytest.param(DECEMBER, None, FilterRules(), "account 3 days old", id="no-signup-first-seen"),
    pytest.param(
        DECEMBER, "garbage", FilterRules(), "account 3 days old", id="bad-signup-first-seen"
    ),
]


@pytest.mark.parametrize(("today", "signup", "rules", "reason"), SEASONAL_CASES)
def test_seasonal(today: date, signup: str | None, rules: FilterRules, reason: str | None) -> None:
    days = [
        replace(day(0, sessions=3), day=(today - timedelta(days=ago)).isoformat())
        for ago in range(4)
    ]
    found = hit("seasonal", hits(days, replace(HEALTHY, signup_date=signup), rules, today))
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert found.route == "soften"
        assert reason in found.reason


# --- order, switches, validation --------------------------------------------------------------


def test_blocking_hits_come_first_most_specific_route_first() -> None:
    traits = replace(HEALTHY, arr_potential=500, domains=["rival.com"])
    rules = FilterRules(competitor_domains=("rival.com",))
    burst = day(0, sessions=1, bot_agent_events=6, bulk_exports=1, competitor_visits=3)
    on = (DECEMBER - timedelta(days=5)).isoformat()
    found = hits([replace(burst, day=on)], traits, rules, DECEMBER)
    assert [(h.filter, h.route) for h in found] == [
        ("competitor", "competitive_intel"),
        ("bot", "none"),
        ("one_session_tester", "none"),
        ("bulk_export_churn", "customer_success"),
        ("low_value", "nurture"),
        ("seasonal", "soften"),
        ("competitor_evaluation", "escalate"),
    ]
    assert [h.blocks for h in found] == [True] * 5 + [False] * 2


def test_disabled_filters_do_not_run() -> None:
    days = [day(0, sessions=1, bot_agent_events=6)]
    rules = FilterRules(disabled=("bot", "one_session_tester"))
    assert hits(days, rules=rules) == []


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"competitor_domains": [" "]}, "not a domain"),
        ({"competitor_domains": ["rival"]}, r"not a domain .*\['rival'\]"),
        ({"evaluation_months": [0, 13]}, r"months are 1-12, got \[0, 13\]"),
        ({"disabled": ["spam"]}, "Input should be"),
        ({"bot_agent_share": 0}, "greater than 0"),
        ({"bot_weak_repeat": 100}, r"bot_weak_repeat \(100\) must be below bot_max_repeat"),
        ({"bot_agent_share": 0.05}, "bot_weak_agent_share .* must be below bot_agent_share"),
        ({"audit_min_share": 1.5}, "less than or equal to 1"),
        ({"nope": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_filter_rules_are_refused(settings_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FilterRules.model_validate(settings_)


def test_every_filter_rule_has_a_description() -> None:
    for name, info in FilterRules.model_fields.items():
        assert info.description, name
