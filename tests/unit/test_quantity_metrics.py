"""Quantities carried in a property (`API Calls {count: 300}`): `sum` and `max` metrics, the
same on every engine, and read by the volume triggers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from plg_handoff.activities.ingest import roll_up
from plg_handoff.domain.engine import evaluate
from plg_handoff.domain.metrics import DEFAULT_METRICS, MetricDefinition
from plg_handoff.domain.rollup import UsageRollup
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.usage import AccountTraits, UsageEvent

TODAY = date(2026, 5, 20)
API_CALLS = MetricDefinition(kind="sum", events=("API Calls",), property="count")
PEAK_SEATS = MetricDefinition(kind="max", events=("Seats Reported",), property="seats")
METRICS = {**DEFAULT_METRICS, "api_requests": API_CALLS, "seats": PEAK_SEATS}


def at(days_ago: int, hour: int = 10) -> int:
    moment = datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time(), UTC)
    return int((moment + timedelta(hours=hour)).timestamp())


def test_a_sum_adds_the_quantities_and_a_copy_adds_nothing() -> None:
    rollup = UsageRollup(metrics={"api_requests": API_CALLS})
    for n, count in enumerate([300, "120", 2.5, "abc", None, True, " 7 "]):
        rollup.add(UsageEvent("API Calls", at(0, 1), "u1", "acme", f"i{n}", {"count": count}))
    rollup.add(UsageEvent("API Calls", at(0, 1), "u1", "acme", "i0", {"count": 300}))  # a copy
    rollup.add(UsageEvent("Report Viewed", at(0, 1), "u1", "acme", "r", {"count": 1000}))
    (day,) = rollup.by_account()["acme"]
    assert day.metrics == {"api_requests": 429.5}


def test_a_max_keeps_the_days_peak() -> None:
    rollup = UsageRollup(metrics={"seats": PEAK_SEATS})
    for n, seats in enumerate([7, "9", 8.0]):
        rollup.add(UsageEvent("Seats Reported", at(0, n), "svc", "acme", f"s{n}", {"seats": seats}))
    (day,) = rollup.by_account()["acme"]
    assert day.metrics == {"seats": 9}
    assert isinstance(day.metrics["seats"], int)


@pytest.mark.parametrize("kind", ["sum", "max"])
def test_a_quantity_metric_needs_its_property(kind: str) -> None:
    with pytest.raises(ValidationError, match=f"a {kind} metric needs `property`"):
        MetricDefinition.model_validate({"kind": kind, "events": ["API Calls"]})


@pytest.mark.parametrize("fast", [True, False])
def test_both_ingestion_paths_sum_like_the_reference(tmp_path: Path, fast: bool) -> None:
    lines = [
        {"event": "API Calls", "properties": {"time": at(1, h), "distinct_id": "u1",
                                               "account_id": "acme", "$insert_id": f"i{h}",
                                               "count": c}}
        for h, c in enumerate([300, "120", 2.5, 0.1, "nan", "inf", -4])
    ]  # fmt: skip
    lines.append(lines[0])  # a duplicate line
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = roll_up(
        [path],
        account_property="account_id",
        gauges={},
        metrics={"api_requests": API_CALLS, "peak": MetricDefinition(kind="max", property="count")},
        days=[(TODAY - timedelta(days=1)).isoformat()],
        now=at(0),
        fast=fast,
    )
    (day,) = result.rollups["acme"]
    assert day.metrics == {"api_requests": 418.6, "peak": 300}


def test_api_growth_fires_on_summed_quantities() -> None:
    """Two `API Calls` events a day, 50 calls each before, 200 each in the last month: with a
    count, every day is 2 and the API never grows; with a sum it grew x4."""
    rollup = UsageRollup(metrics=METRICS)
    for days_ago in range(1, 121):
        calls = 200 if days_ago <= 30 else 50
        for hour in (9, 15):
            rollup.add(
                UsageEvent("API Calls", at(days_ago, hour), "svc", "acme", None, {"count": calls})
            )
    traits = AccountTraits(plan="team", employees=300, arr_potential=50_000)
    evaluation = evaluate("acme", traits, rollup.by_account()["acme"], RuleSet(), TODAY)
    growth = next(f for f in evaluation.fired if f.trigger == "api_growth")
    assert growth.figures["api_requests_now"] == 30 * 400
    assert growth.figures["api_requests_before"] == 30 * 100

    counted = UsageRollup(metrics={**METRICS, "api_requests": DEFAULT_METRICS["api_requests"]})
    for days_ago in range(1, 121):
        for hour in (9, 15):
            counted.add(UsageEvent("API Calls", at(days_ago, hour), "svc", "acme", None, {}))
    plain = evaluate("acme", traits, counted.by_account()["acme"], RuleSet(), TODAY)
    assert "api_growth" not in {f.trigger for f in plain.fired}


def test_a_max_metric_is_a_quota_gauge() -> None:
    """Seats in use reported on events, read by the limit triggers as the `seats` gauge."""
    rollup = UsageRollup(metrics=METRICS)
    for days_ago, seats in enumerate([9, 9, 8, 8, 7]):
        rollup.add(
            UsageEvent("Seats Reported", at(days_ago), "svc", "acme", None, {"seats": seats})
        )
        rollup.add(UsageEvent("Report Viewed", at(days_ago), "u1", "acme", None, {}))
    traits = AccountTraits(plan="team", employees=300, arr_potential=50_000, limits={"seats": 10})
    evaluation = evaluate("acme", traits, rollup.by_account()["acme"], RuleSet(), TODAY)
    approaching = next(f for f in evaluation.fired if f.trigger == "limit_approaching")
    assert approaching.evidence[0].startswith("9 of 10 seats")
