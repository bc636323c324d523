"""The Mixpanel source against the Mixpanel emulator, over real HTTP on loopback."""

from __future__ import annotations

import base64
import gzip
import inspect
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from plg_handoff.config import MixpanelSourceConfig
from plg_handoff.connectors.base import ParsedLine
from plg_handoff.connectors.errors import (
    AuthError,
    ConnectorError,
    InvalidInput,
    RateLimited,
    TransientError,
)
from plg_handoff.connectors.mixpanel import (
    MixpanelClient,
    MixpanelCredentials,
    MixpanelUsageSource,
    Pacer,
)
from plg_handoff.sandbox.mixpanel import SANDBOX_DATA_GROUP_ID, MixpanelEmulator
from plg_handoff.sandbox.mixpanel.export import EventSource
from plg_handoff.sandbox.mixpanel.where import WhereError, compile_where
from plg_handoff.sandbox.simulator import day_events, population

PROJECT = 3_141_592
USER = "handoff.4f1c9a.mp-service-account"
SECRET = "sa-secret-8d2e"  # noqa: S105  # the emulator's credentials in these tests
PROJECT_SECRET = "legacy-project-secret-77"  # noqa: S105
SERVICE = MixpanelCredentials.for_service_account(USER, SECRET)
DAY0 = date(2025, 3, 10)
DAYS = [DAY0, DAY0 + timedelta(1), DAY0 + timedelta(2)]
NAMES = ("Session Started", "Report Viewed", "Invite Sent")
PLANS = ("team", "business")


def _midnight(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def day_count(day: date) -> int:
    """40 events on DAY0, 50 the day after, 60 on the third day, none otherwise."""
    offset = (day - DAY0).days
    return 40 + 10 * offset if 0 <= offset <= 2 else 0


def fixed_events(day: date) -> Iterator[dict[str, Any]]:
    for n in range(day_count(day)):
        properties: dict[str, Any] = {
            "time": _midnight(day) + 60 * n,
            "distinct_id": f"u{n % 7}",
            "$insert_id": f"{day}-{n}",
            "account_id": f"acct-{n % 4}",
            "plan": PLANS[n % 2],
            "seats_used": n % 9,
        }
        if n % 5 == 0:
            properties["coupon"] = "SPRING"
        yield {"event": NAMES[n % 3], "properties": properties}


def profiles(count: int) -> list[dict[str, Any]]:
    return [
        {
            "$distinct_id": f"acct-{i}",
            "$properties": {
                "name": f"Account {i}",
                "plan": PLANS[i % 2],
                "seat_limit": 10 + i,
                "employees": 50 + i,
                "domains": [f"acct-{i}.example"],
                "signup_date": "2024-01-15",
            },
        }
        for i in range(count)
    ]


def emulator(**overrides: Any) -> MixpanelEmulator:
    settings: dict[str, Any] = {
        "project_id": PROJECT,
        "username": USER,
        "secret": SECRET,
        "project_secret": PROJECT_SECRET,
        "events": fixed_events,
        "profiles": profiles(5),
    }
    settings.update(overrides)
    return MixpanelEmulator(**settings)


@pytest.fixture
def mixpanel() -> Iterator[MixpanelEmulator]:
    with emulator() as running:
        yield running


def config(url: str, **overrides: Any) -> MixpanelSourceConfig:
    raw: dict[str, Any] = {
        "kind": "mixpanel",
        "name": "mixpanel",
        "project_id": PROJECT,
        "base_url": url,
        "data_group_id": SANDBOX_DATA_GROUP_ID,
    }
    raw.update(overrides)
    return MixpanelSourceConfig.model_validate(raw)


def source(
    mp: MixpanelEmulator,
    credentials: MixpanelCredentials = SERVICE,
    *,
    sleep: Any = time.sleep,
    pacer: Pacer | None = None,
    **overrides: Any,
) -> MixpanelUsageSource:
    cfg = config(mp.url, **overrides)
    client = MixpanelClient(
        project_id=cfg.project_id,
        credentials=credentials,
        base_url=mp.url,
        export_pacer=pacer or Pacer(per_hour=1000),
        query_pacer=Pacer(per_hour=1000),
        sleep=sleep,
    )
    return MixpanelUsageSource(cfg, credentials, client=client)


def events_of(lines: Iterable[ParsedLine]) -> list[tuple[str, str, str]]:
    return [(e.name, e.account_id, e.insert_id or "") for line in lines for e in line.events]


def raw_get(mp: MixpanelEmulator, path: str, auth: tuple[str, str] | None, **params: str) -> Any:
    return requests.get(f"{mp.url}{path}", params=params, auth=auth, timeout=10)


# --- export: streaming, days, gzip, filters ---------------------------------------------------


def test_export_of_several_days_is_one_gzipped_query_and_every_line_parses(
    mixpanel: MixpanelEmulator,
) -> None:
    lines = list(source(mixpanel).read(DAYS))

    assert len(lines) == 40 + 50 + 60
    assert all(line.quarantined is None and len(line.events) == 1 for line in lines)
    assert {e.day for line in lines for e in line.events} == {d.isoformat() for d in DAYS}
    assert lines[0].events[0].insert_id == "2025-03-10-0"
    assert lines[0].events[0].account_id == "acct-0"
    [call] = mixpanel.calls
    assert (call.method, call.path, call.status) == ("GET", "/api/2.0/export", 200)
    assert call.query == {
        "project_id": str(PROJECT),
        "from_date": "2025-03-10",
        "to_date": "2025-03-12",
    }
    assert call.content_encoding == "gzip"
    assert call.auth == "service_account"


def test_locations_name_the_window_and_the_line(mixpanel: MixpanelEmulator) -> None:
    client = source(mixpanel).client
    lines = list(client.export(DAY0, DAY0 + timedelta(1)))

    assert len(lines) == 90
    assert lines[0].location == "export:2025-03-10..2025-03-11:line 1"
    assert lines[89].location == "export:2025-03-10..2025-03-11:line 90"
    assert json.loads(lines[89].text)["properties"]["$insert_id"] == "2025-03-11-49"


def test_gaps_in_the_days_make_one_query_per_run(mixpanel: MixpanelEmulator) -> None:
    days = [DAY0 + timedelta(2), DAY0, DAY0 - timedelta(3), DAY0 + timedelta(1)]
    lines = list(source(mixpanel).read(days))

    assert len(lines) == 150
    windows = [(c.query["from_date"], c.query["to_date"]) for c in mixpanel.calls]
    assert windows == [("2025-03-07", "2025-03-07"), ("2025-03-10", "2025-03-12")]


def test_the_request_goes_out_when_reading_starts(mixpanel: MixpanelEmulator) -> None:
    lines = source(mixpanel).read(DAYS)

    assert inspect.isgenerator(lines)
    assert mixpanel.calls == []
    next(lines)
    assert len(mixpanel.calls) == 1
    lines.close()


def test_small_bodies_are_sent_plain_and_raw_gzip_is_really_gzip() -> None:
    def one_event(day: date) -> list[dict[str, Any]]:
        return list(fixed_events(day))[:1]

    with emulator(events=one_event) as mp:
        assert len(list(source(mp).read([DAY0]))) == 1
        assert mp.calls[0].content_encoding is None  # <= 1400 bytes: never compressed

    with emulator() as mp:
        response = requests.get(
            f"{mp.url}/api/2.0/export",
            params={"from_date": "2025-03-10", "to_date": "2025-03-10", "project_id": str(PROJECT)},
            auth=(USER, SECRET),
            headers={"Accept-Encoding": "gzip"},
            stream=True,
            timeout=10,
        )
        with response:
            raw = response.raw.read(decode_content=False)
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert raw[:2] == b"\x1f\x8b"


def test_event_filter(mixpanel: MixpanelEmulator) -> None:
    lines = list(source(mixpanel, events=["Invite Sent", "Session Started"]).read(DAYS))

    names = [name for name, _, _ in events_of(lines)]
    assert len(names) == 27 + 33 + 40  # n % 3 in (0, 2) over 40, 50 and 60 events
    assert set(names) == {"Invite Sent", "Session Started"}
    assert json.loads(mixpanel.calls[0].query["event"]) == ["Invite Sent", "Session Started"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ('properties["plan"] == "team"', 20 + 25 + 30),
        ('defined(properties["coupon"])', 8 + 10 + 12),
        ('properties["plan"] == "business" and defined(properties["coupon"])', 4 + 5 + 6),
        ('not defined(properties["coupon"]) or properties["seats_used"] >= 8', 33 + 41 + 49),
    ],
)
def test_where_filter(mixpanel: MixpanelEmulator, where: str, expected: int) -> None:
    lines = list(source(mixpanel, where=where).read(DAYS))

    assert len(lines) == expected
    assert mixpanel.calls[0].query["where"] == where


def test_a_where_mixpanel_cannot_parse_is_invalid_input_with_its_message(
    mixpanel: MixpanelEmulator,
) -> None:
    with pytest.raises(InvalidInput) as caught:
        list(source(mixpanel, where='properties["plan"] ~= "team"').read(DAYS))

    assert caught.value.status == 400
    assert caught.value.message.startswith("invalid where expression")
    assert not type(caught.value).retryable


def test_export_saves_each_run_as_it_arrives_gzip_kept(
    mixpanel: MixpanelEmulator, tmp_path: Path
) -> None:
    days = [*DAYS, DAY0 + timedelta(5), DAY0 + timedelta(7)]  # day 5 and 7 have no events
    files = source(mixpanel).export(days, tmp_path)

    assert [f.name for f in files] == ["export-2025-03-10..2025-03-12.jsonl.gz"]
    saved = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".done"))
    assert [name for name in saved if (tmp_path / name).stat().st_size] == [files[0].name]
    assert all((tmp_path / (name + ".done")).exists() for name in saved)  # each one complete
    raw = files[0].read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    lines = gzip.decompress(raw).decode().splitlines()
    assert len(lines) == 150
    assert json.loads(lines[-1])["properties"]["$insert_id"] == "2025-03-12-59"
    assert [(c.query["from_date"], c.query["to_date"]) for c in mixpanel.calls] == [
        ("2025-03-10", "2025-03-12"),
        ("2025-03-15", "2025-03-15"),
        ("2025-03-17", "2025-03-17"),
    ]


def test_a_small_export_is_saved_plain(tmp_path: Path) -> None:
    with emulator(events=lambda day: list(fixed_events(day))[:2]) as mp:
        [saved] = source(mp).export([DAY0], tmp_path)

    assert saved.name == "export-2025-03-10..2025-03-10.jsonl"
    assert len(saved.read_text().splitlines()) == 2


def test_an_export_cut_short_leaves_no_file(mixpanel: MixpanelEmulator, tmp_path: Path) -> None:
    mixpanel.faults.cut_next(1, after_lines=70)

    with pytest.raises(TransientError):
        source(mixpanel).export(DAYS, tmp_path)

    assert list(tmp_path.iterdir()) == []


def test_malformed_lines_are_quarantined_with_the_parser_reasons() -> None:
    good = next(fixed_events(DAY0))
    lines = [
        json.dumps(good),
        "{not json",
        "[1, 2]",
        json.dumps({"properties": {"time": 1741564800}}),
        json.dumps({"event": "x", "properties": {"time": 1741564800, "distinct_id": "u"}}),
        json.dumps({"event": "x", "properties": {"distinct_id": "u", "account_id": "a"}}),
        "",
        json.dumps({"event": "x", "properties": {"time": 5, "distinct_id": "u", "account_id": 1}}),
    ]
    with emulator(events=lambda day: lines if day == DAY0 else []) as mp:
        parsed = list(source(mp).read([DAY0]))

    reasons = [p.quarantined.reason if p.quarantined else "ok" for p in parsed]
    assert reasons == [
        "ok",
        "unparseable_json",
        "not_an_object",
        "missing_event_name",
        "missing_account",
        "missing_time",
        "impossible_time",
    ]
    last = parsed[-1].quarantined
    assert last is not None
    assert last.location == "export:2025-03-10..2025-03-10:line 8"  # the blank line counts


LINE = (
    '{"event":"Report Viewed","properties":{"time":%d,"distinct_id":"u%d",'
    '"$insert_id":"i%d","account_id":"acct-%d","seats_used":%d}}'
)


def many_lines(total: int) -> EventSource:
    """`total` ready-made lines on DAY0 (served verbatim: no serialisation cost)."""
    midnight = _midnight(DAY0)

    def lines(day: date) -> Iterator[str]:
        if day == DAY0:
            for n in range(total):
                yield LINE % (midnight + n % 86_400, n % 500, n, n % 40, n % 9)

    return lines


def blocked_after(lines: int, release: threading.Event) -> EventSource:
    """DAY0's events repeated up to `lines` lines, then the body waits for `release`."""

    def events(day: date) -> Iterator[dict[str, Any]]:
        for _ in range(lines // 40):
            yield from fixed_events(day)
        release.wait(5)

    return events


def test_a_retried_export_reads_the_whole_download_an_earlier_attempt_left(
    mixpanel: MixpanelEmulator, tmp_path: Path
) -> None:
    first = source(mixpanel).export(DAYS, tmp_path)
    assert len(mixpanel.calls) == 1

    again = source(mixpanel).export(DAYS, tmp_path)  # the retry, in the same directory

    assert again == first
    assert len(mixpanel.calls) == 1  # no query spent on what is already on disk


def test_a_damaged_or_different_download_is_fetched_again(
    mixpanel: MixpanelEmulator, tmp_path: Path
) -> None:
    [saved] = source(mixpanel).export(DAYS, tmp_path)
    whole = saved.read_bytes()
    saved.write_bytes(whole[: len(whole) // 2])  # torn by a crash before the disk had it all

    assert source(mixpanel).export(DAYS, tmp_path) == [saved]
    assert saved.read_bytes() == whole
    assert len(mixpanel.calls) == 2
    source(mixpanel, where='properties["plan"] == "team"').export(DAYS, tmp_path)
    assert len(mixpanel.calls) == 3  # another query's answer is not this one's


def test_a_200k_export_is_saved_whole_through_export(tmp_path: Path) -> None:
    with emulator(events=many_lines(200_000)) as mp:
        [saved] = source(mp).export([DAY0], tmp_path)
        [call] = mp.calls

    assert call.content_encoding == "gzip"
    with gzip.open(saved, "rt", encoding="utf-8") as lines:
        assert sum(1 for _ in lines) == 200_000


def test_export_writes_to_disk_while_the_body_still_streams(tmp_path: Path) -> None:
    release = threading.Event()
    with emulator(events=blocked_after(4_000, release)) as mp:
        done: list[list[Path]] = []
        worker = threading.Thread(target=lambda: done.append(source(mp).export(DAYS, tmp_path)))
        worker.start()
        target = tmp_path / "export-2025-03-10..2025-03-12.jsonl.gz"
        part = target.with_name(target.name + ".part")  # renamed once the body is whole
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (part.exists() and part.stat().st_size):
            time.sleep(0.01)
        written_while_blocked = part.stat().st_size
        still_running = worker.is_alive()
        release.set()
        worker.join(timeout=10)

    assert written_while_blocked > 0
    assert still_running
    assert done == [[target]]
    with gzip.open(target, "rt", encoding="utf-8") as lines:
        assert sum(1 for _ in lines) == 4_000 + 5_000 + 6_000  # 100 times each day's events


def test_read_yields_while_the_body_still_streams() -> None:
    release = threading.Event()
    with emulator(events=blocked_after(4_000, release)) as mp:
        lines = source(mp).read([DAY0])
        first = next(lines)
        assert not release.is_set()  # the server is still inside the body
        release.set()
        rest = sum(1 for _ in lines)

    assert first.events[0].insert_id == "2025-03-10-0"
    assert rest == 4_000 - 1


def test_read_does_not_materialise_the_export() -> None:
    total = 50_000
    with emulator(events=many_lines(total)) as mp:
        lines = source(mp).read([DAY0])
        streaming = inspect.isgenerator(lines)  # (no type narrowing: keep ParsedLine)
        assert streaming
        baseline = _rss_bytes()
        peak, count = baseline, 0
        accounts: set[str] = set()
        for line in lines:
            count += 1
            accounts.add(line.events[0].account_id)
            if count % 5_000 == 0:
                peak = max(peak, _rss_bytes())

    assert count == total
    assert len(accounts) == 40
    # 50k parsed lines held at once take about 50 MB; a stream stays flat.
    assert peak - baseline < 20 * 1024 * 1024


def _rss_bytes() -> int:
    statm = Path("/proc/self/statm")
    if not statm.exists():
        pytest.skip("needs /proc to measure memory")
    return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_default_data_set_is_the_simulator() -> None:
    first = DAY0 - timedelta(5)
    with MixpanelEmulator(project_id=PROJECT, username=USER, secret=SECRET, first_day=first) as mp:
        lines = list(source(mp).read([DAY0]))
        traits, bad = source(mp).traits([])

    accounts = population()
    expected = sum(len(list(day_events(a, DAY0, 5))) for a in accounts)
    assert len(lines) == expected > 0
    assert all(line.quarantined is None for line in lines)
    assert sorted(traits) == [a.account_id for a in accounts]
    assert bad == []
    assert traits["acct-001"].plan == accounts[0].plan
    assert traits["acct-001"].limits == {"seats": float(accounts[0].seat_limit)}


# --- auth --------------------------------------------------------------------------------------


def test_project_secret_auth_sends_no_project_id(mixpanel: MixpanelEmulator) -> None:
    credentials = MixpanelCredentials.for_project_secret(PROJECT_SECRET)
    lines = list(source(mixpanel, credentials, auth="project_secret").read([DAY0]))

    assert len(lines) == 40
    [call] = mixpanel.calls
    assert call.auth == "project_secret"
    assert "project_id" not in call.query


@pytest.mark.parametrize(
    ("credentials", "status"),
    [
        (MixpanelCredentials.for_service_account(USER, "wrong"), 401),
        (MixpanelCredentials.for_service_account("someone-else", SECRET), 401),
        (MixpanelCredentials.for_project_secret("not-the-secret"), 401),
        (MixpanelCredentials.for_project_secret(SECRET), 401),
    ],
    ids=["wrong-secret", "wrong-user", "wrong-project-secret", "sa-secret-as-project-secret"],
)
def test_wrong_credentials_are_an_auth_error(
    mixpanel: MixpanelEmulator, credentials: MixpanelCredentials, status: int
) -> None:
    with pytest.raises(AuthError) as caught:
        list(source(mixpanel, credentials).read([DAY0]))

    assert caught.value.status == status
    assert "Unauthorized" in caught.value.message
    assert SECRET not in str(caught.value)
    assert len(mixpanel.calls) == 1  # never retried in process


def test_a_service_account_of_another_project_is_refused(mixpanel: MixpanelEmulator) -> None:
    with pytest.raises(AuthError) as caught:
        list(source(mixpanel, project_id=PROJECT + 1).client.export(DAY0, DAY0))
    assert caught.value.status == 403


def test_emulator_auth_rules_over_raw_http(mixpanel: MixpanelEmulator) -> None:
    path = "/api/2.0/export"
    dates = {"from_date": "2025-03-10", "to_date": "2025-03-10"}

    missing = raw_get(mixpanel, path, None, **dates)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Basic")
    body = missing.json()
    assert set(body) == {"request", "error"}
    assert body["request"].startswith("/api/2.0/export?")

    no_project = raw_get(mixpanel, path, (USER, SECRET), **dates)
    assert no_project.status_code == 400
    assert "project_id" in no_project.json()["error"]

    ok = raw_get(mixpanel, path, (PROJECT_SECRET, ""), **dates)
    assert ok.status_code == 200
    assert len(ok.text.splitlines()) == 40

    header = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()
    engage = requests.post(
        f"{mixpanel.url}/api/query/engage",
        params={"project_id": PROJECT},
        data={"data_group_id": SANDBOX_DATA_GROUP_ID},
        headers={"Authorization": header},
        timeout=10,
    )
    assert engage.status_code == 200
    assert engage.json()["total"] == 5


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"from_date": "2025-03-10"}, "to_date is a required parameter"),
        ({"from_date": "2025-3-10", "to_date": "2025-03-10"}, "yyyy-mm-dd"),
        ({"from_date": "2025-03-12", "to_date": "2025-03-10"}, "on or after from_date"),
        ({"from_date": "2025-03-10", "to_date": "2025-03-10", "event": "Signup"}, "JSON array"),
        ({"from_date": "2025-03-10", "to_date": "2025-03-10", "limit": "100001"}, "limit"),
    ],
)
def test_bad_export_parameters_are_400_with_mixpanel_error_body(
    mixpanel: MixpanelEmulator, params: dict[str, str], fragment: str
) -> None:
    answer = raw_get(mixpanel, "/api/2.0/export", (PROJECT_SECRET, ""), **params)

    assert answer.status_code == 400
    assert fragment in answer.json()["error"]


def test_export_limit_parameter_caps_the_lines(mixpanel: MixpanelEmulator) -> None:
    answer = raw_get(
        mixpanel,
        "/api/2.0/export",
        (PROJECT_SECRET, ""),
        from_date="2025-03-10",
        to_date="2025-03-12",
        limit="45",
    )
    assert len(answer.text.splitlines()) == 45


# --- rate limits and failures ------------------------------------------------------------------


def test_a_429_with_retry_after_1_is_waited_out(mixpanel: MixpanelEmulator) -> None:
    mixpanel.faults.rate_limit_next(1, retry_after_s=1)
    started = time.monotonic()

    lines = list(source(mixpanel).read(DAYS))

    assert len(lines) == 150
    assert [c.status for c in mixpanel.calls] == [429, 200]
    assert mixpanel.calls[1].at - mixpanel.calls[0].at >= 1.0
    assert time.monotonic() - started < 5


def test_a_429_without_retry_after_backs_off_briefly(mixpanel: MixpanelEmulator) -> None:
    mixpanel.faults.rate_limit_next(2, retry_after_s=None)
    waits: list[float] = []

    lines = list(source(mixpanel, sleep=waits.append).read([DAY0]))

    assert len(lines) == 40
    assert waits == [0.5, 1.0]
    assert [c.status for c in mixpanel.calls] == [429, 429, 200]


def test_a_long_retry_after_surfaces_as_rate_limited(mixpanel: MixpanelEmulator) -> None:
    mixpanel.faults.rate_limit_next(1, retry_after_s=30)

    with pytest.raises(RateLimited) as caught:
        list(source(mixpanel).read(DAYS))

    assert caught.value.retry_after == 30
    assert caught.value.status == 429
    assert type(caught.value).retryable
    assert len(mixpanel.calls) == 1


def test_persistent_429s_are_retried_a_bounded_number_of_times(
    mixpanel: MixpanelEmulator,
) -> None:
    mixpanel.faults.rate_limit_next(10, retry_after_s=None)
    waits: list[float] = []
    quick = Pacer(per_second=100)

    with pytest.raises(RateLimited) as caught:
        list(source(mixpanel, sleep=waits.append, pacer=quick).read([DAY0]))

    assert waits == [0.5, 1.0, 2.0]
    assert len(mixpanel.calls) == 4
    assert caught.value.retry_after == 60.0


def test_the_emulator_answers_the_per_second_limit_with_429(mixpanel: MixpanelEmulator) -> None:
    auth = (PROJECT_SECRET, "")
    answers = [
        raw_get(mixpanel, "/api/2.0/export", auth, from_date="2025-03-10", to_date="2025-03-10")
        for _ in range(4)
    ]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].headers["Retry-After"] == "1"
    error = answers[3].json()["error"]
    assert error.startswith(f"Query rate limit exceeded for project_id: {PROJECT}.")
    assert "4/3 queries in the last second" not in error  # refused queries do not count
    assert "3/3 queries in the last second" in error


def test_pacing_keeps_three_queries_in_any_second_across_threads(
    mixpanel: MixpanelEmulator,
) -> None:
    shared = Pacer()
    errors: list[ConnectorError] = []

    def pull() -> None:
        try:
            list(source(mixpanel, pacer=shared).read([DAY0]))
        except ConnectorError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=pull) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert errors == []
    arrivals = sorted(c.at for c in mixpanel.calls)
    assert [c.status for c in mixpanel.calls] == [200] * 6
    assert max(sum(1 for t in arrivals if s <= t < s + 1.0) for s in arrivals) == 3
    assert arrivals[-1] - arrivals[0] >= 1.0


def test_the_hourly_limit_of_the_emulator_surfaces_as_rate_limited() -> None:
    with emulator(per_hour=2) as mp:
        client = source(mp).client
        assert len(list(client.export(DAY0, DAY0))) == 40
        assert len(list(client.export(DAY0, DAY0))) == 40
        with pytest.raises(RateLimited) as caught:
            list(client.export(DAY0, DAY0))

    assert caught.value.retry_after is not None
    assert 3590 <= caught.value.retry_after <= 3600
    assert "2/2 queries in the last hour" in caught.value.message
    assert [c.status for c in mp.calls] == [200, 200, 429]


def test_the_client_budget_of_the_hour_is_kept_without_asking(
    mixpanel: MixpanelEmulator,
) -> None:
    client = source(mixpanel, pacer=Pacer(per_hour=2)).client
    list(client.export(DAY0, DAY0))
    list(client.export(DAY0, DAY0))

    with pytest.raises(RateLimited) as caught:
        list(client.export(DAY0, DAY0))

    assert caught.value.retry_after is not None and caught.value.retry_after > 3500
    assert len(mixpanel.calls) == 2


def test_the_emulator_limits_concurrent_exports() -> None:
    release = threading.Event()

    def slow(day: date) -> Iterator[dict[str, Any]]:
        for _ in range(50):  # more than one 64 KiB block goes out, then the stream waits
            yield from fixed_events(day)
        release.wait(5)

    with emulator(events=slow, max_concurrent=1) as mp:
        first = source(mp).client.export(DAY0, DAY0)
        assert next(first).location.endswith("line 1")
        second = source(mp, sleep=lambda s: None, pacer=Pacer(per_second=100)).client
        with pytest.raises(RateLimited) as caught:
            list(second.export(DAY0, DAY0))
        release.set()
        assert len(list(first)) == 50 * 40 - 1
        statuses = [c.status for c in mp.calls]

    assert statuses == [200, 429, 429, 429, 429]
    assert caught.value.retry_after == 60  # asked for 1 s four times: no retry storm

    assert "1/1 queries running concurrently" in caught.value.message


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_transient_and_not_retried_in_process(
    mixpanel: MixpanelEmulator, status: int
) -> None:
    mixpanel.faults.fail_next(1, status=status)

    with pytest.raises(TransientError) as caught:
        list(source(mixpanel).read(DAYS))

    assert caught.value.status == status
    assert type(caught.value).retryable
    assert len(mixpanel.calls) == 1


def test_a_stream_cut_short_is_transient(mixpanel: MixpanelEmulator) -> None:
    mixpanel.faults.cut_next(1, after_lines=70)
    seen: list[ParsedLine] = []

    with pytest.raises(TransientError) as caught:
        seen.extend(source(mixpanel).read(DAYS))

    assert caught.value.message.startswith("transport:")
    assert len(seen) == 70


def test_nobody_listening_is_transient() -> None:
    with emulator() as mp:
        url = mp.url
    cfg = config(url)
    client = MixpanelClient(
        project_id=PROJECT, credentials=SERVICE, base_url=url, export_pacer=Pacer()
    )
    with pytest.raises(TransientError):
        list(MixpanelUsageSource(cfg, client=client).read([DAY0]))


# --- engage: account traits --------------------------------------------------------------------


def test_engage_pages_through_a_session() -> None:
    with emulator(profiles=profiles(2_345)) as mp:
        traits, bad = source(mp).traits([])
        calls = mp.calls

    assert bad == []
    assert len(traits) == 2_345
    assert traits["acct-7"].name == "Account 7"
    assert traits["acct-7"].plan == "business"
    assert traits["acct-7"].limits == {"seats": 17.0}
    assert traits["acct-7"].employees == 57
    assert traits["acct-7"].domains == ["acct-7.example"]
    assert traits["acct-7"].signup_date == "2024-01-15"
    assert [c.form["page"] for c in calls] == ["0", "1", "2"]
    assert "session_id" not in calls[0].form
    assert calls[1].form["session_id"] == calls[2].form["session_id"] != ""
    assert {c.form["data_group_id"] for c in calls} == {SANDBOX_DATA_GROUP_ID}
    assert {c.query["project_id"] for c in calls} == {str(PROJECT)}
    assert all(c.method == "POST" and c.path == "/api/query/engage" for c in calls)


def test_an_exact_multiple_of_the_page_size_stops_on_the_total() -> None:
    with emulator(profiles=profiles(2_000)) as mp:
        traits, _ = source(mp).traits(["acct-1"])  # the query returns every profile anyway
        assert len(traits) == 2_000
        assert len(mp.calls) == 2


def test_the_trait_mapping_is_configurable() -> None:
    renamed = [{"$distinct_id": "acct-1", "$properties": {"Tier": "enterprise", "Seats Max": "40"}}]
    with emulator(profiles=renamed) as mp:
        traits, _ = source(mp, traits={"plan": "Tier", "limits": {"seats": "Seats Max"}}).traits([])

    assert traits["acct-1"].plan == "enterprise"
    assert traits["acct-1"].limits == {"seats": 40.0}


def test_malformed_profiles_are_quarantined() -> None:
    mixed = [
        {"$distinct_id": "acct-1", "$properties": {"plan": "team"}},
        {"$properties": {"plan": "team"}},
        {"$distinct_id": "acct-3", "$properties": "plan=team"},
        {"$distinct_id": "", "$properties": {}},
        {"$distinct_id": 44, "$properties": {"plan": "business"}},
    ]
    with emulator(profiles=mixed) as mp:
        traits, bad = source(mp).traits([])

    assert sorted(traits) == ["44", "acct-1"]
    assert [q.reason for q in bad] == ["bad_profile"] * 3
    assert [q.location for q in bad] == [
        f"engage:{SANDBOX_DATA_GROUP_ID}:profile 2",
        f"engage:{SANDBOX_DATA_GROUP_ID}:profile 3",
        f"engage:{SANDBOX_DATA_GROUP_ID}:profile 4",
    ]
    assert json.loads(bad[1].raw) == mixed[2]


def test_no_data_group_id_means_no_traits_and_no_query(mixpanel: MixpanelEmulator) -> None:
    assert source(mixpanel, data_group_id=None).traits([]) == ({}, [])
    assert mixpanel.calls == []


def test_engage_errors_over_raw_http(mixpanel: MixpanelEmulator) -> None:
    url = f"{mixpanel.url}/api/query/engage"
    auth = (PROJECT_SECRET, "")

    later_page = requests.post(url, data={"page": "1"}, auth=auth, timeout=10)
    assert later_page.status_code == 400
    assert "session_id" in later_page.json()["error"]

    unknown_group = requests.post(url, data={"data_group_id": "9"}, auth=auth, timeout=10)
    assert unknown_group.status_code == 400

    users = requests.post(url, auth=auth, timeout=10)
    assert users.json()["results"] == []

    as_get = requests.get(url, auth=auth, timeout=10)
    assert as_get.status_code == 405


def test_engage_honours_a_rate_limit_too(mixpanel: MixpanelEmulator) -> None:
    mixpanel.faults.rate_limit_next(1, retry_after_s=120)

    with pytest.raises(RateLimited) as caught:
        source(mixpanel).traits([])

    assert caught.value.retry_after == 120


def test_traits_of_a_few_accounts_cost_one_query_by_id() -> None:
    """3 changed accounts of 2,500 profiles: one query naming them, not 3 pages."""
    with emulator(profiles=profiles(2_500)) as mp:
        read = source(mp).read_traits(["acct-7", "acct-2400", "acct-7", "gone"], 2_500)
        [call] = mp.calls

    assert sorted(read.traits) == ["acct-2400", "acct-7"]
    assert read.traits["acct-7"].plan == "business" and read.bad == []
    assert read.profiles_total is None  # not a full read: the count is not known
    assert json.loads(call.form["distinct_ids"]) == ["acct-2400", "acct-7", "gone"]
    assert call.form["data_group_id"] == SANDBOX_DATA_GROUP_ID
    assert (call.status, call.form["page"]) == (200, "0")


def test_traits_page_through_every_profile_when_that_is_cheaper_or_the_count_unknown() -> None:
    many = [f"acct-{i}" for i in range(2_100)]  # 3 queries by id, as many as 3 pages
    with emulator(profiles=profiles(2_500), rate_limits=False) as mp:
        unknown = source(mp).read_traits(["acct-7"], None)
        assert [c.form["page"] for c in mp.calls] == ["0", "1", "2"]
        mp.reset_calls()
        cheaper = source(mp).read_traits(many, 2_500)
        assert [c.form["page"] for c in mp.calls] == ["0", "1", "2"]
        assert not any("distinct_ids" in c.form for c in mp.calls)
        mp.reset_calls()
        assert source(mp).read_traits([], 2_500).traits == {}
        assert mp.calls == []

    assert unknown.profiles_total == cheaper.profiles_total == 2_500
    assert len(unknown.traits) == len(cheaper.traits) == 2_500


def test_traits_by_id_go_a_thousand_ids_a_query() -> None:
    wanted = [f"acct-{i}" for i in range(0, 5_000, 2)]  # 2,500 of 5,000 profiles
    with emulator(profiles=profiles(5_000)) as mp:
        read = source(mp).read_traits(wanted, 5_000)
        calls = mp.calls

    assert [len(json.loads(c.form["distinct_ids"])) for c in calls] == [1_000, 1_000, 500]
    assert sorted(read.traits) == sorted(wanted)


def test_the_emulator_answers_profiles_by_distinct_id() -> None:
    with emulator(rate_limits=False) as mp:
        answers_by_distinct_id(f"{mp.url}/api/query/engage")


def answers_by_distinct_id(url: str) -> None:
    auth = (PROJECT_SECRET, "")
    group = {"data_group_id": SANDBOX_DATA_GROUP_ID}

    wanted = {**group, "distinct_ids": '["acct-1", "acct-3", "nobody"]'}
    by_ids = requests.post(url, data=wanted, auth=auth, timeout=10).json()
    assert [p["$distinct_id"] for p in by_ids["results"]] == ["acct-1", "acct-3"]
    assert by_ids["total"] == 2
    one = requests.post(url, data={**group, "distinct_id": "acct-2"}, auth=auth, timeout=10)
    assert [p["$distinct_id"] for p in one.json()["results"]] == ["acct-2"]
    for bad in ('"acct-1"', "[acct-1]", "[true]", '{"id": 1}'):
        refused = requests.post(url, data={**group, "distinct_ids": bad}, auth=auth, timeout=10)
        assert refused.status_code == 400, bad
        assert "distinct_ids" in refused.json()["error"]


def test_queries_by_id_count_against_the_hourly_budget() -> None:
    with emulator(per_hour=2) as mp:
        reader = source(mp)
        reader.read_traits(["acct-1"], 5_000)
        reader.read_traits(["acct-2"], 5_000)
        with pytest.raises(RateLimited):
            reader.read_traits(["acct-3"], 5_000)

    assert [c.status for c in mp.calls] == [200, 200, 429]


# --- the emulator's where subset ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "properties", "expected"),
    [
        ('properties["x"] == "y"', {"x": "y"}, True),
        ('properties["x"] == "y"', {"x": "z"}, False),
        ('properties["x"] != "y"', {}, True),
        ('defined(properties["x"])', {"x": None}, True),
        ('defined(properties["x"])', {}, False),
        ('properties["n"] > 2 and properties["n"] <= 3.5', {"n": 3}, True),
        ('properties["n"] > 2', {"n": "3"}, False),
        ('not (properties["a"] == 1 or properties["b"] == true)', {"b": True}, False),
        ('properties["flag"]', {"flag": 0}, False),
    ],
)
def test_where_subset(expression: str, properties: dict[str, Any], expected: bool) -> None:
    assert compile_where(expression)(properties) is expected


@pytest.mark.parametrize(
    "expression",
    ["", 'properties["x"] ==', "properties[x] == 1", "sum(1)", '"a" ~ 1', '"\\q"', "(true"],
)
def test_where_subset_refuses_what_it_cannot_parse(expression: str) -> None:
    with pytest.raises(WhereError):
        compile_where(expression)
