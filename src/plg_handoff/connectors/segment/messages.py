"""Segment spec messages: validation on receipt, and conversion to our (Mixpanel export) shape."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MESSAGE_TYPES = frozenset({"track", "identify", "group", "page", "screen", "alias"})
ACCOUNT_PROPERTY = "account_id"
PAGE_EVENT = "Page Viewed"
SCREEN_EVENT = "Screen Viewed"


@dataclass(frozen=True)
class Invalid:
    reason: str
    detail: str = ""


def message_size(message: Any) -> int:
    """Bytes of the message as compact JSON: Segment's per-message limit counts the payload."""
    return len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode())


def validate(message: Any) -> Invalid | None:
    """Why Segment would not accept `message`, or None when it would."""
    if not isinstance(message, dict):
        return Invalid("not_an_object", type(message).__name__)
    size = message_size(message)
    if size > MAX_MESSAGE_BYTES:
        return Invalid("too_large", f"{size} bytes > {MAX_MESSAGE_BYTES}")
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        return Invalid("unknown_type", repr(kind)[:100])
    if distinct_id(message) is None:
        return Invalid("missing_identity", "neither userId nor anonymousId")
    if kind == "track" and not _text(message.get("event")):
        return Invalid("missing_event")
    if kind == "group" and _identifier(message.get("groupId")) is None:
        return Invalid("missing_group_id")
    if kind == "alias" and _identifier(message.get("previousId")) is None:
        return Invalid("missing_previous_id")
    for key in ("timestamp", "originalTimestamp", "sentAt"):
        if key in message and message[key] is not None and parse_time(message[key]) is None:
            return Invalid("bad_timestamp", f"{key}={message[key]!r}"[:200])
    for key in ("properties", "traits", "context"):
        if message.get(key) is not None and not isinstance(message[key], dict):
            return Invalid(f"bad_{key}", type(message[key]).__name__)
    return None


def stamp(
    message: dict[str, Any],
    *,
    received_at: str,
    batch_context: Mapping[str, Any] | None = None,
    sent_at: Any = None,
) -> dict[str, Any]:
    """What the collector adds before spooling: receivedAt, a messageId when missing, and the
    batch-level context / sentAt (the message's own values win)."""
    stamped = dict(message)
    stamped["receivedAt"] = received_at
    if not _identifier(stamped.get("messageId")):
        stamped["messageId"] = str(uuid.uuid4())
    if batch_context:
        own = stamped.get("context")
        stamped["context"] = {**batch_context, **(own if isinstance(own, dict) else {})}
    if sent_at is not None and "sentAt" not in stamped and parse_time(sent_at) is not None:
        stamped["sentAt"] = sent_at
    return stamped


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp (naive ones are read as UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def event_time(message: Mapping[str, Any]) -> datetime | None:
    """When it happened, as Segment computes it: `timestamp`, else `originalTimestamp`
    corrected by the client's clock skew (receivedAt - sentAt), else `receivedAt`."""
    explicit = parse_time(message.get("timestamp"))
    if explicit is not None:
        return explicit
    received = parse_time(message.get("receivedAt"))
    original = parse_time(message.get("originalTimestamp"))
    if original is not None:
        sent = parse_time(message.get("sentAt"))
        return original + (received - sent) if received and sent else original
    return received


def distinct_id(message: Mapping[str, Any]) -> str | None:
    return _identifier(message.get("userId")) or _identifier(message.get("anonymousId"))


def to_event(
    message: Mapping[str, Any],
    groups: GroupMap | None = None,
    account_property: str = ACCOUNT_PROPERTY,
) -> dict[str, Any] | None:
    """A track / page / screen message as one line of Mixpanel's export; None for the other
    types (they carry identity and traits, not usage) or when it has no usable time."""
    kind = message.get("type")
    properties = message.get("properties")
    properties = dict(properties) if isinstance(properties, dict) else {}
    if kind == "track":
        name = _text(message.get("event"))
    elif kind == "page":
        name = PAGE_EVENT
        properties.update(_page_properties(message, properties))
    elif kind == "screen":
        name = SCREEN_EVENT
        if _text(message.get("name")):
            properties["name"] = message["name"]
    else:
        return None
    user = distinct_id(message)
    when = event_time(message)
    if not name or user is None or when is None:
        return None
    properties.update(
        (key, value) for key, value in _context_properties(message).items() if key not in properties
    )
    properties["time"] = int(when.timestamp())
    properties["distinct_id"] = user
    if message_id := _identifier(message.get("messageId")):
        properties["$insert_id"] = message_id
    if groups is not None and "email" not in properties and (email := groups.email_of(user)):
        properties["email"] = email
    account = account_of(message) or (groups.account_of(user) if groups else None)
    if account is not None:
        properties[account_property] = account
    return {"event": name, "properties": properties}


def account_of(message: Mapping[str, Any]) -> str | None:
    """The account a message names itself: `context.groupId`, else `properties.groupId`."""
    for holder in ("context", "properties"):
        values = message.get(holder)
        if isinstance(values, dict) and (account := _identifier(values.get("groupId"))):
            return account
    return None


@dataclass
class GroupMap:
    """Folds `group` calls (and `context.groupId`) into user -> account and account -> traits.
    The latest timestamp wins whatever the arrival order, per user and per trait."""

    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    traits: dict[str, dict[str, tuple[str, Any]]] = field(default_factory=dict)
    # a user's email from `identify` traits, for the events that do not carry it (in memory
    # for one pull: not part of the snapshot)
    emails: dict[str, tuple[str, str]] = field(default_factory=dict)

    def fold(self, message: Mapping[str, Any]) -> None:
        user = distinct_id(message)
        when = event_time(message)
        if user is None or when is None:
            return
        at = when.astimezone(UTC).isoformat(timespec="microseconds")
        if message.get("type") == "group":
            account = _identifier(message.get("groupId"))
            traits = message.get("traits")
            if account is not None and isinstance(traits, dict):
                known = self.traits.setdefault(account, {})
                for name, value in traits.items():
                    if name not in known or known[name][0] <= at:
                        known[name] = (at, value)
        else:
            account = account_of(message)
        traits = message.get("traits")
        if message.get("type") == "identify" and isinstance(traits, dict):
            email = traits.get("email")
            if isinstance(email, str) and email and self.emails.get(user, ("",))[0] <= at:
                self.emails[user] = (at, email)
        if account is not None and (user not in self.users or self.users[user][0] <= at):
            self.users[user] = (at, account)

    def account_of(self, user: str) -> str | None:
        entry = self.users.get(user)
        return entry[1] if entry else None

    def email_of(self, user: str) -> str | None:
        entry = self.emails.get(user)
        return entry[1] if entry else None

    def traits_of(self, account: str) -> dict[str, Any]:
        return {name: value for name, (_, value) in self.traits.get(account, {}).items()}

    def accounts(self) -> dict[str, dict[str, Any]]:
        return {account: self.traits_of(account) for account in self.traits}

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state, so a sync can carry the map from one pull to the next."""
        return {
            "users": {user: list(entry) for user, entry in self.users.items()},
            "traits": {
                account: {name: list(entry) for name, entry in traits.items()}
                for account, traits in self.traits.items()
            },
        }

    @classmethod
    def from_snapshot(cls, data: Mapping[str, Any]) -> GroupMap:
        return cls(
            users={user: (str(at), str(acc)) for user, (at, acc) in data.get("users", {}).items()},
            traits={
                account: {name: (str(at), value) for name, (at, value) in traits.items()}
                for account, traits in data.get("traits", {}).items()
            },
        )


def _page_properties(message: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    context = message.get("context")
    page = context.get("page") if isinstance(context, dict) else None
    page = page if isinstance(page, dict) else {}
    found = {key: properties.get(key, page.get(key)) for key in ("url", "path")}
    found["name"] = message.get("name") or properties.get("name") or page.get("title")
    if message.get("category"):
        found["category"] = message["category"]
    return {key: value for key, value in found.items() if value not in (None, "")}


def _context_properties(message: Mapping[str, Any]) -> dict[str, Any]:
    """What the metrics' bot, team and competitor checks read from Segment's context: the
    client's IP and user agent, and the user's department and email when the library sends
    identify traits along."""
    context = message.get("context")
    if not isinstance(context, dict):
        return {}
    traits = context.get("traits")
    found = {
        "ip": context.get("ip"),
        "user_agent": context.get("userAgent"),
        "department": traits.get("department") if isinstance(traits, dict) else None,
        "email": traits.get("email") if isinstance(traits, dict) else None,
    }
    return {key: value for key, value in found.items() if value not in (None, "")}


def _identifier(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
