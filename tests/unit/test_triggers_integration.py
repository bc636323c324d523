"""Integration triggers (DESIGN §4): integrations_connected, api_growth, scheduled_exports,
webhook_configured: boundaries, evidence, `fired_on`, the rules' validation, and properties
(never raises, deterministic, more use never takes a trigger away)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from plg_handoff.domain.engine import evaluate
from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.triggers.integration import (
    ApiGrowthRule,
    IntegrationsConnectedRule,
    ScheduledExportsRule,
    WebhookConfiguredRule,
)
from plg_handoff.domain.triggers.registry import TRIGGERS, Signal
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.domain.view import AccountView
from tests.unit.triggers_support import TODAY, ago, fired_on


def view_of(days: Sequence[DayRollup], today: date = TODAY) -> AccountView:
    return AccountView.of("acme", AccountTraits(name="Acme"), days, today)


def check(name: str, days: Sequence[DayRollup], rule: TriggerRule) -> Signal | None:
    view = view_of(days)
    signal = TRIGGERS[name].check(view, rule)
    if signal is not None:
        assert signal.fired_on <= view.today.isoformat()
        assert signal.evidence
    return signal


def metric_on(name: str, counts: Mapping[int, int]) -> list[DayRollup]:
    """Rollups `days ago -> count` of one daily metric."""
    return [DayRollup(day=ago(n), metrics={name: c}) for n, c in counts.items()]


def connected(names: Mapping[int, list[str]]) -> list[DayRollup]:
    """Rollups `days ago -> integrations connected that day` (values and count)."""
    return [
        DayRollup(
            day=ago(n),
            metrics={"integrations_connected": len(v)},
            values={"integrations": sorted(v)},
        )
        for n, v in names.items()
    ]


# --- integrations_connected -----------------------------------------------------------------

INTEGRATION_CASES = [
    pytest.param(
        connected({20: ["slack"], 10: ["github", "slack"], 2: ["jira"]}),
        IntegrationsConnectedRule(),
        ago(2),
        id="exactly-3-distinct",
    ),
    pytest.param(
        connected({20: ["slack"], 10: ["github", "slack"], 2: ["slack"]}),
        IntegrationsConnectedRule(),
        None,
        id="2-distinct-one-below",
    ),
    pytest.param(
        connected({120: ["zapier"], 70: ["github"], 30: ["slack"]}),
        IntegrationsConnectedRule(),
        ago(30),
        id="a-month-apart-over-the-lookback-newest-on-window-day",
    ),
    pytest.param(
        connected({121: ["zapier"], 70: ["github"], 30: ["slack"]}),
        IntegrationsConnectedRule(),
        None,
        id="oldest-day-121-outside-lookback",
    ),
    pytest.param(
        connected({90: ["zapier"], 60: ["github"], 31: ["slack"]}),
        IntegrationsConnectedRule(window_days=30),
        None,
        id="newest-31-days-ago-outside-a-30-day-window",
    ),
    pytest.param(
        connected({40: ["zapier"], 10: ["github", "slack"]}),
        IntegrationsConnectedRule(lookback_days=30),
        None,
        id="custom-30-day-lookback",
    ),
    pytest.param(
        connected({50: ["zapier", "github", "slack"], 20: ["slack"]}),
        IntegrationsConnectedRule(window_days=45),
        None,
        id="a-reconnect-is-no-new-integration",
    ),
    pytest.param(
        connected({10: ["github", "slack", "jira"]}),
        IntegrationsConnectedRule(min_integrations=4),
        None,
        id="custom-4-under",
    ),
    pytest.param(
        metric_on("integrations_connected", {5: 2, 1: 1}),
        IntegrationsConnectedRule(),
        ago(1),
        id="no-names-3-connections",
    ),
    pytest.param(
        metric_on("integrations_connected", {100: 2, 40: 1}),
        IntegrationsConnectedRule(window_days=30),
        None,
        id="no-names-none-in-the-last-30-days",
    ),
    pytest.param(
        metric_on("integrations_connected", {5: 2}),
        IntegrationsConnectedRule(),
        None,
        id="no-names-2-connections",
    ),
    pytest.param(
        [
            DayRollup(
                day=ago(3),
                metrics={"integrations_connected": 5},
                values={"integrations": ["slack", "slack-2"]},
            )
        ],
        IntegrationsConnectedRule(),
        None,
        id="names-win-over-reconnect-count",
    ),
    pytest.param([], IntegrationsConnectedRule(), None, id="no-days"),
]


@pytest.mark.parametrize(("days", "rule", "fired"), INTEGRATION_CASES)
def test_integrations_connected_fires(
    days: list[DayRollup], rule: IntegrationsConnectedRule, fired: str | None
) -> None:
    assert fired_on(check("integrations_connected", days, rule)) == fired


def test_integrations_connected_evidence() -> None:
    days = connected({20: ["zapier"], 10: ["github", "slack"], 2: ["jira"]})
    signal = check("integrations_connected", days, IntegrationsConnectedRule())
    assert signal is not None
    assert signal.evidence == [
        f"4 integrations connected in 120 days, the latest on {ago(2)}: github, jira, slack, zapier"
    ]
    assert signal.figures == {"integrations": 4, "lookback_days": 120, "window_days": 120}


def test_integrations_connected_lists_ten_names() -> None:
    names = [f"app{i:02}" for i in range(12)]
    signal = check("integrations_connected", connected({1: names}), IntegrationsConnectedRule())
    assert signal is not None
    assert signal.evidence == [
        f"12 integrations connected in 120 days, the latest on {ago(1)}: "
        + ", ".join(names[:10])
        + " and 2 more"
    ]


def test_integrations_connected_without_names() -> None:
    days = metric_on("integrations_connected", {5: 2, 1: 1})
    signal = check("integrations_connected", days, IntegrationsConnectedRule())
    assert signal is not None
    assert signal.evidence == [
        "3 integration connections in 120 days (integration names not recorded)"
    ]


# --- api_growth -----------------------------------------------------------------------------


def api(
    requests: Mapping[int, int], limited: Mapping[int, int] | None = None, since: int = 120
) -> list[DayRollup]:
    """Rollups `days ago -> count` of API requests (and of 429s), the account's data beginning
    `since` days ago (before both windows: its baseline is read whole, not scaled)."""
    days: dict[int, dict[str, float]] = {since: {}}
    for n, c in requests.items():
        days.setdefault(n, {})["api_requests"] = c
    for n, c in (limited or {}).items():
        days.setdefault(n, {})["api_rate_limited"] = c
    return [DayRollup(day=ago(n), metrics=m) for n, m in days.items()]


# The growth is a comparison of complete days: now is days ago 1..30, the baseline days ago
# 61..90 (the 30 days ending 60 days before yesterday). A day's requests count from the day
# after, once the day is complete: requests 5 days ago fire 4 days ago. The rate limit is a
# threshold over a window: the 7 complete days before today and today (days ago 0..7).
API_CASES = [
    pytest.param(api({75: 1200, 5: 3600}), ApiGrowthRule(), ago(4), id="exactly-x3"),
    pytest.param(api({75: 1200, 5: 3599}), ApiGrowthRule(), None, id="one-below-x3"),
    pytest.param(api({75: 100, 5: 300}), ApiGrowthRule(), ago(4), id="baseline-at-minimum"),
    pytest.param(api({75: 99, 5: 10_000}), ApiGrowthRule(), None, id="baseline-one-below-min"),
    pytest.param(api({5: 10_000}), ApiGrowthRule(), None, id="no-baseline"),
    pytest.param(api({90: 100, 1: 300}), ApiGrowthRule(), ago(0), id="baseline-edge-day-90"),
    pytest.param(api({91: 100, 1: 300}), ApiGrowthRule(), None, id="day-91-outside"),
    pytest.param(api({61: 100, 30: 300}), ApiGrowthRule(), ago(0), id="edges-61-and-30"),
    pytest.param(api({60: 100, 1: 300}), ApiGrowthRule(), None, id="day-60-in-no-window"),
    pytest.param(api({75: 100, 0: 300}), ApiGrowthRule(), None, id="today-not-in-now"),
    pytest.param(api({75: 100, 31: 300}), ApiGrowthRule(), None, id="day-31-not-in-now"),
    pytest.param(api({75: 1200, 5: 2400}), ApiGrowthRule(growth_factor=2), ago(4), id="custom-x2"),
    pytest.param(api({}, {3: 5}), ApiGrowthRule(), ago(3), id="rate-limited-5-in-7-days"),
    pytest.param(api({}, {7: 2, 0: 3}), ApiGrowthRule(), ago(0), id="rate-limited-reached-today"),
    pytest.param(api({}, {3: 4}), ApiGrowthRule(), None, id="rate-limited-4-one-below"),
    pytest.param(api({}, {8: 5}), ApiGrowthRule(), None, id="rate-limited-8-days-ago"),
    pytest.param(
        api({}, {3: 50}), ApiGrowthRule(min_rate_limited=None), None, id="rate-limit-not-read"
    ),
    pytest.param(
        api({75: 1200, 5: 3600}, {1: 5}), ApiGrowthRule(), ago(4), id="both-earliest-fired-on"
    ),
    pytest.param([], ApiGrowthRule(), None, id="no-days"),
]


@pytest.mark.parametrize(("days", "rule", "fired"), API_CASES)
def test_api_growth_fires(days: list[DayRollup], rule: ApiGrowthRule, fired: str | None) -> None:
    assert fired_on(check("api_growth", days, rule)) == fired


API_EVIDENCE = [
    pytest.param(
        api({75: 1200, 5: 4080}),
        ApiGrowthRule(),
        ["API requests \u00d73.4 in a quarter (1,200 \u2192 4,080 a month)"],
        {"api_growth": 3.4, "api_requests_before": 1200, "api_requests_now": 4080},
        id="growth",
    ),
    pytest.param(
        api({35: 200, 5: 700}),
        ApiGrowthRule(window_days=14, baseline_ends_days_ago=28),
        ["API requests \u00d73.5 in 42 days (200 \u2192 700 in 14 days)"],
        {"api_growth": 3.5, "api_requests_before": 200, "api_requests_now": 700},
        id="custom-windows",
    ),
    pytest.param(
        api({}, {3: 12}),
        ApiGrowthRule(),
        ["API rate limit hit 12 times in 7 days (requests refused with HTTP 429)"],
        {"api_rate_limited": 12},
        id="rate-limited",
    ),
]


@pytest.mark.parametrize(("days", "rule", "evidence", "figures"), API_EVIDENCE)
def test_api_growth_evidence(
    days: list[DayRollup], rule: ApiGrowthRule, evidence: list[str], figures: dict[str, float]
) -> None:
    signal = check("api_growth", days, rule)
    assert signal is not None
    assert signal.evidence == evidence
    assert signal.figures == pytest.approx(figures)


@pytest.mark.parametrize(
    "settings_",
    [
        pytest.param({"baseline_ends_days_ago": 20}, id="windows-overlap"),
        pytest.param({"growth_factor": 1}, id="factor-1"),
        pytest.param({"min_rate_limited": 0}, id="rate-limited-0"),
    ],
)
def test_api_growth_rule_validation(settings_: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ApiGrowthRule(**settings_)


@settings(max_examples=100, deadline=None)
@given(
    requests=st.dictionaries(st.integers(0, 100), st.integers(0, 5000), max_size=20),
    extra=st.integers(0, 10_000),
)
def test_more_recent_api_use_never_takes_api_growth_away(
    requests: dict[int, int], extra: int
) -> None:
    before = check("api_growth", api(requests), ApiGrowthRule())
    after = check("api_growth", api({**requests, 0: requests.get(0, 0) + extra}), ApiGrowthRule())
    if before is not None:
        assert after is not None
        assert after.figures["api_growth"] >= before.figures["api_growth"]


# --- scheduled_exports ----------------------------------------------------------------------


def exports(counts: Mapping[int, int]) -> list[DayRollup]:
    return metric_on("scheduled_exports", counts)


# Weeks of 7 complete days counted back from yesterday, today joining the newest: days ago
# 0..7, 8..14, 15..21, 22..28.
EXPORT_CASES = [
    pytest.param(exports({15: 1, 8: 1, 1: 1}), ScheduledExportsRule(), ago(1), id="3-weeks"),
    pytest.param(
        exports({15: 1, 8: 1, 0: 1}), ScheduledExportsRule(), ago(0), id="today-in-newest-week"
    ),
    pytest.param(exports({8: 1, 1: 1}), ScheduledExportsRule(), None, id="2-weeks-one-below"),
    pytest.param(
        exports({n: 1 for n in range(7)}), ScheduledExportsRule(), None, id="one-week-burst"
    ),
    pytest.param(
        exports({28: 1, 8: 1, 1: 1}), ScheduledExportsRule(), ago(1), id="day-28-in-4th-week"
    ),
    pytest.param(exports({29: 1, 8: 1, 1: 1}), ScheduledExportsRule(), None, id="day-29-outside"),
    pytest.param(exports({22: 1, 15: 1, 8: 1, 1: 1}), ScheduledExportsRule(), ago(8), id="4-weeks"),
    pytest.param(
        exports({7: 1, 8: 1}), ScheduledExportsRule(min_weeks=2, weeks=2), ago(7), id="custom-2"
    ),
    pytest.param(
        exports({6: 1, 7: 1}),
        ScheduledExportsRule(min_weeks=2, weeks=2),
        None,
        id="custom-2-same-week",
    ),
    pytest.param(
        metric_on("bulk_exports", {15: 1, 8: 1, 1: 1}),
        ScheduledExportsRule(),
        None,
        id="bulk-exports-are-not-scheduled",
    ),
    pytest.param([], ScheduledExportsRule(), None, id="no-days"),
]


@pytest.mark.parametrize(("days", "rule", "fired"), EXPORT_CASES)
def test_scheduled_exports_fires(
    days: list[DayRollup], rule: ScheduledExportsRule, fired: str | None
) -> None:
    assert fired_on(check("scheduled_exports", days, rule)) == fired


def test_scheduled_exports_evidence() -> None:
    signal = check("scheduled_exports", exports({15: 4, 8: 3, 1: 2}), ScheduledExportsRule())
    assert signal is not None
    assert signal.evidence == ["Scheduled exports in 3 of the last 4 weeks (9 exports)"]
    assert signal.figures == {"export_weeks": 3, "scheduled_exports": 9, "weeks": 4}


def test_scheduled_exports_rule_validation() -> None:
    with pytest.raises(ValidationError):
        ScheduledExportsRule(min_weeks=5, weeks=4)


# --- webhook_configured ---------------------------------------------------------------------


def webhooks(counts: Mapping[int, int]) -> list[DayRollup]:
    return metric_on("webhooks_configured", counts)


WEBHOOK_CASES = [
    pytest.param(webhooks({3: 1}), WebhookConfiguredRule(), ago(3), id="one-webhook"),
    pytest.param(webhooks({3: 0}), WebhookConfiguredRule(), None, id="zero-webhooks"),
    pytest.param(webhooks({30: 1}), WebhookConfiguredRule(), ago(30), id="first-window-day"),
    pytest.param(webhooks({31: 1}), WebhookConfiguredRule(), None, id="day-31-outside"),
    pytest.param(
        webhooks({30: 1, 2: 1}), WebhookConfiguredRule(min_webhooks=2), ago(2), id="custom-2-at"
    ),
    pytest.param(
        webhooks({2: 1}), WebhookConfiguredRule(min_webhooks=2), None, id="custom-2-one-below"
    ),
    pytest.param([], WebhookConfiguredRule(), None, id="no-days"),
]


@pytest.mark.parametrize(("days", "rule", "fired"), WEBHOOK_CASES)
def test_webhook_configured_fires(
    days: list[DayRollup], rule: WebhookConfiguredRule, fired: str | None
) -> None:
    assert fired_on(check("webhook_configured", days, rule)) == fired


@pytest.mark.parametrize(
    ("counts", "evidence"),
    [
        pytest.param({3: 1}, "1 webhook set up in 30 days", id="singular"),
        pytest.param({3: 1, 1: 2}, "3 webhooks set up in 30 days", id="plural"),
    ],
)
def test_webhook_configured_evidence(counts: dict[int, int], evidence: str) -> None:
    signal = check("webhook_configured", webhooks(counts), WebhookConfiguredRule())
    assert signal is not None
    assert signal.evidence == [evidence]


# --- every integration trigger: disabled, never raises, deterministic -----------------------

FIRING = {
    "integrations_connected": connected({10: ["github", "jira", "slack"]}),
    "api_growth": api({75: 1200, 5: 3600}),
    "scheduled_exports": exports({15: 1, 8: 1, 1: 1}),
    "webhook_configured": webhooks({3: 1}),
}
RULES = RuleSet()
STILL_ACTIVE = DayRollup(day=ago(0), events={"Report Viewed": 1}, active_users=1)


@pytest.mark.parametrize("name", sorted(FIRING))
def test_disabled_integration_rule_never_fires(name: str) -> None:
    # in use today too: the engine holds a trigger without a return visit (`no_return`)
    days, traits = [*FIRING[name], STILL_ACTIVE], AccountTraits(name="Acme")
    assert name in {f.trigger for f in evaluate("acme", traits, days, RULES, TODAY).fired}
    rule = getattr(RULES, name)
    disabled = RULES.model_copy(update={name: rule.model_copy(update={"enabled": False})})
    assert name not in {f.trigger for f in evaluate("acme", traits, days, disabled, TODAY).fired}


METRICS = ["integrations_connected", "api_requests", "api_rate_limited", "scheduled_exports"]
rollups = st.lists(
    st.builds(
        DayRollup,
        day=st.integers(0, 120).map(ago) | st.sampled_from(["", "not-a-day", "2024-02-30"]),
        metrics=st.dictionaries(
            st.sampled_from([*METRICS, "webhooks_configured"]), st.integers(-5, 10**6)
        ),
        values=st.dictionaries(
            st.just("integrations"), st.lists(st.sampled_from(["a", "b", "c", "d", ""]))
        ),
    ),
    max_size=40,
)
INTEGRATION_RULES: list[tuple[str, TriggerRule]] = [
    ("integrations_connected", IntegrationsConnectedRule()),
    ("integrations_connected", IntegrationsConnectedRule(min_integrations=1, window_days=1)),
    ("api_growth", ApiGrowthRule()),
    ("api_growth", ApiGrowthRule(window_days=1, baseline_ends_days_ago=1, min_baseline=1)),
    ("scheduled_exports", ScheduledExportsRule()),
    ("scheduled_exports", ScheduledExportsRule(min_weeks=1, weeks=1)),
    ("webhook_configured", WebhookConfiguredRule()),
]


@settings(max_examples=80, deadline=None)
@given(days=rollups, today=st.sampled_from([TODAY, date(1, 1, 2), date(9999, 12, 31)]))
def test_integration_triggers_never_raise_and_are_deterministic(
    days: list[DayRollup], today: date
) -> None:
    view = view_of(days, today)
    for name, rule in INTEGRATION_RULES:
        first = TRIGGERS[name].check(view, rule)
        assert first == TRIGGERS[name].check(view, rule)
        if first is not None:
            assert first.fired_on <= today.isoformat()


@settings(max_examples=60, deadline=None)
@given(
    names=st.dictionaries(st.integers(0, 40), st.lists(st.sampled_from("abcdef"), max_size=3)),
    more=st.lists(st.sampled_from("abcdefgh"), max_size=3),
)
def test_more_integrations_never_take_the_trigger_away(
    names: dict[int, list[str]], more: list[str]
) -> None:
    before = check("integrations_connected", connected(names), IntegrationsConnectedRule())
    added = {**names, 0: [*names.get(0, []), *more]}
    after = check("integrations_connected", connected(added), IntegrationsConnectedRule())
    if before is not None:
        assert after is not None
        assert after.figures["integrations"] >= before.figures["integrations"]
