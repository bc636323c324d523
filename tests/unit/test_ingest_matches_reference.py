"""The DuckDB ingestion engine must agree with the reference parser (`parse_event_line` +
`UsageRollup`) on every line: the same quarantine reasons, counts and rollups."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from plg_handoff.activities import ingest
from plg_handoff.activities.ingest import IngestResult, roll_up
from plg_handoff.connectors.mixpanel_shape import parse_event_line
from plg_handoff.domain.metrics import Condition, MetricDefinition
from plg_handoff.domain.rollup import UsageRollup

NOW = 1_763_900_000  # 2025-11-23T12:13:20Z
DAYS = ["2025-11-21", "2025-11-22", "2025-11-23"]
GAUGES = {"seats": "seats_used"}
MISSING = object()

times = st.sampled_from(
    [NOW - 3600, NOW - 86_400, NOW - 5 * 86_400, (NOW - 60) * 1000, NOW + 3 * 86_400, 5, 1.7e9,
     float(NOW - 7200) + 0.9, str(NOW - 100), " 1763890000 ", "soon", "nan", True, None, MISSING]
)  # fmt: skip
ids = st.sampled_from(["u1", "u2", 'u"3', "ü", "", 7, 0, 1.5, True, None, MISSING])
accounts = st.sampled_from(
    ["a", "b", 3, "", True, None, ["a", "b"], ["a", "a"], [1, "", False], [], {"x": 1}, MISSING]
)
insert_ids = st.sampled_from(["i1", "i2", "i3", 'i"4', "", "9", 0, 9, True, None, MISSING])
gauges = st.sampled_from([4, 9.5, "12", " 7 ", "1e1", "abc", "inf", "nan", True, None, MISSING])
names = st.sampled_from(["Report Viewed", "Invite Sent", "Checkout Viewed", "", 5, None, MISSING])
KNOWN_EVENTS = ("Report Viewed", "Invite Sent")  # "Checkout Viewed" is quarantined as unknown
# Properties the metrics below read, with values of every JSON type each test must tell apart,
# strings JSON escapes (quotes, backslashes, control characters) and integers out of range.
METRIC_PROPERTIES = {
    "department": [
        "eng",
        "sales",
        "Ünïcode",
        'a"b',
        "tab\tx\\",
        "",
        5,
        0,
        -5,
        2.5,
        2**64 - 1,
        2**80,
        True,
        None,
        MISSING,
    ],
    "path": [
        "/pricing",
        "/app/pricing?x=1",
        "/enterprise",
        "/home",
        '/pri"cing',
        "/x\n/pricing",
        3,
        None,
        MISSING,
    ],
    "user_agent": ["Googlebot/2.1", "Mozilla/5.0", 'x"bot', "", None, MISSING],
    "scheduled": [True, False, "true", 1, None, MISSING],
    "rows": [10_000, 9_999, 1e5, "20000", True, None, MISSING],
    "status": [429, "429", 429.0, True, 7, MISSING],
    # emails: an address's domain only, whatever its case, and what is no address
    "$email": [
        "ana@Rival.com",
        "bo@acme.io",
        "a@b@rival.com",
        "x@rival.com.",
        "no-at",
        "a@b",
        "ü@ünï.com",
        "tab@x\t.com",
        'q"@acme.io',
        "",
        5,
        None,
        MISSING,
    ],
    "email": ["cy@acme.io", "DE@RIVAL.COM", "@rival.com", None, MISSING],
    # quantities: numbers, numbers in strings, and what is none (sum and max metrics)
    "count": [300, 2.5, 0.1, -4, 0, "120", " 7 ", "1e1", "abc", "inf", "nan", True, None, MISSING],
}
metric_properties = st.fixed_dictionaries(
    {key: st.sampled_from(values) for key, values in METRIC_PROPERTIES.items()}
)
METRICS = {
    "invites": MetricDefinition(kind="count", events=("Invite Sent",)),
    "pricing": MetricDefinition(
        kind="count", where=(Condition(property="path", contains=("/pricing", "/enterprise")),)
    ),
    "scheduled": MetricDefinition(
        kind="count", where=(Condition(property="scheduled", equals=True),)
    ),
    "bulk": MetricDefinition(
        kind="count",
        events=("Report Viewed", "Invite Sent"),
        where=(
            Condition(property="scheduled", equals=False),
            Condition(property="rows", at_least=10_000),
        ),
    ),
    "rate_limited": MetricDefinition(
        kind="count", where=(Condition(property="status", one_of=(429, "429x")),)
    ),
    "quoted_department": MetricDefinition(
        kind="count", where=(Condition(property="department", one_of=('a"b', "eng", 5)),)
    ),
    "quote_in_path": MetricDefinition(
        kind="count", where=(Condition(property="path", contains=('"c',)),)
    ),
    "with_department": MetricDefinition(
        kind="count", where=(Condition(property="department", exists=True),)
    ),
    "without_department": MetricDefinition(
        kind="count", where=(Condition(property="department", exists=False),)
    ),
    "department_names": MetricDefinition(kind="values", property="department", limit=2),
    "departments": MetricDefinition(kind="distinct", property="department"),
    "bot_departments": MetricDefinition(
        kind="distinct",
        property="department",
        where=(Condition(property="user_agent", contains=("bot",)),),
    ),
    "invites_by_one_user": MetricDefinition(kind="max_per_user", events=("Invite Sent",)),
    "repeat": MetricDefinition(kind="max_repeat"),
    "sessions": MetricDefinition(kind="sessions", timeout_minutes=60),
    "email_domains": MetricDefinition(
        kind="values", property="$email", fallbacks=("email",), email_domain=True, limit=3
    ),
    "email_domain_count": MetricDefinition(kind="distinct", property="email", email_domain=True),
    "api_calls": MetricDefinition(kind="sum", events=("Invite Sent",), property="count"),
    "every_count": MetricDefinition(kind="sum", property="count"),
    "peak_count": MetricDefinition(
        kind="max", property="count", where=(Condition(property="status", equals=429),)
    ),
}


def _drop_missing(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not MISSING}


@st.composite
def lines(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["event"] * 8 + ["garbage", "not_object", "bad_props"]))
    if kind == "garbage":
        return draw(st.sampled_from(["{not json", '{"event": "x",', "nul", "   x"]))
    if kind == "not_object":
        return draw(st.sampled_from(["[1, 2]", '"text"', "42", "null"]))
    props = _drop_missing(
        {
            "time": draw(times),
            "distinct_id": draw(ids),
            "account_id": draw(accounts),
            "$insert_id": draw(insert_ids),
            "seats_used": draw(gauges),
            "$browser": "Chrome",
            **draw(metric_properties),
        }
    )
    body = _drop_missing({"event": draw(names), "properties": props})
    if kind == "bad_props":
        body["properties"] = draw(st.sampled_from(["x", [1], None, 3]))
    return json.dumps(body)


def reference(path: Path) -> IngestResult:
    result = IngestResult()
    rollup = UsageRollup(GAUGES, METRICS)
    reasons: Counter[str] = Counter()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        result.read += 1
        parsed = parse_event_line(
            line, f"x:{number}", "account_id", now=NOW, known_events=KNOWN_EVENTS
        )
        if parsed.quarantined is not None:
            reasons[parsed.quarantined.reason] += 1
        elif parsed.events[0].day not in DAYS:
            result.outside_window += 1
        elif any([rollup.add(event) for event in parsed.events]):
            result.accepted += 1
        else:
            result.duplicates += 1
    result.quarantined = dict(sorted(reasons.items()))
    result.rollups = rollup.by_account()
    return result


def _write_lines(tmp_path: Path, batch: list[str]) -> Path:
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(batch) + "\n", encoding="utf-8")
    return path


def _roll_up(path: Path, *, fast: bool = True) -> IngestResult:
    return roll_up(
        [path],
        account_property="account_id",
        gauges=GAUGES,
        metrics=METRICS,
        known_events=KNOWN_EVENTS,
        days=DAYS,
        now=NOW,
        fast=fast,
    )


def _event(**props: Any) -> str:
    base = {"time": NOW - 3600, "distinct_id": "u1", "account_id": "a", "$insert_id": "i1"}
    return json.dumps({"event": "Report Viewed", "properties": {**base, **props}})


EVERY_CASE = [
    _event(seats_used=4),
    _event(seats_used=9),  # a copy of the first (same name, user, time, insert id)
    _event(seats_used="inf"),  # another copy whose gauge is not a number
    _event(**{"$insert_id": "i2", "time": (NOW - 60) * 1000, "seats_used": "12"}),
    _event(**{"$insert_id": "i3", "account_id": ["a", "b", 3], "distinct_id": 7}),
    _event(**{"$insert_id": 0}),
    _event(**{"$insert_id": "i4", "time": NOW - 5 * 86_400}),  # outside the window
    "{not json",
    "[1, 2]",
    json.dumps({"properties": {}}),
    json.dumps({"event": "x", "properties": "text"}),
    json.dumps({"event": "x", "properties": {"distinct_id": "u", "account_id": "a"}}),
    json.dumps({"event": "x", "properties": {"time": NOW - 10, "account_id": "a"}}),
    _event(time="soon"),
    _event(time=5),
    _event(distinct_id=""),
    _event(account_id=""),
    json.dumps(
        {
            "event": "Checkout Viewed",
            "properties": {"time": NOW, "distinct_id": "u", "account_id": "a"},
        }
    ),
    # copies that disagree on what the metrics read: the event counts once, with its smallest
    _event(**{"$insert_id": "d1", "department": "sales", "path": "/home"}),
    _event(**{"$insert_id": "d1", "department": "eng", "path": "/pricing"}),
    _event(**{"$insert_id": "d1", "department": 5}),
    # user u9's visits: 1 h apart is still one session (timeout 60 min), 1 h 1 s is a second
    _event(**{"$insert_id": "s1", "distinct_id": "u9", "time": NOW - 7200, "user_agent": "xbot"}),
    _event(**{"$insert_id": "s2", "distinct_id": "u9", "time": NOW - 3600}),
    _event(**{"$insert_id": "s3", "distinct_id": "u9", "time": NOW + 1}),
]


@example(EVERY_CASE)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(lines(), min_size=1, max_size=40))
def test_engine_agrees_with_the_reference_parser(tmp_path: Path, batch: list[str]) -> None:
    path = _write_lines(tmp_path, batch)
    expected = reference(path)
    for fast in (True, False):
        got = _roll_up(path, fast=fast)
        if not fast or expected.quarantined:
            assert got.path == "exact"
        assert (got.read, got.accepted, got.duplicates, got.outside_window) == (
            expected.read,
            expected.accepted,
            expected.duplicates,
            expected.outside_window,
        )
        assert got.quarantined == expected.quarantined
        assert got.rollups == expected.rollups
    assert sum(got.quarantined.values()) == len(got.kept)
    assert [q.raw for q in got.kept] == [
        line
        for line in batch
        if parse_event_line(line, "", "account_id", now=NOW, known_events=KNOWN_EVENTS).quarantined
    ]


@st.composite
def clean_lines(draw: st.DrawFn) -> str:
    """Lines the fast path takes: every field of the right type, one account each,
    identifiers without escapes, never the string and the integer of one identifier."""
    props = _drop_missing(
        {
            "time": draw(st.sampled_from([NOW - 3600, NOW - 86_400, (NOW - 60) * 1000, 1.7e9,
                                          NOW - 5 * 86_400, float(NOW - 7200) + 0.9])),
            "distinct_id": draw(st.sampled_from(["u1", "u2", "ü", 7])),
            "account_id": draw(st.sampled_from(["a", "b", 3])),
            "$insert_id": draw(st.sampled_from(["i1", "i2", "", 0, 9, None, MISSING])),
            "seats_used": draw(gauges),
            **draw(metric_properties),
        }
    )  # fmt: skip
    return json.dumps({"event": draw(st.sampled_from(["Report Viewed", "Invite Sent"])),
                       "properties": props})  # fmt: skip


# Found by CI: copies folded into one row must not let one copy's "inf" hide the day's gauge.
@example([_event(seats_used=4)] * 3 + [_event(seats_used="inf")])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(clean_lines(), min_size=1, max_size=40))
def test_fast_path_agrees_with_the_reference_parser(tmp_path: Path, batch: list[str]) -> None:
    got, expected = _roll_up_lines(tmp_path, batch)
    assert got.path == "fast"
    assert (got.read, got.accepted, got.duplicates, got.outside_window) == (
        expected.read,
        expected.accepted,
        expected.duplicates,
        expected.outside_window,
    )
    assert got.quarantined == expected.quarantined == {}
    assert got.rollups == expected.rollups


def _roll_up_lines(tmp_path: Path, batch: list[str]) -> tuple[IngestResult, IngestResult]:
    path = _write_lines(tmp_path, batch)
    got = _roll_up(path)
    return got, reference(path)


def test_the_string_and_the_integer_of_one_identifier_name_one_user(tmp_path: Path) -> None:
    """The fast path groups identifiers by their JSON text; "7" and 7 would be two users
    there, so such a file goes the exact way."""
    got, expected = _roll_up_lines(
        tmp_path,
        [
            _event(distinct_id="7", **{"$insert_id": "a"}),
            _event(distinct_id=7, **{"$insert_id": "b"}),
            _event(distinct_id="u1", **{"$insert_id": "c"}),
        ],
    )
    assert got.path == "exact"
    assert got.rollups == expected.rollups
    assert got.rollups["a"][0].active_users == 2


def test_the_string_and_the_integer_of_one_insert_id_are_one_event(tmp_path: Path) -> None:
    got, expected = _roll_up_lines(
        tmp_path,
        [_event(**{"$insert_id": 7}), _event(**{"$insert_id": "7"}), _event(**{"$insert_id": "x"})],
    )
    assert got.path == "exact"
    assert (got.accepted, got.duplicates) == (expected.accepted, expected.duplicates) == (2, 1)
    assert got.rollups == expected.rollups


def test_strings_and_integers_that_name_different_users_stay_on_the_fast_path(
    tmp_path: Path,
) -> None:
    got, expected = _roll_up_lines(
        tmp_path, [_event(distinct_id=7, **{"$insert_id": "a"}), _event(distinct_id="u1")]
    )
    assert got.path == "fast"
    assert got.rollups == expected.rollups
    assert got.rollups["a"][0].active_users == 2


def test_copies_found_a_slice_of_hashes_at_a_time_are_all_folded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large export's copies are looked for in several slices of hashes: each copy must
    still be folded once, whichever slice its hash falls in."""
    monkeypatch.setattr(ingest, "COPY_CHECK_ROWS", 4)
    lines = [
        _event(distinct_id=f"u{n % 9 % 4}", seats_used=n, **{"$insert_id": f"i{n % 9}"})
        for n in range(30)
    ]
    got, expected = _roll_up_lines(tmp_path, lines)
    assert got.path == "fast"
    assert (got.read, got.accepted, got.duplicates) == (30, 9, 21)
    assert (got.accepted, got.duplicates) == (expected.accepted, expected.duplicates)
    assert got.rollups == expected.rollups
