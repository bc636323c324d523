"""The Segment-compatible collector over real HTTP (loopback), with the official Python library,
a kill -9 in the middle of concurrent posts, and the conversion of Segment messages."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import http.client
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from segment.analytics import Client

from plg_handoff.connectors.segment.collector import DEFAULT_LIMITS, SegmentCollector
from plg_handoff.connectors.segment.messages import GroupMap, to_event, validate
from plg_handoff.connectors.segment.spool import Spool
from tests import http_probes
from tests.http_probes import status_of

KEY = "wk-test-7f3a91"
OTHER_KEY = "wk-test-second-2b8c"


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[SegmentCollector]:
    spool = Spool(tmp_path / "spool")
    collector = SegmentCollector(spool, [KEY, OTHER_KEY])
    collector.start()
    try:
        yield collector
    finally:
        collector.stop()
        spool.close()


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def post(
    url: str,
    path: str,
    body: Any,
    *,
    key: str | None = KEY,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        sent["Authorization"] = basic(key)
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("POST", path, body=data, headers=sent)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def spooled(spool: Spool) -> list[dict[str, Any]]:
    spool.rotate()
    return [m for path in spool.segments() for m in spool.read(path)]


def quarantined(spool: Spool) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((spool.directory / "quarantine").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def track(n: int | str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "event": "Report Viewed",
        "userId": "u1",
        "messageId": f"m{n}",
        **extra,
    }


# -- the official library -----------------------------------------------------------------


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_segment_library_messages_land_in_the_spool(
    collector: SegmentCollector, compress: bool
) -> None:
    errors: list[Any] = []
    client = Client(
        KEY,
        host=collector.url,
        sync_mode=False,
        gzip=compress,
        max_retries=1,
        max_total_backoff_duration=2,
        upload_interval=0.05,
        on_error=lambda error, batch: errors.append(error),
    )
    ctx = {"groupId": "acme", "ip": "10.0.0.1"}
    client.track("u1", "Report Viewed", {"seats": 7}, context=ctx, message_id="t-1")
    client.identify("u1", {"email": "ana@acme.test"}, message_id="i-1")
    client.group("u1", "acme", {"plan": "pro", "employees": 120}, message_id="g-1")
    client.page("u1", "Docs", "Pricing", {"url": "https://app.test/pricing"}, message_id="p-1")
    client.flush()
    client.join()
    assert errors == []

    by_id = {m["messageId"]: m for m in spooled(collector.spool)}
    assert set(by_id) == {"t-1", "i-1", "g-1", "p-1"}
    assert by_id["t-1"]["type"] == "track"
    assert by_id["t-1"]["userId"] == "u1"
    assert by_id["t-1"]["event"] == "Report Viewed"
    assert by_id["t-1"]["properties"] == {"seats": 7}
    assert by_id["t-1"]["context"]["groupId"] == "acme"
    assert by_id["t-1"]["context"]["library"]["name"] == "analytics-python"
    assert by_id["i-1"]["traits"] == {"email": "ana@acme.test"}
    assert by_id["g-1"]["groupId"] == "acme"
    assert by_id["g-1"]["traits"] == {"plan": "pro", "employees": 120}
    assert by_id["p-1"]["name"] == "Pricing"
    for message in by_id.values():
        assert message["receivedAt"].endswith("Z")
        assert "sentAt" in message
        assert "writeKey" not in message
    assert KEY not in json.dumps(list(by_id.values()))


def test_segment_library_gives_up_promptly_on_a_wrong_key(collector: SegmentCollector) -> None:
    errors: list[Any] = []
    client = Client(
        "not-a-key",
        host=collector.url,
        max_retries=1,
        max_total_backoff_duration=2,
        upload_interval=0.05,
        on_error=lambda error, batch: errors.append(error),
    )
    started = time.monotonic()
    client.track("u1", "Report Viewed")
    client.flush()
    client.join()
    assert time.monotonic() - started < 5
    assert [getattr(e, "status", None) for e in errors] == [401]
    assert spooled(collector.spool) == []


# -- authentication -----------------------------------------------------------------------


def test_write_key_by_basic_auth_or_in_the_body(collector: SegmentCollector) -> None:
    url = collector.url
    assert post(url, "/v1/track", track(1))[0] == 200
    assert post(url, "/v1/track", track(2), key=OTHER_KEY)[0] == 200
    assert post(url, "/v1/track", {**track(3), "writeKey": KEY}, key=None)[0] == 200
    batch = {"batch": [track(4)], "writeKey": OTHER_KEY}
    assert post(url, "/v1/batch", batch, key=None)[0] == 200
    assert [m["messageId"] for m in spooled(collector.spool)] == ["m1", "m2", "m3", "m4"]
    assert all("writeKey" not in m for m in spooled(collector.spool))


@pytest.mark.parametrize(
    ("key", "body_key"),
    [("wrong", None), (None, None), (None, "wrong"), ("", None)],
    ids=["wrong-basic", "missing", "wrong-body", "empty-basic"],
)
def test_wrong_or_missing_write_key_is_401(
    collector: SegmentCollector, key: str | None, body_key: str | None
) -> None:
    body = {"batch": [track(1)], **({"writeKey": body_key} if body_key else {})}
    status, reply = post(collector.url, "/v1/batch", body, key=key)
    assert status == 401
    assert reply["success"] is False
    assert reply["code"] == "unauthorized"
    assert spooled(collector.spool) == []


def test_malformed_json_without_a_valid_key_is_401_not_400(collector: SegmentCollector) -> None:
    assert post(collector.url, "/v1/batch", b"{nope", key=None)[0] == 401


# -- limits and encodings -----------------------------------------------------------------


def test_malformed_json_is_400(collector: SegmentCollector) -> None:
    status, reply = post(collector.url, "/v1/batch", b'{"batch": [')
    assert status == 400
    assert reply == {"success": False, "code": "invalid_json", "message": reply["message"]}
    assert post(collector.url, "/v1/batch", [1, 2])[0] == 400
    assert post(collector.url, "/v1/track", b'{"userId": "u", "event": "E", "v": NaN}')[0] == 400
    assert post(collector.url, "/v1/batch", b"[" * 100_000)[0] == 400
    assert post(collector.url, "/v1/batch", {"batch": "x"})[0] == 400


def test_oversize_single_call_is_400(collector: SegmentCollector) -> None:
    big = track(1, properties={"blob": "x" * 33_000})
    status, reply = post(collector.url, "/v1/track", big)
    assert status == 400
    assert reply["code"] == "too_large"
    assert spooled(collector.spool) == []


def test_oversize_message_in_a_batch_is_quarantined(collector: SegmentCollector) -> None:
    batch = {"batch": [track(1), track(2, properties={"blob": "x" * 33_000})]}
    assert post(collector.url, "/v1/batch", batch) == (200, {"success": True})
    assert [m["messageId"] for m in spooled(collector.spool)] == ["m1"]
    [record] = quarantined(collector.spool)
    assert record["reason"] == "too_large"
    assert json.loads(record["raw"])["messageId"] == "m2"


def test_oversize_batch_is_400(collector: SegmentCollector) -> None:
    batch = {"batch": [track(n, properties={"blob": "x" * 20_000}) for n in range(30)]}
    status, reply = post(collector.url, "/v1/batch", batch)
    assert (status, reply["code"]) == (400, "too_large")
    compressed = gzip.compress(json.dumps(batch).encode())  # the limit is on the inflated body
    status, _ = post(collector.url, "/v1/batch", compressed, headers={"Content-Encoding": "gzip"})
    assert status == 400
    assert spooled(collector.spool) == []


def test_gzip_bodies(collector: SegmentCollector) -> None:
    body = gzip.compress(json.dumps({"batch": [track(1), track(2)]}).encode())
    gz = {"Content-Encoding": "gzip"}
    assert post(collector.url, "/v1/batch", body, headers=gz)[0] == 200
    assert post(collector.url, "/v1/batch", body[:-9], headers=gz)[0] == 400  # truncated
    assert post(collector.url, "/v1/batch", b"not gzip", headers=gz)[0] == 400
    assert post(collector.url, "/v1/batch", body, headers={"Content-Encoding": "br"})[0] == 415
    assert [m["messageId"] for m in spooled(collector.spool)] == ["m1", "m2"]


def test_webhooks_destination_with_a_shared_secret_signature(collector: SegmentCollector) -> None:
    def signed(message: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(message).encode()
        digest = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
        return body, {"X-Signature": digest}

    group = {"type": "group", "userId": "u1", "groupId": "acme", "messageId": "g1"}
    body, headers = signed(group, OTHER_KEY)
    assert post(collector.url, "/v1/webhook", body, key=None, headers=headers)[0] == 200
    body, headers = signed(track(2), "not-the-secret")
    assert post(collector.url, "/v1/webhook", body, key=None, headers=headers)[0] == 401
    assert post(collector.url, "/v1/webhook", track(3))[0] == 200  # or an Authorization header
    assert [(m["type"], m["messageId"]) for m in spooled(collector.spool)] == [
        ("group", "g1"),
        ("track", "m3"),
    ]


def test_unknown_endpoint_is_404(collector: SegmentCollector) -> None:
    assert post(collector.url, "/v1/nope", track(1))[0] == 404


# -- validation and stamping --------------------------------------------------------------


def test_mixed_batch_accepts_the_valid_and_quarantines_the_rest(
    collector: SegmentCollector,
) -> None:
    batch = [
        track(1),
        {"type": "track", "userId": "u1", "messageId": "no-event"},
        {"type": "track", "event": "E", "messageId": "no-identity"},
        {"type": "group", "userId": "u1", "messageId": "no-group"},
        {"type": "fly", "userId": "u1", "messageId": "bad-type"},
        track("bad-ts", timestamp="yesterday-ish"),
        "not a message",
        {"type": "identify", "anonymousId": "anon-1", "traits": {"a": 1}},
    ]
    assert post(collector.url, "/v1/batch", {"batch": batch}) == (200, {"success": True})
    accepted = spooled(collector.spool)
    assert accepted[0]["messageId"] == "m1"
    assert accepted[1]["anonymousId"] == "anon-1"
    assert len(accepted[1]["messageId"]) == 36  # added: a uuid4
    reasons = {r["location"]: r["reason"] for r in quarantined(collector.spool)}
    assert reasons == {
        "/v1/batch[1]": "missing_event",
        "/v1/batch[2]": "missing_identity",
        "/v1/batch[3]": "missing_group_id",
        "/v1/batch[4]": "unknown_type",
        "/v1/batch[5]": "bad_timestamp",
        "/v1/batch[6]": "not_an_object",
    }
    assert collector.summary()["accepted"] == 2
    assert collector.summary()["quarantined"] == 6
    assert collector.stats.reasons["missing_event"] == 1


def test_single_call_gets_its_type_from_the_endpoint_and_is_stamped(
    collector: SegmentCollector,
) -> None:
    group = {"userId": "u1", "groupId": "acme", "traits": {"plan": "pro"}}
    assert post(collector.url, "/v1/group", group)[0] == 200
    assert post(collector.url, "/v1/page", {"anonymousId": "a1", "name": "Home"})[0] == 200
    assert post(collector.url, "/v1/identify", {"traits": {}})[0] == 200  # quarantined
    first, second = spooled(collector.spool)
    assert (first["type"], first["groupId"]) == ("group", "acme")
    assert second["type"] == "page"
    assert first["messageId"] != second["messageId"]
    assert [r["reason"] for r in quarantined(collector.spool)] == ["missing_identity"]


def test_batch_context_and_sent_at_apply_to_each_message(collector: SegmentCollector) -> None:
    body = {
        "batch": [track(1, context={"ip": "1.2.3.4"}), track(2)],
        "context": {"ip": "9.9.9.9", "groupId": "acme"},
        "sentAt": "2025-06-01T10:00:00Z",
    }
    assert post(collector.url, "/v1/batch", body)[0] == 200
    first, second = spooled(collector.spool)
    assert first["context"] == {"ip": "1.2.3.4", "groupId": "acme"}
    assert second["context"] == {"ip": "9.9.9.9", "groupId": "acme"}
    assert first["sentAt"] == "2025-06-01T10:00:00Z"


# -- durability ---------------------------------------------------------------------------

THREADS = 8
BATCHES = 200
PER_BATCH = 10
KILL_AFTER_ACKS = 300


def start_collector_process(spool_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SEGMENT_WRITE_KEYS": f"{OTHER_KEY},{KEY}"}
    command = [sys.executable, "-m", "plg_handoff.connectors.segment", "--spool", str(spool_dir)]
    options = ["--port", "0", "--log-level", "info", "--log-format", "json"]
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [*command, *options], env=env, stdout=subprocess.PIPE, stderr=stderr
        )


def stop_process(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def test_no_acknowledged_message_is_lost_to_kill_9(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    process = start_collector_process(spool_dir, tmp_path / "collector.log")
    try:
        url = _ready_url(process)
        acked, attempted = _post_until_killed(url, process)
    finally:
        stop_process(process)

    assert KILL_AFTER_ACKS <= len(acked) < THREADS * BATCHES, "the kill must land mid-stream"
    assert attempted > len(acked)  # some requests were cut off by the kill
    reader = Spool(spool_dir)
    ids = [m["messageId"] for path in reader.segments() for m in reader.read(path)]
    assert len(ids) == len(set(ids)), "a message was spooled twice"
    expected = {f"t{t}-b{b}-m{i}" for (t, b) in acked for i in range(PER_BATCH)}
    assert expected <= set(ids), f"lost {len(expected - set(ids))} acknowledged messages"


def test_sigterm_closes_the_open_segment_and_logs_no_write_key(tmp_path: Path) -> None:
    spool_dir, log = tmp_path / "spool", tmp_path / "collector.log"
    process = start_collector_process(spool_dir, log)
    try:
        url = _ready_url(process)
        assert post(url, "/v1/track", track(1))[0] == 200
        assert post(url, "/v1/track", track(2), key="wrong-key-123")[0] == 401
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        stop_process(process)
    assert not list(spool_dir.glob("*.open"))
    reader = Spool(spool_dir)
    assert [m["messageId"] for p in reader.segments() for m in reader.read(p)] == ["m1"]
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert "segment.collector_started" in events
    assert "segment.request_rejected" in events
    assert KEY not in log.read_text()
    assert OTHER_KEY not in log.read_text()


def _ready_url(process: subprocess.Popen[bytes]) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=15):
            raise AssertionError("the collector did not start")
    line = process.stdout.readline()
    url: str = json.loads(line)["url"]
    return url


def _post_until_killed(
    url: str, process: subprocess.Popen[bytes]
) -> tuple[set[tuple[int, int]], int]:
    acked: set[tuple[int, int]] = set()
    attempted = [0]
    lock = threading.Lock()
    enough = threading.Event()
    parts = urlsplit(url)
    headers = {"Content-Type": "application/json", "Authorization": basic(KEY)}

    def sender(t: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        try:
            for b in range(BATCHES):
                batch = [track("x", messageId=f"t{t}-b{b}-m{i}") for i in range(PER_BATCH)]
                body = json.dumps({"batch": batch, "sentAt": "2025-06-01T10:00:00Z"})
                with lock:
                    attempted[0] += 1
                connection.request("POST", "/v1/batch", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status == 200:
                    with lock:
                        acked.add((t, b))
                        if len(acked) >= KILL_AFTER_ACKS:
                            enough.set()
        except (OSError, http.client.HTTPException):
            return  # the server died mid-request: that request was never acknowledged
        finally:
            connection.close()

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    enough.wait(timeout=20)
    os.kill(process.pid, signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=15)
    with lock:
        return set(acked), attempted[0]


# -- the server's limits (the probes) ----------------------------------------------


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A collector closing idle connections after 1 s and cutting requests off after 1 s."""
    limits = replace(DEFAULT_LIMITS, idle_timeout_s=1, read_timeout_s=1.0, max_connections=50)
    collector = SegmentCollector(Spool(tmp_path / "spool"), [KEY], limits)
    parts = urlsplit(collector.start())
    try:
        yield parts.hostname or "", parts.port or 0
    finally:
        collector.stop()


def raw_request(body: bytes) -> bytes:
    return (
        b"POST /v1/track HTTP/1.1\r\nHost: collector.test\r\nContent-Type: application/json\r\n"
        b"Authorization: " + basic(KEY).encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


TRACK = json.dumps(track(1)).encode()


async def test_idle_and_kept_alive_connections_are_closed(strict: tuple[str, int]) -> None:
    never_asked = await http_probes.idle(*strict, b"", wait_s=4)
    assert never_asked.closed and never_asked.seconds < 2.5
    kept_alive = await http_probes.idle(*strict, raw_request(TRACK), wait_s=4)
    assert status_of(kept_alive.answer) == 200
    assert kept_alive.closed and kept_alive.seconds < 2.5


async def test_trickled_headers_and_bodies_are_cut_off(strict: tuple[str, int]) -> None:
    head = raw_request(TRACK)[: -len(TRACK)]
    body_cut = await http_probes.trickle(*strict, head, TRACK, 0.1, wait_s=4)
    assert status_of(body_cut.answer) == 408
    assert body_cut.closed and body_cut.seconds < 2.5
    headers_cut = await http_probes.trickle(*strict, head[:20], head[20:], 0.1, wait_s=4)
    assert status_of(headers_cut.answer) == 408
    assert headers_cut.closed and headers_cut.seconds < 2.5


async def test_two_hundred_connections_at_once_are_all_answered(tmp_path: Path) -> None:
    limits = replace(DEFAULT_LIMITS, max_connections=50)
    collector = SegmentCollector(Spool(tmp_path / "spool"), [KEY], limits)
    parts = urlsplit(collector.start())
    address = parts.hostname or "", parts.port or 0
    try:
        statuses = await http_probes.at_once(*address, raw_request(TRACK), 200, wait_s=4)
        assert len(statuses) == 200
        assert set(statuses) <= {"200", "503"}, sorted(set(statuses))
        assert "503" in statuses
        within = await http_probes.at_once(*address, raw_request(TRACK), 40, wait_s=4)
        assert set(within) == {"200"}
    finally:
        collector.stop()


# -- conversion to usage events -----------------------------------------------------------


def test_validate_rejects_what_segment_rejects() -> None:
    assert validate(track(1)) is None
    assert validate({"type": "alias", "userId": "u2"}) is not None
    assert validate({"type": "alias", "userId": "u2", "previousId": "a1"}) is None
    assert validate(track(1, properties=[1])) is not None


def test_track_becomes_a_mixpanel_shaped_event() -> None:
    message = track(
        1,
        timestamp="2025-06-01T10:00:00.500Z",
        properties={"seats": 7, "time": "overridden"},
        context={"groupId": "acme"},
    )
    assert to_event(message) == {
        "event": "Report Viewed",
        "properties": {
            "seats": 7,
            "time": 1_748_772_000,
            "distinct_id": "u1",
            "$insert_id": "m1",
            "account_id": "acme",
        },
    }


def test_page_becomes_page_viewed_with_url_path_and_name() -> None:
    message = {
        "type": "page",
        "anonymousId": "anon-1",
        "name": "Pricing",
        "messageId": "p1",
        "properties": {"groupId": "acme", "url": "https://app.test/pricing?x=1"},
        "context": {"page": {"path": "/pricing"}},
        "receivedAt": "2025-06-01T10:00:00Z",
    }
    event = to_event(message)
    assert event is not None
    assert event["event"] == "Page Viewed"
    props = event["properties"]
    assert props["url"] == "https://app.test/pricing?x=1"
    assert props["path"] == "/pricing"
    assert props["name"] == "Pricing"
    assert props["distinct_id"] == "anon-1"
    assert props["account_id"] == "acme"
    assert props["time"] == 1_748_772_000


def test_time_falls_back_to_skew_corrected_original_timestamp() -> None:
    message = {
        **track(1),
        "originalTimestamp": "2025-06-01T10:00:00Z",
        "sentAt": "2025-06-01T10:00:05Z",
        "receivedAt": "2025-06-01T10:00:35Z",  # the client's clock is 30 s behind
    }
    event = to_event(message)
    assert event is not None
    assert event["properties"]["time"] == 1_748_772_030


def test_account_comes_from_the_group_map_when_the_message_names_none() -> None:
    groups = GroupMap()
    groups.fold(
        {
            "type": "group",
            "userId": "u1",
            "groupId": "acme",
            "timestamp": "2025-06-01T09:00:00Z",
            "traits": {},
        }
    )
    event = to_event(track(1, timestamp="2025-06-01T10:00:00Z"), groups)
    assert event is not None
    assert event["properties"]["account_id"] == "acme"
    unknown = to_event(track(2, userId="u9", timestamp="2025-06-01T10:00:00Z"), groups)
    assert unknown is not None
    assert "account_id" not in unknown["properties"]
    assert to_event({"type": "identify", "userId": "u1"}) is None


def test_group_map_latest_timestamp_wins_whatever_the_order() -> None:
    def group(at: str, account: str, **traits: Any) -> dict[str, Any]:
        return {
            "type": "group",
            "userId": "u1",
            "groupId": account,
            "timestamp": at,
            "traits": traits,
        }

    calls = [
        group("2025-06-02T00:00:00Z", "acme", plan="enterprise"),
        group("2025-06-01T00:00:00Z", "acme", plan="pro", employees=120),
        group("2025-06-01T12:00:00Z", "globex", plan="free"),
        track(1, userId="u2", timestamp="2025-06-01T00:00:00Z", context={"groupId": "initech"}),
    ]
    for order in (calls, list(reversed(calls))):
        groups = GroupMap()
        for message in order:
            groups.fold(message)
        assert groups.account_of("u1") == "acme"
        assert groups.account_of("u2") == "initech"
        assert groups.traits_of("acme") == {"plan": "enterprise", "employees": 120}
        assert groups.accounts() == {
            "acme": {"plan": "enterprise", "employees": 120},
            "globex": {"plan": "free"},
        }
        restored = GroupMap.from_snapshot(json.loads(json.dumps(groups.snapshot())))
        assert restored == groups
