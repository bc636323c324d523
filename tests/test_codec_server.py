"""`handoff codec-server`: Temporal's remote codec protocol over real HTTP, with its token, its
CORS answers for Temporal UI and its limits; and the command as an operator starts it."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payloads

from plg_handoff.activities.contracts import UsageUpdate
from plg_handoff.codec import EncryptionCodec, KeyRing
from plg_handoff.codec_server import CodecServer, build_codec_server
from plg_handoff.config import CodecServerSettings, ConfigError, Secrets
from plg_handoff.domain.usage import AccountTraits
from plg_handoff.payloads import DATA_CONVERTER
from tests.support import HANDOFF, free_port

KEY_1 = base64.b64encode(os.urandom(32)).decode()
KEY_2 = base64.b64encode(os.urandom(32)).decode()
TOKEN = "codec-test-token-5d2e"  # noqa: S105  # the test server's own token
UI = "http://localhost:8080"
UPDATE = UsageUpdate("acct-1", [], AccountTraits(name="Initech LLC", domains=["initech.example"]))


def plain_body() -> bytes:
    payloads = Payloads(payloads=DATA_CONVERTER.payload_converter.to_payloads([UPDATE]))
    return json_format.MessageToJson(payloads).encode()


@pytest.fixture
def server() -> Iterator[CodecServer]:
    settings = CodecServerSettings(ui_origins=(UI,), max_body_bytes=64 * 1024)
    codec = EncryptionCodec(KeyRing.parse(f"k2:{KEY_2},k1:{KEY_1}"))
    with CodecServer(codec, settings, "default", TOKEN) as running:
        yield running


def call(
    url: str,
    body: bytes | None = b"",
    *,
    method: str = "POST",
    token: str | None = TOKEN,
    **headers: str,
) -> tuple[int, dict[str, str], bytes]:
    sent = {"Content-Type": "application/json", **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    # Always our own http://127.0.0.1 server.
    request = urllib.request.Request(url, data=body, method=method, headers=sent)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # likewise
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read()


def payloads_of(body: bytes) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(body)["payloads"]
    return found


def test_encode_then_decode_round_trips_over_http(server: CodecServer) -> None:
    status, headers, encoded = call(
        f"{server.url}/encode", plain_body(), **{"X-Namespace": "default"}
    )
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    [sealed] = payloads_of(encoded)
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    assert base64.b64decode(sealed["metadata"]["encryption-key-id"]) == b"k2"
    assert b"Initech" not in base64.b64decode(sealed["data"])

    status, _, decoded = call(f"{server.url}/any/prefix/decode", encoded)  # the last part counts
    assert status == 200
    payloads = json_format.Parse(decoded, Payloads())
    [value] = DATA_CONVERTER.payload_converter.from_payloads(payloads.payloads, [UsageUpdate])
    assert value == UPDATE


def test_decode_passes_unencrypted_payloads_and_names_an_unknown_key_id(
    server: CodecServer,
) -> None:
    status, _, body = call(f"{server.url}/decode", plain_body())
    assert status == 200
    assert json_format.Parse(body, Payloads()) == json_format.Parse(plain_body(), Payloads())

    other = EncryptionCodec(KeyRing.parse(f"k7:{base64.b64encode(os.urandom(32)).decode()}"))
    [plain] = DATA_CONVERTER.payload_converter.to_payloads([UPDATE])
    foreign = json_format.MessageToJson(Payloads(payloads=[other.encrypt(plain)])).encode()
    status, _, body = call(f"{server.url}/decode", foreign)
    assert status == 400
    assert b"'k7'" in body
    assert KEY_1.encode() not in body and KEY_2.encode() not in body


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"],
    ids=["none", "wrong", "basic", "longer", "empty"],
)
def test_a_request_without_the_token_is_refused(
    server: CodecServer, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    status, answer, body = call(f"{server.url}/decode", plain_body(), token=None, **headers)
    assert status == 401
    assert answer["WWW-Authenticate"] == "Bearer"
    assert b"Initech" not in body
    status, _, _ = call(f"{server.url}/encode", plain_body(), token=None, **headers)
    assert status == 401


def test_the_ui_origin_gets_its_cors_preflight_and_headers(server: CodecServer) -> None:
    status, headers, _ = call(
        f"{server.url}/decode",
        None,
        method="OPTIONS",
        token=None,
        Origin=UI,
        **{
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        },
    )
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == UI
    assert "POST" in headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "x-namespace", "content-type"} <= allowed

    status, headers, _ = call(f"{server.url}/decode", plain_body(), Origin=UI)
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == UI
    status, headers, _ = call(f"{server.url}/decode", plain_body(), token=None, Origin=UI)
    assert status == 401  # the UI can read the refusal
    assert headers["Access-Control-Allow-Origin"] == UI

    status, headers, _ = call(
        f"{server.url}/decode", None, method="OPTIONS", token=None, Origin="https://evil.example"
    )
    assert status == 403
    assert "Access-Control-Allow-Origin" not in headers
    status, headers, body = call(
        f"{server.url}/decode", plain_body(), Origin="https://evil.example"
    )
    assert status == 403  # a page of another site, even with the token
    assert "Access-Control-Allow-Origin" not in headers
    assert b"Initech" not in body


def test_other_namespaces_bad_bodies_and_big_bodies_are_refused(server: CodecServer) -> None:
    status, _, _ = call(f"{server.url}/decode", plain_body(), **{"X-Namespace": "other"})
    assert status == 403
    assert call(f"{server.url}/decode", b"{not json")[0] == 400
    assert call(f"{server.url}/decode", b'{"payloads": 3}')[0] == 400
    assert call(f"{server.url}/decode", b"x" * (65 * 1024))[0] == 413
    assert call(f"{server.url}/metrics", plain_body())[0] == 404


def test_the_token_can_be_turned_off_explicitly() -> None:
    settings = CodecServerSettings(require_token=False)
    codec = EncryptionCodec(KeyRing.parse(f"k1:{KEY_1}"))
    with CodecServer(codec, settings, "default", None) as running:
        assert call(f"{running.url}/decode", plain_body(), token=None)[0] == 200


def test_missing_keys_or_token_fail_naming_the_variable() -> None:
    settings = CodecServerSettings()
    with pytest.raises(ConfigError, match="HANDOFF_CODEC_KEYS"):
        build_codec_server(settings, "default", Secrets(codec_keys=None))
    keys = SecretStr(f"k1:{KEY_1}")
    with pytest.raises(ConfigError, match="HANDOFF_CODEC_SERVER_TOKEN: required by"):
        build_codec_server(settings, "default", Secrets(codec_keys=keys, codec_server_token=None))
    with pytest.raises(ConfigError) as raised:
        build_codec_server(settings, "default", Secrets(codec_keys=SecretStr(f"k1:{KEY_1[:8]}")))
    assert KEY_1[:8] not in str(raised.value)
    off = CodecServerSettings(require_token=False)
    assert build_codec_server(off, "default", Secrets(codec_keys=keys)).codec.keys.active == "k1"


def test_handoff_codec_server_serves_until_stopped(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "handoff.toml"
    config.write_text(
        '[[sources]]\nkind = "file"\nname = "demo"\npath = "usage"\n\n[crm]\nkind = "hubspot"\n\n'
        f'[codec_server]\nport = {port}\nui_origins = ["{UI}"]\n\n[log]\nformat = "json"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env |= {"HANDOFF_CODEC_KEYS": f"k1:{KEY_1}", "HANDOFF_CODEC_SERVER_TOKEN": TOKEN}
    process = subprocess.Popen(
        [str(HANDOFF), "codec-server", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, _ = call(f"http://127.0.0.1:{port}/decode", plain_body())
                break
            except urllib.error.URLError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the codec server did not start"
                time.sleep(0.2)
        assert status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, logs = process.communicate(timeout=20)
    assert process.returncode == 0, logs
    events = [json.loads(line)["event"] for line in logs.splitlines() if line.startswith("{")]
    assert events[0] == "codec.server_started"
    assert events[-1] == "codec.server_stopped"
    assert KEY_1 not in logs and TOKEN not in logs


def test_handoff_codec_server_without_keys_exits_2_naming_them(tmp_path: Path) -> None:
    config = tmp_path / "handoff.toml"
    config.write_text(
        '[[sources]]\nkind = "file"\nname = "demo"\npath = "usage"\n\n[crm]\nkind = "hubspot"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    done = subprocess.run(
        [str(HANDOFF), "codec-server", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "HANDOFF_CODEC_KEYS: required by [temporal] encrypt_payloads" in done.stderr
