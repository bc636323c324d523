"""A simulated population of known personas (DESIGN §4), in the Mixpanel export shape: buyers
who should reach sales with a given trigger, and look-alikes who must not (testers, bots,
competitors, tiny accounts). Deterministic: the same day gives the same lines."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HISTORY_DAYS = 60
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/131.0"
CORE_EVENTS = ("Report Viewed", "Dashboard Edited", "Report Saved")


@dataclass(frozen=True)
class Expectation:
    """What the engine must make of a persona."""

    route: str  # sales, nurture, competitive_intel, none...
    triggers: frozenset[str] = frozenset()  # for sales: the lead is one of these
    filtered: str | None = None  # the filter that must catch it
    tier: int | None = None


@dataclass
class Persona:
    account_id: str
    kind: str
    profile: dict[str, Any]
    expect: Expectation
    lines: list[dict[str, Any]] = field(default_factory=list)


class _Writer:
    """Builds one persona's events relative to `today` (day 0 = today, 59 = oldest)."""

    def __init__(self, persona: Persona, today: date, seed: int) -> None:
        self.persona = persona
        self.today = today
        self.random = random.Random(seed)
        self.serial = 0

    def at(self, days_ago: int, minute: int) -> datetime:
        day = self.today - timedelta(days=days_ago)
        return datetime(day.year, day.month, day.day, 9, tzinfo=UTC) + timedelta(minutes=minute)

    def emit(self, name: str, when: datetime, user: str, **props: Any) -> None:
        self.serial += 1
        base: dict[str, Any] = {
            "time": int(when.timestamp()),
            "distinct_id": f"{self.persona.account_id}-{user}",
            "account_id": self.persona.account_id,
            "$insert_id": f"{self.persona.account_id}-{self.serial}",
            "ip": f"10.{sum(map(ord, self.persona.account_id)) % 250}.0.1",
            "user_agent": BROWSER,
        }
        self.persona.lines.append({"event": name, "properties": {**base, **props}})

    def work_day(self, days_ago: int, user: str, department: str, events: int = 4) -> None:
        """A user's ordinary session: core features, a saved report (real work product)."""
        for n in range(events):
            name = CORE_EVENTS[n % len(CORE_EVENTS)]
            self.emit(name, self.at(days_ago, 5 * n), user, department=department)


def _profile(account_id: str, name: str, **traits: Any) -> dict[str, Any]:
    return {"$distinct_id": account_id, "$properties": {"name": name, **traits}}


def _power(w: _Writer) -> None:
    for days_ago in range(HISTORY_DAYS):
        seats = 6 if days_ago > 6 else 9 - days_ago // 3  # 6 of 10, then 7, 8, 9 this week
        for u in range(seats):
            if (days_ago + u) % 7 < 5:
                w.work_day(days_ago, f"u{u}", ("eng", "ops")[u % 2])
        w.emit("Seats Reported", w.at(days_ago, 300), "u0", seats_used=seats)


def _team(w: _Writer) -> None:
    for days_ago in range(HISTORY_DAYS):
        w.work_day(days_ago, "u0", "eng")
    for n, days_ago in enumerate((6, 6, 5, 5)):
        w.emit("User Invited", w.at(days_ago, 60 + n), "u0")
        w.emit("Invite Accepted", w.at(days_ago - 1, 60 + n), f"new{n}")
    for days_ago in range(4):
        for n, department in enumerate(("eng", "sales", "finance", "sales")):
            w.work_day(days_ago, f"new{n}", department)


def _integrator(w: _Writer) -> None:
    for days_ago in range(HISTORY_DAYS):
        for u in range(3):
            w.work_day(days_ago, f"u{u}", "eng")
        calls = 2 if days_ago > 30 else 8
        for n in range(calls):
            w.emit("API Request", w.at(days_ago, 200 + n), "u0", status=200)
    for n, integration in enumerate(("slack", "github", "jira", "zapier")):
        w.emit("Integration Connected", w.at(25 - 5 * n, 90), "u0", integration=integration)
    w.emit("Webhook Created", w.at(6, 95), "u0")


def _habit(w: _Writer) -> None:
    for days_ago in range(HISTORY_DAYS):
        for u in range(3):
            w.work_day(days_ago, f"u{u}", "marketing")
    for days_ago in (5, 3, 1):
        w.emit("Page Viewed", w.at(days_ago, 120), "u0", path="/pricing")


def _casual(w: _Writer) -> None:
    for days_ago in range(2, HISTORY_DAYS, 11):
        w.work_day(days_ago, "u0", "ops", events=2)


def _tester(w: _Writer) -> None:
    features = [f"Feature {n} Opened" for n in range(18)]
    for n, name in enumerate(features):
        w.emit(name, w.at(5, n), "u0")
    for n in range(4):
        w.emit("Premium Feature Blocked", w.at(5, 20 + n), "u0", feature="sso")
    for n in range(3):
        w.emit("Page Viewed", w.at(5, 25 + n), "u0", path="/pricing")


def _bot(w: _Writer) -> None:
    for days_ago in range(14):
        for n in range(150):
            w.emit(
                "Report Viewed",
                w.at(days_ago, 0) + timedelta(seconds=n),
                "svc",
                user_agent="python-requests/2.31",
                ip=f"203.0.{n % 250}.{days_ago}",
            )
        w.emit("Seats Reported", w.at(days_ago, 300), "svc", seats_used=9)


def _competitor(w: _Writer) -> None:
    names = [f"Feature {n} Opened" for n in range(24)]
    for days_ago in (4, 3, 2):
        for n, name in enumerate(names[days_ago * 6 : days_ago * 6 + 8]):
            w.emit(name, w.at(days_ago, n), f"u{n % 3}")
        w.emit("Seats Reported", w.at(days_ago, 300), "u0", seats_used=9)
    for n in range(3):
        w.emit("Premium Feature Blocked", w.at(2, 40 + n), "u0", feature="audit_log")
        w.emit("Page Viewed", w.at(2, 50 + n), "u1", path="/pricing")


def _tiny(w: _Writer) -> None:
    for days_ago in range(30):
        for u in range(3):
            w.work_day(days_ago, f"u{u}", "ops")
        w.emit("Seats Reported", w.at(days_ago, 300), "u0", seats_used=3)


def _enterprise(w: _Writer) -> None:
    for days_ago in range(20):
        for u in range(6):
            if (days_ago + u) % 7 < 5:
                w.work_day(days_ago, f"u{u}", ("it", "security", "eng")[u % 3])
    w.emit("Admin Role Requested", w.at(2, 30), "u0", role="admin")
    w.emit("Role Changed", w.at(1, 30), "u0", role="admin")


_PERSONAS: list[tuple[str, str, Callable[[_Writer], None], dict[str, Any], Expectation]] = [
    ("power", "Powerhouse Analytics", _power,
     {"plan": "team", "seat_limit": 10, "employees": 300, "arr_potential": 60_000},
     Expectation("sales", frozenset({"limit_approaching", "limit_reached"}))),
    ("team", "Teamwork Logistics", _team,
     {"plan": "team", "seat_limit": 50, "employees": 250, "arr_potential": 40_000},
     # the new colleagues triple the week's usage, so velocity may lead the team's triggers
     Expectation("sales", frozenset({"multi_user", "cross_department", "invite_velocity",
                                     "rapid_growth"}))),
    ("integrator", "Pipeline Systems", _integrator,
     {"plan": "business", "seat_limit": 50, "employees": 400, "arr_potential": 80_000},
     Expectation("sales", frozenset({"integrations_connected", "api_growth",
                                     "webhook_configured"}))),
    ("habit", "Daily Grind Media", _habit,
     {"plan": "team", "seat_limit": 20, "employees": 150, "arr_potential": 30_000},
     Expectation("sales", frozenset({"daily_active_streak", "feature_ritual",
                                     "enterprise_exploration"}))),
    ("casual", "Browsing Bakery", _casual,
     {"plan": "team", "seat_limit": 20, "employees": 120, "arr_potential": 20_000},
     Expectation("none")),
    ("tester", "Kick Tyres Ltd", _tester,
     {"plan": "free", "seat_limit": 5, "employees": 200, "arr_potential": 30_000},
     Expectation("none", filtered="one_session_tester")),
    ("bot", "Scraper Holdings", _bot,
     {"plan": "team", "seat_limit": 10, "employees": 300, "arr_potential": 50_000},
     Expectation("none", filtered="bot")),
    ("competitor", "Rival Research", _competitor,
     {"plan": "team", "seat_limit": 10, "employees": 300, "arr_potential": 50_000,
      "domains": ["rivalcorp.com"]},
     Expectation("competitive_intel", filtered="competitor")),
    ("tiny", "Two Person Studio", _tiny,
     {"plan": "starter", "seat_limit": 3, "employees": 4, "arr_potential": 300},
     Expectation("nurture")),
    ("enterprise", "Globex Enterprise", _enterprise,
     {"plan": "business", "seat_limit": 500, "employees": 5_000, "arr_potential": 250_000},
     Expectation("sales", frozenset({"admin_role"}), tier=1)),
]  # fmt: skip
COMPETITOR_DOMAINS = ("rivalcorp.com",)


def personas(today: date, copies: int = 1) -> Iterator[Persona]:
    """`copies` accounts of each persona (ids `p-<kind>-<n>`), with events up to `today`."""
    for copy in range(copies):
        for index, (kind, name, write, traits, expect) in enumerate(_PERSONAS):
            account_id = f"p-{kind}-{copy}"
            persona = Persona(account_id, kind, _profile(account_id, name, **traits), expect)
            write(_Writer(persona, today, seed=index * 1000 + copy))
            yield persona


def write_population(directory: Path, today: date, copies: int = 1) -> list[Persona]:
    """`events.jsonl` and `profiles.jsonl` under `directory`; returns the personas."""
    directory.mkdir(parents=True, exist_ok=True)
    population = list(personas(today, copies))
    with (directory / "events.jsonl").open("w", encoding="utf-8") as out:
        for persona in population:
            out.writelines(json.dumps(line) + "\n" for line in persona.lines)
    with (directory / "profiles.jsonl").open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(p.profile) + "\n" for p in population)
    return population
