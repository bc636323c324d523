"""Sanity of the persona generator only (the engine is not run here): reproducible, complete,
nothing in the future, the noise of real data present, and MAPPING fitting the vocabulary."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from tests.personas.population import (
    ACCOUNT_PROPERTY,
    COMPETITOR_DOMAIN,
    MAPPING,
    ROUTES,
    Population,
    build_population,
)

TODAY = date(2026, 3, 16)


@pytest.fixture(scope="module")
def population() -> Population:
    return build_population(TODAY)


def _digest(population: Population) -> str:
    payload = json.dumps([population.events, population.profiles], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def test_deterministic_for_a_seed(population: Population) -> None:
    small = _digest(build_population(TODAY, accounts_per_persona=2))
    assert _digest(build_population(TODAY, accounts_per_persona=2)) == small
    assert _digest(build_population(TODAY, accounts_per_persona=2, seed=8)) != small
    # the first accounts of a bigger population are the same accounts
    assert set(build_population(TODAY, accounts_per_persona=2).persona_of) < set(
        population.persona_of
    )


def test_personas_and_expected_routes(population: Population) -> None:
    per_persona = Counter(population.persona_of.values())
    assert len(per_persona) >= 12
    assert all(count == 10 for count in per_persona.values())
    accounts = {p["$distinct_id"] for p in population.profiles}
    with_events = {e["properties"][ACCOUNT_PROPERTY] for e in population.events}
    assert with_events == accounts == set(population.persona_of) == set(population.expected)
    for account, expected in population.expected.items():
        assert expected.route in ROUTES
        assert expected.why.strip()
        # one persona, one route
        persona = population.persona_of[account]
        same = {
            population.expected[a].route for a, p in population.persona_of.items() if p == persona
        }
        assert same == {expected.route}
    assert set(ROUTES) <= {e.route for e in population.expected.values()}


def test_accounts_of_a_persona_differ(population: Population) -> None:
    """Each account is drawn, not copied: its own size, dates and mix of events."""
    shapes: dict[str, set[tuple[int, int, int]]] = defaultdict(set)
    per_account: dict[str, list[int]] = defaultdict(list)
    for line in population.events:
        per_account[line["properties"][ACCOUNT_PROPERTY]].append(line["properties"]["time"])
    for account, times in per_account.items():
        shapes[population.persona_of[account]].add((len(times), min(times), max(times)))
    assert all(len(distinct) == 10 for distinct in shapes.values()), shapes
    for persona in set(population.persona_of.values()):
        profiles = [
            json.dumps(p["$properties"], sort_keys=True)
            for p in population.profiles
            if population.persona_of[p["$distinct_id"]] == persona
        ]
        assert len(set(profiles)) == 10


def test_events_are_well_formed_and_never_after_now(population: Population) -> None:
    now = int(population.now.timestamp())
    assert population.now == datetime.combine(TODAY, time(10, 30), UTC)
    oldest = now - 125 * 86_400
    for line in population.events:
        assert set(line) == {"event", "properties"}
        props = line["properties"]
        assert isinstance(props["time"], int)
        assert oldest <= props["time"] <= now
        assert props["distinct_id"]
        assert props["$insert_id"]
        assert props[ACCOUNT_PROPERTY] in population.persona_of
    today_start = int(datetime.combine(TODAY, time(0), UTC).timestamp())
    assert any(e["properties"]["time"] >= today_start for e in population.events)  # partial today
    assert 50_000 <= len(population.events) <= 150_000


def test_custom_now_cuts_the_day(population: Population) -> None:
    early = datetime.combine(TODAY, time(6, 0), UTC)
    cut = build_population(TODAY, accounts_per_persona=2, now=early)
    assert max(e["properties"]["time"] for e in cut.events) <= early.timestamp()


def test_noise_is_present(population: Population) -> None:
    events = population.events
    by_insert_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in events:
        by_insert_id[line["properties"]["$insert_id"]].append(line)
    resent = [lines for lines in by_insert_id.values() if len(lines) > 1]
    assert 0.005 * len(events) < len(resent) < 0.02 * len(events)
    for first, *others in resent:
        for other in others:
            assert other["event"] == first["event"]
            assert other["properties"]["time"] == first["properties"]["time"]

    late = [
        e
        for e in events
        if e["properties"]["mp_processing_time_ms"] / 1000 - e["properties"]["time"] > 86_400
    ]
    assert late
    assert any("$email" in e["properties"] for e in events)
    assert any("email" in e["properties"] for e in events)
    assert any("Mobile" in e["properties"].get("ua", "") for e in events)
    assert {"Tooltip Shown", "Search Performed"} <= {e["event"] for e in events}
    assert any(e["event"] == "API Usage" and e["properties"]["calls"] > 1 for e in events)

    ips: dict[tuple[str, date], set[str]] = defaultdict(set)
    for e in events:
        props = e["properties"]
        if "client_ip" in props:
            day = datetime.fromtimestamp(props["time"], UTC).date()
            ips[(props["distinct_id"], day)].add(props["client_ip"])
    per_day = Counter(min(len(v), 4) for v in ips.values())
    assert per_day[1] and per_day[2] and per_day[3]


def test_traits_oddly_typed_and_missing(population: Population) -> None:
    props = [p["$properties"] for p in population.profiles]
    assert any(isinstance(p.get("headcount"), str) for p in props)
    assert any(isinstance(p.get("headcount"), int) for p in props)
    assert any("headcount" not in p for p in props)
    assert any(isinstance(p["expected_arr"], str) for p in props)
    assert any(isinstance(p["seat_cap"], float) for p in props)
    assert any(isinstance(p["website"], list) for p in props)
    assert any(isinstance(p["website"], str) and p["website"].startswith("https://") for p in props)
    assert any(isinstance(p["website"], str) and "://" not in p["website"] for p in props)
    assert any("vertical" not in p for p in props)
    assert any("geo" not in p for p in props)


def test_mapping_names_only_what_the_population_has(population: Population) -> None:
    names = {e["event"] for e in population.events}
    for metric, definition in MAPPING["metrics"].items():
        for event in definition.get("events", []):
            assert event in names, (metric, event)
    for gauge, prop in MAPPING["gauges"].items():
        assert any(prop in e["properties"] for e in population.events), gauge
    profile_props = {k for p in population.profiles for k in p["$properties"]}
    traits = MAPPING["traits"]
    assert {v for k, v in traits.items() if k != "limits"} <= profile_props
    assert set(traits["limits"].values()) <= profile_props
    assert MAPPING["default_metrics"] is False
    assert all(MAPPING["account_property"] in e["properties"] for e in population.events)
    _assert_toml_ready(MAPPING)


def _assert_toml_ready(value: object) -> None:
    """TOML has no null and only string keys."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            _assert_toml_ready(item)
    elif isinstance(value, list):
        for item in value:
            _assert_toml_ready(item)
    else:
        assert isinstance(value, str | int | float | bool), value


def test_competitor_accounts_use_the_competitor_domain(population: Population) -> None:
    domains: dict[str, set[str]] = defaultdict(set)
    for e in population.events:
        props = e["properties"]
        email = props.get("$email") or props.get("email")
        if email:
            domains[props[ACCOUNT_PROPERTY]].add(email.rsplit("@", 1)[1])
    intel = [a for a, x in population.expected.items() if x.route == "competitive_intel"]
    assert intel
    assert all(COMPETITOR_DOMAIN in domains[a] for a in intel)
    others = set(population.expected) - set(intel)
    assert not any(COMPETITOR_DOMAIN in domains[a] for a in others)


def test_write(population: Population, tmp_path: Path) -> None:
    population.write(tmp_path)
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(population.events)
    assert json.loads(lines[0]) == population.events[0]
    profiles = (tmp_path / "profiles.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in profiles] == population.profiles


def test_segment_messages(population: Population) -> None:
    messages = population.segment_messages()
    kinds = Counter(m["type"] for m in messages)
    assert kinds["track"] + kinds["page"] == len(population.events)
    assert kinds["page"] == sum(e["event"] == "Page View" for e in population.events)
    assert kinds["group"] == len(population.profiles)
    emailed = {
        e["properties"]["distinct_id"]
        for e in population.events
        if "$email" in e["properties"] or "email" in e["properties"]
    }
    assert kinds["identify"] == len(emailed)
    for message in messages:
        assert message["timestamp"].endswith("Z")
        assert message["messageId"]
        if message["type"] == "track":
            assert message["context"]["groupId"] in population.persona_of
            assert "time" not in message["properties"]
            assert ACCOUNT_PROPERTY not in message["properties"]
        elif message["type"] == "page":
            assert message["properties"]["url"].startswith("https://")
            assert message["properties"]["path"].startswith("/")
        elif message["type"] == "group":
            assert message["traits"]
    assert any("userAgent" in m.get("context", {}) for m in messages)
    assert any("traits" in m.get("context", {}) for m in messages)
