"""Mixpanel export lines and group profiles: parsing, quarantine reasons, the file source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from plg_handoff.config import FileSourceConfig, TraitMapping
from plg_handoff.connectors.base import Quarantined
from plg_handoff.connectors.file.source import FileUsageSource
from plg_handoff.connectors.mixpanel_shape import (
    EARLIEST_EVENT,
    FUTURE_TOLERANCE_S,
    parse_event_line,
    traits_from_profile,
)
from plg_handoff.domain.rollup import UsageRollup
from plg_handoff.domain.usage import AccountTraits, UsageEvent

NOW = 1_715_000_000.0  # 2024-05-06T12:53:20Z
T = 1_714_900_000  # a day before NOW
LOC = "usage.jsonl:7"


def line(event: Any = "Report Viewed", **props: Any) -> str:
    props.setdefault("time", T)
    props.setdefault("distinct_id", "u1")
    props.setdefault("account_id", "acme")
    props = {k: v for k, v in props.items() if v is not ...}
    return json.dumps({"event": event, "properties": props})


def parse(raw: str) -> tuple[tuple[UsageEvent, ...], Quarantined | None]:
    parsed = parse_event_line(raw, LOC, "account_id", now=NOW)
    return parsed.events, parsed.quarantined


QUARANTINE_CASES = [
    pytest.param("{not json", "unparseable_json", id="unparseable_json"),
    pytest.param("", "unparseable_json", id="empty-line"),
    pytest.param("[1, 2]", "not_an_object", id="not_an_object-list"),
    pytest.param('"text"', "not_an_object", id="not_an_object-string"),
    pytest.param(json.dumps({"properties": {"time": T}}), "missing_event_name", id="no-event"),
    pytest.param(line(event=""), "missing_event_name", id="empty-event"),
    pytest.param(line(event=42), "missing_event_name", id="numeric-event"),
    pytest.param(json.dumps({"event": "x"}), "missing_properties", id="no-properties"),
    pytest.param(
        json.dumps({"event": "x", "properties": [1]}), "missing_properties", id="props-list"
    ),
    pytest.param(line(time=...), "missing_time", id="missing_time"),
    pytest.param(line(time=None), "missing_time", id="null-time"),
    pytest.param(line(time="yesterday"), "bad_time", id="bad_time-text"),
    pytest.param(line(time=True), "bad_time", id="bad_time-bool"),
    pytest.param(line(time=[T]), "bad_time", id="bad_time-list"),
    pytest.param(line(time=float("nan")), "bad_time", id="bad_time-NaN"),
    pytest.param(line(time=EARLIEST_EVENT - 1), "impossible_time", id="too-old"),
    pytest.param(line(time=0), "impossible_time", id="epoch-zero"),
    pytest.param(
        line(time=int(NOW) + FUTURE_TOLERANCE_S + 1), "impossible_time", id="too-far-in-future"
    ),
    pytest.param(
        line(time=(int(NOW) + FUTURE_TOLERANCE_S + 1) * 1000),
        "impossible_time",
        id="too-far-in-future-ms",
    ),
    pytest.param(line(distinct_id=...), "missing_distinct_id", id="missing_distinct_id"),
    pytest.param(line(distinct_id=""), "missing_distinct_id", id="empty-distinct_id"),
    pytest.param(line(distinct_id=None), "missing_distinct_id", id="null-distinct_id"),
    pytest.param(line(distinct_id=["u1"]), "missing_distinct_id", id="list-distinct_id"),
    pytest.param(line(account_id=...), "missing_account", id="missing_account"),
    pytest.param(line(account_id=""), "missing_account", id="empty-account"),
    pytest.param(line(account_id=None), "missing_account", id="null-account"),
    pytest.param(line(account_id=[]), "missing_account", id="empty-account-list"),
    pytest.param(line(account_id=True), "missing_account", id="bool-account"),
    pytest.param(line(account_id=[True, ""]), "missing_account", id="list-of-unusable"),
    pytest.param(line(account_id={"id": "a"}), "missing_account", id="dict-account"),
]


@pytest.mark.parametrize(("raw", "reason"), QUARANTINE_CASES)
def test_quarantine_reasons(raw: str, reason: str) -> None:
    events, quarantined = parse(raw)
    assert events == ()
    assert quarantined is not None
    assert quarantined.reason == reason
    assert quarantined.raw == raw
    assert quarantined.location == LOC


def test_quarantine_details() -> None:
    assert parse("[1]")[1] == Quarantined("not_an_object", "[1]", LOC, "list")
    raw = line(time="yesterday")
    assert parse(raw)[1] == Quarantined("bad_time", raw, LOC, "'yesterday'")
    raw = line(time=EARLIEST_EVENT - 1)
    assert parse(raw)[1] == Quarantined("impossible_time", raw, LOC, str(EARLIEST_EVENT - 1))
    raw = line(account_id=...)
    assert parse(raw)[1] == Quarantined("missing_account", raw, LOC, "no 'account_id' property")


@pytest.mark.parametrize(
    "time",
    [
        pytest.param(EARLIEST_EVENT, id="earliest"),
        pytest.param(int(NOW) + FUTURE_TOLERANCE_S, id="latest-tolerated"),
    ],
)
def test_time_bounds_are_inclusive(time: int) -> None:
    events, quarantined = parse(line(time=time))
    assert quarantined is None
    assert [e.time for e in events] == [time]


def test_future_bound_follows_now_parameter() -> None:
    raw = line(time=int(NOW) + 2 * 86_400)
    assert parse_event_line(raw, LOC, "account_id", now=NOW).quarantined is not None
    later = parse_event_line(raw, LOC, "account_id", now=NOW + 86_400)
    assert later.quarantined is None
    assert len(later.events) == 1


def test_valid_line() -> None:
    raw = line(**{"$insert_id": "abc123", "seats_used": 7, "plan": "team"})
    events, quarantined = parse(raw)
    assert quarantined is None
    assert events == (
        UsageEvent(
            name="Report Viewed",
            time=T,
            distinct_id="u1",
            account_id="acme",
            insert_id="abc123",
            properties={
                "$insert_id": "abc123",
                "seats_used": 7,
                "plan": "team",
                "time": T,
                "distinct_id": "u1",
                "account_id": "acme",
            },
        ),
    )
    assert events[0].dedup_key == "\x1f".join(
        ["acme", events[0].name, events[0].distinct_id, str(events[0].time), "abc123"]
    )
    assert events[0].day == "2024-05-05"


@pytest.mark.parametrize(
    ("time", "seconds"),
    [
        pytest.param(T * 1000 + 999, T, id="milliseconds"),
        pytest.param(T * 1000, T, id="whole-milliseconds"),
        pytest.param(T + 0.75, T, id="fractional-seconds-truncated"),
        pytest.param(str(T), T, id="numeric-string"),
        pytest.param(f"{T * 1000}", T, id="millisecond-string"),
    ],
)
def test_time_is_epoch_seconds(time: object, seconds: int) -> None:
    events, quarantined = parse(line(time=time))
    assert quarantined is None
    assert [e.time for e in events] == [seconds]


def test_numeric_ids_become_strings() -> None:
    events, _ = parse(line(account_id=42, distinct_id=7))
    assert [(e.account_id, e.distinct_id) for e in events] == [("42", "7")]


@pytest.mark.parametrize(
    "insert_id",
    [pytest.param("iid-1", id="with-insert-id"), pytest.param(..., id="without-insert-id")],
)
def test_list_account_gives_one_event_per_account_with_distinct_dedup_keys(
    insert_id: object,
) -> None:
    events, quarantined = parse(line(account_id=["a", "b", "a", 3], **{"$insert_id": insert_id}))
    assert quarantined is None
    assert [e.account_id for e in events] == ["a", "b", "3"]
    keys = [e.dedup_key for e in events]
    assert len(set(keys)) == 3, keys
    if insert_id == "iid-1":
        assert [key.split("\x1f")[0] for key in keys] == ["a", "b", "3"]
        assert {key.split("\x1f", 1)[1] for key in keys} == {keys[0].split("\x1f", 1)[1]}
    # Each account must get the event in the rollup, none dropped as a duplicate.
    rollup = UsageRollup()
    assert [rollup.add(e) for e in events] == [True, True, True]
    assert sorted(rollup.by_account()) == ["3", "a", "b"]


def test_single_account_list_keeps_plain_insert_id() -> None:
    events, _ = parse(line(account_id=["a"], **{"$insert_id": "iid-1"}))
    assert [(e.account_id, e.insert_id) for e in events] == [("a", "iid-1")]


def test_other_account_property() -> None:
    raw = line(account_id=..., org="globex")
    assert parse_event_line(raw, LOC, "org", now=NOW).events[0].account_id == "globex"
    assert parse_event_line(raw, LOC, "account_id", now=NOW).quarantined is not None


# --- traits ---------------------------------------------------------------------------------

PROFILE: dict[str, Any] = {
    "name": "Acme Inc",
    "plan": "team",
    "seat_limit": 25,
    "employees": "120.7",
    "arr_potential": "60000",
    "region": "EU",
    "industry": "SaaS",
    "domains": ["acme.com", "acme.io"],
    "signup_date": "2024-01-15",
}


def test_traits_with_default_mapping() -> None:
    assert traits_from_profile(PROFILE, TraitMapping()) == AccountTraits(
        name="Acme Inc",
        plan="team",
        limits={"seats": 25.0},
        employees=120,
        arr_potential=60_000.0,
        region="EU",
        industry="SaaS",
        domains=["acme.com", "acme.io"],
        signup_date="2024-01-15",
    )


def test_traits_of_empty_or_bad_profile() -> None:
    assert traits_from_profile({}, TraitMapping()) == AccountTraits()
    bad = {
        "name": "",
        "seat_limit": "many",
        "employees": True,
        "arr_potential": [1],
        "domains": 42,
        "region": None,
    }
    assert traits_from_profile(bad, TraitMapping()) == AccountTraits()


@pytest.mark.parametrize(
    ("domains", "read"),
    [
        ("acme.com", ["acme.com"]),  # one string, not a list: read, never silently dropped
        ("https://www.Acme.com/pricing", ["acme.com"]),
        ("acme.com, acme.io; ACME.dev", ["acme.com", "acme.io", "acme.dev"]),
        (["ana@acme.com", "http://acme.io:8080", "acme.com"], ["acme.com", "acme.io"]),
        (["", "localhost", "not a domain", 7, None], []),
    ],
)
def test_a_domains_trait_is_read_as_a_list_a_string_or_a_url(
    domains: object, read: list[str]
) -> None:
    assert traits_from_profile({"domains": domains}, TraitMapping()).domains == read


def test_traits_with_custom_mapping() -> None:
    mapping = TraitMapping(
        name="company",
        plan="tier",
        limits={"seats": "max_seats", "projects": "max_projects"},
        employees="headcount",
        arr_potential="potential",
        region="geo",
        industry="vertical",
        domains="websites",
        signup_date="created",
    )
    profile = {
        "company": "Globex",
        "tier": "enterprise",
        "max_seats": "100",
        "max_projects": 12,
        "headcount": 5000,
        "potential": 250_000,
        "geo": "NA",
        "vertical": "Energy",
        "websites": ["globex.com", 7],
        "created": "2023-03-01",
        "name": "ignored",
        "seat_limit": 1,
    }
    assert traits_from_profile(profile, mapping) == AccountTraits(
        name="Globex",
        plan="enterprise",
        limits={"seats": 100.0, "projects": 12.0},
        employees=5000,
        arr_potential=250_000.0,
        region="NA",
        industry="Energy",
        domains=["globex.com"],  # 7 is no domain
        signup_date="2023-03-01",
    )


# --- file source ----------------------------------------------------------------------------


def source(path: Path, traits_path: Path | None = None) -> FileUsageSource:
    return FileUsageSource(
        FileSourceConfig(kind="file", name="demo", path=path, traits_path=traits_path)
    )


def test_traits_quarantines_bad_profiles(tmp_path: Path) -> None:
    good = json.dumps({"$distinct_id": "acme", "$properties": {"plan": "team", "seat_limit": 10}})
    numeric = json.dumps({"$distinct_id": 42, "$properties": {"name": "Answer"}})
    lines = [
        good,
        "",
        "{broken",
        "[1, 2]",
        json.dumps({"$distinct_id": "", "$properties": {}}),
        json.dumps({"$distinct_id": "globex"}),
        json.dumps({"$distinct_id": "initech", "$properties": "x"}),
        numeric,
    ]
    path = tmp_path / "accounts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    traits, bad = source(tmp_path / "usage", path).traits(["acme"])  # every profile comes back
    assert traits == {
        "acme": AccountTraits(plan="team", limits={"seats": 10.0}),
        "42": AccountTraits(name="Answer"),
    }
    assert [(q.reason, q.location, q.raw) for q in bad] == [
        ("unparseable_profile", "accounts.jsonl:3", "{broken"),
        ("bad_profile", "accounts.jsonl:4", "[1, 2]"),
        ("bad_profile", "accounts.jsonl:5", lines[4]),
        ("bad_profile", "accounts.jsonl:6", lines[5]),
        ("bad_profile", "accounts.jsonl:7", lines[6]),
    ]
    assert bad[0].detail.startswith("Expecting property name")


def test_traits_without_profile_file(tmp_path: Path) -> None:
    assert source(tmp_path, None).traits([]) == ({}, [])
    assert source(tmp_path, tmp_path / "missing.jsonl").traits([]) == ({}, [])


def test_read_every_jsonl_in_name_order_skipping_blank_lines(tmp_path: Path) -> None:
    usage = tmp_path / "usage"
    usage.mkdir()
    (usage / "b.jsonl").write_text(
        line(distinct_id="b1") + "\n\n" + line(distinct_id="b3") + "\n", encoding="utf-8"
    )
    (usage / "a.jsonl").write_text("   \n" + line(distinct_id="a2") + "\n{oops\n", encoding="utf-8")
    (usage / "c.txt").write_text(line(distinct_id="ignored") + "\n", encoding="utf-8")
    (usage / "d.jsonl").mkdir()  # a directory named like a file is not read
    src = source(usage)
    assert [p.name for p in src.files()] == ["a.jsonl", "b.jsonl"]
    parsed = list(src.read([]))
    assert len(parsed) == 4
    assert [p.events[0].distinct_id if p.events else None for p in parsed] == [
        "a2",
        None,
        "b1",
        "b3",
    ]
    quarantined = parsed[1].quarantined
    assert quarantined is not None
    # Line numbers count the blank line before it too.
    assert (quarantined.reason, quarantined.raw, quarantined.location) == (
        "unparseable_json",
        "{oops",
        "a.jsonl:3",
    )
    assert [p.events[0].properties["distinct_id"] for p in parsed if p.events] == ["a2", "b1", "b3"]


def test_read_single_file_and_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(line(distinct_id="x") + "\n", encoding="utf-8")
    assert [p.events[0].distinct_id for p in source(path).read([])] == ["x"]
    assert list(source(tmp_path / "nope").read([])) == []


def test_unknown_events_are_quarantined_only_when_known_events_are_listed() -> None:
    raw = line("Checkout Viewed")
    known = ("Report Viewed",)
    assert parse_event_line(raw, LOC, "account_id", now=NOW).quarantined is None
    quarantined = parse_event_line(raw, LOC, "account_id", now=NOW, known_events=known).quarantined
    assert quarantined == Quarantined("unknown_event", raw, LOC, "Checkout Viewed")
    # a line with worse problems keeps its first reason
    bad_time = line("Checkout Viewed", time="soon")
    parsed = parse_event_line(bad_time, LOC, "account_id", now=NOW, known_events=known)
    assert parsed.quarantined is not None
    assert parsed.quarantined.reason == "bad_time"
