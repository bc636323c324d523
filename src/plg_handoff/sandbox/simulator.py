"""Simulated product usage in the Mixpanel export shape, with account group profiles.

Deterministic for a seed: the same population and days always give the same lines, so a
re-written file re-pulls to the same rollups."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

EVENTS = ("Session Started", "Report Viewed", "Dashboard Edited", "Project Created", "Invite Sent")
PLANS = {"starter": 5, "team": 10, "business": 25}
NAMES = (
    "Acme Analytics", "Bluefin Logistics", "Cobalt Health", "Dunmore Retail", "Evergreen Labs",
    "Foxglove Media", "Granite Finance", "Harbor Robotics", "Ironwood Legal", "Juniper Foods",
    "Kestrel Energy", "Lumen Education", "Meridian Travel", "Northwind Supply", "Orchid Design",
    "Pinnacle Insurance", "Quarry Software", "Redwood Realty", "Summit Sports", "Tidal Networks",
)  # fmt: skip
ACCOUNT_PROPERTY = "account_id"


@dataclass(frozen=True)
class SimulatedAccount:
    account_id: str
    name: str
    plan: str
    seat_limit: int
    start_seats: int
    seats_per_week: float
    employees: int
    arr_potential: float
    region: str
    industry: str

    def seats_on(self, day_index: int) -> int:
        """Seats in use `day_index` days after the simulation's first day."""
        return min(self.seat_limit, self.start_seats + int(self.seats_per_week * day_index / 7))

    def profile(self) -> dict[str, Any]:
        """A Mixpanel group profile (Engage API shape, `data_group_id` = the account key)."""
        return {
            "$distinct_id": self.account_id,
            "$properties": {
                "name": self.name,
                "plan": self.plan,
                "seat_limit": self.seat_limit,
                "employees": self.employees,
                "arr_potential": self.arr_potential,
                "region": self.region,
                "industry": self.industry,
                "domains": [f"{self.account_id}.example"],
            },
        }


def population(size: int = 12, seed: int = 7, growers: int = 3) -> list[SimulatedAccount]:
    """`growers` accounts add seats fast enough to cross 80 % of their limit within days; the
    first of them is already there at the start."""
    rng = random.Random(seed)
    accounts = []
    for index in range(size):
        plan = rng.choice(list(PLANS))
        limit = PLANS[plan]
        growing = index < growers
        start = max(1, int(limit * (0.82 if index == 0 else 0.5 if growing else 0.3)))
        accounts.append(
            SimulatedAccount(
                account_id=f"acct-{index + 1:03d}",
                name=NAMES[index % len(NAMES)],
                plan=plan,
                seat_limit=limit,
                start_seats=start,
                seats_per_week=limit * 0.25 if growing else 0.0,
                employees=rng.choice((40, 120, 350, 800, 2500)),
                arr_potential=float(rng.choice((8_000, 24_000, 48_000, 90_000, 180_000))),
                region=rng.choice(("NA", "EMEA", "APAC")),
                industry=rng.choice(("software", "retail", "finance", "healthcare")),
            )
        )
    return accounts


def day_events(
    account: SimulatedAccount, day: date, day_index: int, seed: int = 7, per_user: int = 3
) -> Iterator[dict[str, Any]]:
    """One day of an account's events: each seat holder does a few things during the day."""
    rng = random.Random(f"{seed}/{account.account_id}/{day.isoformat()}")
    seats = account.seats_on(day_index)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    for user in range(seats):
        for n in range(per_user):
            when = midnight + timedelta(seconds=rng.randrange(0, 86_400))
            yield event(
                rng.choice(EVENTS),
                when,
                distinct_id=f"{account.account_id}-user-{user + 1}",
                account_id=account.account_id,
                insert_id=str(uuid.UUID(int=rng.getrandbits(128))),
                seats_used=seats,
                sequence=n,
            )


def event(
    name: str,
    when: datetime,
    *,
    distinct_id: str,
    account_id: str,
    insert_id: str,
    seats_used: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One line of Mixpanel's raw export: `{"event": ..., "properties": {...}}`."""
    properties: dict[str, Any] = {
        "time": int(when.timestamp()),
        "distinct_id": distinct_id,
        "$insert_id": insert_id,
        ACCOUNT_PROPERTY: account_id,
        "$browser": "Chrome",
        "$os": "Mac OS X",
        "mp_lib": "web",
    }
    if seats_used is not None:
        properties["seats_used"] = seats_used
    properties.update(extra)
    return {"event": name, "properties": properties}


def write_day(
    usage_dir: Path, accounts: list[SimulatedAccount], day: date, day_index: int, seed: int = 7
) -> Path:
    """Writes `<day>.jsonl` atomically; the same arguments always give the same content."""
    usage_dir.mkdir(parents=True, exist_ok=True)
    path = usage_dir / f"{day.isoformat()}.jsonl"
    lines = (
        json.dumps(e, separators=(",", ":"))
        for account in accounts
        for e in day_events(account, day, day_index, seed)
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def write_days(
    usage_dir: Path,
    accounts: list[SimulatedAccount],
    first_day: date,
    last_day: date,
    seed: int = 7,
) -> list[Path]:
    """One file per day, the first day being day 0 of the simulation."""
    return [
        write_day(usage_dir, accounts, first_day + timedelta(days=offset), offset, seed)
        for offset in range((last_day - first_day).days + 1)
    ]


def write_profiles(path: Path, accounts: list[SimulatedAccount]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(a.profile()) + "\n" for a in accounts), encoding="utf-8")
    return path
