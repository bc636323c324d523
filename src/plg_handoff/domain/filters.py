"""False-positive filters (DESIGN §4): accounts never handed to sales, each with its reason.

A filter reads the account's usage (never the trigger rules' own thresholds) and, when it
catches the account, records why with the numbers and where the account goes instead:

| filter                | catches                                              | route             |
|-----------------------|------------------------------------------------------|-------------------|
| competitor            | a competitor's email domain; a one-touch audit of    | competitive_intel |
|                       | the features, beyond one burst, with no work product |                   |
| bot                   | bot user agents; one action 100x a day; rotating IPs | none              |
| one_session_tester    | a burst of activity with no return visit (or, fresh, | none (wait)       |
|                       | a burst of clicks on everything)                     |                   |
| no_return             | a trigger whose evidence is days old, with no return | hold (that        |
|                       | visit since (every trigger, strong ones included)    | trigger; none     |
|                       |                                                      | when all wait)    |
| bulk_export_churn     | a one-off bulk export without scheduled exports      | customer_success  |
| low_value             | ARR potential below what a rep's touch is worth      | nurture           |
| seasonal              | an evaluation season (e.g. year end), young account  | soften            |
| competitor_evaluation | visits to competitor comparison/migration pages      | escalate          |

competitor, bot, one_session_tester, bulk_export_churn and low_value block the handoff
(`BLOCKING`); `soften` and `escalate` only move the tier (`decision.decide`). `no_return`
(`hold_without_return`) runs after them when none blocks: it takes the triggers it holds out of
the evaluation, and blocks (`none`) only when it holds every one. Filters run only when a
trigger fired: with nothing to hand off there is nothing to filter, and evaluations stay small
in workflow histories."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

from pydantic import Field, field_validator, model_validator

from plg_handoff.domain.domains import domain_of
from plg_handoff.domain.rules import RuleModel
from plg_handoff.domain.segments import money
from plg_handoff.domain.triggers.registry import FiredTrigger
from plg_handoff.domain.triggers.series import plural
from plg_handoff.domain.view import AccountView

FilterName = Literal[
    "competitor",
    "bot",
    "one_session_tester",
    "no_return",
    "bulk_export_churn",
    "low_value",
    "seasonal",
    "competitor_evaluation",
]
# Blocking routes, the first wins when several filters block: competitive intel is the most
# specific; automation and testers are nobody's lead; a churn risk goes to customer success.
BLOCKING: tuple[str, ...] = ("competitive_intel", "none", "customer_success", "nurture")
HOLD = "hold"  # some triggers wait for a return visit; the others still count
SOFTEN = "soften"
ESCALATE = "escalate"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class FilterRules(RuleModel):
    """Thresholds of every false-positive filter."""

    disabled: tuple[FilterName, ...] = Field(
        (), description="Filters to switch off, by name (e.g. ['seasonal'])."
    )
    # one-session testers: a burst of clicks, then gone
    tester_max_sessions: int = Field(
        2,
        ge=0,
        description="A whole history of at most this many sessions is a burst (when the "
        "`sessions` metric is recorded).",
    )
    tester_max_active_days: int = Field(
        2, ge=0, description="A burst also spans at most this many active days."
    )
    tester_max_users: int = Field(
        2,
        ge=1,
        description="A burst is also the work of at most this many active users a day (a team "
        "trying the product together is no tester).",
    )
    tester_quiet_days: int = Field(
        3,
        ge=1,
        description="Days without a return visit after which a burst is called gone.",
    )
    return_quiet_days: int = Field(
        3,
        ge=1,
        description="A trigger whose evidence is this many days old or more, with no active "
        "day since, waits for a return visit (filter `no_return`): one burst is not a buyer.",
    )
    tester_hold_new_bursts: bool = Field(
        False,
        description="Also hold any burst younger than tester_quiet_days until the account "
        "returns (default: a fresh burst is held only when it is clicks on everything with no "
        "work product, so a fresh account with real evidence, e.g. seats nearly full, is not "
        "kept waiting).",
    )
    # bots and automation
    bot_window_days: int = Field(30, ge=1, le=400, description="Days the bot checks look back.")
    bot_agent_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of the window's events from known bot user agents (metric "
        "`bot_agent_events`) from which the account is automation.",
    )
    bot_max_repeat: int = Field(
        100,
        ge=2,
        description="One user doing the same action this many times in a day (metric "
        "`max_repeat`) is automation.",
    )
    bot_repeat_excludes_api: bool = Field(
        True,
        description="Ignore a day's repeats when that day has at least as many API calls "
        "(metric `api_requests`): API calls repeat by nature.",
    )
    bot_weak_agent_share: float = Field(
        0.1,
        gt=0,
        le=1,
        description="Share of events from bot user agents from which it is a weak sign of "
        "automation (from bot_agent_share on, a strong one). A bot verdict needs one strong "
        "sign or two weak ones.",
    )
    bot_weak_repeat: int = Field(
        30,
        ge=2,
        description="Repeats of one action by one user in a day from which it is a weak sign "
        "of automation (from bot_max_repeat on, a strong one).",
    )
    bot_max_ips_per_user: float = Field(
        5.0,
        gt=0,
        description="Distinct IPs per active user per day, averaged over the window, above "
        "which the IPs rotate (VPN/proxy pools): a weak sign of automation only, since mobile "
        "networks, VPNs and office NATs rotate them too.",
    )
    # competitor research
    competitor_domains: tuple[str, ...] = Field(
        (),
        description="Email domains of known competitors; subdomains match too "
        "(e.g. ['rival.com']).",
    )
    audit_window_days: int = Field(30, ge=1, le=400, description="Days the audit check reads.")
    audit_min_event_types: int = Field(
        10, ge=1, description="Distinct event types the window needs before it can be an audit."
    )
    audit_max_touches: int = Field(
        2, ge=1, description="An event type used at most this often is only touched."
    )
    audit_min_share: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Share of event types only touched from which the usage is an audit (with "
        "no work product, metric `work_product`, in the whole history).",
    )
    # competitor evaluation: the account compares us with competitors (tier 1, DESIGN §4)
    competitor_evaluation_window_days: int = Field(
        14, ge=1, le=400, description="Days the competitor-evaluation check reads."
    )
    competitor_evaluation_min_visits: int = Field(
        2,
        ge=1,
        description="Visits to comparison/migration pages (metric `competitor_visits`) that "
        "make the handoff tier 1.",
    )
    # seasonal evaluation cycles
    evaluation_months: tuple[int, ...] = Field(
        (11, 12, 1),
        description="Months (1-12) of the evaluation season (year-end budget cycle by default).",
    )
    seasonal_max_account_age_days: int = Field(
        90,
        ge=0,
        description="Only accounts younger than this (from signup, else first activity) are "
        "evaluating; 0 softens every account in season.",
    )
    # low account value versus the cost of a sales touch
    cost_of_touch: float = Field(200, ge=0, description="What a rep's touch costs (USD).")
    min_value_ratio: float = Field(
        5,
        ge=0,
        description="ARR potential must be at least this many times cost_of_touch for a rep "
        "(default: $1,000); unknown ARR potential is not filtered.",
    )
    # one-off bulk export: churn risk
    bulk_export_window_days: int = Field(
        30, ge=1, le=400, description="Days in which a bulk export (metric `bulk_exports`) counts."
    )
    scheduled_export_lookback_days: int = Field(
        90,
        ge=1,
        le=400,
        description="Scheduled exports (metric `scheduled_exports`) in these days make a bulk "
        "export part of an integration, not a churn risk.",
    )

    @field_validator("competitor_domains")
    @classmethod
    def _domains(cls, domains: tuple[str, ...]) -> tuple[str, ...]:
        normalized = tuple(domain_of(d) for d in domains)
        bad = [d for d, n in zip(domains, normalized, strict=True) if not n]
        if bad:
            raise ValueError(f"not a domain (like rival.com): {bad}")
        return normalized

    @field_validator("evaluation_months")
    @classmethod
    def _months(cls, months: tuple[int, ...]) -> tuple[int, ...]:
        bad = [m for m in months if not 1 <= m <= 12]
        if bad:
            raise ValueError(f"months are 1-12, got {bad}")
        return months

    @model_validator(mode="after")
    def _weak_below_strong(self) -> FilterRules:
        """A weak sign's threshold at or above the strong one's could never apply."""
        for weak, strong in (
            ("bot_weak_agent_share", "bot_agent_share"),
            ("bot_weak_repeat", "bot_max_repeat"),
        ):
            if getattr(self, weak) >= getattr(self, strong):
                raise ValueError(
                    f"{weak} ({getattr(self, weak):g}) must be below {strong} "
                    f"({getattr(self, strong):g}): it is the weak sign's threshold"
                )
        return self


@dataclass
class FilterHit:
    """A filter that caught the account: why (with the numbers), and where it goes instead
    (a blocking route), or how it moves the tier (`soften`, `escalate`)."""

    filter: str  # see FilterName
    reason: str
    route: str  # none, competitive_intel, nurture, customer_success; soften, escalate
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def blocks(self) -> bool:
        return self.route in BLOCKING


def apply_filters(
    view: AccountView, fired: list[FiredTrigger], rules: FilterRules
) -> list[FilterHit]:
    """Every filter that catches the account, blocking ones first (most specific route first)."""
    if not fired:
        return []
    checks = (
        ("competitor", _competitor),
        ("bot", _bot),
        ("one_session_tester", _one_session_tester),
        ("bulk_export_churn", _bulk_export_churn),
        ("low_value", _low_value),
        ("seasonal", _seasonal),
        ("competitor_evaluation", _competitor_evaluation),
    )
    hits = [
        hit
        for name, check in checks
        if name not in rules.disabled
        for hit in [check(view, rules)]
        if hit is not None
    ]
    return sorted(hits, key=_priority)


def blocking(hits: list[FilterHit]) -> list[FilterHit]:
    """The hits that block a handoff, the one whose route wins first."""
    return sorted((h for h in hits if h.blocks), key=_priority)


def _priority(hit: FilterHit) -> int:
    return BLOCKING.index(hit.route) if hit.route in BLOCKING else len(BLOCKING)


def hold_without_return(
    view: AccountView, fired: list[FiredTrigger], rules: FilterRules
) -> tuple[list[FiredTrigger], FilterHit | None]:
    """DESIGN §4: one-session testers wait for return visits, whatever fired. A trigger whose
    evidence is `return_quiet_days` old or more (from its `fired_on`) and after which the
    account was active on no day is held: (the triggers that still count, the hit naming the
    held ones). A counted trigger that old names its return visits in its evidence; a fresh one
    (younger than `return_quiet_days`) has had no time to return and counts as it is."""
    if not fired or "no_return" in rules.disabled:
        return fired, None
    active = view.active_days()
    counted: list[FiredTrigger] = []
    held: list[tuple[FiredTrigger, int]] = []
    for trigger in fired:
        since = _day(trigger.fired_on, view.today)
        returns = [d for d in active if d > since]
        quiet = (view.today - since).days
        if quiet < rules.return_quiet_days:
            counted.append(trigger)  # fresh: no time to return yet
        elif returns:
            line = (
                f"Back on {plural(len(returns), 'day')} since {since.isoformat()}"
                f" (last {returns[-1].isoformat()})"
            )
            counted.append(replace(trigger, evidence=[*trigger.evidence, line]))
        else:
            held.append((trigger, quiet))
    if not held:
        return counted, None
    names = "; ".join(
        f"{t.trigger} (from {t.fired_on}, {plural(quiet, 'day')} ago)" for t, quiet in held
    )
    reason = f"no return visit since the evidence of {names}: one burst is not a buyer"
    figures = {f"{t.trigger}_days_quiet": float(quiet) for t, quiet in held}
    hit = FilterHit("no_return", reason, HOLD if counted else "none", figures)
    return counted, hit


def _day(text: str, default: date) -> date:
    try:
        return min(date.fromisoformat(text), default)
    except ValueError:
        return default


# --- the filters ------------------------------------------------------------------------------


def _competitor(view: AccountView, rules: FilterRules) -> FilterHit | None:
    def rival(domain: str) -> bool:
        return any(domain == c or domain.endswith("." + c) for c in rules.competitor_domains)

    account = sorted({d for d in map(domain_of, view.traits.domains) if d and rival(d)})
    users = sorted(
        {d for day in view.days for d in day.values.get("email_domains", ()) if rival(d)}
        - set(account)
    )
    if account or users:
        said = [f"email domain {', '.join(account)}"] * bool(account)
        said += [f"users' email domain {', '.join(users)} (on their events)"] * bool(users)
        return FilterHit(
            "competitor",
            f"{' and '.join(said)} belong{'s' if len(account + users) == 1 else ''} to a known"
            " competitor",
            "competitive_intel",
            {"competitor_account_domains": len(account), "competitor_user_domains": len(users)},
        )
    if "one_session_tester" not in rules.disabled and _burst(view, rules) is not None:
        return None  # one burst of clicks on everything is a tester's, not a systematic audit
    audit = _audit(view, rules)
    if audit is None:
        return None
    types, touched, share = audit
    return FilterHit(
        "competitor",
        f"one-touch audit: {touched} of {types} event types ({share:.0%}) used at most "
        f"{_times(rules.audit_max_touches)} in {rules.audit_window_days} days, and no work "
        "product (projects, saved reports, dashboards)",
        "competitive_intel",
        {"event_types": types, "touched_types": touched, "touched_share": round(share, 4)},
    )


STRONG, WEAK = 2, 1  # an indicator's weight: a bot verdict needs BOT_VERDICT
BOT_VERDICT = 2  # one strong indicator, or two weak ones


@dataclass(frozen=True)
class _Indicator:
    name: str  # the figure's key
    figure: float
    weight: int
    says: str


def _bot(view: AccountView, rules: FilterRules) -> FilterHit | None:
    """Automation, ranked: bot user agents on most events, or one action repeated 100 times,
    is a strong indicator; fewer bot agents or repeats, and rotating IPs (mobile networks, VPNs
    and office NATs rotate them too), are weak ones. A verdict needs a strong indicator or two
    weak ones, and names each with its figure and weight."""
    found = [i for i in _bot_indicators(view, rules) if i.weight > 0]
    weight = sum(i.weight for i in found)
    if weight < BOT_VERDICT:
        return None
    strength = {STRONG: "strong", WEAK: "weak"}
    figures: dict[str, float] = {"bot_weight": weight}
    for indicator in found:
        figures[indicator.name] = indicator.figure
        figures[f"{indicator.name}_weight"] = indicator.weight
    reason = "; ".join(f"{i.says} ({strength[i.weight]})" for i in found)
    return FilterHit("bot", f"automation: {reason}", "none", figures)


def _bot_indicators(view: AccountView, rules: FilterRules) -> list[_Indicator]:
    window = view.window(rules.bot_window_days)
    span = f"in {rules.bot_window_days} days"
    events = sum(n for d in window for n in d.events.values())
    bot_events = sum(d.metrics.get("bot_agent_events", 0) for d in window)
    share = min(bot_events / events, 1.0) if events > 0 else 0.0
    agents = _Indicator(
        "bot_share",
        round(share, 4),
        _rank(share, rules.bot_agent_share, rules.bot_weak_agent_share),
        f"{share:.0%} of events from bot user agents ({bot_events:,} of {events:,} {span})",
    )
    repeats = [
        (d.metrics.get("max_repeat", 0), d.day)
        for d in window
        if not (
            rules.bot_repeat_excludes_api
            and d.metrics.get("api_requests", 0) >= d.metrics.get("max_repeat", 0)
        )
    ]
    repeat, on = max(repeats, default=(0, ""))
    repeated = _Indicator(
        "max_repeat",
        repeat,
        _rank(repeat, rules.bot_max_repeat, rules.bot_weak_repeat),
        f"one user repeated the same action {repeat} times on {on} "
        f"(automation from {rules.bot_max_repeat})",
    )
    ips = sum(d.metrics.get("distinct_ips", 0) for d in window if d.active_users > 0)
    users = sum(d.active_users for d in window if d.metrics.get("distinct_ips", 0) > 0)
    per_user = ips / users if users > 0 else 0.0
    rotating = _Indicator(
        "ips_per_user_day",
        round(per_user, 2),
        WEAK if per_user > rules.bot_max_ips_per_user else 0,
        f"rotating IPs: {per_user:.1f} distinct IPs per active user per day {span} "
        f"(above {rules.bot_max_ips_per_user:g})",
    )
    return [agents, repeated, rotating]


def _rank(figure: float, strong_from: float, weak_from: float) -> int:
    if figure >= strong_from:
        return STRONG
    return WEAK if figure >= weak_from else 0


def _audit(view: AccountView, rules: FilterRules) -> tuple[int, int, float] | None:
    """(event types, types only touched, share) when the window's usage touches nearly every
    event type once or twice and the account never made anything; else None."""
    counts: Counter[str] = Counter()
    for day in view.window(rules.audit_window_days):
        counts.update({name: n for name, n in day.events.items() if n > 0})
    types = len(counts)
    if types < rules.audit_min_event_types:
        return None
    touched = sum(1 for n in counts.values() if n <= rules.audit_max_touches)
    share = touched / types
    work = sum(d.metrics.get("work_product", 0) for d in view.days)
    if share < rules.audit_min_share or work > 0:
        return None
    return types, touched, share


def _burst(view: AccountView, rules: FilterRules) -> tuple[list[date], int] | None:
    """(active days, sessions) when the whole history is one burst: at most a couple of
    sessions, days and users; else None."""
    active = view.active_days()
    if not active:
        return None
    sessions = int(sum(d.metrics.get("sessions", 0) for d in view.days))
    if len(active) > rules.tester_max_active_days:
        return None
    if sessions > 0 and sessions > rules.tester_max_sessions:
        return None
    if max(d.active_users for d in view.days) > rules.tester_max_users:
        return None
    return active, sessions


def _one_session_tester(view: AccountView, rules: FilterRules) -> FilterHit | None:
    burst = _burst(view, rules)
    if burst is None:
        return None
    active, sessions = burst
    visits = (
        f"{sessions} session{'s' if sessions != 1 else ''}"
        if sessions
        else f"{len(active)} active day{'s' if len(active) != 1 else ''}"
    )
    last = active[-1]
    quiet = (view.today - last).days
    figures: dict[str, float] = {
        "sessions": sessions,
        "active_days": len(active),
        "days_since_last": quiet,
    }
    if quiet >= rules.tester_quiet_days:
        reason = f"burst then gone: all activity in {visits}, none since {last} ({quiet} days)"
    elif rules.tester_hold_new_bursts:
        reason = f"all activity in {visits} (last {last}): waiting for a return visit"
    elif (audit := _audit(view, rules)) is not None:
        reason = (
            f"a burst of clicks on everything ({audit[1]} of {audit[0]} event types touched "
            f"at most {_times(rules.audit_max_touches)}, all in {visits}, no work product): "
            "waiting for a return visit"
        )
    else:
        return None
    return FilterHit("one_session_tester", reason, "none", figures)


def _bulk_export_churn(view: AccountView, rules: FilterRules) -> FilterHit | None:
    bulk = view.metric("bulk_exports", rules.bulk_export_window_days)
    if bulk < 1 or view.metric("scheduled_exports", rules.scheduled_export_lookback_days) > 0:
        return None
    return FilterHit(
        "bulk_export_churn",
        f"{bulk} one-off bulk export{'s' if bulk != 1 else ''} in "
        f"{rules.bulk_export_window_days} days and no scheduled exports in "
        f"{rules.scheduled_export_lookback_days}: a churn risk for customer success",
        "customer_success",
        {"bulk_exports": bulk},
    )


def _low_value(view: AccountView, rules: FilterRules) -> FilterHit | None:
    arr = view.traits.arr_potential
    minimum = rules.cost_of_touch * rules.min_value_ratio
    if arr is None or not math.isfinite(arr) or arr >= minimum:
        return None
    return FilterHit(
        "low_value",
        f"ARR potential {money(arr)} is below the {money(minimum)} a rep's touch needs "
        f"({money(rules.cost_of_touch)} a touch x {rules.min_value_ratio:g})",
        "nurture",
        {"arr_potential": arr, "min_arr": minimum},
    )


def _seasonal(view: AccountView, rules: FilterRules) -> FilterHit | None:
    if view.today.month not in rules.evaluation_months:
        return None
    started = _signup(view) or view.first_seen()
    age = (view.today - started).days if started is not None else None
    limit = rules.seasonal_max_account_age_days
    if limit and age is not None and age >= limit:
        return None
    months = ", ".join(_MONTHS[m - 1] for m in rules.evaluation_months)
    young = "" if age is None else f"; account {age} days old"
    return FilterHit(
        "seasonal",
        f"evaluation season ({months}{young})",
        SOFTEN,
        {} if age is None else {"account_age_days": age},
    )


def _competitor_evaluation(view: AccountView, rules: FilterRules) -> FilterHit | None:
    visits = view.metric("competitor_visits", rules.competitor_evaluation_window_days)
    if visits < rules.competitor_evaluation_min_visits:
        return None
    return FilterHit(
        "competitor_evaluation",
        f"the account is evaluating competitors ({visits} comparison/migration page visits "
        f"in {rules.competitor_evaluation_window_days} days)",
        ESCALATE,
        {"competitor_visits": visits},
    )


# --- helpers ----------------------------------------------------------------------------------


def _signup(view: AccountView) -> date | None:
    try:
        return date.fromisoformat((view.traits.signup_date or "")[:10])
    except ValueError:
        return None


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")
