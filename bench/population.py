"""A realistic account population for the scale benchmark, in Mixpanel's shapes.

    python bench/population.py --accounts 1000 --out /tmp/pop [--check]

Each account gets about `events_per_account` raw-export events over the window of days ending
today (`{"event": ..., "properties": {"time", "distinct_id", "$insert_id", "account_id", ...}}`)
and one group profile (Engage shape: `{"$distinct_id": ..., "$properties": {...}}`).

About a third of the accounts are built to be product-qualified leads, by the generator's own
intent (recorded in `Population.expected_pqls`, never by running the engine):
  - `seats`: 8, then 9 of 10 seats in use with that many active users, pricing-page visits,
    premium features hit and a colleague invited (limit_approaching, a strong trigger);
  - `team`: three users, then four colleagues invited and accepted and seven users a day
    (multi_user, a strong trigger);
  - `integrator`: slack, github, jira (and zapier) connected, API calls, a webhook
    (integrations_connected, a strong trigger).
The rest are calm: a few users well under their plan limits, one department, no intent at all.
Every account is sales-assist sized (100-999 employees, $15K-$100K ARR potential) or, for some
calm ones, self-serve; PQLs above $100K ARR potential are enterprise (tier 1).

Deterministic: the same (accounts, seed, today) always gives the same lines. Today's events are
kept before the generation time, so nothing lies in the future."""

# ruff: noqa: S311  # reproducible pseudo-random usage, not cryptography
from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/131.0"
WORK_EVENTS = (
    ("Report Viewed", 30),
    ("Dashboard Viewed", 20),
    ("Search Performed", 12),
    ("Dashboard Edited", 10),
    ("Comment Added", 8),
    ("Report Saved", 6),
    ("Filter Applied", 8),
    ("Project Created", 2),
    ("Dashboard Created", 2),
    ("Chart Exported", 2),
)
EVENT_NAMES = tuple(name for name, _ in WORK_EVENTS)
EVENT_WEIGHTS = tuple(weight for _, weight in WORK_EVENTS)
PLAN_LIMITS = {"starter": 5, "team": 10, "business": 25}
REGIONS = ("NA", "EMEA", "APAC")
INDUSTRIES = ("software", "retail", "finance", "healthcare", "logistics", "media")
DEPARTMENTS = ("eng", "ops", "marketing", "finance", "sales", "support", "data")
WORDS = (
    "Acme", "Bluefin", "Cobalt", "Dunmore", "Evergreen", "Foxglove", "Granite", "Harbor",
    "Ironwood", "Juniper", "Kestrel", "Lumen", "Meridian", "Northwind", "Orchid", "Pinnacle",
    "Quarry", "Redwood", "Summit", "Tidal", "Umber", "Vantage", "Willow", "Zephyr",
)  # fmt: skip
SUFFIXES = ("Analytics", "Logistics", "Health", "Retail", "Labs", "Media", "Finance", "Systems")
PQL_KINDS = ("seats", "seats", "seats", "team", "integrator")  # a third of accounts, mixed
DEFAULT_WINDOW_DAYS = 14
DEFAULT_EVENTS_PER_ACCOUNT = 700
WORKDAY_START_S = 8 * 3600


@dataclass(frozen=True)
class AccountPlan:
    account_id: str
    kind: str  # seats, team, integrator (PQLs) or calm
    pql: bool
    profile: dict[str, Any]
    events: int = 0


@dataclass
class Population:
    accounts: list[AccountPlan]
    days: list[str]  # the window, oldest first, today last
    export_path: Path  # gzip JSONL, Mixpanel raw export shape
    profiles_path: Path  # JSONL of Engage group profiles
    events: int
    generated_at: float  # epoch seconds; no event is later
    seconds: float  # to generate
    kinds: dict[str, int] = field(default_factory=dict)

    @property
    def expected_pqls(self) -> frozenset[str]:
        return frozenset(a.account_id for a in self.accounts if a.pql)

    def profiles(self) -> list[dict[str, Any]]:
        return [a.profile for a in self.accounts]


class _Account:
    """Writes one account's lines for the window; day index 0 is the oldest, `last` today."""

    def __init__(self, plan_id: str, rng: random.Random, days: list[date], latest: float) -> None:
        self.account_id = plan_id
        self.rng = rng
        self.days = days
        self.last = len(days) - 1
        self.latest = latest  # epoch seconds no event may pass
        self.serial = 0
        self.lines: list[str] = []
        self.seats_on: list[int] = [0] * len(days)
        self.ip_base = f"10.{rng.randrange(250)}.{rng.randrange(250)}"

    def when(self, day: int, offset_s: float) -> int | None:
        """Epoch seconds of `offset_s` after midnight of `day`, squeezed into the part of today
        that has passed; None when today has no room."""
        midnight = datetime.combine(self.days[day], datetime.min.time(), tzinfo=UTC).timestamp()
        if day == self.last:
            room = self.latest - midnight
            if room < 60:
                return None
            offset_s = offset_s * min(1.0, room / 86_400)
        return int(midnight + min(offset_s, 86_399))

    def emit(self, name: str, day: int, offset_s: float, user: int, **extra: Any) -> None:
        at = self.when(day, offset_s)
        if at is None:
            return
        self.serial += 1
        seats = self.seats_on[day]
        props: dict[str, Any] = {
            "time": at,
            "distinct_id": f"{self.account_id}-u{user}",
            "$insert_id": f"{self.account_id}-{self.serial:05d}",
            "account_id": self.account_id,
            "$browser": "Chrome",
            "$os": "Mac OS X",
            "mp_lib": "web",
            "ip": f"{self.ip_base}.{user % 250}",
            "user_agent": BROWSER,
            "seats_used": seats,
        }
        props.update(extra)
        self.lines.append(
            json.dumps({"event": name, "properties": props}, separators=(",", ":")) + "\n"
        )

    def work(self, day: int, users: list[int], departments: list[str], budget: int) -> None:
        """Ordinary work: each active user's session of core features during office hours,
        `budget` events in all that day."""
        if not users or budget <= 0:
            return
        per_user = max(1, budget // len(users))
        for user in users:
            start = WORKDAY_START_S + self.rng.randrange(0, 8 * 3600)
            names = self.rng.choices(EVENT_NAMES, weights=EVENT_WEIGHTS, k=per_user)
            department = departments[user % len(departments)]
            for n, name in enumerate(names):
                self.emit(name, day, start + n * 45, user, department=department)


def _profile(
    account_id: str, rng: random.Random, today: date, *, plan: str, pql: bool
) -> dict[str, Any]:
    name = f"{rng.choice(WORDS)} {rng.choice(SUFFIXES)} {account_id[-5:]}"
    if pql:
        employees = rng.choice((120, 180, 250, 400, 650, 900))
        arr = float(rng.choice((18_000, 24_000, 36_000, 48_000, 60_000, 90_000, 150_000)))
    elif rng.random() < 0.25:  # self-serve: small company, small deal
        employees = rng.choice((8, 15, 30, 60))
        arr = float(rng.choice((2_400, 6_000, 9_000)))
    else:
        employees = rng.choice((110, 160, 240, 380, 520, 800))
        arr = float(rng.choice((15_000, 20_000, 30_000, 45_000, 70_000)))
    signup = today - timedelta(days=rng.randrange(120, 900))
    slug = account_id.replace("-", "")
    return {
        "$distinct_id": account_id,
        "$properties": {
            "name": name,
            "plan": plan,
            "seat_limit": PLAN_LIMITS[plan],
            "employees": employees,
            "arr_potential": arr,
            "region": rng.choice(REGIONS),
            "industry": rng.choice(INDUSTRIES),
            "domains": [f"{slug}.example.com"],
            "signup_date": signup.isoformat(),
        },
    }


def _weekday_users(acct: _Account, day: int, users: int, weekend_share: float) -> list[int]:
    """Who is active on `day`: everyone on weekdays, a share of them at weekends."""
    if acct.days[day].weekday() < 5:
        return list(range(users))
    keep = max(1, round(users * weekend_share))
    return list(range(keep))


def _seats(acct: _Account, budget_per_day: int) -> None:
    half = acct.last // 2
    departments = ["eng", "ops"] if acct.rng.random() < 0.5 else ["data"]
    for day in range(acct.last + 1):
        seats = 7 if day < half else 8 if day < acct.last - 3 else 9
        acct.seats_on[day] = seats
        acct.work(day, _weekday_users(acct, day, seats, 0.4), departments, budget_per_day)
    for n, back in enumerate((4, 2, 1)):  # pricing page this week
        acct.emit("Page Viewed", acct.last - back, 11 * 3600 + n * 60, 0, path="/pricing")
    for n, feature in enumerate(("sso", "audit_log", "sso")):
        acct.emit("Premium Feature Blocked", acct.last - 2, 14 * 3600 + n * 90, 1, feature=feature)
    acct.emit("User Invited", acct.last - 1, 10 * 3600, 0, invitee_role="member")


def _team(acct: _Account, budget_per_day: int) -> None:
    first_invite = acct.last - 6
    departments = ["eng", "sales", "finance", "marketing"]
    for day in range(acct.last + 1):
        users = 3 if day <= first_invite else 7
        acct.seats_on[day] = users
        active = _weekday_users(acct, day, users, 0.6) if day <= first_invite else list(range(7))
        acct.work(day, active, departments, budget_per_day)
    for n in range(4):
        acct.emit("User Invited", first_invite + n // 2, 9 * 3600 + n * 120, 0)
        acct.emit("Invite Accepted", first_invite + 1 + n // 2, 10 * 3600 + n * 60, 3 + n)
    acct.emit("Page Viewed", acct.last - 1, 15 * 3600, 0, path="/pricing")


def _integrator(acct: _Account, budget_per_day: int) -> None:
    integrations = ["slack", "github", "jira", "zapier"][: 3 + acct.rng.randrange(2)]
    for day in range(acct.last + 1):
        acct.seats_on[day] = 5
        acct.work(day, _weekday_users(acct, day, 5, 0.4), ["eng"], budget_per_day - 6)
        for n in range(6):
            acct.emit("API Request", day, 13 * 3600 + n * 600, 0, status=200, endpoint="/v1/runs")
    for n, name in enumerate(integrations):
        acct.emit("Integration Connected", 2 + 3 * n, 16 * 3600, 0, integration=name)
    acct.emit("Webhook Created", acct.last - 2, 16 * 3600 + 300, 0)


def _calm(acct: _Account, budget_per_day: int, limit: int) -> None:
    users = max(1, min(4, int(limit * 0.4)))
    department = [acct.rng.choice(DEPARTMENTS)]
    for day in range(acct.last + 1):
        acct.seats_on[day] = users
        active = _weekday_users(acct, day, users, 0.0) if acct.days[day].weekday() < 5 else []
        acct.work(day, active, department, budget_per_day * 7 // 5)


def plan_accounts(
    accounts: int, seed: int, today: date, pql_share: float = 1 / 3
) -> list[tuple[str, str, dict[str, Any]]]:
    """(account id, kind, profile) for each account; the first `pql_share` are spread evenly."""
    planned = []
    pqls = round(accounts * pql_share)
    for index in range(accounts):
        account_id = f"acct-{index:05d}"
        rng = random.Random(f"{seed}/profile/{account_id}")
        # Bresenham spread: PQL accounts are interleaved with calm ones, not all first.
        is_pql = (index + 1) * pqls // accounts > index * pqls // accounts
        if is_pql:
            kind = PQL_KINDS[(index * 7 + seed) % len(PQL_KINDS)]
            plan = "team" if kind == "seats" else "business"
        else:
            kind = "calm"
            plan = rng.choice(tuple(PLAN_LIMITS))
        planned.append((account_id, kind, _profile(account_id, rng, today, plan=plan, pql=is_pql)))
    return planned


def account_lines(
    account_id: str,
    kind: str,
    profile: dict[str, Any],
    days: list[date],
    seed: int,
    latest: float,
    events_per_account: int,
) -> list[str]:
    rng = random.Random(f"{seed}/events/{account_id}")
    acct = _Account(account_id, rng, days, latest)
    budget = max(1, events_per_account // len(days))
    if kind == "seats":
        _seats(acct, budget)
    elif kind == "team":
        _team(acct, budget)
    elif kind == "integrator":
        _integrator(acct, budget)
    else:
        _calm(acct, budget, int(profile["$properties"]["seat_limit"]))
    return acct.lines


def window(today: date, window_days: int) -> list[date]:
    return [today - timedelta(days=back) for back in range(window_days - 1, -1, -1)]


def generate(
    accounts: int,
    out_dir: Path,
    *,
    seed: int = 7,
    window_days: int = DEFAULT_WINDOW_DAYS,
    events_per_account: int = DEFAULT_EVENTS_PER_ACCOUNT,
    now: float | None = None,
) -> Population:
    """Writes `export.jsonl.gz` and `profiles.jsonl` under `out_dir`."""
    started = time.perf_counter()
    now = time.time() if now is None else now
    latest = now - 120  # two minutes of margin: the pull must never see a future event
    today = datetime.fromtimestamp(now, UTC).date()
    days = window(today, window_days)
    out_dir.mkdir(parents=True, exist_ok=True)
    export_path = out_dir / "export.jsonl.gz"
    profiles_path = out_dir / "profiles.jsonl"
    plans: list[AccountPlan] = []
    total = 0
    kinds: dict[str, int] = {}
    # Level 1: the benchmark measures the daemon, not the compressor.
    with gzip.open(export_path, "wt", encoding="utf-8", compresslevel=1) as export:
        for account_id, kind, profile in plan_accounts(accounts, seed, today):
            lines = account_lines(account_id, kind, profile, days, seed, latest, events_per_account)
            export.writelines(lines)
            total += len(lines)
            kinds[kind] = kinds.get(kind, 0) + 1
            plans.append(AccountPlan(account_id, kind, kind != "calm", profile, len(lines)))
    with profiles_path.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(p.profile) + "\n" for p in plans)
    return Population(
        accounts=plans,
        days=[d.isoformat() for d in days],
        export_path=export_path,
        profiles_path=profiles_path,
        events=total,
        generated_at=now,
        seconds=time.perf_counter() - started,
        kinds=kinds,
    )


def check_with_engine(population: Population) -> dict[str, Any]:
    """Rolls the export up and runs the engine offline (default rules): how far the
    generator's intent and the engine's decisions agree. A development aid, not the
    benchmark's ground truth."""
    import tempfile

    from plg_handoff.activities.ingest import roll_up
    from plg_handoff.config import TraitMapping
    from plg_handoff.connectors.mixpanel_shape import traits_from_profile
    from plg_handoff.domain.engine import evaluate
    from plg_handoff.domain.metrics import DEFAULT_METRICS
    from plg_handoff.domain.ruleset import RuleSet

    with tempfile.TemporaryDirectory(prefix="population-check-") as work:
        result = roll_up(
            [population.export_path],
            account_property="account_id",
            gauges={"seats": "seats_used"},
            metrics=DEFAULT_METRICS,
            days=population.days,
            now=population.generated_at,
            spill_dir=Path(work),
        )
    rules = RuleSet()
    mapping = TraitMapping()
    today = date.fromisoformat(population.days[-1])
    disagree: list[str] = []
    routes: dict[str, int] = {}
    fired: dict[str, int] = {}
    for plan in population.accounts:
        traits = traits_from_profile(plan.profile["$properties"], mapping)
        evaluation = evaluate(
            plan.account_id, traits, result.rollups.get(plan.account_id, []), rules, today
        )
        routes[f"{plan.kind}:{evaluation.route}"] = (
            routes.get(f"{plan.kind}:{evaluation.route}", 0) + 1
        )
        for f in evaluation.fired:
            fired[f"{plan.kind}:{f.trigger}"] = fired.get(f"{plan.kind}:{f.trigger}", 0) + 1
        if evaluation.hand_off != plan.pql:
            disagree.append(f"{plan.account_id} ({plan.kind}): {evaluation.reason}")
    return {
        "read": result.read,
        "accepted": result.accepted,
        "quarantined": result.quarantined,
        "outside_window": result.outside_window,
        "routes": dict(sorted(routes.items())),
        "fired": dict(sorted(fired.items())),
        "disagree": disagree,
    }


def _iter_sizes(population: Population) -> Iterator[str]:
    yield f"accounts={len(population.accounts)} events={population.events}"
    yield f"kinds={population.kinds} expected_pqls={len(population.expected_pqls)}"
    yield f"export={population.export_path.stat().st_size / 1e6:.1f} MB gzip"
    yield f"generated in {population.seconds:.1f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--window-days", type=int, default=DEFAULT_WINDOW_DAYS)
    parser.add_argument("--events-per-account", type=int, default=DEFAULT_EVENTS_PER_ACCOUNT)
    parser.add_argument("--check", action="store_true", help="run the engine offline on it")
    args = parser.parse_args()
    population = generate(
        args.accounts,
        args.out,
        seed=args.seed,
        window_days=args.window_days,
        events_per_account=args.events_per_account,
    )
    for line in _iter_sizes(population):
        print(line)
    if args.check:
        checked = check_with_engine(population)
        disagree = checked.pop("disagree")
        print(json.dumps(checked, indent=1))
        print(f"engine disagrees with the intent on {len(disagree)} account(s)")
        for line in disagree[:20]:
            print("  " + line)


if __name__ == "__main__":
    main()
