"""The payload codec: AES-256-GCM round trips, key rotation, refusals that name the key id and
never a key, and payloads written before encryption passing through."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from plg_handoff.activities.contracts import UsageUpdate
from plg_handoff.codec import (
    ENCODING,
    KEY_ID,
    CodecKeyError,
    EncryptionCodec,
    KeyRing,
    PayloadDecryptionError,
    UnknownKeyError,
)
from plg_handoff.config import (
    ConfigError,
    Secrets,
    TemporalSettings,
    load_secrets,
    parse_config,
)
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.logs import SecretRedactor
from plg_handoff.payloads import DATA_CONVERTER, data_converter, encrypted

# Fixed test keys: parametrized ids must be the same in every pytest-xdist process.
KEY_1 = base64.b64encode(bytes(range(32))).decode()
KEY_2 = base64.b64encode(bytes(range(100, 132))).decode()
UPDATE = UsageUpdate(
    "acct-1",
    [DayRollup("2025-03-01", {"Report Viewed": 3}, 2, {"seats": 9})],
    AccountTraits(name="Globex Corporation", domains=["globex.example"]),
)


def ring(text: str) -> KeyRing:
    return KeyRing.parse(text)


async def test_a_payload_round_trips_encrypted() -> None:
    converter = encrypted(ring(f"k1:{KEY_1}"))
    [sealed] = await converter.encode([UPDATE])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"k1"
    assert set(sealed.metadata) == {"encoding", KEY_ID}  # the original metadata is inside
    assert b"Globex" not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()
    [decoded] = await converter.decode([sealed], [UsageUpdate])
    assert decoded == UPDATE


async def test_each_payload_gets_its_own_nonce() -> None:
    codec = EncryptionCodec(ring(f"k1:{KEY_1}"))
    [plain] = DATA_CONVERTER.payload_converter.to_payloads([UPDATE])
    first, second = await codec.encode([plain, plain])
    assert first.data[:12] != second.data[:12]
    assert first.data != second.data


async def test_rotation_the_new_key_encrypts_and_the_old_one_still_decrypts() -> None:
    [plain] = DATA_CONVERTER.payload_converter.to_payloads([UPDATE])
    old = EncryptionCodec(ring(f"k1:{KEY_1}"))
    rotated = EncryptionCodec(ring(f"k2:{KEY_2},k1:{KEY_1}"))
    [written_before] = await old.encode([plain])
    [written_after] = await rotated.encode([plain])
    assert written_after.metadata[KEY_ID] == b"k2"
    assert await rotated.decode([written_before, written_after]) == [plain, plain]
    with pytest.raises(UnknownKeyError, match="'k2'"):  # a worker not yet given the new key
        await old.decode([written_after])


async def test_an_unknown_key_id_is_a_non_retryable_error_naming_it() -> None:
    [sealed] = await EncryptionCodec(ring(f"k9:{KEY_2}")).encode([Payload(data=b"{}")])
    with pytest.raises(UnknownKeyError) as raised:
        await EncryptionCodec(ring(f"k1:{KEY_1}")).decode([sealed])
    assert isinstance(raised.value, ApplicationError)
    assert raised.value.non_retryable
    assert raised.value.key_id == "k9"
    assert "'k9'" in str(raised.value)
    assert "HANDOFF_CODEC_KEYS" in str(raised.value)
    assert KEY_1 not in str(raised.value)
    assert KEY_2 not in str(raised.value)


@pytest.mark.parametrize("where", ["ciphertext", "nonce", "key id"])
async def test_a_tampered_payload_fails_authentication(where: str) -> None:
    keys = ring(f"k1:{KEY_1},k2:{KEY_1}")  # k2: the same key under another id
    codec = EncryptionCodec(keys)
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"{}")])
    data = bytearray(sealed.data)
    if where == "ciphertext":
        data[-1] ^= 1
    elif where == "nonce":
        data[0] ^= 1
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(data))
    if where == "key id":
        tampered.metadata[KEY_ID] = b"k2"
    with pytest.raises(PayloadDecryptionError, match="failed authentication") as raised:
        await codec.decode([tampered])
    assert raised.value.non_retryable


async def test_malformed_encrypted_payloads_are_refused() -> None:
    codec = EncryptionCodec(ring(f"k1:{KEY_1}"))
    with pytest.raises(PayloadDecryptionError, match="no encryption-key-id"):
        await codec.decode([Payload(metadata={"encoding": ENCODING}, data=b"x" * 40)])
    with pytest.raises(PayloadDecryptionError, match="truncated"):
        await codec.decode([Payload(metadata={"encoding": ENCODING, KEY_ID: b"k1"}, data=b"x")])


async def test_payloads_written_without_encryption_pass_through() -> None:
    plain = DATA_CONVERTER.payload_converter.to_payloads([UPDATE, None, b"raw"])
    assert await EncryptionCodec(ring(f"k1:{KEY_1}")).decode(plain) == plain
    [decoded] = await encrypted(ring(f"k1:{KEY_1}")).decode(plain[:1], [UsageUpdate])
    assert decoded == UPDATE


async def test_failure_messages_are_encrypted_too() -> None:
    converter = encrypted(ring(f"k1:{KEY_1}"))
    failure = Failure()
    await converter.encode_failure(ApplicationError("Globex Corporation refused"), failure)
    assert b"Globex" not in failure.SerializeToString()
    decoded = await converter.decode_failure(failure)
    assert str(decoded) == "Globex Corporation refused"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "HANDOFF_CODEC_KEYS is empty"),
        (KEY_1, "HANDOFF_CODEC_KEYS: entry 1 is not <key id>:<base64 key>"),
        (f"{KEY_1}:k1", "HANDOFF_CODEC_KEYS: entry 1 is not <key id>:<base64 key>"),
        (f"k1:{KEY_1},k 2:{KEY_2}", "HANDOFF_CODEC_KEYS: entry 2 is not"),
        (f"k1:{KEY_1[:-4]}", "entry 1 (key id 'k1'): the key is not the base64 of 32 bytes"),
        (f"k1:{KEY_1[:-1]}!", "entry 1 (key id 'k1'): the key is not the base64 of 32 bytes"),
        (f"k1:{KEY_1},k1:{KEY_2}", "entry 2: key id 'k1' is listed twice"),
    ],
    ids=["empty", "no id", "key before id", "space in id", "short", "not base64", "twice"],
)
def test_bad_keys_are_refused_naming_the_variable_never_the_key(text: str, message: str) -> None:
    with pytest.raises(CodecKeyError) as raised:
        KeyRing.parse(text)
    assert message in str(raised.value)
    for key in (KEY_1, KEY_2, KEY_1[:-4], KEY_1[:-1]):
        assert key not in str(raised.value)


def test_the_key_ring_never_shows_a_key() -> None:
    keys = ring(f" k2:{KEY_2} , k1:{KEY_1} ")
    assert keys.active == "k2"
    assert keys.key_ids == ("k2", "k1")
    assert KEY_1 not in repr(keys)
    assert KEY_2 not in repr(keys)


CONFIG: dict[str, Any] = {
    "sources": [{"kind": "file", "name": "demo", "path": "usage"}],
    "crm": {"kind": "hubspot"},
}


def test_encryption_on_without_keys_fails_at_start_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", "hubspot-token")
    monkeypatch.delenv("HANDOFF_CODEC_KEYS", raising=False)
    loaded = parse_config({**CONFIG, "temporal": {"encrypt_payloads": True}}, base_dir=tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_secrets(loaded)
    assert "HANDOFF_CODEC_KEYS: required by [temporal] encrypt_payloads = true" in str(raised.value)
    with pytest.raises(ConfigError, match="HANDOFF_CODEC_KEYS"):
        data_converter(loaded.temporal, Secrets())
    off = parse_config(CONFIG, base_dir=tmp_path)
    assert load_secrets(off).codec_keys is None
    assert data_converter(off.temporal, Secrets()) is DATA_CONVERTER


def test_malformed_keys_fail_at_start_naming_the_variable_not_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", "hubspot-token")
    short = KEY_1[:-8]
    monkeypatch.setenv("HANDOFF_CODEC_KEYS", f"k1:{short}")
    loaded = parse_config({**CONFIG, "temporal": {"encrypt_payloads": True}}, base_dir=tmp_path)
    with pytest.raises(ConfigError) as raised:
        load_secrets(loaded)
    assert "HANDOFF_CODEC_KEYS: entry 1 (key id 'k1')" in str(raised.value)
    assert short not in str(raised.value)
    off = parse_config(CONFIG, base_dir=tmp_path)  # set but malformed: refused even when off
    with pytest.raises(ConfigError, match="HANDOFF_CODEC_KEYS"):
        load_secrets(off)


def test_with_the_keys_every_client_gets_the_encrypting_converter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDOFF_CODEC_KEYS", f"k2:{KEY_2},k1:{KEY_1}")
    converter = data_converter(TemporalSettings(encrypt_payloads=True), Secrets())
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert converter.payload_codec.keys.active == "k2"
    assert converter.payload_converter_class is DATA_CONVERTER.payload_converter_class
    assert dataclasses.replace(converter, payload_codec=None).payload_codec is None


def test_the_log_redactor_masks_each_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_CODEC_KEYS", f"k2:{KEY_2},k1:{KEY_1}")
    redact = SecretRedactor(Secrets().values())
    cleaned = redact(None, "info", {"event": "x", "detail": f"oops {KEY_1} and {KEY_2}"})
    assert KEY_1 not in cleaned["detail"]
    assert KEY_2 not in cleaned["detail"]
