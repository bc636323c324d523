"""Metric definitions: which events and properties become the daily figures triggers read.

A definition selects events (by name, and by conditions on their properties) and says what a
day keeps of them. Every kind is exact and independent of the order events arrive in, so any
engine that follows these rules (the reference `UsageRollup`, the DuckDB ingestion) gives the
same rollup:

- `count`: how many distinct events matched (copies of one event count once, and an event
  matches when any of its copies does);
- `distinct`: how many distinct values `property` took among matching events;
- `values`: those values themselves, the `limit` smallest (so a window can union them, e.g.
  the departments active in a month); with `email_domain`, the domains of email addresses;
- `max_per_user`: the most matching events one user did that day (e.g. invites by one user);
- `max_repeat`: the most times one user did the same matching event that day (bot checks);
- `sessions`: visits, as Mixpanel counts them by default: a user's matching events with no
  gap longer than `timeout_minutes` are one session, summed over users;
- `sum`: the total of a quantity `property` carries (`API Calls {count: 300}` is 300 calls);
- `max`: the day's largest `property` value (a level reported on events, e.g. seats in use).

A value is a property holding a non-empty string or an integer, read as text; anything else
(absent, null, booleans, floats, objects) is no value. A copy of an event contributes its
smallest value, so duplicates can never add values the event did not have.

A quantity (`sum`, `max`) is a finite JSON number or a string holding one (" 300 "), read as
gauges are; a copy of an event contributes its smallest quantity, so duplicates never add to a
sum. A figure is rounded to 6 decimals and kept an integer when it is whole."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal, TypeGuard

from pydantic import BaseModel, ConfigDict, Field, model_validator

MetricKind = Literal[
    "count", "distinct", "values", "max_per_user", "max_repeat", "sessions", "sum", "max"
]
VALUE_KINDS = ("distinct", "values")  # read `property` as an identifier
QUANTITY_KINDS = ("sum", "max")  # read `property` as a number
Scalar = str | bool | int
MIN_ID, MAX_ID = -(2**63), 2**64 - 1  # integers a JSON engine reads exactly (BIGINT/UBIGINT)
MAX_METRICS = 64  # a source's metrics share one 64-bit match mask per event in the ingestion


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """One test on an event property; a definition's conditions must all hold. Give exactly one
    of `equals`, `one_of`, `contains`, `at_least`, `exists`."""

    property: str = Field(min_length=1)
    equals: Scalar | None = Field(None, description="The property is exactly this JSON value.")
    one_of: tuple[Scalar, ...] | None = Field(None, description="Equal to any of these.")
    contains: tuple[str, ...] | None = Field(
        None, description="A string property containing any of these (case-sensitive)."
    )
    at_least: float | None = Field(None, description="A JSON number ≥ this.")
    exists: bool | None = Field(None, description="Present and not null (true), or not (false).")

    @model_validator(mode="after")
    def _exactly_one_test(self) -> Condition:
        given = [
            name
            for name in ("equals", "one_of", "contains", "at_least", "exists")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of equals, one_of, contains, at_least, exists"
                f" (got {', '.join(given) or 'none'})"
            )
        if self.contains is not None and not all(self.contains):
            raise ValueError("contains: empty strings match everything; remove them")
        return self

    def holds(self, properties: Mapping[str, Any]) -> bool:
        value = properties.get(self.property)
        if self.exists is not None:
            return (value is not None) is self.exists
        if self.equals is not None:
            return same_json_value(value, self.equals)
        if self.one_of is not None:
            return any(same_json_value(value, option) for option in self.one_of)
        if self.contains is not None:
            return isinstance(value, str) and any(part in value for part in self.contains)
        assert self.at_least is not None  # noqa: S101  # the validator leaves no other case
        return _json_number(value) and value >= self.at_least


class MetricDefinition(_Strict):
    kind: MetricKind
    events: tuple[str, ...] = Field((), description="Event names; empty means every event.")
    where: tuple[Condition, ...] = ()
    property: str | None = Field(
        None, description="The property `distinct`/`values` read, or `sum`/`max` add up or peak."
    )
    fallbacks: tuple[str, ...] = Field(
        (),
        description="Properties read, in order, when `property` is absent or null (e.g. "
        "`$email`, then `email`).",
    )
    email_domain: bool = Field(
        False,
        description="`distinct`/`values`: keep the domain of an email address (after the @, "
        "lower case), never the address; a value that is no address is no value.",
    )
    limit: int = Field(10, ge=1, le=100, description="`values`: how many values a day keeps.")
    timeout_minutes: int = Field(30, ge=1, le=1440, description="`sessions`: the idle gap.")

    @model_validator(mode="after")
    def _property_where_needed(self) -> MetricDefinition:
        needs_property = self.kind in VALUE_KINDS + QUANTITY_KINDS
        if needs_property and not self.property:
            raise ValueError(f"a {self.kind} metric needs `property`")
        if not needs_property and self.property is not None:
            raise ValueError(f"a {self.kind} metric takes no `property`")
        if self.fallbacks and not self.property:
            raise ValueError("`fallbacks` are read in place of `property`: give `property`")
        if self.email_domain and self.kind not in VALUE_KINDS:
            raise ValueError(f"`email_domain` is for distinct and values metrics, not {self.kind}")
        return self

    def reads(self) -> tuple[str, ...]:
        """The properties the value comes from, in order."""
        return (self.property, *self.fallbacks) if self.property else ()

    def _raw(self, properties: Mapping[str, Any]) -> object:
        return next((v for p in self.reads() if (v := properties.get(p)) is not None), None)

    def matches(self, name: str, properties: Mapping[str, Any]) -> bool:
        return (not self.events or name in self.events) and all(
            condition.holds(properties) for condition in self.where
        )

    def value(self, properties: Mapping[str, Any]) -> str | None:
        raw = self._raw(properties)
        return email_domain(raw) if self.email_domain else id_text(raw)

    def quantity(self, properties: Mapping[str, Any]) -> float | None:
        return quantity(self._raw(properties))


EMAIL_DOMAIN = r"@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)"  # at the end of the text


def email_domain(value: object) -> str | None:
    """The domain of an email address, lower case: the host after the last @ that is one (ASCII
    letters, digits and hyphens, two labels or more) and ends the text; None otherwise."""
    if not isinstance(value, str):
        return None
    found = re.search(EMAIL_DOMAIN + r"\Z", value)
    return found.group(1).lower() if found else None


def quantity(value: object) -> float | None:
    """A finite number from a JSON value or a string holding one; booleans, NaN and infinities
    are no quantity."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def figure(value: float) -> float:
    """A day's figure as the rollup keeps it: 6 decimals, an integer when whole."""
    rounded = round(value, 6)
    return int(rounded) if rounded.is_integer() else rounded


def same_json_value(value: object, expected: Scalar) -> bool:
    """JSON equality without Python's 1 == True: a boolean only equals a boolean."""
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(expected, bool) and value is expected
    if isinstance(expected, int):
        return isinstance(value, int) and value == expected
    return isinstance(value, str) and value == expected


def id_text(value: object) -> str | None:
    """A property as an identifier: a non-empty string, or an integer a JSON engine reads
    exactly; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if MIN_ID <= value <= MAX_ID else None
    return value if isinstance(value, str) and value else None


def _json_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _count(*events: str, where: tuple[Condition, ...] = ()) -> MetricDefinition:
    return MetricDefinition(kind="count", events=events, where=where)


_PAGE_EVENTS = ("Page Viewed", "$mp_web_page_view")


def _path_contains(*parts: str) -> tuple[Condition, ...]:
    return (Condition(property="path", contains=parts),)


DEFAULT_METRICS: dict[str, MetricDefinition] = {
    # feature: premium-feature interest, enterprise capability asks, workarounds, votes
    "premium_blocks": _count("Premium Feature Blocked", "Upgrade Prompt Shown"),
    "enterprise_requests": _count(
        "Support Ticket Created",
        where=(
            Condition(
                property="topic", one_of=("sso", "saml", "audit_log", "sla", "scim", "enterprise")
            ),
        ),
    ),
    "workaround_actions": _count("Data Imported", "Workflow Duplicated", "Content Copied"),
    "feature_votes": _count(
        "Feature Voted",
        "Feature Request Commented",
        where=(Condition(property="tier", equals="enterprise"),),
    ),
    "pricing_visits": _count(*_PAGE_EVENTS, where=_path_contains("/pricing")),
    "enterprise_visits": _count(
        *_PAGE_EVENTS, where=_path_contains("/enterprise", "/sso", "/security", "/admin")
    ),
    # team: invitations, admin roles, departments
    "invites_sent": _count("User Invited"),
    "invites_accepted": _count("Invite Accepted"),
    "max_invites_by_one_user": MetricDefinition(kind="max_per_user", events=("User Invited",)),
    "admin_role_changes": _count(
        "Role Changed",
        "Admin Role Requested",
        where=(Condition(property="role", one_of=("admin", "owner")),),
    ),
    "departments": MetricDefinition(kind="values", property="department"),
    # integration: integrations, API, exports, webhooks
    "integrations_connected": _count("Integration Connected"),
    "integrations": MetricDefinition(
        kind="values", events=("Integration Connected",), property="integration", limit=20
    ),
    "api_requests": _count("API Request"),
    "api_rate_limited": _count("API Request", where=(Condition(property="status", equals=429),)),
    "webhooks_configured": _count("Webhook Created"),
    "scheduled_exports": _count(
        "Data Exported", where=(Condition(property="scheduled", equals=True),)
    ),
    "bulk_exports": _count(
        "Data Exported",
        where=(
            Condition(property="scheduled", equals=False),
            Condition(property="rows", at_least=10_000),
        ),
    ),
    # users' email domains (competitor research): the domain only, never the address
    "email_domains": MetricDefinition(
        kind="values", property="$email", fallbacks=("email",), email_domain=True, limit=20
    ),
    # real work (competitor audits have none)
    "work_product": _count("Project Created", "Report Saved", "Dashboard Created"),
    # time: visits
    "sessions": MetricDefinition(kind="sessions"),
    # bot and automation checks
    "distinct_ips": MetricDefinition(kind="distinct", property="ip"),
    "distinct_user_agents": MetricDefinition(kind="distinct", property="user_agent"),
    "bot_agent_events": _count(
        where=(
            Condition(
                property="user_agent",
                contains=("bot", "Bot", "crawler", "spider", "Headless", "python-requests"),
            ),
        )
    ),
    "max_repeat": MetricDefinition(kind="max_repeat"),
    # competitor evaluation (tier 1): comparison, alternatives and migration pages
    "competitor_visits": _count(
        *_PAGE_EVENTS,
        where=_path_contains(
            "/compare/", "/vs/", "-vs-", "/alternatives", "/switch-from", "/migrate-from"
        ),
    ),
}


# Each vendor's own name for a property the default metrics read, where the vendor has one. The
# defaults above use the names the Segment source gives Segment's fields (a page call's `path`,
# `context.ip` as `ip`, `context.userAgent` as `user_agent`, `context.traits.email` as `email`),
# which the file source's events use too. Mixpanel's SDKs send the page URL as `$current_url`;
# Mixpanel keeps neither the IP nor the raw user agent on events (it derives `$city`, `$browser`
# and `$os` and discards them), so on Mixpanel the IP and user-agent checks read `ip` and
# `user_agent` only when your tracking sends them as properties of its own.
VENDOR_PROPERTIES: dict[str, dict[str, str]] = {
    "mixpanel": {"path": "$current_url"},
}


def default_metrics(kind: str) -> dict[str, MetricDefinition]:
    """The default metrics for a source of this kind: `DEFAULT_METRICS` with the vendor's own
    property names (`VENDOR_PROPERTIES`)."""
    names = VENDOR_PROPERTIES.get(kind, {})
    if not names:
        return dict(DEFAULT_METRICS)
    return {name: _renamed(metric, names) for name, metric in DEFAULT_METRICS.items()}


def _renamed(metric: MetricDefinition, names: Mapping[str, str]) -> MetricDefinition:
    where = tuple(
        c.model_copy(update={"property": names.get(c.property, c.property)}) for c in metric.where
    )
    update: dict[str, Any] = {"where": where}
    if metric.property is not None:
        update["property"] = names.get(metric.property, metric.property)
        update["fallbacks"] = tuple(names.get(p, p) for p in metric.fallbacks)
    return metric.model_copy(update=update)
