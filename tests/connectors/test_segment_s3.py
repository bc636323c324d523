"""Segment's storage archive read from S3: the SigV4 signer (AWS's published examples) and the
emulator's independent verifier, ListObjectsV2 paging, GetObject, the error table, the local
cache keyed by key and ETag, the config, and the usage source end to end against the emulator."""

from __future__ import annotations

import gzip
import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from plg_handoff.config import (
    ConfigError,
    Secrets,
    SegmentSourceConfig,
    load_secrets,
    parse_config,
)
from plg_handoff.connectors.errors import (
    AuthError,
    InvalidInput,
    NotFound,
    RateLimited,
    TransientError,
)
from plg_handoff.connectors.segment import SegmentUsageSource
from plg_handoff.connectors.segment import archive as archive_module
from plg_handoff.connectors.segment.archive import SegmentS3ArchiveReader
from plg_handoff.connectors.segment.s3 import (
    EMPTY_SHA256,
    S3Client,
    S3Credentials,
    S3Location,
    S3Object,
    sign,
)
from plg_handoff.sandbox.s3 import S3Emulator
from plg_handoff.sandbox.s3.sigv4 import Keys, verify

KEY_ID = "AKIASANDBOX000000001"
SECRET = "sandbox/secret+key/0123456789abcdefghij"  # noqa: S105  # the emulator's made-up key
BUCKET = "segment-archive"
PREFIX = "segment-logs/src-1"
DAY1 = date(2024, 6, 20)
DAY2 = date(2024, 6, 21)

# AWS's published Signature Version 4 examples for S3 ("Signature Calculations for the
# Authorization Header: Transferring Payload in a Single Chunk"): example credentials, bucket
# `examplebucket` in us-east-1, signed at 2013-05-24T00:00:00Z.
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # noqa: S105  # AWS's documented example
AWS_HOST = "https://examplebucket.s3.amazonaws.com"
AWS_AT = datetime(2013, 5, 24, tzinfo=UTC)
AWS_GET_OBJECT_AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
    "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
    "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
)


def epoch_ms(day: date) -> str:
    return str(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000))


def gz(lines: list[Any]) -> bytes:
    body = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    return gzip.compress(body.encode(), mtime=0)


def track(n: int, user: str = "u1") -> dict[str, Any]:
    return {"type": "track", "event": f"E{n}", "userId": user, "messageId": f"m{n}"}


@pytest.fixture
def emulator() -> Iterator[S3Emulator]:
    with S3Emulator(access_key_id=KEY_ID, secret_access_key=SECRET) as s3:
        s3.create_bucket(BUCKET)
        yield s3


def client_for(
    s3: S3Emulator,
    *,
    key_id: str = KEY_ID,
    secret: str = SECRET,
    token: str | None = None,
    region: str = "us-east-1",
    retries: int = 0,
) -> S3Client:
    return S3Client(
        S3Credentials(key_id, secret, token),
        region=region,
        endpoint_url=s3.url,
        retries=retries,
        backoff_s=0.01,
    )


def signature_of(headers: dict[str, str]) -> str:
    return headers["authorization"].rpartition("Signature=")[2]


# --- the signature ----------------------------------------------------------------------------


def test_signer_reproduces_aws_published_examples() -> None:
    creds = S3Credentials(AWS_KEY_ID, AWS_SECRET)
    get_object = sign(
        "GET", f"{AWS_HOST}/test.txt", {"Range": "bytes=0-9"}, creds, "us-east-1", now=AWS_AT
    )
    assert get_object["authorization"] == AWS_GET_OBJECT_AUTHORIZATION
    assert get_object["x-amz-content-sha256"] == EMPTY_SHA256
    assert get_object["x-amz-date"] == "20130524T000000Z"
    assert get_object["host"] == "examplebucket.s3.amazonaws.com"
    # GET Bucket (list objects): the query is sorted by name before signing.
    listing = sign("GET", f"{AWS_HOST}/?max-keys=2&prefix=J", {}, creds, "us-east-1", now=AWS_AT)
    assert (
        signature_of(listing) == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    )
    # A sub-resource without a value is signed as `lifecycle=`.
    lifecycle = sign("GET", f"{AWS_HOST}/?lifecycle", {}, creds, "us-east-1", now=AWS_AT)
    assert (
        signature_of(lifecycle)
        == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
    )


def aws_example_headers(**changes: str) -> dict[str, str]:
    """The GET Object example's request headers exactly as AWS publishes them."""
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
        "authorization": AWS_GET_OBJECT_AUTHORIZATION,
    }
    return {**headers, **changes}


def test_emulator_verifier_accepts_the_aws_example_and_rejects_tampering() -> None:
    keys = Keys(AWS_KEY_ID, AWS_SECRET)

    def check(headers: dict[str, str], *, path: str = "/test.txt", at: datetime = AWS_AT) -> Any:
        return verify("GET", path, "", headers, b"", keys=keys, region="us-east-1", now=at)

    assert check(aws_example_headers()) is None
    tampered = [
        check(aws_example_headers(range="bytes=0-99")),
        check(aws_example_headers(), path="/test.txt2"),
        check(aws_example_headers(authorization=AWS_GET_OBJECT_AUTHORIZATION[:-1] + "0")),
    ]
    assert [r.code for r in tampered] == ["SignatureDoesNotMatch"] * 3
    assert {r.status for r in tampered} == {403}
    other_key = AWS_GET_OBJECT_AUTHORIZATION.replace(AWS_KEY_ID, "AKIAOTHERKEY00000000")
    assert check(aws_example_headers(authorization=other_key)).code == "InvalidAccessKeyId"
    assert check(aws_example_headers(), at=AWS_AT + timedelta(hours=1)).code == (
        "RequestTimeTooSkewed"
    )
    unsigned = check({**aws_example_headers(), "x-amz-meta-extra": "1"})
    assert (unsigned.code, unsigned.extra["HeadersNotSigned"]) == (
        "AccessDenied",
        "x-amz-meta-extra",
    )
    assert check({k: v for k, v in aws_example_headers().items() if k != "authorization"}).code == (
        "AccessDenied"
    )
    other_region = verify(
        "GET",
        "/test.txt",
        "",
        aws_example_headers(),
        b"",
        keys=keys,
        region="eu-west-1",
        now=AWS_AT,
    )
    assert other_region is not None
    assert (other_region.status, other_region.code) == (400, "AuthorizationHeaderMalformed")


def test_signed_requests_for_awkward_keys_are_accepted(emulator: S3Emulator) -> None:
    """Keys with spaces, `+`, `=`, `%`, `~` and non-ASCII: the client's encoding and the
    emulator's independent canonicalisation agree, in the path and in the query."""
    keys = [
        f"{PREFIX}/{epoch_ms(DAY1)}/a b+c=d.gz",
        f"{PREFIX}/{epoch_ms(DAY1)}/100%~ü.gz",
        f"{PREFIX} x/ü/{epoch_ms(DAY1)}/z.gz",
    ]
    for n, key in enumerate(keys):
        emulator.put_object(BUCKET, key, gz([track(n)]))
    client = client_for(emulator)
    for prefix in (PREFIX + "/", f"{PREFIX} x/ü/"):
        listed = [obj.key for obj in client.list_objects(BUCKET, prefix, max_keys=1)]
        assert listed == sorted((k for k in keys if k.startswith(prefix)), key=str.encode)
    for key in keys:
        got = client.download(BUCKET, key, Path("/dev/null"))
        assert got.key == key
    assert {c.status for c in emulator.calls} == {200}


def test_session_token_is_signed_and_checked(tmp_path: Path) -> None:
    token = "FQoGZXIvYXdzEXAMPLE-session"  # noqa: S105  # made up
    with S3Emulator(access_key_id=KEY_ID, secret_access_key=SECRET, session_token=token) as s3:
        s3.create_bucket(BUCKET)
        s3.put_object(BUCKET, "k.gz", b"x")
        client_for(s3, token=token).download(BUCKET, "k.gz", tmp_path / "k")
        with pytest.raises(AuthError, match="InvalidToken"):
            client_for(s3).download(BUCKET, "k.gz", tmp_path / "k")


# --- errors -----------------------------------------------------------------------------------


def test_wrong_secret_is_a_non_retryable_auth_error(emulator: S3Emulator) -> None:
    client = client_for(emulator, secret="not-the-secret", retries=2)  # noqa: S106
    with pytest.raises(AuthError) as info:
        list(client.list_objects(BUCKET))
    error = info.value
    assert error.retryable is False
    assert error.status == 403
    assert "SignatureDoesNotMatch" in str(error)
    assert "not-the-secret" not in str(error)
    assert "Signature=" not in str(error)
    assert "not-the-secret" not in repr(client)
    assert emulator.count() == 1  # not retried


def test_unknown_key_id_is_an_auth_error(emulator: S3Emulator) -> None:
    with pytest.raises(AuthError, match="InvalidAccessKeyId") as info:
        list(client_for(emulator, key_id="AKIAUNKNOWN000000000").list_objects(BUCKET))
    assert info.value.status == 403


def test_wrong_region_missing_bucket_and_missing_key(emulator: S3Emulator, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="set s3_region") as wrong_region:
        list(client_for(emulator, region="eu-west-1").list_objects(BUCKET))
    assert wrong_region.value.retryable is False
    # NoSuchBucket is InvalidInput: archive_url names a bucket that does not exist, a
    # configuration error no retry can fix.
    with pytest.raises(InvalidInput, match="NoSuchBucket") as no_bucket:
        list(client_for(emulator).list_objects("no-such-bucket"))
    assert (no_bucket.value.status, no_bucket.value.retryable) == (404, False)
    # NoSuchKey is NotFound: an object can be deleted after it was listed; callers skip it.
    with pytest.raises(NotFound, match="NoSuchKey"):
        client_for(emulator).download(BUCKET, "gone.gz", tmp_path / "gone")


def test_slow_down_is_rate_limited_with_its_retry_after(emulator: S3Emulator) -> None:
    emulator.faults.slow_down_next(1, retry_after_s=7)
    with pytest.raises(RateLimited) as info:
        list(client_for(emulator, retries=2).list_objects(BUCKET))
    assert (info.value.status, info.value.retry_after, info.value.retryable) == (503, 7.0, True)
    assert "SlowDown" in str(info.value)
    assert emulator.count() == 1  # a wait longer than 2 s is left to Temporal
    emulator.faults.slow_down_next(1)
    with pytest.raises(RateLimited) as bare:
        list(client_for(emulator).list_objects(BUCKET))
    assert bare.value.retry_after is None


@pytest.mark.parametrize(
    ("plan", "status"),
    [("fail_500", 500), ("fail_503", 503), ("fail_504", 504), ("drop", None)],
)
def test_server_errors_and_cut_connections_are_transient(
    emulator: S3Emulator, plan: str, status: int | None
) -> None:
    if plan == "drop":
        emulator.faults.drop_next(1)
    else:
        emulator.faults.fail_next(1, status=int(plan.removeprefix("fail_")))
    with pytest.raises(TransientError) as info:
        list(client_for(emulator).list_objects(BUCKET))
    assert info.value.status == status
    assert info.value.retryable is True


def test_short_retries_absorb_a_blip(emulator: S3Emulator) -> None:
    emulator.put_object(BUCKET, "a.gz", b"a")
    emulator.faults.fail_next(1, status=503)
    emulator.faults.slow_down_next(1, retry_after_s=0)
    listed = list(client_for(emulator, retries=2).list_objects(BUCKET))
    assert [o.key for o in listed] == ["a.gz"]
    assert [c.status for c in emulator.calls] == [503, 503, 200]


def test_a_changed_object_is_not_downloaded_under_its_old_etag(
    emulator: S3Emulator, tmp_path: Path
) -> None:
    old = emulator.put_object(BUCKET, "a.gz", b"one")
    emulator.put_object(BUCKET, "a.gz", b"two")
    with pytest.raises(TransientError, match="PreconditionFailed") as info:
        client_for(emulator, retries=2).download(BUCKET, "a.gz", tmp_path / "a", etag=old)
    assert info.value.status == 412
    assert emulator.count("GetObject") == 1  # the same request cannot succeed: not retried


# --- listing and getting ----------------------------------------------------------------------


def test_listing_follows_continuation_tokens_past_1000_keys(emulator: S3Emulator) -> None:
    keys = [f"{PREFIX}/{epoch_ms(DAY1)}/{n:05d}.gz" for n in range(2345)]
    for key in keys:
        emulator.put_object(BUCKET, key, b"")
    emulator.put_object(BUCKET, "segment-logs/src-10/other.gz", b"")  # shares the text prefix
    listed = list(client_for(emulator).list_objects(BUCKET, PREFIX + "/"))
    assert [o.key for o in listed] == keys
    assert emulator.count("ListObjectsV2") == 3


def test_listing_with_small_pages(emulator: S3Emulator) -> None:
    keys = [f"p/{n:02d}.gz" for n in range(20)]
    for key in [*keys, "a/1.gz", "q/1.gz"]:
        emulator.put_object(BUCKET, key, key.encode())
    listed = list(client_for(emulator).list_objects(BUCKET, "p/", max_keys=7))
    assert [o.key for o in listed] == keys
    assert listed[0] == S3Object(
        "p/00.gz",
        hashlib.md5(b"p/00.gz", usedforsecurity=False).hexdigest(),
        7,
        listed[0].last_modified,
    )
    assert emulator.count("ListObjectsV2") == 3
    with pytest.raises(ValueError, match="max_keys"):
        list(client_for(emulator).list_objects(BUCKET, max_keys=1001))


def signed_get(s3: S3Emulator, target: str, **headers: str) -> requests.Response:
    url = s3.url + target
    signed = sign("GET", url, headers, S3Credentials(KEY_ID, SECRET), "us-east-1", now=now())
    return requests.get(url, headers=signed, timeout=5)


def now() -> datetime:
    return datetime.now(UTC)


def test_emulator_answers_in_s3_shapes(emulator: S3Emulator) -> None:
    etag = emulator.put_object(BUCKET, "p/a.gz", b"aaaa")
    emulator.put_object(BUCKET, "p/b.gz", b"bb")
    first = signed_get(emulator, f"/{BUCKET}?list-type=2&prefix=p%2F&max-keys=1")
    assert first.status_code == 200
    assert b"<ETag>&quot;" in first.content  # S3 escapes the quotes of the ETag
    ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
    root = ET.fromstring(first.content)  # noqa: S314  # our own emulator's answer
    assert root.findtext("s3:KeyCount", namespaces=ns) == "1"
    assert root.findtext("s3:MaxKeys", namespaces=ns) == "1"
    assert root.findtext("s3:IsTruncated", namespaces=ns) == "true"
    assert root.findtext("s3:Contents/s3:ETag", namespaces=ns) == f'"{etag}"'
    assert root.findtext("s3:Contents/s3:Size", namespaces=ns) == "4"
    token = root.findtext("s3:NextContinuationToken", namespaces=ns)
    assert token
    capped = signed_get(emulator, f"/{BUCKET}?list-type=2&max-keys=5000")
    assert ET.fromstring(capped.content).findtext("s3:MaxKeys", namespaces=ns) == "1000"  # noqa: S314
    bad = signed_get(emulator, f"/{BUCKET}?list-type=2&continuation-token=bm9wZQ%3D%3D")
    assert bad.status_code == 400
    error = ET.fromstring(bad.content)  # noqa: S314
    assert (error.tag, error.findtext("Code")) == ("Error", "InvalidArgument")
    assert error.findtext("RequestId") == bad.headers["x-amz-request-id"]
    got = signed_get(emulator, f"/{BUCKET}/p/a.gz")
    assert (got.content, got.headers["ETag"]) == (b"aaaa", f'"{etag}"')
    assert (
        signed_get(emulator, f"/{BUCKET}/p/a.gz", **{"If-None-Match": f'"{etag}"'}).status_code
        == 304
    )
    missing = signed_get(emulator, f"/{BUCKET}/p/zzz.gz")
    assert missing.status_code == 404
    assert ET.fromstring(missing.content).findtext("Code") == "NoSuchKey"  # noqa: S314


def test_download_keeps_the_stored_bytes_of_a_gzip_encoded_object(
    emulator: S3Emulator, tmp_path: Path
) -> None:
    """An object uploaded with `Content-Encoding: gzip` is served with that header; the
    cache must hold the .gz file as stored, not a transparently decompressed copy."""
    data = gz([track(1)])
    etag = emulator.put_object(BUCKET, "a.gz", data, content_encoding="gzip")
    got = client_for(emulator).download(BUCKET, "a.gz", tmp_path / "a.gz", etag=etag)
    assert (tmp_path / "a.gz").read_bytes() == data
    assert (got.etag, got.size) == (etag, len(data))


# --- the cached mirror ------------------------------------------------------------------------


class RecordingLog:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def last(self, event: str) -> dict[str, Any]:
        return [fields for name, fields in self.events if name == event][-1]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> RecordingLog:
    recorder = RecordingLog()
    monkeypatch.setattr(archive_module, "log", recorder)
    return recorder


def put_archive(s3: S3Emulator) -> dict[str, bytes]:
    objects = {
        f"{PREFIX}/{epoch_ms(DAY1)}/a.gz": gz([track(1)]),
        f"{PREFIX}/{epoch_ms(DAY1)}/b.gz": gz([track(2), track(3)]),
        f"{PREFIX}/{epoch_ms(DAY2)}/09/y.gz": gz([track(4)]),
        f"{PREFIX}/{DAY2.isoformat()}/13/x.gz": gz([track(5)]),
    }
    for key, data in objects.items():
        s3.put_object(BUCKET, key, data)
    return objects


def events(reader: SegmentS3ArchiveReader) -> list[str]:
    return [m["event"] if isinstance(m, dict) else m for m in reader.messages(None)]


def test_re_pull_downloads_nothing(
    emulator: S3Emulator, tmp_path: Path, recorded: RecordingLog
) -> None:
    put_archive(emulator)
    # Not archive files: outside a day folder, not .gz, folder markers, another prefix.
    emulator.put_object(BUCKET, f"{PREFIX}/stray.gz", gz([track(98)]))
    emulator.put_object(BUCKET, f"{PREFIX}/{epoch_ms(DAY1)}/notes.txt", b"hi")
    emulator.put_object(BUCKET, f"{PREFIX}/{epoch_ms(DAY1)}/", b"")
    emulator.put_object(BUCKET, f"segment-logs/src-2/{epoch_ms(DAY1)}/o.gz", gz([track(99)]))
    reader = SegmentS3ArchiveReader(client_for(emulator), f"s3://{BUCKET}/{PREFIX}", tmp_path)
    assert events(reader) == ["E1", "E2", "E3", "E4", "E5"]
    assert emulator.operations() == {"ListObjectsV2": 1, "GetObject": 4}
    assert recorded.last("segment.archive_synced")["downloaded"] == 4

    emulator.reset_calls()
    again = SegmentS3ArchiveReader(client_for(emulator), f"s3://{BUCKET}/{PREFIX}/", tmp_path)
    assert events(again) == ["E1", "E2", "E3", "E4", "E5"]
    assert emulator.operations() == {"ListObjectsV2": 1}  # zero GetObject
    synced = recorded.last("segment.archive_synced")
    assert (synced["downloaded"], synced["cached"], synced["pruned"]) == (0, 4, 0)


def test_changed_added_and_deleted_objects(emulator: S3Emulator, tmp_path: Path) -> None:
    put_archive(emulator)
    reader = SegmentS3ArchiveReader(client_for(emulator), f"s3://{BUCKET}/{PREFIX}", tmp_path)
    reader.sync()
    emulator.put_object(BUCKET, f"{PREFIX}/{epoch_ms(DAY1)}/b.gz", gz([track(20)]))  # new ETag
    emulator.delete_object(BUCKET, f"{PREFIX}/{epoch_ms(DAY2)}/09/y.gz")
    emulator.put_object(BUCKET, f"{PREFIX}/{epoch_ms(DAY2)}/10/w.gz", gz([track(6)]))
    emulator.reset_calls()

    assert events(reader) == ["E1", "E20", "E6", "E5"]
    got = sorted(c.key.rpartition("/")[2] for c in emulator.calls if c.operation == "GetObject")
    assert got == ["b.gz", "w.gz"]
    assert not (tmp_path / "objects" / PREFIX / epoch_ms(DAY2) / "09").exists()  # pruned
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest["objects"]) == sorted(emulator.keys(BUCKET))


def test_same_size_new_content_is_downloaded_again(emulator: S3Emulator, tmp_path: Path) -> None:
    key = f"{PREFIX}/{epoch_ms(DAY1)}/a.gz"
    # Stored (level 0) gzip: the same size, another ETag.
    first, second = (gzip.compress(json.dumps(track(n)).encode(), 0, mtime=0) for n in (1, 2))
    assert len(first) == len(second)
    emulator.put_object(BUCKET, key, first)
    reader = SegmentS3ArchiveReader(client_for(emulator), f"s3://{BUCKET}/{PREFIX}", tmp_path)
    assert events(reader) == ["E1"]
    emulator.put_object(BUCKET, key, second)
    assert events(reader) == ["E2"]


def test_cache_holds_only_the_listed_objects(emulator: S3Emulator, tmp_path: Path) -> None:
    """Leftovers of a crash, files of objects now gone, another bucket's manifest: what is not
    listed is deleted before reading, so it can never be read as part of the archive."""
    put_archive(emulator)
    reader = SegmentS3ArchiveReader(client_for(emulator), f"s3://{BUCKET}/{PREFIX}", tmp_path)
    reader.sync()
    stray = tmp_path / "objects" / PREFIX / epoch_ms(DAY1) / "crash-leftover.gz"
    stray.write_bytes(gz([track(66)]))
    emulator.reset_calls()
    assert "E66" not in events(reader)
    assert not stray.exists()
    assert emulator.count("GetObject") == 0

    # The same cache pointed at another bucket: nothing cached counts, all is fetched again.
    emulator.create_bucket("other-bucket")
    emulator.put_object("other-bucket", f"{PREFIX}/{epoch_ms(DAY1)}/a.gz", gz([track(7)]))
    emulator.reset_calls()
    other = SegmentS3ArchiveReader(client_for(emulator), f"s3://other-bucket/{PREFIX}", tmp_path)
    assert events(other) == ["E7"]
    assert emulator.count("GetObject") == 1
    assert sorted(p.name for p in (tmp_path / "objects").rglob("*.gz")) == ["a.gz"]


def test_a_failed_sync_keeps_what_it_downloaded(
    emulator: S3Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_archive(emulator)
    client = client_for(emulator)
    real = client.download
    calls = {"n": 0}

    def flaky(bucket: str, key: str, dest: Path, *, etag: str | None = None) -> S3Object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise TransientError("s3", "boom", status=500)
        return real(bucket, key, dest, etag=etag)

    monkeypatch.setattr(client, "download", flaky)
    reader = SegmentS3ArchiveReader(client, f"s3://{BUCKET}/{PREFIX}", tmp_path)
    with pytest.raises(TransientError):
        reader.sync()
    assert len(json.loads((tmp_path / "manifest.json").read_text())["objects"]) == 2
    assert not list((tmp_path / "tmp").glob("*"))  # no partial download left
    emulator.reset_calls()
    assert events(reader) == ["E1", "E2", "E3", "E4", "E5"]
    assert emulator.count("GetObject") == 2


def test_object_gone_between_list_and_get_is_skipped(
    emulator: S3Emulator, tmp_path: Path, recorded: RecordingLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_archive(emulator)
    client = client_for(emulator)
    ghost = S3Object(f"{PREFIX}/{epoch_ms(DAY1)}/ghost.gz", "0" * 32, 10)
    real = client.list_objects

    def with_ghost(bucket: str, prefix: str = "", *, max_keys: int = 1000) -> Iterator[S3Object]:
        yield ghost
        yield from real(bucket, prefix, max_keys=max_keys)

    monkeypatch.setattr(client, "list_objects", with_ghost)
    reader = SegmentS3ArchiveReader(client, f"s3://{BUCKET}/{PREFIX}", tmp_path)
    assert events(reader) == ["E1", "E2", "E3", "E4", "E5"]
    assert recorded.last("segment.archive_object_gone") == {"key": ghost.key}


def test_unsafe_keys_are_not_mirrored(
    emulator: S3Emulator, tmp_path: Path, recorded: RecordingLog
) -> None:
    cache = tmp_path / "cache"
    day = f"{PREFIX}/{epoch_ms(DAY1)}"
    for key in (f"{day}/../../../../escape.gz", f"{day}//double.gz", f"{day}/./dot.gz"):
        emulator.put_object(BUCKET, key, gz([track(13)]))
    emulator.put_object(BUCKET, f"{day}/fine.gz", gz([track(1)]))
    reader = SegmentS3ArchiveReader(client_for(emulator), f"s3://{BUCKET}/{PREFIX}", cache)
    assert events(reader) == ["E1"]
    assert [p.name for p in tmp_path.rglob("*.gz")] == ["fine.gz"]
    skipped = [f["key"] for e, f in recorded.events if e == "segment.archive_key_skipped"]
    assert len(skipped) == 3


def test_s3_urls() -> None:
    assert S3Location.parse("s3://bucket/segment-logs/src-1/") == S3Location(
        "bucket", "segment-logs/src-1/"
    )
    assert S3Location.parse("s3://bucket") == S3Location("bucket", "")
    assert S3Location.parse("s3://my.bucket/x").url == "s3://my.bucket/x/"
    for bad in ("https://bucket/x", "s3://", "s3://UPPER/x", "s3://a/x", "s3://a..b/x"):
        with pytest.raises(ValueError, match="S3"):
            S3Location.parse(bad)


def test_aws_urls_without_an_endpoint() -> None:
    client = S3Client(S3Credentials("id", "secret"), region="eu-west-1")
    assert client._url("bucket", "a b/c.gz") == (
        "https://bucket.s3.eu-west-1.amazonaws.com/a%20b/c.gz"
    )
    assert client._url("my.bucket", "k") == "https://s3.eu-west-1.amazonaws.com/my.bucket/k"


# --- config -----------------------------------------------------------------------------------


def s3_config(tmp_path: Path, **source: Any) -> Any:
    return parse_config(
        {
            "data_dir": "data",
            "sources": [
                {"kind": "segment", "name": "seg", "archive_url": f"s3://{BUCKET}/x", **source}
            ],
            "crm": {"kind": "hubspot"},
        },
        base_dir=tmp_path,
    )


def test_config_archive_url_alone_and_its_cache_dir(tmp_path: Path) -> None:
    [source] = s3_config(tmp_path).sources
    assert isinstance(source, SegmentSourceConfig)
    assert source.archive_cache_dir == tmp_path / "data" / "cache" / "segment-archive" / "seg"
    assert (source.s3_region, source.s3_endpoint_url) == ("us-east-1", None)
    [custom] = s3_config(
        tmp_path, archive_cache_dir="mirror", s3_endpoint_url="http://minio:9000"
    ).sources
    assert isinstance(custom, SegmentSourceConfig)
    assert custom.archive_cache_dir == (tmp_path / "mirror").resolve()
    assert str(custom.s3_endpoint_url) == "http://minio:9000/"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://bucket/x", "archive_url must be s3://<bucket>/<prefix>"),
        ("s3://Bucket/x", "archive_url must be s3://<bucket>/<prefix>"),
        ("s3://bucket/a/../b", "cannot have empty, '.' or '..' folders"),
        ("s3://bucket/a//b/", "cannot have empty, '.' or '..' folders"),
    ],
)
def test_config_refuses_bad_archive_urls(tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        s3_config(tmp_path, archive_url=url)
    assert "sources[0].archive_url" in str(info.value)
    assert message in str(info.value)


def test_config_needs_one_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"spool_dir .*, archive_dir and/or archive_url"):
        parse_config(
            {"sources": [{"kind": "segment", "name": "seg"}], "crm": {"kind": "hubspot"}},
            base_dir=tmp_path,
        )


def test_s3_secrets_are_required_and_name_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN"):
        monkeypatch.delenv(f"HANDOFF_S3_{name}", raising=False)
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", "hs-token")
    config = s3_config(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_secrets(config)
    where = f"sources[0] (seg), archive_url = 's3://{BUCKET}/x'"
    assert str(info.value).splitlines()[1:] == [
        f"  HANDOFF_S3_ACCESS_KEY_ID: required by {where}",
        f"  HANDOFF_S3_SECRET_ACCESS_KEY: required by {where}",
    ]
    monkeypatch.setenv("HANDOFF_S3_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("HANDOFF_S3_SECRET_ACCESS_KEY", SECRET)
    secrets = load_secrets(config)
    assert SECRET in secrets.values()  # redacted from logs
    assert SECRET not in repr(secrets)


# --- the usage source end to end -------------------------------------------------------------


def message(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "receivedAt": "2024-06-21T10:00:00.000Z", **fields}


def write_archive(root: Path) -> None:
    """Two sources' folders, both layouts, hour folders, a bad line, files that are not part of
    the archive; a group call on an earlier day maps the user to the account."""
    files: dict[str, list[Any]] = {
        f"src-1/{epoch_ms(DAY1)}/part-1.gz": [
            message("group", userId="u1", groupId="acme", traits={"plan": "team"},
                    timestamp="2024-06-20T09:00:00Z", messageId="g1"),
        ],
        f"src-1/{DAY2.isoformat()}/13/part-1.gz": [
            message("track", userId="u1", event="Report Viewed", properties={"seats_used": 8},
                    timestamp="2024-06-21T13:00:00Z", messageId="t2"),
            "{torn",
        ],
        f"src-1/{DAY2.isoformat()}/09/part-1.gz": [
            message("track", userId="u1", event="Report Viewed", properties={"seats_used": 5},
                    timestamp="2024-06-21T09:00:00Z", messageId="t1"),
            message("page", userId="u2", name="Pricing", context={"groupId": "globex"},
                    timestamp="2024-06-21T09:05:00Z", messageId="p1"),
        ],
        f"src-2/{epoch_ms(DAY2)}/part-1.gz": [
            message("group", userId="u2", groupId="initech", timestamp="2024-06-21T08:00:00Z",
                    messageId="g2"),
            message("track", userId="u2", event="Export", timestamp="2024-06-21T10:00:00Z",
                    messageId="t3"),
        ],
    }  # fmt: skip
    for relative, lines in files.items():
        path = root / "segment-logs" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gz(lines))
    (root / "segment-logs" / "src-1" / "README.txt").write_text("not an archive file")
    (root / "segment-logs" / "stray.gz").write_bytes(gz([message("track", event="Stray")]))


def test_source_reads_the_bucket_as_it_reads_a_directory(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    write_archive(archive)
    secrets = Secrets(s3_access_key_id=SecretStr(KEY_ID), s3_secret_access_key=SecretStr(SECRET))
    with S3Emulator(access_key_id=KEY_ID, secret_access_key=SECRET, region="eu-west-1") as s3:
        s3.create_bucket(BUCKET, directory=archive)
        remote = SegmentSourceConfig(
            kind="segment",
            name="seg",
            archive_url=f"s3://{BUCKET}/segment-logs",
            s3_endpoint_url=s3.url,  # pydantic validates the str
            s3_region="eu-west-1",
            archive_cache_dir=tmp_path / "cache",
        )
        local = SegmentSourceConfig(kind="segment", name="seg", archive_dir=archive)
        exports: list[str] = []
        for config in (local, remote, remote):  # the second remote pull: from the cache
            work = tmp_path / f"work-{len(exports)}"
            work.mkdir()
            [out] = SegmentUsageSource(config, secrets).export([DAY2], work)
            exports.append(out.read_text())
        assert exports[1] == exports[0]
        assert exports[2] == exports[0]
        assert "Stray" not in exports[0]
        assert '"account_id": "acme"' in exports[0]
        assert exports[0].count("\n") == 5
        assert s3.operations() == {"ListObjectsV2": 2, "GetObject": 4}


def test_source_with_archive_url_needs_credentials(tmp_path: Path) -> None:
    config = SegmentSourceConfig(
        kind="segment",
        name="seg",
        archive_url=f"s3://{BUCKET}/x",
        archive_cache_dir=tmp_path,
    )
    with pytest.raises(ConfigError, match=r"HANDOFF_S3_ACCESS_KEY_ID .* 'seg'"):
        SegmentUsageSource(config, Secrets(s3_access_key_id=SecretStr(KEY_ID)))
