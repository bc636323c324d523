"""Volume triggers: quotas against plan limits, growth and seasonal spikes (DESIGN §4).

The helpers at the end of this module (an account's daily series by date ordinal, window
totals, the current run of days a condition held, numbers as a rep reads them) are shared with
the integration triggers."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

from pydantic import Field, model_validator

from plg_handoff.domain import windows
from plg_handoff.domain.rules import QuotaSpec, RuleModel, TriggerRule
from plg_handoff.domain.triggers.registry import Signal, trigger
from plg_handoff.domain.triggers.series import number, parse_day, plural
from plg_handoff.domain.usage import DayRollup
from plg_handoff.domain.view import AccountView

DEFAULT_QUOTAS = (
    QuotaSpec(gauge="seats", limit="seats", unit="seats"),
    QuotaSpec(gauge="storage_gb", limit="storage_gb", unit="GB of storage"),
    QuotaSpec(gauge="api_calls", limit="api_calls", unit="API calls this month"),
)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
TIMES, DASH = "\u00d7", "\u2013"  # multiplication sign, en dash (escaped for the linter)
MAX_RUN_DAYS = 90  # how far back a rolling condition's current run is followed for `fired_on`


class LimitApproachingRule(TriggerRule):
    threshold: float = Field(0.8, gt=0, le=1, description="Fraction of the plan limit in use.")
    conversion: float = Field(0.375, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    rate_window_days: int = Field(7, ge=2, le=90, description="Days used for days-to-limit.")
    quotas: tuple[QuotaSpec, ...] = DEFAULT_QUOTAS


class LimitReachedRule(TriggerRule):
    threshold: float = Field(1.0, gt=0, le=10, description="Fraction of the limit: the wall.")
    conversion: float = Field(0.225, gt=0, le=1)
    tier: int = Field(1, ge=1, le=3)
    quotas: tuple[QuotaSpec, ...] = DEFAULT_QUOTAS


@trigger("limit_approaching", "volume")
def limit_approaching(view: AccountView, rule: LimitApproachingRule) -> Signal | None:
    """Any quota at or above the threshold but under the wall (the wall is limit_reached)."""
    return _quota_signal(view, rule.quotas, rule.threshold, 1.0, rule.rate_window_days)


@trigger("limit_reached", "volume")
def limit_reached(view: AccountView, rule: LimitReachedRule) -> Signal | None:
    return _quota_signal(view, rule.quotas, rule.threshold, math.inf, 7)


# --- consistent_overage ---------------------------------------------------------------------


class OverageQuota(QuotaSpec):
    """A plan quota, with the fee for going over it when the price list is known."""

    overage_price: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="Fee a month for each unit over the limit; unset: no fee in the evidence.",
    )


DEFAULT_OVERAGE_QUOTAS = tuple(OverageQuota(**quota.model_dump()) for quota in DEFAULT_QUOTAS)
Price = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class ConsistentOverageRule(TriggerRule):
    conversion: float = Field(0.35, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    months: int = Field(
        3,
        ge=1,
        le=36,
        description="Consecutive calendar months in which the quota's highest reading was over"
        " the plan limit. The run ends this month (once a reading of it is over), or last month"
        " while this month has no reading yet.",
    )
    quotas: tuple[OverageQuota, ...] = DEFAULT_OVERAGE_QUOTAS
    next_tier_price_increase: dict[str, Price] = Field(
        default_factory=dict,
        description="By plan (the account's `plan` trait, case-insensitive): how much more a"
        " month the next tier costs. With the quotas' overage prices the evidence weighs it"
        " against the overage fees.",
    )
    currency: str = Field("$", max_length=8, description="Written before prices in evidence.")


@dataclass(frozen=True)
class _Month:
    year: int
    month: int
    peak: float  # the month's highest reading
    first_over: date  # its first reading over the limit


@dataclass(frozen=True)
class _Overage:
    quota: OverageQuota
    limit: float
    run: list[_Month]  # oldest first, ending this month or last month

    @property
    def peak(self) -> float:
        return max(m.peak for m in self.run)


@trigger("consistent_overage", "volume")
def consistent_overage(view: AccountView, rule: ConsistentOverageRule) -> Signal | None:
    """A quota over its plan limit for `months`+ calendar months running; the longest run leads,
    and `fired_on` is the first day over the limit in the run's `months`-th month."""
    hits: list[_Overage] = []
    for quota in rule.quotas:
        limit = _plan_limit(view, quota.limit)
        if limit is None:
            continue
        run = _overage_run(view, quota.gauge, limit)
        if len(run) >= rule.months:
            hits.append(_Overage(quota, limit, run))
    if not hits:
        return None
    hits.sort(key=lambda h: (-len(h.run), -h.peak / h.limit))
    evidence: list[str] = []
    figures: dict[str, float] = {}
    for hit in hits:
        gauge, first, last = hit.quota.gauge, hit.run[0], hit.run[-1]
        evidence.append(
            f"Over the plan limit of {number(hit.limit)} {hit.quota.unit} for"
            f" {plural(len(hit.run), 'month')} running ({_month_label(first)} {DASH} "
            f"{_month_label(last)}; peak {number(hit.peak)},"
            f" {percent(hit.peak / hit.limit - 1)} over)"
        )
        figures[f"{gauge}_overage_months"] = len(hit.run)
        figures[f"{gauge}_limit"] = hit.limit
        figures[f"{gauge}_peak"] = hit.peak
    evidence.extend(_overage_costs(view, rule, hits, figures))
    return Signal(
        evidence=evidence,
        figures=figures,
        fired_on=hits[0].run[rule.months - 1].first_over.isoformat(),
    )


def _overage_run(view: AccountView, gauge: str, limit: float) -> list[_Month]:
    """The current run of calendar months whose highest reading was over the limit."""
    readings: dict[tuple[int, int], list[tuple[date, float]]] = {}
    for day, value in view.gauge_series(gauge):
        parsed = parse_day(day)
        if parsed is not None and math.isfinite(value):
            readings.setdefault((parsed.year, parsed.month), []).append((parsed, value))
    key = (view.today.year, view.today.month)
    if key not in readings:  # no reading this month yet: the run may end last month
        key = _previous_month(key)
    run: list[_Month] = []
    while (month := readings.get(key)) is not None:
        over = [(day, value) for day, value in month if value > limit]
        if not over:
            break
        run.append(_Month(key[0], key[1], max(v for _, v in over), min(d for d, _ in over)))
        key = _previous_month(key)
    run.reverse()
    return run


def _overage_costs(
    view: AccountView,
    rule: ConsistentOverageRule,
    hits: Sequence[_Overage],
    figures: dict[str, float],
) -> list[str]:
    """Overage fees a month (over the last `months` months of each run, at each month's peak)
    and, with the next tier's price for the account's plan, what the next tier would save."""
    fees = [
        hit.quota.overage_price
        * sum(m.peak - hit.limit for m in hit.run[-rule.months :])
        / rule.months
        for hit in hits
        if hit.quota.overage_price is not None
    ]
    if not fees:
        return []
    fee = sum(fees)
    money = rule.currency
    figures["overage_fees_per_month"] = fee
    lines = [f"Overage fees about {money}{amount(fee)} a month"]
    plan = (view.traits.plan or "").strip().casefold()
    prices = {
        name.strip().casefold(): price for name, price in rule.next_tier_price_increase.items()
    }
    increase = prices.get(plan) if plan else None
    if increase is None:
        return lines
    savings = fee - increase
    figures["next_tier_price_increase"] = increase
    figures["next_tier_savings_per_month"] = savings
    if savings > 0:
        lines.append(
            f"The next tier ({money}{amount(increase)} a month more) would save about"
            f" {money}{amount(savings)} a month"
        )
    else:
        lines.append(
            f"The next tier costs {money}{amount(increase)} a month more, no saving on the fees"
        )
    return lines


def _previous_month(key: tuple[int, int]) -> tuple[int, int]:
    year, month = key
    return (year, month - 1) if month > 1 else (year - 1, 12)


def _month_label(month: _Month) -> str:
    return f"{MONTHS[month.month - 1]} {month.year}"


# --- rapid_growth and seasonal_spike: one daily usage measure -------------------------------

Measure = Literal["events", "active_users", "metric"]


class UsageMeasureRule(TriggerRule):
    """A trigger rule reading one daily usage measure."""

    measure: Measure = Field(
        "events",
        description="What counts as usage: 'events' (events a day: all, or `event_names`),"
        " 'active_users' (active users a day) or 'metric' (the daily `metric`).",
    )
    event_names: tuple[str, ...] = Field(
        (), description="measure 'events': only these event names count; empty: every event."
    )
    metric: str | None = Field(
        None, min_length=1, description="measure 'metric': a daily metric, e.g. 'api_requests'."
    )

    @model_validator(mode="after")
    def _measure_settings(self) -> UsageMeasureRule:
        if (self.measure == "metric") != (self.metric is not None):
            raise ValueError("`metric` is needed by, and only taken by, measure 'metric'")
        if self.event_names and self.measure != "events":
            raise ValueError("`event_names` is only taken by measure 'events'")
        return self


def usage_daily(view: AccountView, rule: UsageMeasureRule) -> dict[int, float]:
    """The rule's usage measure by date ordinal."""
    if rule.measure == "active_users":
        return daily_series(view, lambda d: d.active_users)
    if rule.measure == "metric":
        name = rule.metric or ""
        return daily_series(view, lambda d: d.metrics.get(name, 0))
    names = frozenset(rule.event_names)
    return daily_series(
        view, lambda d: sum(n for event, n in d.events.items() if not names or event in names)
    )


def _subject(rule: UsageMeasureRule) -> tuple[str, str]:
    """How evidence names the measure: the sentence's subject and the unit of its amounts."""
    if rule.measure == "active_users":
        return "Active users", "active users"
    if rule.measure == "metric":
        name = rule.metric or ""
        return name, name
    return "Usage", "events"


class RapidGrowthRule(UsageMeasureRule):
    conversion: float = Field(0.3, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    growth: float = Field(
        0.5, gt=0, le=100, description="Growth on the previous window that fires: 0.5 is +50 %."
    )
    window_days: int = Field(
        30,
        ge=1,
        le=180,
        description="Usage of the last days compared with as many days before them (30: month"
        " over month).",
    )
    min_baseline: float = Field(
        100,
        gt=0,
        description="Usage the previous window needs (a total; active users: user-days), so a"
        " handful becoming a few more is no growth.",
    )
    velocity_factor: float | None = Field(
        2.0,
        gt=1,
        le=1000,
        description="Velocity: usage of the last `velocity_days` at least this multiple of the"
        " `velocity_days` before them; unset: no velocity check.",
    )
    velocity_days: int = Field(7, ge=1, le=90, description="The velocity window in days.")
    velocity_min_baseline: float = Field(
        25, gt=0, description="Usage the previous velocity window needs."
    )


@dataclass(frozen=True)
class _Growth:
    days: int
    before: float
    now: float
    fired_on: int  # date ordinal

    @property
    def ratio(self) -> float:
        return self.now / self.before


@trigger("rapid_growth", "volume")
def rapid_growth(view: AccountView, rule: RapidGrowthRule) -> Signal | None:
    """Usage up `growth` on the previous `window_days`, or x `velocity_factor` on the previous
    `velocity_days`; either needs a baseline, and the earliest current run sets `fired_on`."""
    daily = usage_daily(view, rule)
    today = view.today.toordinal()
    growth = _growth(daily, today, rule.window_days, 1 + rule.growth, rule.min_baseline)
    velocity = (
        None
        if rule.velocity_factor is None
        else _growth(
            daily, today, rule.velocity_days, rule.velocity_factor, rule.velocity_min_baseline
        )
    )
    if growth is None and velocity is None:
        return None
    subject, unit = _subject(rule)
    evidence: list[str] = []
    figures: dict[str, float] = {}
    if growth is not None:
        evidence.append(
            f"{subject} up {percent(growth.ratio - 1)} {_over(growth.days)}"
            f" ({_amounts(growth, rule, unit)})"
        )
        figures |= {
            "growth": growth.ratio - 1,
            "usage_before": growth.before,
            "usage_now": growth.now,
            "window_days": growth.days,
        }
    if velocity is not None:
        evidence.append(
            f"{subject} {TIMES}{ratio(velocity.ratio)} {_over(velocity.days)}"
            f" ({_amounts(velocity, rule, unit)})"
        )
        figures |= {
            "velocity": velocity.ratio,
            "velocity_before": velocity.before,
            "velocity_now": velocity.now,
            "velocity_days": velocity.days,
        }
    fired_on = min(g.fired_on for g in (growth, velocity) if g is not None)
    return Signal(evidence, figures, date.fromordinal(fired_on).isoformat())


def _growth(
    daily: Mapping[int, float], today: int, days: int, factor: float, min_baseline: float
) -> _Growth | None:
    """The last `days` complete days against the `days` before them (a comparison: today's
    partial data is in neither; the baseline as `baseline_total` reads it)."""
    first_seen = min(daily, default=today)

    def totals(end: int) -> tuple[float, float] | None:
        before = baseline_total(daily, windows.period(end, days, 1), first_seen)
        if before is None or not before >= min_baseline:
            return None
        now = total_over(daily, windows.period(end, days))
        return (before, now) if now >= before * factor else None

    found = totals(today)
    if found is None:
        return None
    return _Growth(
        days=days,
        before=found[0],
        now=found[1],
        fired_on=first_of_run(lambda end: totals(end) is not None, today, MAX_RUN_DAYS),
    )


def _over(days: int) -> str:
    return {7: "week over week", 30: "month over month"}.get(days, f"on the previous {days} days")


def _amounts(growth: _Growth, rule: UsageMeasureRule, unit: str) -> str:
    if rule.measure == "active_users":
        per_day = f"{number(growth.before / growth.days)} → {number(growth.now / growth.days)}"
        return f"{per_day} {unit} a day on average"
    period = {7: "a week", 30: "a month"}.get(growth.days, f"in {growth.days} days")
    return f"{number(growth.before)} → {number(growth.now)} {unit} {period}"


# --- seasonal_spike -------------------------------------------------------------------------

_MONTH_DAY = r"^\d\d-\d\d$"
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class SeasonWindow(RuleModel):
    """A season: the same month-day range every year."""

    name: str = Field(min_length=1, description="How a rep reads it, e.g. 'Q4 peak'.")
    start: str = Field(pattern=_MONTH_DAY, description="First day, MM-DD.")
    end: str = Field(
        pattern=_MONTH_DAY,
        description="Last day, MM-DD; before `start` the season wraps the year end (12-01 to"
        " 01-15).",
    )

    @model_validator(mode="after")
    def _real_days(self) -> SeasonWindow:
        for name, (month, day) in (("start", self.first), ("end", self.last)):
            if not (1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month - 1]):
                raise ValueError(f"{name}: no such day of the year (MM-DD)")
        return self

    @property
    def first(self) -> tuple[int, int]:
        return int(self.start[:2]), int(self.start[3:])

    @property
    def last(self) -> tuple[int, int]:
        return int(self.end[:2]), int(self.end[3:])

    def contains(self, day: date) -> bool:
        month_day = (day.month, day.day)
        if self.first <= self.last:
            return self.first <= month_day <= self.last
        return month_day >= self.first or month_day <= self.last

    def label(self) -> str:
        (m1, d1), (m2, d2) = self.first, self.last
        return f"{self.name} ({MONTHS[m1 - 1]} {d1} {DASH} {MONTHS[m2 - 1]} {d2})"


class SeasonalSpikeRule(UsageMeasureRule):
    conversion: float = Field(0.2, gt=0, le=1)
    tier: int = Field(3, ge=1, le=3)
    seasons: tuple[SeasonWindow, ...] = Field(
        (), description="The season windows; none configured: the trigger never fires."
    )
    spike_factor: float = Field(
        2.0,
        gt=1,
        le=1000,
        description="Usage a day in the season at least this multiple of the baseline's.",
    )
    spike_days: int = Field(
        7,
        ge=1,
        le=90,
        description="The last complete days of the season so far that are compared (fewer at"
        " its start; none on its first day).",
    )
    baseline_days: int = Field(
        90,
        ge=7,
        le=365,
        description="Days before this season began whose days outside every season are the"
        " baseline.",
    )
    min_baseline_days: int = Field(
        28,
        ge=1,
        le=365,
        description="Baseline days the account's history must cover (from its first rollup).",
    )
    min_baseline: float = Field(
        1.0, gt=0, description="Usage a day the baseline needs (nothing to something is no spike)."
    )

    @model_validator(mode="after")
    def _baseline_fits(self) -> SeasonalSpikeRule:
        if self.min_baseline_days > self.baseline_days:
            raise ValueError("min_baseline_days is more than baseline_days")
        return self


@trigger("seasonal_spike", "volume")
def seasonal_spike(view: AccountView, rule: SeasonalSpikeRule) -> Signal | None:
    """Today is in a season, and usage a day over its last `spike_days` (from the season's
    start) is `spike_factor` x usage a day on the days outside every season before it began."""
    current = [s for s in rule.seasons if s.contains(view.today)]
    history = [d for d in map(parse_day, (r.day for r in view.days)) if d is not None]
    if not current or not history:
        return None

    def in_season(ordinal: int) -> bool:
        day = date.fromordinal(ordinal)
        return any(season.contains(day) for season in rule.seasons)

    today = view.today.toordinal()
    start = today  # the first day of this run of season days
    while start > 1 and today - start < 366 and in_season(start - 1):
        start -= 1
    first_seen = min(history).toordinal()
    baseline_days = [
        o for o in range(max(start - rule.baseline_days, first_seen, 1), start) if not in_season(o)
    ]
    if len(baseline_days) < rule.min_baseline_days:
        return None
    daily = usage_daily(view, rule)
    baseline = sum(daily.get(o, 0) for o in baseline_days) / len(baseline_days)
    if not baseline >= rule.min_baseline:
        return None

    def spike(end: int) -> tuple[float, int]:
        """Usage a day over the complete season days before `end` (at most `spike_days`): a
        comparison, so today's partial day is left out."""
        days = min(rule.spike_days, end - start)
        return (total_over(daily, windows.period(end, days)) / days, days) if days else (0, 0)

    def holds(end: int) -> bool:
        per_day, days = spike(end)
        return days > 0 and per_day >= baseline * rule.spike_factor

    if not holds(today):
        return None
    per_day, days = spike(today)
    _, unit = _subject(rule)
    over = "yesterday" if days == 1 else f"over the last {days} days"
    seasons = ", ".join(season.label() for season in current)
    return Signal(
        evidence=[
            f"Usage spike in season {seasons}: {number(per_day)} {unit} a day {over},"
            f" {TIMES}{ratio(per_day / baseline)} the {number(baseline)} a day outside the seasons"
        ],
        figures={
            "spike": per_day / baseline,
            "season_per_day": per_day,
            "baseline_per_day": baseline,
            "spike_days": days,
        },
        fired_on=date.fromordinal(first_of_run(holds, today, today - start)).isoformat(),
    )


# --- limit_approaching / limit_reached ------------------------------------------------------


def _plan_limit(view: AccountView, key: str) -> float | None:
    """A usable plan limit: a finite number above zero."""
    limit = (view.traits.limits or {}).get(key)
    if isinstance(limit, bool) or not isinstance(limit, int | float):
        return None
    return float(limit) if math.isfinite(limit) and limit > 0 else None


def _quota_signal(
    view: AccountView,
    quotas: Sequence[QuotaSpec],
    at_least: float,
    below: float,
    rate_window_days: int,
) -> Signal | None:
    """The quotas whose latest use is in [at_least, below) of the plan limit; the fullest leads."""
    hits: list[tuple[float, str, list[str], dict[str, float]]] = []
    for quota in quotas:
        limit = _plan_limit(view, quota.limit)
        series = [(d, v) for d, v in view.gauge_series(quota.gauge) if math.isfinite(v)]
        if limit is None or not series:
            continue
        used = series[-1][1]
        share = used / limit
        if not at_least <= share < below:
            continue
        fired_on = _first_day_over(series, limit * at_least)
        evidence = _quota_evidence(quota, used, limit, series, rate_window_days)
        figures = {f"{quota.gauge}_used": used, f"{quota.gauge}_limit": limit}
        hits.append((share, fired_on, evidence, figures))
    if not hits:
        return None
    hits.sort(key=lambda h: -h[0])
    return Signal(
        evidence=[line for hit in hits for line in hit[2]],
        figures={k: v for hit in hits for k, v in hit[3].items()},
        fired_on=hits[0][1],
    )


def _first_day_over(series: Sequence[tuple[str, float]], level: float) -> str:
    """The first day of the current run of days at or above the level."""
    first = series[-1][0]
    for day, value in reversed(series):
        if value < level:
            break
        first = day
    return first


def _quota_evidence(
    quota: QuotaSpec,
    used: float,
    limit: float,
    series: Sequence[tuple[str, float]],
    rate_window_days: int,
) -> list[str]:
    evidence = [f"{_fmt(used)} of {_fmt(limit)} {quota.unit} in use ({used / limit:.0%})"]
    if used >= limit:
        evidence.append(f"{quota.unit} limit reached")
    elif (days_to_limit := _days_to_limit(used, limit, series, rate_window_days)) is not None:
        unit = "day" if days_to_limit == 1 else "days"
        evidence.append(f"at the current rate full in {days_to_limit} {unit}")
    return evidence


def _days_to_limit(
    used: float, limit: float, series: Sequence[tuple[str, float]], window: int
) -> int | None:
    """Days until the limit at the rate of the last `window` readings (None: not growing)."""
    recent = series[-window:]
    first_day, last_day = parse_day(recent[0][0]), parse_day(recent[-1][0])
    if first_day is None or last_day is None:
        return None
    span = (last_day - first_day).days
    first_value = recent[0][1]
    if span <= 0 or used <= first_value or used >= limit:
        return None
    per_day = (used - first_value) / span
    return math.ceil((limit - used) / per_day)


def _fmt(value: float) -> str:
    return f"{value:g}"


# --- shared helpers -------------------------------------------------------------------------


def daily_series(view: AccountView, value_of: Callable[[DayRollup], float]) -> dict[int, float]:
    """Each day's value by date ordinal (rollups of one day add up; unreadable days are left
    out, and so are days without rollups: read them as 0)."""
    series: dict[int, float] = {}
    for rollup in view.days:
        day = parse_day(rollup.day)
        if day is not None:
            ordinal = day.toordinal()
            series[ordinal] = series.get(ordinal, 0) + value_of(rollup)
    return series


def total_over(series: Mapping[int, float], span: windows.Span) -> float:
    """The total of a series by date ordinal over a span (`domain/windows.py`)."""
    first, last = span
    if len(series) < last - first + 1:
        return sum(v for o, v in series.items() if first <= o <= last)
    return sum(series.get(o, 0) for o in range(max(first, 1), last + 1))


def baseline_total(
    series: Mapping[int, float], span: windows.Span, first_seen: int
) -> float | None:
    """A baseline period's total, scaled to its whole length when the account's history begins
    inside it: the days before the first one seen are unknown, not idle, and counting them as 0
    would make an account younger than both periods look like it grew. None when less than half
    of the period is covered."""
    first, last = span
    length, covered = last - first + 1, last - max(first, first_seen) + 1
    if covered * 2 < length:
        return None
    return total_over(series, span) * length / covered


def first_of_run(holds: Callable[[int], bool], end: int, max_days: int) -> int:
    """The first date ordinal of the run of days ending on `end` (where `holds` holds) on which
    it held, followed back at most `max_days` days."""
    first = end
    while end - first < max_days and first > 1 and holds(first - 1):
        first -= 1
    return first


def amount(value: float) -> str:
    """Money, whole: 1,200."""
    return f"{value:,.0f}" if math.isfinite(value) and abs(value) < 1e15 else f"{value:.3g}"


def ratio(value: float) -> str:
    """A multiple: 3.4 (one decimal)."""
    return f"{value:,.1f}" if math.isfinite(value) and abs(value) < 1e15 else f"{value:.3g}"


def percent(fraction: float) -> str:
    """A fraction as a whole percentage: 0.64 → 64%."""
    if not math.isfinite(fraction) or abs(fraction) >= 1e13:
        return f"{fraction * 100:.3g}%"
    return f"{fraction * 100:,.0f}%"
