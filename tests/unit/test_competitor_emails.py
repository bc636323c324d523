"""Competitors found by their users' email domains (DESIGN §4: "email domains of known
competitors"), read from events (`$email`, `email`), Segment's `context.traits.email` and
`identify` traits; only the domain is kept, never the address."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from plg_handoff.connectors.segment.messages import GroupMap, to_event
from plg_handoff.domain.engine import evaluate
from plg_handoff.domain.metrics import DEFAULT_METRICS, email_domain
from plg_handoff.domain.rollup import UsageRollup
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.usage import AccountTraits, DayRollup, UsageEvent

TODAY = date(2026, 5, 20)
RULES = RuleSet.model_validate({"filters": {"competitor_domains": ["rivalcorp.com"]}})
TRAITS = AccountTraits(plan="team", employees=300, arr_potential=50_000, domains=["acme.io"])


def at(days_ago: int, minute: int = 0) -> int:
    moment = datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time(), UTC)
    return int((moment + timedelta(hours=9, minutes=minute)).timestamp())


def buyer_days(emails: dict[str, str]) -> list[DayRollup]:
    """Seats nearly full (a strong trigger) and steady work, by users with these emails."""
    rollup = UsageRollup(gauges={"seats": "seats_used"}, metrics=DEFAULT_METRICS)
    for days_ago in range(20):
        for n, (user, address) in enumerate(emails.items()):
            props: dict[str, Any] = {"seats_used": 9, "$email" if n % 2 else "email": address}
            rollup.add(UsageEvent("Report Saved", at(days_ago, n), user, "acme", None, props))
    return rollup.by_account()["acme"]


def test_an_employee_of_a_competitor_on_the_events_routes_to_competitive_intel() -> None:
    days = buyer_days({"u1": "jo@acme.io", "u2": "Sam.Lee@EU.RivalCorp.com"})
    traits = replace(TRAITS, limits={"seats": 10})
    evaluation = evaluate("acme", traits, days, RULES, TODAY)
    assert evaluation.route == "competitive_intel"
    (hit,) = [h for h in evaluation.filtered if h.filter == "competitor"]
    assert hit.reason == (
        "users' email domain eu.rivalcorp.com (on their events) belongs to a known competitor"
    )
    assert hit.figures == {"competitor_account_domains": 0, "competitor_user_domains": 1}


def test_the_same_account_without_the_competitor_is_handed_to_sales() -> None:
    days = buyer_days({"u1": "jo@acme.io", "u2": "sam@gmail.com"})
    traits = replace(TRAITS, limits={"seats": 10})
    assert evaluate("acme", traits, days, RULES, TODAY).route == "sales"


def test_rollups_keep_the_domain_never_the_address() -> None:
    days = buyer_days({"u1": "jo@acme.io", "u2": "sam@rivalcorp.com"})
    assert {d for day in days for d in day.values["email_domains"]} == {"acme.io", "rivalcorp.com"}
    assert "@" not in repr(days)


def test_what_is_no_email_address_has_no_domain() -> None:
    assert email_domain("Jo@Acme.IO") == "acme.io"
    assert email_domain("a@b@rivalcorp.com") == "rivalcorp.com"
    for text in ("acme.io", "jo@", "jo@localhost", "jo@acme.io\n", "jo@acme.io.", 5, None):
        assert email_domain(text) is None, text


def _segment(kind: str, user: str, minute: int, **fields: Any) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(at(1, minute), UTC).isoformat()
    return {"type": kind, "userId": user, "timestamp": stamp, "messageId": f"m{minute}", **fields}


def test_segment_context_traits_email_reaches_the_event() -> None:
    message = _segment(
        "track", "u1", 1, event="Report Saved", context={"traits": {"email": "jo@rivalcorp.com"}}
    )
    event = to_event(message)
    assert event is not None
    assert event["properties"]["email"] == "jo@rivalcorp.com"


def test_segment_identify_traits_email_reaches_the_users_events() -> None:
    groups = GroupMap()
    identify = _segment("identify", "u2", 0, traits={"email": "amy@rivalcorp.com"})
    track = _segment("track", "u2", 5, event="Report Saved", context={"groupId": "acme"})
    for message in (identify, track):
        groups.fold(message)
    event = to_event(track, groups)
    assert event is not None
    assert event["properties"]["email"] == "amy@rivalcorp.com"
    assert "emails" not in groups.snapshot()
