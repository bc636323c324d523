"""Encryption of Temporal payloads (workflow and activity inputs, results, signals, queries,
memos, heartbeats): AES-256-GCM, the keys from the environment, the key id in each payload's
metadata so keys can rotate.

HANDOFF_CODEC_KEYS="k2:<base64 of 32 bytes>,k1:<...>": the first key encrypts, every listed key
decrypts. The whole original payload (its metadata and data, as the protobuf `Payload`) is
encrypted with a random 96-bit nonce. A payload that is not encrypted passes decode unchanged,
so histories written before encryption was turned on still read."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec
from temporalio.exceptions import ApplicationError

KEYS_VARIABLE = "HANDOFF_CODEC_KEYS"
ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96 bits, GCM's own size
TAG_BYTES = 16
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
GENERATE = "python3 -c 'import os,base64;print(base64.b64encode(os.urandom(32)).decode())'"


class CodecKeyError(ValueError):
    """HANDOFF_CODEC_KEYS cannot be used; the message names the variable and the entry, never
    a key."""


class PayloadDecryptionError(ApplicationError):
    """An encrypted payload cannot be decrypted here. Not retryable: another attempt with the
    same keys fails the same way (a worker with the missing key, or the payload's writer, must
    change first)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="PayloadDecryptionError", non_retryable=True)


class UnknownKeyError(PayloadDecryptionError):
    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        super().__init__(
            f"payload encrypted with key id {key_id!r}, which {KEYS_VARIABLE} does not list:"
            " add that key (after the active one) to every worker and the codec server"
        )


@dataclass(frozen=True)
class KeyRing:
    """The keys of HANDOFF_CODEC_KEYS: `active` encrypts, all decrypt. Never shows a key."""

    active: str
    ciphers: Mapping[str, AESGCM] = field(repr=False)

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self.ciphers)

    @classmethod
    def parse(cls, text: str, variable: str = KEYS_VARIABLE) -> KeyRing:
        """`<key id>:<base64 key>` entries separated by commas, the active key first."""
        entries = [entry.strip() for entry in text.split(",") if entry.strip()]
        if not entries:
            raise CodecKeyError(f"{variable} is empty; generate a key with: {GENERATE}")
        ciphers: dict[str, AESGCM] = {}
        for position, entry in enumerate(entries, 1):
            key_id, colon, encoded = entry.partition(":")
            key_id = key_id.strip()
            where = f"{variable}: entry {position}"
            if not colon or not _KEY_ID.match(key_id):
                raise CodecKeyError(
                    f"{where} is not <key id>:<base64 key> (the key id 1-64 letters, digits,"
                    " '.', '_' or '-')"
                )
            if key_id in ciphers:
                raise CodecKeyError(f"{where}: key id {key_id!r} is listed twice")
            try:
                key = base64.b64decode(encoded.strip(), validate=True)
            except binascii.Error:
                key = b""
            if len(key) != KEY_BYTES:
                raise CodecKeyError(
                    f"{where} (key id {key_id!r}): the key is not the base64 of {KEY_BYTES}"
                    f" bytes (AES-256); generate one with: {GENERATE}"
                )
            ciphers[key_id] = AESGCM(key)
        return cls(next(iter(ciphers)), ciphers)  # dicts keep their order: the first


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over the serialized payload; the key id is also the associated data, so a
    payload relabelled with another key id fails authentication."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.keys.active.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.keys.ciphers[self.keys.active].encrypt(
            nonce, payload.SerializeToString(), key_id
        )
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was on, or by a client without it
        raw_id = payload.metadata.get(KEY_ID)
        if raw_id is None:
            raise PayloadDecryptionError(f"an encrypted payload has no {KEY_ID} metadata")
        key_id = raw_id.decode("utf-8", errors="replace")[:64]
        cipher = self.keys.ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(key_id)
        data = payload.data
        if len(data) < NONCE_BYTES + TAG_BYTES:
            raise PayloadDecryptionError(f"an encrypted payload (key id {key_id!r}) is truncated")
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], raw_id)
        except InvalidTag:
            raise PayloadDecryptionError(
                f"an encrypted payload (key id {key_id!r}) failed authentication: it was"
                " altered, or encrypted with another key under that id"
            ) from None
        decoded = Payload()
        try:
            decoded.ParseFromString(plain)
        except DecodeError:
            raise PayloadDecryptionError(
                f"an encrypted payload (key id {key_id!r}) does not hold a Payload"
            ) from None
        return decoded
