"""Parsing of Mixpanel export lines and group profiles, shared by every source of that shape."""

from __future__ import annotations

import json
import math
import time as _time
from collections.abc import Collection, Mapping
from typing import Any

from plg_handoff.connectors.base import ParsedLine, Quarantined
from plg_handoff.domain.domains import account_domains
from plg_handoff.domain.usage import AccountTraits, UsageEvent

EARLIEST_EVENT = 946_684_800  # 2000-01-01T00:00:00Z
FUTURE_TOLERANCE_S = 86_400
MS_THRESHOLD = 100_000_000_000  # beyond this an epoch is in milliseconds


def parse_event_line(
    raw: str,
    location: str,
    account_property: str,
    now: float | None = None,
    known_events: Collection[str] | None = None,
) -> ParsedLine:
    """One line of `/api/2.0/export` output: `{"event":..., "properties":{"time":...,...}}`.
    With `known_events`, an event of another name is quarantined as `unknown_event`."""

    def bad(reason: str, detail: str = "") -> ParsedLine:
        return ParsedLine(quarantined=Quarantined(reason, raw, location, detail))

    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return bad("unparseable_json", str(exc))
    if not isinstance(obj, dict):
        return bad("not_an_object", type(obj).__name__)
    name = obj.get("event")
    if not isinstance(name, str) or not name:
        return bad("missing_event_name")
    props = obj.get("properties")
    if not isinstance(props, dict):
        return bad("missing_properties")
    when = _epoch_seconds(props.get("time"))
    if when is None:
        return bad(
            "missing_time" if props.get("time") is None else "bad_time", repr(props.get("time"))
        )
    latest = (now if now is not None else _time.time()) + FUTURE_TOLERANCE_S
    if not EARLIEST_EVENT <= when <= latest:
        return bad("impossible_time", str(when))
    distinct_id = props.get("distinct_id")
    if isinstance(distinct_id, bool) or not isinstance(distinct_id, str | int) or distinct_id == "":
        return bad("missing_distinct_id")
    accounts = _account_ids(props.get(account_property))
    if not accounts:
        return bad("missing_account", f"no {account_property!r} property")
    if known_events is not None and name not in known_events:
        return bad("unknown_event", name)
    insert_id = props.get("$insert_id")
    events = tuple(
        UsageEvent(
            name=name,
            time=when,
            distinct_id=str(distinct_id),
            account_id=account,
            insert_id=_insert_id(insert_id),
            properties=props,
        )
        for account in accounts
    )
    return ParsedLine(events=events)


def _insert_id(value: object) -> str | None:
    """A usable `$insert_id`: a non-empty string or an integer (never a bool)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and value):
        return str(value)
    return None


def _epoch_seconds(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number != number:  # NaN
        return None
    if number > MS_THRESHOLD:
        number /= 1000
    return int(number)


def _account_ids(value: object) -> tuple[str, ...]:
    """A group key holds one account id, or a list when the user belongs to several."""
    values = value if isinstance(value, list) else [value]
    return tuple(
        dict.fromkeys(
            str(v)
            for v in values
            if isinstance(v, str | int) and not isinstance(v, bool) and v != ""
        )
    )


def traits_from_profile(properties: Mapping[str, Any], mapping: Any) -> AccountTraits:
    """Maps a group profile's `$properties` to account traits using the configured names."""

    def number(key: str) -> float | None:
        value = properties.get(key)
        if isinstance(value, bool) or value is None:
            return None
        try:
            parsed = float(value)
        except (TypeError, ValueError, OverflowError):
            return None
        return parsed if math.isfinite(parsed) else None

    def text(key: str) -> str | None:
        value = properties.get(key)
        return str(value) if value not in (None, "") else None

    limits = {name: v for name, key in mapping.limits.items() if (v := number(key)) is not None}
    employees = number(mapping.employees)
    return AccountTraits(
        name=text(mapping.name),
        plan=text(mapping.plan),
        limits=limits,
        employees=int(employees) if employees is not None else None,
        arr_potential=number(mapping.arr_potential),
        region=text(mapping.region),
        industry=text(mapping.industry),
        domains=account_domains(properties.get(mapping.domains)),
        signup_date=text(mapping.signup_date),
    )
