"""Who gets a handoff: the account's own owner, else a pool chosen by routing rules, and inside
the pool the owner assigned least recently among those under their cap of open handoffs.

Pure functions: the activity gathers owners, the account and open handoffs from the CRM and
Temporal; the owner-pool entity workflow keeps the rotation and calls `choose_in_pool`."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

DEFAULT_POOL = "default"


@dataclass(frozen=True)
class RoutingRule:
    """Matches when every criterion it names holds (an empty criterion matches anything);
    values compare case-insensitively."""

    pool: str
    owners: tuple[str, ...] = ()
    """Owner ids of the pool; empty means every active owner."""
    regions: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    industries: tuple[str, ...] = ()
    max_open_per_owner: int | None = None


@dataclass(frozen=True)
class RoutingFacts:
    region: str | None = None
    segment: str | None = None
    industry: str | None = None


@dataclass(frozen=True)
class Choice:
    owner_id: str
    over_capacity: bool = False
    """Every candidate had reached the cap: the least loaded one got it anyway."""


def _fits(wanted: tuple[str, ...], value: str | None) -> bool:
    if not wanted:
        return True
    return value is not None and value.strip().casefold() in {w.casefold() for w in wanted}


def matches(rule: RoutingRule, facts: RoutingFacts) -> bool:
    return (
        _fits(rule.regions, facts.region)
        and _fits(rule.segments, facts.segment)
        and _fits(rule.industries, facts.industry)
    )


def route(rules: Sequence[RoutingRule], facts: RoutingFacts, default: RoutingRule) -> RoutingRule:
    """The first rule that matches, else the default pool."""
    return next((rule for rule in rules if matches(rule, facts)), default)


def existing_owner(
    owner_id: str | None,
    *,
    active: Collection[str],
    exclude: Collection[str],
    owner_active: bool | None = None,
) -> str | None:
    """The account's owner when they may take the handoff: active (as the CRM says on the
    account, else by the owner list) and not excluded."""
    if not owner_id or owner_id in exclude:
        return None
    is_active = owner_id in active if owner_active is None else owner_active and owner_id in active
    return owner_id if is_active else None


def candidates(rule: RoutingRule, active: Iterable[str], exclude: Collection[str]) -> list[str]:
    """The pool's active owners, without the excluded ones, in a stable order."""
    pool = set(rule.owners)
    return sorted(o for o in set(active) if (not pool or o in pool) and o not in exclude)


def choose_in_pool(
    candidates: Sequence[str],
    last_assigned: Mapping[str, int],
    open_handoffs: Mapping[str, int],
    cap: int | None,
) -> Choice:
    """Round-robin: the candidate assigned least recently (never assigned first, ties by id)
    among those under `cap` open handoffs; when all are at the cap, the least loaded."""
    if not candidates:
        raise ValueError("no candidate owners")

    def recency(owner: str) -> tuple[int, str]:
        return (last_assigned.get(owner, -1), owner)

    under = [c for c in candidates if cap is None or open_handoffs.get(c, 0) < cap]
    if under:
        return Choice(min(under, key=recency))
    least = min(candidates, key=lambda c: (open_handoffs.get(c, 0), *recency(c)))
    return Choice(least, over_capacity=True)
