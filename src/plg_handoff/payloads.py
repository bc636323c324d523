"""The data converter every client of this project uses: Temporal's default, with dataclass
field types resolved once per class.

Temporal's JSON converter calls `typing.get_type_hints` for every dataclass value it decodes,
and an account's usage signal holds a dataclass per day: with postponed annotations that is
most of the cost of decoding a signal or a local activity's result. The values decoded are the
same as the default converter's (a test decodes the project's contracts both ways).

With `[temporal] encrypt_payloads` on, every client, worker and replayer uses the same
converter with the payloads encrypted (`data_converter`, `plg_handoff.codec`)."""

from __future__ import annotations

import dataclasses
import threading
import weakref
from typing import Any, get_type_hints

from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
    JSONTypeConverter,
    value_to_type,
)

from plg_handoff.codec import EncryptionCodec, KeyRing
from plg_handoff.config import Secrets, TemporalSettings, codec_keys

# Keyed weakly: a workflow sandbox defines its workflow module's dataclasses anew for every
# workflow instance, and those classes must not outlive it.
_FIELD_TYPES: weakref.WeakKeyDictionary[type, dict[str, Any]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()  # workflow activations and activity threads decode concurrently


def field_types(cls: type) -> dict[str, Any]:
    with _LOCK:
        types = _FIELD_TYPES.get(cls)
    if types is None:
        types = get_type_hints(cls)
        with _LOCK:
            _FIELD_TYPES[cls] = types
    return types


class DataclassFieldsOnce(JSONTypeConverter):
    """Decodes a dataclass as Temporal's `value_to_type` does, with the field types cached."""

    def to_typed_value(self, hint: type, value: Any) -> Any:
        if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
            return JSONTypeConverter.Unhandled
        if not isinstance(value, dict):
            return JSONTypeConverter.Unhandled  # the default raises its own clear error
        types = field_types(hint)
        init_values: dict[str, Any] = {}
        other_values: dict[str, Any] = {}
        for field in dataclasses.fields(hint):
            if field.name not in value:
                continue  # a missing required field fails in the constructor, as by default
            try:
                converted = value_to_type(types[field.name], value[field.name], [self])
            except Exception as exc:  # re-raised with the field named, as by default
                raise TypeError(
                    f"Failed converting field {field.name} on dataclass {hint}"
                ) from exc
            (init_values if field.init else other_values)[field.name] = converted
        decoded = hint(**init_values)
        for name, converted in other_values.items():
            object.__setattr__(decoded, name, converted)
        return decoded


class PayloadConverter(CompositePayloadConverter):
    def __init__(self) -> None:
        json = JSONPlainPayloadConverter(custom_type_converters=[DataclassFieldsOnce()])
        converters: list[EncodingPayloadConverter] = [
            json if isinstance(c, JSONPlainPayloadConverter) else c
            for c in DefaultPayloadConverter.default_encoding_payload_converters
        ]
        super().__init__(*converters)


DATA_CONVERTER = DataConverter(payload_converter_class=PayloadConverter)


def data_converter(settings: TemporalSettings, secrets: Secrets) -> DataConverter:
    """The converter of every client, worker and replayer of a deployment: DATA_CONVERTER, with
    its payloads encrypted when `[temporal] encrypt_payloads` is on. A ConfigError names
    HANDOFF_CODEC_KEYS when it is on and the keys are missing or malformed."""
    if not settings.encrypt_payloads:
        return DATA_CONVERTER
    return encrypted(codec_keys(secrets))


def encrypted(keys: KeyRing) -> DataConverter:
    """DATA_CONVERTER with every payload encrypted, failure messages and stack traces too (they
    can quote an account's data): moved into the failure's encoded attributes, which the codec
    encrypts."""
    return dataclasses.replace(
        DATA_CONVERTER,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
