"""Metric definitions: the default mapping does what its names say, definitions are validated
with the field named, and the shipped example config is the default mapping."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from plg_handoff.config import ConfigError, FileSourceConfig, parse_config
from plg_handoff.connectors.segment.messages import to_event
from plg_handoff.domain.metrics import DEFAULT_METRICS, Condition, MetricDefinition
from plg_handoff.domain.rollup import UsageRollup
from plg_handoff.domain.usage import DayRollup, UsageEvent

EXAMPLE = Path(__file__).parents[2] / "deploy" / "metrics.example.toml"
T0 = int(datetime(2025, 3, 3, 9, 0, tzinfo=UTC).timestamp())
_serial = iter(range(1_000_000))


def ev(name: str, user: str = "u1", at: int = 0, **properties: Any) -> UsageEvent:
    return UsageEvent(
        name=name,
        time=T0 + at,
        distinct_id=user,
        account_id="acme",
        insert_id=f"i{next(_serial)}",
        properties=properties,
    )


def day_of(*events: UsageEvent, metrics: dict[str, MetricDefinition] | None = None) -> DayRollup:
    rollup = UsageRollup({}, DEFAULT_METRICS if metrics is None else metrics)
    for event in events:
        rollup.add(event)
    [day] = rollup.by_account()["acme"]
    return day


def test_default_mapping_reads_the_signals_the_trigger_taxonomy_needs() -> None:
    day = day_of(
        ev("Premium Feature Blocked", feature="sso"),
        ev("Upgrade Prompt Shown"),
        ev("Support Ticket Created", topic="saml"),
        ev("Support Ticket Created", topic="billing"),  # not an enterprise capability
        ev("Page Viewed", path="/pricing"),
        ev("Page Viewed", path="/settings/security"),
        ev("Page Viewed", path="/home"),
        ev("User Invited", user="u1"),
        ev("User Invited", user="u1", at=60),
        ev("User Invited", user="u2"),
        ev("Invite Accepted", user="u3", department="sales"),
        ev("Role Changed", role="admin"),
        ev("Role Changed", role="viewer"),
        ev("Integration Connected", integration="slack"),
        ev("Integration Connected", integration="github"),
        ev("API Request", status=200),
        ev("API Request", status=429),
        ev("Webhook Created"),
        ev("Data Exported", scheduled=True, rows=50),
        ev("Data Exported", scheduled=False, rows=250_000),
        ev("Data Exported", scheduled=False, rows=20),
        ev("Report Saved", department="eng", ip="10.0.0.1", user_agent="Mozilla/5.0"),
        ev("Report Viewed", user="bot", ip="10.0.0.2", user_agent="Googlebot/2.1"),
        ev("Report Viewed", user="bot", at=1, ip="10.0.0.3", user_agent="Googlebot/2.1"),
        ev("Report Viewed", user="bot", at=2, ip="10.0.0.4", user_agent="Googlebot/2.1"),
        ev("Report Viewed", user="u1", at=4 * 3600),  # u1 back after 4 hours: a second visit
    )
    assert day.metrics == {
        "admin_role_changes": 1,
        "api_rate_limited": 1,
        "api_requests": 2,
        "bot_agent_events": 3,
        "bulk_exports": 1,
        "distinct_ips": 4,
        "distinct_user_agents": 2,
        "enterprise_requests": 1,
        "enterprise_visits": 1,
        "integrations_connected": 2,
        "invites_accepted": 1,
        "invites_sent": 3,
        "max_invites_by_one_user": 2,
        "max_repeat": 3,
        "premium_blocks": 2,
        "pricing_visits": 1,
        "scheduled_exports": 1,
        "sessions": 5,  # u1 twice; u2, u3 and the bot once each
        "webhooks_configured": 1,
        "work_product": 1,
    }
    assert day.values == {"departments": ["eng", "sales"], "integrations": ["github", "slack"]}


def test_a_day_without_matching_events_carries_no_metrics() -> None:
    day = day_of(ev("Report Viewed"), metrics={"invites": MetricDefinition(kind="count")})
    assert day.metrics == {"invites": 1}
    day = day_of(
        ev("Report Viewed"),
        metrics={"invites": MetricDefinition(kind="count", events=("User Invited",))},
    )
    assert day.metrics == {}
    assert day.values == {}


def test_values_keep_the_smallest_up_to_the_limit() -> None:
    metrics = {"d": MetricDefinition(kind="values", property="d", limit=2)}
    day = day_of(ev("x", d="ops"), ev("x", d="eng"), ev("x", d=7), ev("x", d=True), metrics=metrics)
    assert day.values == {"d": ["7", "eng"]}


@pytest.mark.parametrize(
    ("condition", "value", "holds"),
    [
        (Condition(property="p", equals=True), True, True),
        (Condition(property="p", equals=True), 1, False),  # JSON true is not 1
        (Condition(property="p", equals=1), True, False),
        (Condition(property="p", equals=429), 429, True),
        (Condition(property="p", equals=429), "429", False),
        (Condition(property="p", equals=429), 429.0, False),
        (Condition(property="p", one_of=("a", 2)), 2, True),
        (Condition(property="p", one_of=("a", 2)), "b", False),
        (Condition(property="p", contains=("/pricing",)), "/app/pricing?x", True),
        (Condition(property="p", contains=("/pricing",)), "/PRICING", False),
        (Condition(property="p", contains=("1",)), 1, False),
        (Condition(property="p", at_least=10), 10, True),
        (Condition(property="p", at_least=10), 9.99, False),
        (Condition(property="p", at_least=10), "20", False),
        (Condition(property="p", at_least=10), True, False),
        (Condition(property="p", exists=True), 0, True),
        (Condition(property="p", exists=True), None, False),
        (Condition(property="p", exists=False), None, True),
    ],
)
def test_conditions_compare_json_values_by_type(
    condition: Condition, value: Any, holds: bool
) -> None:
    assert condition.holds({"p": value}) is holds


def test_a_missing_property_holds_only_for_exists_false() -> None:
    assert Condition(property="p", exists=False).holds({}) is True
    assert Condition(property="p", equals="x").holds({}) is False


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"kind": "count", "where": [{"property": "p"}]}, "give exactly one of"),
        ({"kind": "count", "where": [{"property": "p", "equals": 1, "exists": True}]},
         "got equals, exists"),
        ({"kind": "distinct"}, "needs `property`"),
        ({"kind": "count", "property": "p"}, "takes no `property`"),
        ({"kind": "count", "where": [{"property": "p", "contains": [""]}]}, "empty strings"),
        ({"kind": "median"}, "Input should be"),
    ],
)  # fmt: skip
def test_a_bad_definition_is_refused(definition: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MetricDefinition.model_validate(definition)


def test_a_bad_metric_in_the_config_names_its_field(tmp_path: Path) -> None:
    def config_with(metrics: dict[str, Any]) -> dict[str, Any]:
        source = {"kind": "file", "name": "p", "path": "usage", "metrics": metrics}
        return {"sources": [source], "crm": {"kind": "hubspot"}}

    bad_condition = {"pricing": {"kind": "count", "where": [{"property": "path"}]}}
    with pytest.raises(ConfigError, match=r"sources\[0\]\.metrics\.pricing\.where\[0\]"):
        parse_config(config_with(bad_condition), base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"sources\[0\]\.metrics\.Bad Name"):
        parse_config(config_with({"Bad Name": {"kind": "count"}}), base_dir=tmp_path)


def test_a_source_adds_to_and_overrides_the_defaults() -> None:
    own = MetricDefinition(kind="count", events=("Seat Added",))
    source = FileSourceConfig(
        kind="file", name="p", path=Path("u"), metrics={"seats_added": own, "sessions": own}
    )
    definitions = source.metric_definitions()
    assert definitions["seats_added"] == own
    assert definitions["sessions"] == own
    assert definitions["invites_sent"] == DEFAULT_METRICS["invites_sent"]
    alone = source.model_copy(update={"default_metrics": False})
    assert set(alone.metric_definitions()) == {"seats_added", "sessions"}


def test_the_example_config_is_the_default_mapping() -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    source = FileSourceConfig.model_validate(raw["sources"][0])
    assert source.default_metrics is False
    assert source.metric_definitions() == DEFAULT_METRICS
    assert list(source.metrics) == list(DEFAULT_METRICS)


def test_segment_context_fills_the_bot_and_team_properties() -> None:
    message = {
        "type": "track",
        "event": "Report Viewed",
        "userId": "u1",
        "messageId": "m1",
        "timestamp": "2025-06-01T10:00:00Z",
        "properties": {"ip": "kept"},
        "context": {
            "groupId": "acme",
            "ip": "203.0.113.9",
            "userAgent": "Mozilla/5.0",
            "traits": {"department": "finance"},
        },
    }
    event = to_event(message)
    assert event is not None
    props = event["properties"]
    assert props["ip"] == "kept"  # the event's own property wins
    assert props["user_agent"] == "Mozilla/5.0"
    assert props["department"] == "finance"


def test_known_events_include_every_event_a_metric_reads() -> None:
    source = FileSourceConfig(kind="file", name="p", path=Path("u"))
    assert source.known_event_names() is None  # any event is known
    listed = source.model_copy(update={"known_events": ("Report Viewed",)})
    known = listed.known_event_names()
    assert known is not None
    assert "Report Viewed" in known
    assert "User Invited" in known  # read by the default invites_sent metric
    assert "Checkout Viewed" not in known


def test_known_events_cannot_be_an_empty_list(tmp_path: Path) -> None:
    raw = {
        "sources": [{"kind": "file", "name": "p", "path": "u", "known_events": []}],
        "crm": {"kind": "hubspot"},
    }
    with pytest.raises(ConfigError, match=r"sources\[0\]\.known_events"):
        parse_config(raw, base_dir=tmp_path)
