"""An independent synthetic population of B2B accounts for the PLG handoff daemon.

Written from the product design (DESIGN.md §3 and §4), not from the engine: every persona behaves
the way a real company using a product behaves, and its expected route is stated in the design's
own words. Nothing here reads the engine's thresholds.

The product is "Tally", a collaborative reporting workspace (app.tallyhq.com, marketing site
www.tallyhq.com), instrumented by another team with its own vocabulary ("Teammate Invited",
"Paywall Hit", "API Usage"…); `MAPPING` is the `[[sources]]` table a user would write to map that
vocabulary onto the daemon's metrics, gauges and traits.

Noise of real data, and where it is:
- IPs: every human has an office IP (shared by the team), a home IP and a mobile carrier IP, and
  uses 1-3 of them a day (`_Account.day_ips`); the mobile/VPN buyers hop across 2-3 of a pool of
  carrier and VPN exits every day, sometimes inside a session; the headless scraper (bots) takes a
  new proxy IP on every request.
- User agents: desktop browsers for most; ~20 % of humans also use the mobile web app (iPhone /
  Android agents, `platform: "mobile_web"`); the mobile/VPN buyers are mostly on phones; bots use
  python-requests / curl / HeadlessChrome / "…Bot/…" agents. Server-side events (Workspace Stats,
  API Usage, scheduled export runs) carry no agent and no IP, and their distinct_id is the
  workspace id.
- Today is partial: nothing after `now` (default today 10:30 UTC), so North American teams
  (working 14:00-23:00 UTC) have nothing yet today while APAC/EMEA teams do.
- Traits (`_Account.profile`): industry ("vertical") and region ("geo") missing on ~20 % of
  accounts; headcount missing on some casual, low-value, tester and bot accounts; headcount as a
  string ("250") and ARR as a string ("40000") on ~20 %; the website as one string or as a URL
  instead of a list; the seat cap as a float (10.0) on ~25 %; the creation date as a date or a
  datetime string.
- Emails on events: ~35 % of humans send "$email", ~25 % "email", the rest none; a few use a
  personal gmail/outlook address instead of the company domain.
- Quantities: "API Usage" is one event per active hour with {"calls": N, "rate_limited": k};
  "Data Exported" has "rows"; "Workspace Stats" has gauges.
- Duplicates: ~1 % of events are sent twice with the same $insert_id (SDK retry; the copy only
  differs in mp_processing_time_ms).
- Late events: ~12 % of mobile sessions were queued offline and ingested 1-4 days later (their
  mp_processing_time_ms is days after their time); they are in the export like every other line.
- Events no metric maps: "Tooltip Shown", "Search Performed", "Notification Opened",
  "Help Article Viewed", "Filter Applied", "Seat Limit Banner Shown", "Integration Page Opened"…
- History: up to 118 days back for long-lived accounts; never an event after `now`.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Event = dict[str, Any]
Step = tuple[str, dict[str, Any]]

APP = "https://app.tallyhq.com"
WWW = "https://www.tallyhq.com"
COMPETITOR_DOMAIN = "rivalsoft.io"
"""A known competitor: put it in the rules' competitor domains when evaluating this population."""
RULES: dict[str, Any] = {
    "filters": {"competitor_domains": [COMPETITOR_DOMAIN]},
    # this product's page view is "Page View": no core feature (the engine's default list names
    # Segment's and Mixpanel's own page events)
    "feature_ritual": {"ignore_events": ["Page View", "Page Viewed", "$mp_web_page_view"]},
}
"""The rules a user of this product would write: its competitor, and its page-view event."""

ACCOUNT_PROPERTY = "company_id"
UA = "ua"
IP = "client_ip"
# Properties every event line carries that are not the product's own: the Mixpanel envelope.
ENVELOPE = ("time", "distinct_id", "$insert_id", ACCOUNT_PROPERTY, "mp_processing_time_ms")

ROUTES = ("sales", "nurture", "customer_success", "competitive_intel", "none")

_PAGE_VIEW = {"kind": "count", "events": ["Page View"]}

MAPPING: dict[str, Any] = {
    "account_property": ACCOUNT_PROPERTY,
    "default_metrics": False,
    "gauges": {
        "seats": "active_seats",
        "storage_gb": "storage_used_gb",
        "api_calls": "api_calls_mtd",
    },
    "traits": {
        "name": "company_name",
        "plan": "plan_tier",
        "employees": "headcount",
        "arr_potential": "expected_arr",
        "domains": "website",
        "signup_date": "created",
        "region": "geo",
        "industry": "vertical",
        "limits": {
            "seats": "seat_cap",
            "storage_gb": "storage_cap_gb",
            "api_calls": "api_quota_month",
        },
    },
    "metrics": {
        "premium_blocks": {
            "kind": "count",
            "events": ["Paywall Hit"],
            "where": [{"property": "current_plan", "one_of": ["free", "starter"]}],
        },
        "enterprise_requests": {
            "kind": "count",
            "events": ["Support Ticket Created"],
            "where": [
                {"property": "category", "one_of": ["sso", "saml", "audit_log", "sla", "scim"]}
            ],
        },
        "workaround_actions": {
            "kind": "count",
            "events": ["CSV Imported", "Workflow Duplicated", "Cross-Project Paste"],
        },
        "feature_votes": {
            "kind": "count",
            "events": ["Feature Request Voted", "Feature Request Commented"],
            "where": [{"property": "request_tier", "equals": "enterprise"}],
        },
        "pricing_visits": {
            **_PAGE_VIEW,
            "where": [{"property": "$current_url", "contains": ["/pricing"]}],
        },
        "enterprise_visits": {
            **_PAGE_VIEW,
            "where": [
                {
                    "property": "$current_url",
                    "contains": ["/enterprise", "/sso", "/security", "/admin"],
                }
            ],
        },
        "competitor_visits": {
            **_PAGE_VIEW,
            "where": [
                {
                    "property": "$current_url",
                    "contains": ["/compare/", "/vs/", "/alternatives", "/switch-from"],
                }
            ],
        },
        "invites_sent": {"kind": "count", "events": ["Teammate Invited"]},
        "invites_accepted": {"kind": "count", "events": ["Invite Accepted"]},
        "max_invites_by_one_user": {"kind": "max_per_user", "events": ["Teammate Invited"]},
        "admin_role_changes": {
            "kind": "count",
            "events": ["Member Role Changed"],
            "where": [{"property": "new_role", "one_of": ["admin", "owner"]}],
        },
        "departments": {"kind": "values", "property": "department"},
        "integrations_connected": {"kind": "count", "events": ["Integration Connected"]},
        "integrations": {
            "kind": "values",
            "events": ["Integration Connected"],
            "property": "integration",
            "limit": 20,
        },
        "api_requests": {"kind": "sum", "events": ["API Usage"], "property": "calls"},
        "api_rate_limited": {"kind": "sum", "events": ["API Usage"], "property": "rate_limited"},
        "webhooks_configured": {"kind": "count", "events": ["Webhook Created"]},
        "scheduled_exports": {
            "kind": "count",
            "events": ["Data Exported"],
            "where": [{"property": "scheduled", "equals": True}],
        },
        "bulk_exports": {
            "kind": "count",
            "events": ["Data Exported"],
            "where": [
                {"property": "rows", "at_least": 10000},
                {"property": "scheduled", "equals": False},
            ],
        },
        "work_product": {
            "kind": "count",
            "events": ["Project Created", "Report Saved", "Dashboard Created"],
        },
        "sessions": {"kind": "sessions"},
        "distinct_ips": {"kind": "distinct", "property": IP},
        "distinct_user_agents": {"kind": "distinct", "property": UA},
        "bot_agent_events": {
            "kind": "count",
            "where": [
                {
                    "property": UA,
                    "contains": [
                        "bot",
                        "Bot",
                        "crawler",
                        "Crawler",
                        "spider",
                        "Spider",
                        "Headless",
                        "python-requests",
                        "curl",
                    ],
                }
            ],
        },
        "max_repeat": {"kind": "max_repeat"},
        "email_domains": {
            "kind": "values",
            "property": "$email",
            "fallbacks": ["email"],
            "email_domain": True,
            "limit": 20,
        },
    },
}


_UNSET = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Expected:
    route: str  # "sales", "nurture", "customer_success", "competitive_intel" or "none"
    why: str  # one sentence from DESIGN §4: why this route


@dataclass
class Population:
    today: date
    events: list[dict[str, Any]]  # Mixpanel raw-export lines: {"event": name, "properties": {...}}
    profiles: list[dict[str, Any]]  # Mixpanel group profiles: {"$distinct_id", "$properties"}
    persona_of: dict[str, str]  # account_id -> persona name
    expected: dict[str, Expected]  # account_id -> expected route
    now: datetime = _UNSET  # no event after it (default: today 10:30 UTC)

    def __post_init__(self) -> None:
        if self.now == _UNSET:
            self.now = datetime.combine(self.today, time(10, 30), UTC)

    def write(self, directory: Path) -> None:
        """events.jsonl (one JSON object per line) and profiles.jsonl."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, rows in (("events.jsonl", self.events), ("profiles.jsonl", self.profiles)):
            with (directory / name).open("w", encoding="utf-8") as out:
                for row in rows:
                    out.write(json.dumps(row, separators=(",", ":")) + "\n")

    def segment_messages(self) -> list[dict[str, Any]]:
        """The same population as Segment spec messages: track / page per event (duplicates
        resent with the same messageId), one group per account, one identify per user whose
        email is known."""
        messages: list[dict[str, Any]] = []
        emails: dict[str, str] = {}
        first_seen: dict[str, int] = {}
        first_user: dict[str, tuple[str, int]] = {}
        for line in self.events:
            props = line["properties"]
            user, account = props["distinct_id"], props[ACCOUNT_PROPERTY]
            email = props.get("$email") or props.get("email")
            if email:
                emails.setdefault(user, email)
            first_seen[user] = min(first_seen.get(user, props["time"]), props["time"])
            first_seen[account] = min(first_seen.get(account, props["time"]), props["time"])
            if user != account and props["time"] < first_user.get(account, ("", 2**62))[1]:
                first_user[account] = (user, props["time"])  # the account's first person
            context: dict[str, Any] = {"groupId": account}
            if IP in props:
                context["ip"] = props[IP]
            if UA in props:
                context["userAgent"] = props[UA]
            if email:
                context["traits"] = {"email": email}
            if line["event"] == "Page View":
                url = props["$current_url"]
                path = urlsplit(url).path
                message: dict[str, Any] = {
                    "type": "page",
                    "name": _page_name(path),
                    "properties": {"url": url, "path": path},
                }
            else:
                message = {
                    "type": "track",
                    "event": line["event"],
                    "properties": {k: v for k, v in props.items() if k not in ENVELOPE},
                }
            message |= {
                "userId": user,
                "messageId": props["$insert_id"],
                "timestamp": _iso(props["time"]),
                "context": context,
            }
            if "mp_processing_time_ms" in props:
                message["receivedAt"] = _iso(props["mp_processing_time_ms"] / 1000)
            messages.append(message)
        for profile in self.profiles:
            account = profile["$distinct_id"]
            created = first_seen.get(account, 0)
            messages.append(
                {
                    "type": "group",
                    "groupId": account,
                    "userId": first_user.get(account, (account, 0))[0],
                    "traits": dict(profile["$properties"]),
                    "timestamp": _iso(created),
                    "messageId": f"group-{account}",
                    "context": {"groupId": account},
                }
            )
        for user, email in sorted(emails.items()):
            messages.append(
                {
                    "type": "identify",
                    "userId": user,
                    "traits": {"email": email},
                    "timestamp": _iso(first_seen[user]),
                    "messageId": f"identify-{user}",
                }
            )
        return messages


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _page_name(path: str) -> str:
    head = path.strip("/").split("/")[0]
    return head.replace("-", " ").title() if head else "Home"


# ---------------------------------------------------------------------------------------------
# Names, agents, addresses
# ---------------------------------------------------------------------------------------------

_COMPANY_A = (
    "Northwind", "Bluefin", "Granite", "Alder", "Copperleaf", "Harbor", "Summit", "Lumen",
    "Kestrel", "Meridian", "Oakline", "Pioneer", "Quarry", "Redwood", "Sable", "Tidewater",
    "Vantage", "Willow", "Zephyr", "Beacon", "Cinder", "Driftwood", "Evergreen", "Foxglove",
    "Juniper", "Larkspur", "Marlin", "Nimbus", "Orchid", "Pinecrest", "Halcyon", "Ironbark",
)  # fmt: skip
_COMPANY_B = (
    "Logistics", "Health", "Analytics", "Foods", "Capital", "Robotics", "Media", "Labs",
    "Energy", "Retail", "Freight", "Bio", "Software", "Partners", "Mobility", "Insurance",
    "Builders", "Outfitters", "Clinics", "Systems",
)  # fmt: skip
_TLDS = (".com", ".com", ".com", ".io", ".co", ".de", ".co.uk", ".com.au")
_FIRST = (
    "ana", "ben", "chloe", "dev", "elena", "farid", "grace", "hiro", "ines", "jonas", "kara",
    "liam", "maya", "nikos", "olga", "priya", "quinn", "rosa", "sam", "tariq", "uma", "viktor",
    "wen", "ximena", "yusuf", "zoe", "marco", "lena", "omar", "sofia",
)  # fmt: skip
_LAST = (
    "alvarez", "brooks", "chen", "dubois", "eriksen", "fischer", "garcia", "haddad", "ito",
    "jensen", "kowalski", "lopez", "moreau", "nakamura", "okafor", "patel", "rossi", "schmidt",
    "tanaka", "ueda", "varga", "weber", "yilmaz", "zhang",
)  # fmt: skip
_INDUSTRIES = (
    "Logistics", "Healthcare", "Financial Services", "Retail", "Manufacturing", "Media",
    "Software", "Education", "Energy", "Construction", "Hospitality", "Insurance",
)  # fmt: skip
_REGIONS = {"NA": -5, "EMEA": 1, "APAC": 8, "LATAM": -3}  # region -> UTC offset of its teams
_DESKTOP_UAS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36 Edg/123.0.2420.81",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
)
_MOBILE_UAS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.6312.99 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.3 Mobile/15E148 Safari/604.1",
)
_BOT_UAS = (
    "python-requests/2.31.0",
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/121.0.6167.85 Safari/537.36",
    "Mozilla/5.0 (compatible; DataSyncBot/2.1; +https://datasync.example/bot)",
    "Mozilla/5.0 (compatible; LinkCrawler/1.4; +https://crawl.example/info)",
)
_DEPARTMENTS = (
    "Operations", "Finance", "Sales", "Marketing", "Engineering", "Data", "Product",
    "Customer Success", "HR", "IT", "Security", "Legal", "Procurement",
)  # fmt: skip
_INTEGRATIONS = (
    "salesforce", "slack", "snowflake", "bigquery", "hubspot", "zapier", "github", "jira",
    "postgres", "google_sheets", "redshift", "microsoft_teams",
)  # fmt: skip
_PREMIUM_FEATURES = (
    "scheduled_exports", "audit_log", "advanced_permissions", "sso", "version_history",
    "api_access", "custom_branding", "row_level_security",
)  # fmt: skip
# Every feature a visitor can touch once (one-session testers, competitor audits).
_FEATURE_TOUR: tuple[Step, ...] = (
    ("Page View", {"$current_url": f"{APP}/home"}),
    ("Template Opened", {"template": "sales_pipeline"}),
    ("Report Viewed", {"report_id": "rpt_sample"}),
    ("Dashboard Viewed", {"dashboard_id": "dsh_sample"}),
    ("Query Run", {"rows_returned": 120, "duration_ms": 340}),
    ("Filter Applied", {"filter": "date_range"}),
    ("Chart Edited", {"chart_type": "bar"}),
    ("Formula Editor Opened", {}),
    ("Comment Added", {"surface": "report"}),
    ("Share Link Created", {"access": "view"}),
    ("Alert Created", {"condition": "threshold"}),
    ("Version History Opened", {}),
    ("Permissions Viewed", {}),
    ("Integration Page Opened", {"integration": "slack"}),
    ("Page View", {"$current_url": f"{APP}/integrations"}),
    ("Search Performed", {"query_length": 7, "results": 3}),
    ("Data Exported", {"format": "csv", "rows": 120, "scheduled": False, "scope": "report"}),
    ("Page View", {"$current_url": f"{APP}/settings/workspace"}),
    ("Help Article Viewed", {"article": "getting-started"}),
    ("Tooltip Shown", {"tooltip_id": "tour_step_4"}),
    ("Page View", {"$current_url": f"{APP}/explore"}),
    ("Notification Opened", {"kind": "digest"}),
)


def _hex(rng: random.Random, bits: int) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


def _ip(rng: random.Random, first: Sequence[int] = (24, 50, 68, 71, 73, 81, 86, 92, 98)) -> str:
    return f"{rng.choice(first)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


_CARRIER = (100, 172, 174, 176, 107, 166)  # mobile carriers' NAT ranges
_VPN = (45, 89, 185, 193, 209)  # commercial VPN exits
_CLOUD = (3, 18, 34, 35, 52, 54)  # cloud hosts (scripts)


@dataclass
class _User:
    id: str
    email: str | None
    email_key: str | None  # "$email", "email" or None: not sent on events
    department: str | None
    desktop_ua: str
    mobile_ua: str | None
    ips: list[str]  # office, home…
    mobile_ips: list[str]
    joined_ago: int  # days before today the user joined the workspace
    mobile_share: float = 0.0


# ---------------------------------------------------------------------------------------------
# One account
# ---------------------------------------------------------------------------------------------


class _Account:
    def __init__(self, gen: _Generator, persona: str, index: int) -> None:
        self.gen = gen
        self.persona = persona
        self.rng = random.Random(f"{gen.seed}:{persona}:{index}")  # noqa: S311  # reproducible
        self.id = gen.unique(lambda: f"ws_{_hex(self.rng, 40)}")
        self.name, self.domain = gen.company(self.rng)
        self.region = self.rng.choice(("NA", "NA", "EMEA", "EMEA", "APAC", "LATAM"))
        self.offset = _REGIONS[self.region]
        self.office_ip = _ip(self.rng)
        self.users: list[_User] = []
        self.events: list[Event] = []
        self.profile: dict[str, Any] = {}
        self.day_ip_cache: dict[tuple[str, date], list[str]] = {}
        self.reports: list[str] = [f"rpt_{_hex(self.rng, 24)}" for _ in range(3)]
        self.dashboards: list[str] = [f"dsh_{_hex(self.rng, 24)}" for _ in range(2)]
        self.projects: list[str] = [f"prj_{_hex(self.rng, 24)}"]
        self.seats: Callable[[int], int] = lambda ago: sum(u.joined_ago >= ago for u in self.users)
        self.storage: Callable[[int], float] = lambda ago: 0.0
        self.extra_seats = 0

    # -- people ---------------------------------------------------------------------------------

    def user(
        self,
        *,
        joined_ago: int,
        department: str | None = None,
        email_domain: str | None = None,
        email_key: str | None = "random",
        mobile_share: float | None = None,
        personal_email: bool | None = None,
    ) -> _User:
        rng = self.rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        domain = email_domain or self.domain
        if personal_email is None:
            personal_email = rng.random() < 0.06
        if personal_email:
            domain = rng.choice(("gmail.com", "outlook.com"))
        local = rng.choice((f"{first}.{last}", f"{first[0]}{last}", first))
        if email_key == "random":
            roll = rng.random()
            email_key = "$email" if roll < 0.35 else "email" if roll < 0.6 else None
        if mobile_share is None:
            mobile_share = rng.uniform(0.1, 0.35) if rng.random() < 0.2 else 0.0
        ips = [self.office_ip, _ip(rng)]
        user = _User(
            id=self.gen.unique(lambda: f"u_{_hex(rng, 48)}"),
            email=f"{local}{rng.randint(1, 99) if rng.random() < 0.1 else ''}@{domain}",
            email_key=email_key,
            department=department,
            desktop_ua=rng.choice(_DESKTOP_UAS),
            mobile_ua=rng.choice(_MOBILE_UAS) if mobile_share > 0 else None,
            ips=ips,
            mobile_ips=[_ip(rng, _CARRIER) for _ in range(2)],
            joined_ago=joined_ago,
            mobile_share=mobile_share,
        )
        self.users.append(user)
        return user

    def day_ips(self, user: _User, day: date, mobile: bool) -> list[str]:
        """The 1-3 addresses a person uses on a day (office, home, phone)."""
        key = (user.id + (":m" if mobile else ""), day)
        if key not in self.day_ip_cache:
            pool = user.mobile_ips if mobile else user.ips
            count = 1 if self.rng.random() < 0.6 else 2
            count = min(count + (self.rng.random() < 0.15), len(pool))
            self.day_ip_cache[key] = self.rng.sample(pool, count)
        return self.day_ip_cache[key]

    # -- time -----------------------------------------------------------------------------------

    def at(self, ago: int, local_hour: float) -> datetime:
        """UTC moment of a local time of day `ago` days before today, in the team's region."""
        day = self.gen.today - timedelta(days=ago)
        midnight = datetime.combine(day, time(0), UTC)
        return midnight + timedelta(hours=local_hour - self.offset)

    def work_hour(self) -> float:
        return self.rng.uniform(8.3, 17.8)

    # -- events ---------------------------------------------------------------------------------

    def emit(
        self,
        user: _User | None,
        name: str,
        moment: datetime,
        props: dict[str, Any] | None = None,
        *,
        ua: str | None = None,
        ip: str | None = None,
        mobile: bool = False,
        late: bool = False,
    ) -> bool:
        """One event line; False (and nothing) when `moment` is after now."""
        if moment > self.gen.now:
            return False
        seconds = int(moment.timestamp())
        received = seconds * 1000 + self.rng.randint(150, 4000)
        if late:  # queued offline on a phone, flushed days later
            received += self.rng.randint(1, 4) * 86_400_000 + self.rng.randint(0, 40_000_000)
        received = min(received, int(self.gen.now.timestamp() * 1000))
        line: dict[str, Any] = {
            "time": seconds,
            "distinct_id": user.id if user else self.id,
            "$insert_id": _hex(self.rng, 128),
            ACCOUNT_PROPERTY: self.id,
            "mp_processing_time_ms": received,
        }
        if user is not None:
            line[UA] = ua or (user.mobile_ua if mobile and user.mobile_ua else user.desktop_ua)
            line[IP] = ip or self.rng.choice(self.day_ips(user, moment.date(), mobile))
            line["platform"] = "mobile_web" if mobile else "web"
            if user.email_key and user.email:
                line[user.email_key] = user.email
            if user.department:
                line["department"] = user.department
        line.update(props or {})
        self.events.append({"event": name, "properties": line})
        return True

    def session(
        self,
        user: _User,
        start: datetime,
        steps: Sequence[Step],
        *,
        mobile: bool | None = None,
        gap: tuple[int, int] = (6, 80),
        hop_ips: bool = False,
    ) -> datetime:
        """A visit: the steps a few seconds to a minute or two apart, from one address (or
        hopping between the day's addresses: VPN reconnects, wifi to cellular)."""
        rng = self.rng
        if mobile is None:
            mobile = user.mobile_ua is not None and rng.random() < user.mobile_share
        late = mobile and rng.random() < 0.12
        ips = self.day_ips(user, start.date(), mobile)
        ip = rng.choice(ips)
        moment = start
        for name, props in steps:
            if hop_ips and rng.random() < 0.15:
                ip = rng.choice(ips)
            if not self.emit(user, name, moment, props, ip=ip, mobile=mobile, late=late):
                break
            moment += timedelta(seconds=rng.randint(*gap))
        return moment

    def page(self, url: str) -> Step:
        return ("Page View", {"$current_url": url, "page_title": _page_name(urlsplit(url).path)})

    def work_steps(self, count: int, *, product_rate: float = 0.12) -> list[Step]:
        """Ordinary work in the product: viewing and editing reports and dashboards, queries,
        now and then saving something new (work product), a small CSV export, some noise."""
        rng = self.rng
        steps: list[Step] = [self.page(f"{APP}/home")]
        for _ in range(count):
            roll = rng.random()
            report, dashboard = rng.choice(self.reports), rng.choice(self.dashboards)
            if roll < 0.22:
                steps.append(
                    self.page(
                        rng.choice(
                            (
                                f"{APP}/reports/{report}",
                                f"{APP}/dashboards/{dashboard}",
                                f"{APP}/projects/{rng.choice(self.projects)}",
                                f"{APP}/explore",
                            )
                        )
                    )
                )
            elif roll < 0.40:
                steps.append(("Report Viewed", {"report_id": report}))
            elif roll < 0.52:
                steps.append(("Dashboard Viewed", {"dashboard_id": dashboard}))
            elif roll < 0.64:
                steps.append(
                    (
                        "Query Run",
                        {
                            "rows_returned": rng.randint(5, 20000),
                            "duration_ms": rng.randint(80, 9000),
                        },
                    )
                )
            elif roll < 0.71:
                steps.append(
                    ("Filter Applied", {"filter": rng.choice(("date", "owner", "region"))})
                )
            elif roll < 0.77:
                steps.append(("Chart Edited", {"chart_type": rng.choice(("bar", "line", "pie"))}))
            elif roll < 0.81:
                steps.append(("Comment Added", {"surface": rng.choice(("report", "dashboard"))}))
            elif roll < 0.88:
                steps.append(
                    (
                        "Search Performed",
                        {"query_length": rng.randint(2, 30), "results": rng.randint(0, 40)},
                    )
                )
            elif roll < 0.92:
                steps.append(("Tooltip Shown", {"tooltip_id": f"tip_{rng.randint(1, 40)}"}))
            elif roll < 0.95:
                steps.append(("Notification Opened", {"kind": rng.choice(("mention", "digest"))}))
            elif roll < 0.97:
                steps.append(("Help Article Viewed", {"article": f"kb-{rng.randint(100, 999)}"}))
            else:  # a small export of one report: ordinary, not bulk
                steps.append(
                    (
                        "Data Exported",
                        {
                            "format": rng.choice(("csv", "xlsx", "pdf")),
                            "rows": rng.randint(10, 4000),
                            "scheduled": False,
                            "scope": "report",
                        },
                    )
                )
        if rng.random() < product_rate:
            steps.append(self.new_work_product())
        return steps

    def new_work_product(self) -> Step:
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            report = f"rpt_{_hex(rng, 24)}"
            self.reports.append(report)
            return ("Report Saved", {"report_id": report, "is_new": True})
        if roll < 0.9:
            dashboard = f"dsh_{_hex(rng, 24)}"
            self.dashboards.append(dashboard)
            return ("Dashboard Created", {"dashboard_id": dashboard, "widgets": rng.randint(2, 12)})
        project = f"prj_{_hex(rng, 24)}"
        self.projects.append(project)
        return ("Project Created", {"project_id": project, "from_template": rng.random() < 0.3})

    def activity(
        self,
        users: Sequence[_User],
        *,
        first_ago: int,
        last_ago: int = 0,
        p_day: float,
        weekend: float = 0.12,
        sessions: tuple[int, int] = (1, 1),
        size: tuple[int, int] = (3, 7),
        product_rate: float = 0.12,
        intensity: Callable[[int], float] | None = None,
        hop_ips: bool = False,
    ) -> None:
        """Days of ordinary use: each user, each day since joining, works with probability
        p_day (less at weekends, scaled by `intensity(days ago)`)."""
        rng = self.rng
        for ago in range(first_ago, last_ago - 1, -1):
            is_weekend = (self.gen.today - timedelta(days=ago)).weekday() >= 5
            for user in users:
                if ago > user.joined_ago:
                    continue
                p = p_day * (weekend if is_weekend else 1.0)
                if intensity is not None:
                    p *= intensity(ago)
                if rng.random() >= p:
                    continue
                for _ in range(rng.randint(*sessions)):
                    steps = self.work_steps(rng.randint(*size), product_rate=product_rate)
                    self.session(user, self.at(ago, self.work_hour()), steps, hop_ips=hop_ips)

    def invite(self, inviter: _User, invitee: _User, delay_days: int = 0) -> None:
        """The inviter sends an invite; the invitee accepts on the day they join and looks
        around (an onboarding session)."""
        sent_ago = invitee.joined_ago + delay_days
        sent = self.at(sent_ago, self.work_hour())
        self.session(
            inviter,
            sent,
            [
                self.page(f"{APP}/settings/members"),
                (
                    "Teammate Invited",
                    {"invitee_email": invitee.email, "role": "member", "method": "email"},
                ),
            ],
        )
        accepted = self.at(invitee.joined_ago, self.work_hour())
        if accepted <= sent:
            accepted = sent + timedelta(minutes=self.rng.randint(20, 180))
        onboarding: list[Step] = [
            ("Invite Accepted", {"invited_by": inviter.id}),
            ("Tooltip Shown", {"tooltip_id": "welcome_tour_1"}),
            *self.work_steps(self.rng.randint(3, 8), product_rate=0.3),
        ]
        self.session(invitee, accepted, onboarding)

    def visit(self, user: _User, ago: int, urls: Sequence[str], *, hop_ips: bool = False) -> None:
        """A short visit to the given pages, with a little work around it."""
        steps = [self.page(url) for url in urls]
        if self.rng.random() < 0.6:
            steps = self.work_steps(self.rng.randint(1, 3), product_rate=0.0) + steps
        self.session(user, self.at(ago, self.work_hour()), steps, hop_ips=hop_ips)

    # -- server side ----------------------------------------------------------------------------

    def api_usage(self, first_ago: int, daily: Callable[[int], float], hours: int) -> None:
        """One "API Usage" line per active hour: the product's own hourly rollup of API calls
        made with the account's key (server side: no agent, no IP)."""
        rng = self.rng
        key = f"key_{_hex(rng, 32)}"
        weights = [rng.uniform(0.3, 1.0) for _ in range(hours)]
        total = sum(weights)
        start_hour = rng.randint(5, 9)
        for ago in range(first_ago, -1, -1):
            calls_day = daily(ago) * rng.uniform(0.8, 1.2)
            if (self.gen.today - timedelta(days=ago)).weekday() >= 5:
                calls_day *= 0.35
            for hour, weight in enumerate(weights):
                calls = round(calls_day * weight / total)
                if calls <= 0:
                    continue
                limited = 0
                if ago < 21 and rng.random() < 0.08:
                    limited = rng.randint(1, max(1, calls // 40))
                self.emit(
                    None,
                    "API Usage",
                    self.at(ago, start_hour + hour + rng.uniform(0.0, 0.2)),
                    {
                        "calls": calls,
                        "rate_limited": limited,
                        "api_key_id": key,
                        "endpoint_group": rng.choice(("records", "reports", "queries")),
                    },
                )

    def workspace_stats(self) -> None:
        """The product computes "Workspace Stats" on the first activity of each day: seats in
        use, storage, API calls this month (the gauges)."""
        first_of_day: dict[date, int] = {}
        api_by_day: dict[date, int] = {}
        for line in self.events:
            props = line["properties"]
            day = datetime.fromtimestamp(props["time"], UTC).date()
            first_of_day[day] = min(first_of_day.get(day, props["time"]), props["time"])
            if line["event"] == "API Usage":
                api_by_day[day] = api_by_day.get(day, 0) + int(props["calls"])
        for day, first in sorted(first_of_day.items()):
            ago = (self.gen.today - day).days
            month_to_date = sum(
                calls
                for d, calls in api_by_day.items()
                if (d.year, d.month) == (day.year, day.month) and d < day
            )
            self.emit(
                None,
                "Workspace Stats",
                datetime.fromtimestamp(first - 1, UTC),
                {
                    "active_seats": self.seats(ago) + self.extra_seats,
                    "storage_used_gb": round(self.storage(ago), 2),
                    "api_calls_mtd": month_to_date,
                    "reports_total": len(self.reports),
                },
            )

    # -- traits ---------------------------------------------------------------------------------

    def traits(
        self,
        *,
        plan: str,
        employees: int,
        arr: int,
        seat_cap: int,
        signup_ago: int,
        may_lack_employees: bool = False,
        name: str | None = None,
        domains: str | None = None,
    ) -> None:
        """The group profile, with the oddities of hand-maintained CRM-synced traits."""
        rng = self.rng
        storage_cap, api_quota = {
            "free": (2, 10_000),
            "starter": (20, 100_000),
            "trial": (100, 500_000),
            "team": (100, 500_000),
            "business": (500, 2_000_000),
        }[plan]
        domain = domains or self.domain
        website: Any = [domain]
        roll = rng.random()
        if roll < 0.2:
            website = domain
        elif roll < 0.4:
            website = f"https://www.{domain}"
        created = self.at(signup_ago, rng.uniform(9, 17))
        profile: dict[str, Any] = {
            "company_name": name or self.name,
            "plan_tier": plan,
            "headcount": str(employees) if rng.random() < 0.2 else employees,
            "expected_arr": str(arr) if rng.random() < 0.2 else arr,
            "website": website,
            "created": (
                created.date().isoformat()
                if rng.random() < 0.5
                else created.strftime("%Y-%m-%dT%H:%M:%S")
            ),
            "seat_cap": float(seat_cap) if rng.random() < 0.25 else seat_cap,
            "storage_cap_gb": storage_cap,
            "api_quota_month": api_quota,
            "geo": self.region,
            "vertical": rng.choice(_INDUSTRIES),
        }
        for trait in ("geo", "vertical"):
            if rng.random() < 0.2:
                del profile[trait]
        if may_lack_employees and rng.random() < 0.35:
            del profile["headcount"]
        self.profile = profile
        cap_gb = float(storage_cap)
        base, growth = rng.uniform(0.05, 0.25) * cap_gb, rng.uniform(0.0, 0.002) * cap_gb
        self.storage = lambda ago: base + growth * max(0, 120 - ago)

    def finish(self) -> None:
        """Workspace stats, ~1 % of events resent with the same $insert_id, time order."""
        self.workspace_stats()
        resent: list[Event] = []
        for line in self.events:
            if self.rng.random() < 0.01:
                copy_line = copy.deepcopy(line)
                props = copy_line["properties"]
                props["mp_processing_time_ms"] = min(
                    props["mp_processing_time_ms"] + self.rng.randint(1000, 30000),
                    int(self.gen.now.timestamp() * 1000),
                )
                resent.append(copy_line)
        self.events.extend(resent)
        self.events.sort(key=lambda e: (e["properties"]["time"], e["properties"]["$insert_id"]))


# ---------------------------------------------------------------------------------------------
# Personas: each returns its expected route from the design's words
# ---------------------------------------------------------------------------------------------


def _team(a: _Account, count: int, joined_ago: int, departments: Sequence[str]) -> list[_User]:
    return [
        a.user(joined_ago=joined_ago + a.rng.randint(0, 60), department=a.rng.choice(departments))
        for _ in range(count)
    ]


def _pricing_url(a: _Account) -> str:
    return a.rng.choice(
        (
            f"{WWW}/pricing",
            f"{WWW}/pricing?ref=nav",
            f"{WWW}/pricing?plan=business#compare",
            f"{APP}/billing/pricing?ref=upgrade-banner",
        )
    )


def _seat_buyer(a: _Account, *, mobile: bool) -> None:
    """A team filling its plan's seats over three months, adding people faster lately."""
    rng = a.rng
    cap = rng.choice((10, 10, 10, 15, 20))
    final = {10: rng.choice((9, 10)), 15: rng.randint(13, 15), 20: rng.randint(17, 20)}[cap]
    start = max(3, round(cap * rng.uniform(0.45, 0.6)))
    history = rng.randint(75, 116)
    departments = rng.sample(_DEPARTMENTS, rng.randint(1, 2))
    if mobile:  # field teams: phones on carrier networks and a company VPN
        departments = rng.sample(("Field Operations", "Sales", "Service"), rng.randint(1, 2))
    a.traits(
        plan="team",
        employees=rng.randint(130, 800),
        arr=rng.randint(20, 90) * 1000,
        seat_cap=cap,
        signup_ago=history + rng.randint(10, 250),
    )
    founders = [
        a.user(joined_ago=history + rng.randint(5, 100), department=rng.choice(departments))
        for _ in range(start)
    ]
    admin = founders[0]
    joins = sorted(
        (round(60 * rng.random() ** 1.6) + 1 for _ in range(final - start)), reverse=True
    )
    if joins:
        joins[-1] = min(joins[-1], rng.randint(1, 10))  # the latest arrival this week or last
    newcomers = [a.user(joined_ago=ago, department=rng.choice(departments)) for ago in joins]
    users = founders + newcomers
    if mobile:
        for user in users:
            user.mobile_share = rng.uniform(0.6, 0.9)
            user.mobile_ua = rng.choice(_MOBILE_UAS)
            user.mobile_ips = [_ip(rng, _CARRIER) for _ in range(3)] + [
                _ip(rng, _VPN) for _ in range(rng.randint(2, 4))
            ]
            user.ips = [a.office_ip, _ip(rng), _ip(rng, _VPN)]
    for newcomer in newcomers:
        a.invite(rng.choice((admin, admin, rng.choice(founders))), newcomer, rng.randint(0, 2))
    a.activity(users, first_ago=history, p_day=0.3, size=(3, 6), hop_ips=mobile)
    # the seat banner they keep seeing, and the admin checking the next tier's price
    for _ in range(rng.randint(2, 5)):
        ago = rng.randint(0, 14)
        a.session(
            admin,
            a.at(ago, a.work_hour()),
            [
                ("Seat Limit Banner Shown", {"seats_used": final, "seat_cap": cap}),
                a.page(f"{APP}/billing/plans"),
            ],
            hop_ips=mobile,
        )
    for ago in rng.sample(range(1, 14), rng.randint(1, 3)):
        a.visit(rng.choice(users[:3]), ago, [_pricing_url(a)], hop_ips=mobile)


def seat_limit_buyer(a: _Account) -> Expected:
    _seat_buyer(a, mobile=False)
    return Expected(
        "sales",
        "limit_approaching: any quota (seats, storage, API calls…) ≥ 80 % of plan limit — the"
        " team is filling its seats and checking the next tier's price.",
    )


def mobile_vpn_buyer(a: _Account) -> Expected:
    # Noise: every user hops between 2-3 carrier / VPN addresses a day, sometimes mid-session.
    _seat_buyer(a, mobile=True)
    return Expected(
        "sales",
        "limit_approaching: any quota (seats…) ≥ 80 % of plan limit; a few addresses a day per"
        " person is phones and VPNs, not the 'constantly rotating VPN/proxy IPs' of bots.",
    )


def growing_team(a: _Account) -> Expected:
    """One admin brings colleagues from other departments in, faster every week."""
    rng = a.rng
    history = rng.randint(35, 100)
    signup = history + rng.randint(0, 40)
    a.traits(
        plan=rng.choice(("starter", "team")),
        employees=rng.randint(150, 900),
        arr=rng.randint(20, 90) * 1000,
        seat_cap=25,
        signup_ago=signup,
    )
    home, *others = rng.sample(_DEPARTMENTS, 5)
    admin = a.user(joined_ago=signup, department=home, email_key=rng.choice(("$email", "email")))
    early = []
    if rng.random() < 0.5:
        early = [a.user(joined_ago=history - rng.randint(0, 10), department=home)]
    per_week = rng.choice(((1, 2, 3), (0, 2, 3), (1, 1, 3), (1, 2, 2), (1, 2, 4)))
    invitees: list[_User] = []
    for week, count in zip((3, 2, 1), per_week, strict=True):
        for _ in range(count):
            joined = rng.randint(7 * (week - 1) + 1, 7 * week - 1)
            delay = rng.randint(0, 1)
            invitees.append(a.user(joined_ago=joined, department=rng.choice(others)))
            a.invite(admin, invitees[-1], delay)
    a.activity([admin, *early], first_ago=min(history, signup), p_day=0.45, size=(3, 7))
    # new people are keen: they all come back (DESIGN: "and they are all active")
    a.activity(invitees, first_ago=21, p_day=0.6, size=(3, 7), product_rate=0.2)
    if rng.random() < 0.6:
        promoted = rng.choice(invitees)
        ago = rng.randint(1, min(10, promoted.joined_ago))
        a.session(
            admin,
            a.at(ago, a.work_hour()),
            [
                a.page(f"{APP}/settings/members"),
                ("Member Role Changed", {"member_id": promoted.id, "new_role": "admin"}),
            ],
        )
    return Expected(
        "sales",
        "multi_user: one user invited 3+ colleagues and they are all active, with"
        " cross_department (active users from 2+ departments) and accelerating invites.",
    )


def integrator(a: _Account) -> Expected:
    """Engineers wire the product into their stack: integrations every few weeks, webhooks,
    API calls tripling over the quarter."""
    rng = a.rng
    history = rng.randint(92, 118)
    a.traits(
        plan="business",
        employees=rng.randint(200, 900),
        arr=rng.randint(30, 95) * 1000,
        seat_cap=20,
        signup_ago=history + rng.randint(30, 300),
    )
    lead = a.user(joined_ago=history + 40, department="Engineering")
    users = [
        lead,
        *_team(a, rng.randint(2, 5), history, ("Engineering", "Data", "Operations")),
    ]
    a.activity(users, first_ago=history, p_day=0.22, size=(3, 6))
    names = rng.sample(_INTEGRATIONS, rng.randint(3, 5))
    ago = rng.randint(70, 95)
    for integration in names:
        a.session(
            lead,
            a.at(ago, a.work_hour()),
            [
                a.page(f"{APP}/integrations/{integration}"),
                ("Integration Page Opened", {"integration": integration}),
                ("Integration Connected", {"integration": integration, "auth": "oauth"}),
                *a.work_steps(2, product_rate=0.0),
            ],
        )
        ago = max(2, ago - rng.randint(10, 30))
    for _ in range(rng.randint(1, 3)):
        a.session(
            lead,
            a.at(rng.randint(2, 45), a.work_hour()),
            [
                a.page(f"{APP}/settings/webhooks"),
                (
                    "Webhook Created",
                    {"event_types": "report.updated", "target_host": f"hooks.{a.domain}"},
                ),
            ],
        )
    base = rng.uniform(1000, 4000)
    growth = rng.uniform(4.0, 6.0)  # end of quarter vs its start
    a.api_usage(
        history, lambda ago: base * growth ** ((history - ago) / history), rng.randint(6, 9)
    )
    if rng.random() < 0.5:  # a nightly export to their warehouse
        start = rng.randint(40, 70)
        a.session(
            lead,
            a.at(start, a.work_hour()),
            [
                a.page(f"{APP}/exports/schedules"),
                ("Export Schedule Created", {"cadence": "daily", "destination": "s3"}),
            ],
        )
        for ago in range(start - 1, -1, -1):
            a.emit(
                None,
                "Data Exported",
                a.at(ago, 2 + rng.uniform(0, 0.3)),
                {
                    "format": "parquet",
                    "rows": rng.randint(2000, 30000),
                    "scheduled": True,
                    "scope": "project",
                    "destination": "s3",
                },
            )
    return Expected(
        "sales",
        "integrations_connected: 3+ third-party integrations connected, with api_growth (API"
        " calls x3 in a quarter) and webhook_configured.",
    )


def evaluator_with_intent(a: _Account) -> Expected:
    """Months of steady real use, then this week the pricing, enterprise and security pages."""
    rng = a.rng
    history = rng.randint(80, 118)
    a.traits(
        plan="team",
        employees=rng.randint(150, 900),
        arr=rng.randint(25, 95) * 1000,
        seat_cap=20,
        signup_ago=history + rng.randint(20, 200),
    )
    users = _team(a, rng.randint(4, 8), history, rng.sample(_DEPARTMENTS, rng.randint(1, 2)))
    a.activity(users, first_ago=history, p_day=0.32, size=(3, 7), product_rate=0.15)
    # the ritual: Monday's KPI dashboard, every week
    owner = users[0]
    for ago in range(history, 0, -1):
        if (a.gen.today - timedelta(days=ago)).weekday() == 0 and rng.random() < 0.9:
            a.session(
                owner,
                a.at(ago, rng.uniform(8.5, 9.5)),
                [("Dashboard Viewed", {"dashboard_id": a.dashboards[0]}), *a.work_steps(2)],
            )
    deciders = users[: rng.randint(1, 3)]
    for ago in sorted(rng.sample(range(1, 8), rng.randint(3, 5)), reverse=True):
        a.visit(rng.choice(deciders), ago, [_pricing_url(a)])
    for _ in range(rng.randint(1, 3)):
        url = rng.choice(
            (f"{WWW}/enterprise", f"{WWW}/security", f"{APP}/admin/sso", f"{WWW}/security/soc2")
        )
        a.visit(rng.choice(deciders), rng.randint(1, 6), [url])
    if rng.random() < 0.5:
        a.visit(deciders[0], rng.randint(1, 6), [f"{WWW}/compare/tally-vs-rivalsoft"])
    if rng.random() < 0.3:
        a.session(
            deciders[0],
            a.at(rng.randint(1, 5), a.work_hour()),
            [("Support Ticket Created", {"category": "sso", "channel": "in_app"})],
        )
    return Expected(
        "sales",
        "enterprise_exploration: pricing, /enterprise and security page visits several times in"
        " a week, on top of months of real use — usage and intent signals combined.",
    )


def enterprise(a: _Account) -> Expected:
    """A big company's pilot team: admin, SSO and security pages, a question about SAML."""
    rng = a.rng
    signup = rng.choice((1, 1, 3, 5, 8, 12, 18, 25, 33, 41))
    a.traits(
        plan=rng.choice(("trial", "team")),
        employees=rng.choice((1500, 2400, 5200, 8000, 12000, 26000, 45000)) + rng.randint(0, 99),
        arr=rng.randint(130, 600) * 1000,
        seat_cap=25,
        signup_ago=signup,
    )
    departments = ("IT", "Security", "Data", "Finance", "Procurement")
    champion = a.user(joined_ago=signup, department=rng.choice(departments))
    pilots = [
        a.user(joined_ago=rng.randint(0, signup), department=rng.choice(departments))
        for _ in range(rng.randint(1, 6))
    ]
    for pilot in pilots:
        if pilot.joined_ago >= 1:
            a.invite(champion, pilot)
    a.session(
        champion,
        a.at(signup, rng.uniform(9, 11)),
        [
            a.page(f"{APP}/home"),
            *a.work_steps(5, product_rate=1.0),
            a.page(f"{APP}/admin/sso"),
            a.page(f"{WWW}/security"),
            a.page(f"{WWW}/enterprise"),
        ],
    )
    a.activity([champion, *pilots], first_ago=signup, p_day=0.5, size=(3, 8), product_rate=0.2)
    for _ in range(rng.randint(1, 4)):
        url = rng.choice(
            (f"{APP}/admin/sso", f"{APP}/admin/audit-log", f"{WWW}/security", f"{WWW}/enterprise")
        )
        a.visit(champion, rng.randint(0, signup), [url])
    for _ in range(rng.randint(0, 2)):
        category = rng.choice(("sso", "saml", "scim", "audit_log"))
        a.session(
            champion,
            a.at(rng.randint(0, signup), a.work_hour()),
            [("Support Ticket Created", {"category": category, "channel": "email"})],
        )
    return Expected(
        "sales",
        "Segment motion enterprise (1,000+ employees, > $100K): sales engaged from day one.",
    )


def self_serve_small_team(a: _Account) -> Expected:
    """A small agency that loves the product: daily use, integrations, full seats, pricing."""
    rng = a.rng
    history = rng.randint(60, 110)
    cap = rng.choice((5, 5, 8))
    a.traits(
        plan="starter",
        employees=rng.randint(6, 60),
        arr=rng.randint(2, 12) * 1000,
        seat_cap=cap,
        signup_ago=history + rng.randint(0, 60),
    )
    founder = a.user(joined_ago=history + 10, department=rng.choice(("Operations", "Marketing")))
    users = [founder]
    for _ in range(cap - rng.choice((0, 1)) - 1):
        ago = rng.randint(5, history)
        users.append(a.user(joined_ago=ago, department=rng.choice(("Marketing", "Sales", "Data"))))
        a.invite(founder, users[-1])
    a.activity(users, first_ago=history, p_day=0.5, weekend=0.3, size=(3, 8), product_rate=0.2)
    for integration in rng.sample(("slack", "google_sheets", "zapier", "hubspot"), 3):
        a.session(
            founder,
            a.at(rng.randint(5, history), a.work_hour()),
            [("Integration Connected", {"integration": integration, "auth": "oauth"})],
        )
    for _ in range(rng.randint(2, 4)):
        feature = rng.choice(_PREMIUM_FEATURES)
        a.session(
            rng.choice(users),
            a.at(rng.randint(1, 20), a.work_hour()),
            [
                *a.work_steps(2),
                ("Paywall Hit", {"feature": feature, "current_plan": "starter"}),
            ],
        )
    for ago in rng.sample(range(1, 10), rng.randint(2, 4)):
        a.visit(founder, ago, [_pricing_url(a)])
    return Expected(
        "nurture",
        "Segment motion self-serve (< 100 employees, < $15K): stay self-serve, no sales touch,"
        " automated nurture.",
    )


def low_value(a: _Account) -> Expected:
    """A freelancer or tiny shop: real use, premium walls, pricing visits, workarounds."""
    rng = a.rng
    history = rng.randint(30, 100)
    a.traits(
        plan="free",
        employees=rng.randint(1, 9),
        arr=rng.randint(2, 9) * 100,
        seat_cap=3,
        signup_ago=history + rng.randint(0, 30),
        may_lack_employees=True,
    )
    users = [a.user(joined_ago=history, department=None)]
    if rng.random() < 0.5:
        users.append(a.user(joined_ago=rng.randint(5, history), department=None))
    a.activity(users, first_ago=history, p_day=0.4, size=(3, 7), product_rate=0.15)
    for _ in range(rng.randint(3, 6)):
        a.session(
            users[0],
            a.at(rng.randint(1, 20), a.work_hour()),
            [
                *a.work_steps(2),
                ("Paywall Hit", {"feature": rng.choice(_PREMIUM_FEATURES), "current_plan": "free"}),
            ],
        )
    for ago in rng.sample(range(1, 8), rng.randint(2, 4)):
        a.visit(users[0], ago, [_pricing_url(a)])
    for _ in range(rng.randint(3, 8)):
        a.session(
            users[0],
            a.at(rng.randint(1, 25), a.work_hour()),
            [
                (
                    "Data Exported",
                    {
                        "format": "csv",
                        "rows": rng.randint(50, 900),
                        "scheduled": False,
                        "scope": "report",
                    },
                ),
                ("CSV Imported", {"rows": rng.randint(50, 900), "target": "project"}),
            ],
        )
    return Expected(
        "nurture",
        "Low account value versus cost of a sales touch: below the minimum value, route to an"
        " automated email sequence instead of a rep.",
    )


def one_session_tester(a: _Account) -> Expected:
    """Signed up 2-4 weeks ago, clicked on everything in one sitting, never came back."""
    rng = a.rng
    ago = rng.randint(14, 28)
    a.traits(
        plan="free",
        employees=rng.randint(40, 900),
        arr=rng.randint(5, 80) * 1000,
        seat_cap=10,
        signup_ago=ago,
        may_lack_employees=True,
    )
    user = a.user(joined_ago=ago, department=rng.choice((None, "Marketing", "Product")))
    tour = list(_FEATURE_TOUR)
    rng.shuffle(tour)
    steps: list[Step] = [a.page(f"{APP}/home")]
    for name, props in tour[: rng.randint(15, len(tour))]:
        steps.append((name, dict(props)))
        if rng.random() < 0.5:
            steps.append(a.page(f"{APP}/{rng.choice(('reports', 'dashboards', 'explore'))}"))
    for _ in range(rng.randint(2, 4)):
        steps.insert(
            rng.randint(3, len(steps)),
            ("Paywall Hit", {"feature": rng.choice(_PREMIUM_FEATURES), "current_plan": "free"}),
        )
    if rng.random() < 0.7:
        steps.insert(rng.randint(5, len(steps)), a.page(_pricing_url(a)))
    if rng.random() < 0.4:
        steps.insert(rng.randint(5, len(steps)), a.page(f"{WWW}/enterprise"))
    if rng.random() < 0.5:
        steps.insert(
            rng.randint(3, 8),
            ("Project Created", {"project_id": "prj_sample", "from_template": True}),
        )
    if rng.random() < 0.25:
        steps.append(("Integration Connected", {"integration": "slack", "auth": "oauth"}))
    a.session(user, a.at(ago, rng.uniform(10, 16)), steps, gap=(2, 25))
    return Expected(
        "none",
        "One-session testers: a burst of clicks on everything, then gone; wait for return visits.",
    )


def bot_automation(a: _Account, index: int) -> Expected:
    """A script on a service account: the same call all day, or a headless scraper, or a
    crawler; at most one human who set it up."""
    rng = a.rng
    signup = rng.randint(5, 40)
    a.traits(
        plan=rng.choice(("free", "team")),
        employees=rng.randint(150, 900),
        arr=rng.randint(20, 90) * 1000,
        seat_cap=10,
        signup_ago=signup,
        may_lack_employees=True,
    )
    if rng.random() < 0.6:  # the engineer who created the account and the token
        human = a.user(joined_ago=signup, department="Engineering")
        a.session(human, a.at(signup, a.work_hour()), a.work_steps(rng.randint(4, 9)))
    variant = index % 3
    bot = a.user(
        joined_ago=signup,
        department=None,
        email_domain=a.domain,
        email_key="$email" if rng.random() < 0.5 else None,
        mobile_share=0.0,
        personal_email=False,
    )
    bot.email = f"svc-automation@{a.domain}"
    bot.desktop_ua = (_BOT_UAS[rng.randint(0, 1)], _BOT_UAS[2], _BOT_UAS[rng.randint(3, 4)])[
        variant
    ]
    bot.ips = [_ip(rng, _CLOUD)]
    proxies = [_ip(rng, _VPN) for _ in range(300)]
    days = rng.randint(3, 6)
    for ago in range(days, -1, -1):
        per_day = rng.randint(110, 300)
        moment = a.at(ago, rng.uniform(-4, 2))  # around the clock
        spacing = 86_400 / per_day
        if variant == 0:  # a sync script: the same query over and over from one cloud host
            step: Step = ("Query Run", {"rows_returned": 500, "duration_ms": 210})
            for _ in range(per_day):
                a.emit(bot, step[0], moment, dict(step[1]))
                moment += timedelta(seconds=spacing * rng.uniform(0.7, 1.0))
        elif variant == 1:  # a headless scraper watching the pricing and security pages
            urls = (f"{WWW}/pricing", f"{WWW}/enterprise", f"{WWW}/security", f"{APP}/home")
            for n in range(per_day):
                ip = rng.choice(proxies)  # a new proxy address on every request
                a.emit(bot, "Page View", moment, {"$current_url": urls[n % len(urls)]}, ip=ip)
                if n % 5 == 0:
                    a.emit(
                        bot,
                        "Paywall Hit",
                        moment + timedelta(seconds=2),
                        {"feature": "api_access", "current_plan": a.profile["plan_tier"]},
                        ip=ip,
                    )
                moment += timedelta(seconds=spacing * rng.uniform(0.7, 1.0))
        else:  # a crawler-like report generator: saves a report per record, all night
            for _ in range(per_day):
                report = f"rpt_{_hex(rng, 24)}"
                a.emit(bot, "Report Saved", moment, {"report_id": report, "is_new": True})
                moment += timedelta(seconds=spacing * rng.uniform(0.7, 1.0))
    return Expected(
        "none",
        "Bots and automation: known bot user agents, the same action repeated 100 times in a row,"
        " usage from constantly rotating VPN/proxy IPs.",
    )


def competitor_researcher(a: _Account) -> Expected:
    """People from a competitor auditing every feature once over a few sessions, pricing and
    security pages included, never building anything."""
    rng = a.rng
    signup = rng.randint(3, 12)
    name = rng.choice(("Rivalsoft", "RS Labs", "Test Co", "Acme", "Product Research"))
    domains = rng.choice((COMPETITOR_DOMAIN, f"https://{COMPETITOR_DOMAIN}", "acme-test.com"))
    a.traits(
        plan="free",
        employees=rng.randint(50, 500),
        arr=rng.randint(10, 60) * 1000,
        seat_cap=10,
        signup_ago=signup,
        name=name,
        domains=domains,
    )
    users = [
        a.user(
            joined_ago=signup,
            department="Product",
            email_domain=COMPETITOR_DOMAIN,
            email_key=rng.choice(("$email", "email")),
            personal_email=False,
        )
    ]
    for _ in range(rng.randint(0, 2)):
        users.append(
            a.user(
                joined_ago=rng.randint(1, signup),
                department=rng.choice(("Product", "Marketing", None)),
                email_domain=COMPETITOR_DOMAIN,
                email_key=rng.choice(("$email", "email")),
                personal_email=rng.random() < 0.2,
            )
        )
    audit: list[Step] = [
        (n, dict(p)) for n, p in _FEATURE_TOUR if n not in ("Project Created", "Report Saved")
    ]
    audit += [
        ("Paywall Hit", {"feature": f, "current_plan": "free"})
        for f in rng.sample(_PREMIUM_FEATURES, rng.randint(3, 5))
    ]
    audit += [
        a.page(f"{WWW}/pricing"),
        a.page(f"{WWW}/pricing?plan=business"),
        a.page(f"{WWW}/enterprise"),
        a.page(f"{WWW}/security"),
        a.page(f"{APP}/admin/sso"),
        a.page(f"{WWW}/compare/tally-vs-rivalsoft"),
        a.page(f"{WWW}/alternatives"),
    ]
    if rng.random() < 0.4:
        audit.append(("Support Ticket Created", {"category": "sso", "channel": "in_app"}))
    chunks = rng.randint(2, 4)
    per = -(-len(audit) // chunks)
    day = signup
    for n in range(chunks):
        a.session(
            users[n % len(users)] if rng.random() < 0.6 else users[0],
            a.at(day, a.work_hour()),
            audit[n * per : (n + 1) * per],
            gap=(8, 60),
        )
        day = max(1, day - rng.randint(0, 2))
    return Expected(
        "competitive_intel",
        "Competitor research: email domains of known competitors, systematic one-touch audits of"
        " every feature, no real work product → competitive intel.",
    )


def churn_risk_bulk_export(a: _Account) -> Expected:
    """A paid team drifting away; last week the admin exported everything, once."""
    rng = a.rng
    history = rng.randint(100, 118)
    a.traits(
        plan="business",
        employees=rng.randint(150, 900),
        arr=rng.randint(25, 90) * 1000,
        seat_cap=25,
        signup_ago=history + rng.randint(100, 500),
    )
    departments = rng.sample(_DEPARTMENTS, 1)
    users = _team(a, rng.randint(8, 14), history, departments)
    a.extra_seats = rng.randint(0, 4)  # paid seats of people who no longer log in
    quits = {u.id: rng.randint(5, 80) for u in users[1:] if rng.random() < 0.6}
    decline_from = rng.randint(60, 90)

    def intensity(ago: int) -> float:
        return 1.0 if ago >= decline_from else 0.12 + 0.88 * ago / decline_from

    for user in users:
        stop = quits.get(user.id, 0)
        a.activity([user], first_ago=history, last_ago=stop, p_day=0.27, intensity=intensity)
    export_ago = rng.randint(2, 9)
    rows = rng.randint(60_000, 900_000)
    steps: list[Step] = [
        a.page(f"{APP}/settings/billing"),
        a.page(f"{APP}/settings/data"),
        (
            "Data Exported",
            {
                "format": rng.choice(("csv", "xlsx")),
                "rows": rows,
                "scheduled": False,
                "scope": "workspace",
            },
        ),
    ]
    if rng.random() < 0.4:
        steps.append(
            (
                "Data Exported",
                {
                    "format": "zip",
                    "rows": rng.randint(800, 6_000),
                    "scheduled": False,
                    "scope": "attachments",
                },
            )
        )
    a.session(users[0], a.at(export_ago, a.work_hour()), steps)
    return Expected(
        "customer_success",
        "scheduled_exports: a one-off bulk export is a churn risk → CS, not sales.",
    )


def casual_steady(a: _Account) -> Expected:
    """A small team inside a mid-size company, a few sessions a week, nothing else."""
    rng = a.rng
    history = rng.randint(70, 118)
    cap = rng.choice((10, 15))
    a.traits(
        plan="team",
        employees=rng.randint(120, 900),
        arr=rng.randint(20, 60) * 1000,
        seat_cap=cap,
        signup_ago=history + rng.randint(100, 600),
        may_lack_employees=True,
    )
    users = _team(a, rng.randint(2, 5), history, rng.sample(_DEPARTMENTS, 1))
    a.extra_seats = rng.randint(0, 1)
    away = rng.randint(10, history - 14)  # someone's holiday: a quiet fortnight

    def intensity(ago: int) -> float:
        return 0.2 if away - 12 <= ago <= away else 1.0

    a.activity(
        users,
        first_ago=history,
        p_day=0.2,
        weekend=0.05,
        size=(2, 6),
        product_rate=0.08,
        intensity=intensity,
    )
    for _ in range(rng.randint(0, 2)):
        a.session(
            rng.choice(users),
            a.at(rng.randint(1, history), a.work_hour()),
            [
                (
                    "Support Ticket Created",
                    {"category": rng.choice(("bug", "how_to", "billing")), "channel": "in_app"},
                )
            ],
        )
    if rng.random() < 0.4:
        a.session(
            rng.choice(users),
            a.at(rng.randint(1, history), a.work_hour()),
            [("Feature Request Voted", {"request_id": "fr_dark_mode", "request_tier": "core"})],
        )
    return Expected(
        "none",
        "A PQL needs strong evidence: combine usage signals with intent signals (pricing"
        " visits), never hand off on one event.",
    )


def integration_burst_then_gone(a: _Account) -> Expected:
    """An old, lightly used account: one evening three integrations, then silence."""
    rng = a.rng
    burst = rng.randint(18, 25)
    a.traits(
        plan="team",
        employees=rng.randint(120, 700),
        arr=rng.randint(18, 70) * 1000,
        seat_cap=10,
        signup_ago=rng.randint(150, 400),
    )
    users = _team(a, rng.randint(1, 2), 118, rng.sample(_DEPARTMENTS, 1))
    a.activity(
        users,
        first_ago=118,
        last_ago=burst + 1,
        p_day=0.12,
        weekend=0.0,
        size=(2, 5),
        product_rate=0.05,
    )
    steps: list[Step] = [a.page(f"{APP}/integrations")]
    for integration in rng.sample(_INTEGRATIONS, rng.randint(3, 4)):
        steps += [
            a.page(f"{APP}/integrations/{integration}"),
            ("Integration Page Opened", {"integration": integration}),
            ("Integration Connected", {"integration": integration, "auth": "oauth"}),
            ("Tooltip Shown", {"tooltip_id": "integration_connected"}),
        ]
    if rng.random() < 0.3:
        steps.append(
            (
                "Webhook Created",
                {"event_types": "report.updated", "target_host": f"hooks.{a.domain}"},
            )
        )
    a.session(users[0], a.at(burst, rng.uniform(16, 19)), steps, gap=(20, 240))
    return Expected(
        "none",
        "One-session testers: a burst of clicks, then gone; wait for return visits — never hand"
        " off on one event.",
    )


def free_team_premium_walls(a: _Account) -> Expected:
    """A free team doing real work that keeps running into locked features, then pricing."""
    rng = a.rng
    history = rng.randint(40, 100)
    a.traits(
        plan="free",
        employees=rng.randint(150, 900),
        arr=rng.randint(20, 80) * 1000,
        seat_cap=10,
        signup_ago=history + rng.randint(0, 30),
    )
    users = _team(a, rng.randint(3, 6), history, rng.sample(_DEPARTMENTS, rng.randint(1, 2)))
    a.activity(users, first_ago=history, p_day=0.35, size=(3, 7), product_rate=0.15)
    for n in range(rng.randint(4, 9)):
        feature = rng.choice(_PREMIUM_FEATURES)
        a.session(
            users[n % 2],
            a.at(rng.randint(0, 14), a.work_hour()),
            [
                *a.work_steps(rng.randint(2, 4)),
                ("Paywall Hit", {"feature": feature, "current_plan": "free"}),
            ],
        )
    for ago in rng.sample(range(1, 8), rng.randint(2, 4)):
        a.visit(rng.choice(users[:2]), ago, [_pricing_url(a)])
    return Expected(
        "sales",
        "premium_feature_interest: free/low-tier user hits a locked premium feature 3+ times,"
        " then visits pricing.",
    )


def workaround_team(a: _Account) -> Expected:
    """A team on a paid plan copying data between projects by hand and voting for the
    enterprise feature that would end it."""
    rng = a.rng
    history = rng.randint(60, 110)
    a.traits(
        plan="team",
        employees=rng.randint(150, 900),
        arr=rng.randint(20, 90) * 1000,
        seat_cap=20,
        signup_ago=history + rng.randint(30, 300),
    )
    users = _team(a, rng.randint(5, 10), history, rng.sample(_DEPARTMENTS, rng.randint(1, 2)))
    a.activity(users, first_ago=history, p_day=0.25, size=(3, 6))
    doers = users[: rng.randint(2, 4)]
    for _ in range(rng.randint(10, 25)):
        user = rng.choice(doers)
        kind = rng.random()
        rows = rng.randint(50, 5000)
        steps: list[Step]
        if kind < 0.45:  # export from one project, re-import into another
            steps = [
                (
                    "Data Exported",
                    {"format": "csv", "rows": rows, "scheduled": False, "scope": "report"},
                ),
                ("CSV Imported", {"rows": rows, "target": "project"}),
            ]
        elif kind < 0.75:
            steps = [("Workflow Duplicated", {"source_project": rng.choice(a.projects)})]
        else:
            steps = [("Cross-Project Paste", {"cells": rng.randint(20, 3000)})]
        a.session(user, a.at(rng.randint(0, 21), a.work_hour()), [*a.work_steps(2), *steps])
    for _ in range(rng.randint(1, 3)):
        a.session(
            rng.choice(doers),
            a.at(rng.randint(1, 20), a.work_hour()),
            [
                a.page(f"{APP}/feedback/requests/cross-project-sync"),
                (
                    rng.choice(("Feature Request Voted", "Feature Request Commented")),
                    {"request_id": "fr_cross_project_sync", "request_tier": "enterprise"},
                ),
            ],
        )
    for ago in rng.sample(range(1, 10), rng.randint(1, 2)):
        a.visit(doers[0], ago, [_pricing_url(a)])
    return Expected(
        "sales",
        "workaround_behavior: repeated manual export/import, duplicated workflows, copy-paste"
        " across projects.",
    )


PERSONAS: dict[str, Callable[[_Account, int], Expected]] = {
    "seat_limit_buyer": lambda a, i: seat_limit_buyer(a),
    "growing_team": lambda a, i: growing_team(a),
    "integrator": lambda a, i: integrator(a),
    "evaluator_with_intent": lambda a, i: evaluator_with_intent(a),
    "enterprise": lambda a, i: enterprise(a),
    "self_serve_small_team": lambda a, i: self_serve_small_team(a),
    "low_value": lambda a, i: low_value(a),
    "one_session_tester": lambda a, i: one_session_tester(a),
    "bot_automation": bot_automation,
    "competitor_researcher": lambda a, i: competitor_researcher(a),
    "churn_risk_bulk_export": lambda a, i: churn_risk_bulk_export(a),
    "casual_steady": lambda a, i: casual_steady(a),
    "integration_burst_then_gone": lambda a, i: integration_burst_then_gone(a),
    "mobile_vpn_buyer": lambda a, i: mobile_vpn_buyer(a),
    "free_team_premium_walls": lambda a, i: free_team_premium_walls(a),
    "workaround_team": lambda a, i: workaround_team(a),
}


class _Generator:
    def __init__(self, today: date, now: datetime, seed: int) -> None:
        self.today = today
        self.now = now
        self.seed = seed
        self.taken: set[str] = set()

    def unique(self, make: Callable[[], str]) -> str:
        value = make()
        while value in self.taken:
            value = make()
        self.taken.add(value)
        return value

    def company(self, rng: random.Random) -> tuple[str, str]:
        while True:
            name = f"{rng.choice(_COMPANY_A)} {rng.choice(_COMPANY_B)}"
            domain = name.lower().replace(" ", "") + rng.choice(_TLDS)
            if domain not in self.taken:
                self.taken.add(domain)
                return name, domain


def build_population(
    today: date,
    accounts_per_persona: int = 10,
    seed: int = 7,
    now: datetime | None = None,
) -> Population:
    """Every persona `accounts_per_persona` times, each account drawn from its own seeded
    random stream (sizes, dates, counts differ); nothing after `now` (default today 10:30 UTC)."""
    moment = now or datetime.combine(today, time(10, 30), UTC)
    gen = _Generator(today, moment, seed)
    events: list[Event] = []
    profiles: list[dict[str, Any]] = []
    persona_of: dict[str, str] = {}
    expected: dict[str, Expected] = {}
    for persona, make in PERSONAS.items():
        for index in range(accounts_per_persona):
            account = _Account(gen, persona, index)
            expected[account.id] = make(account, index)
            account.finish()
            persona_of[account.id] = persona
            events.extend(account.events)
            profiles.append({"$distinct_id": account.id, "$properties": account.profile})
    events.sort(key=lambda e: (e["properties"]["time"], e["properties"]["$insert_id"]))
    return Population(
        today=today,
        events=events,
        profiles=profiles,
        persona_of=persona_of,
        expected=expected,
        now=moment,
    )
