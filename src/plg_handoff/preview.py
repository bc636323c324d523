"""`handoff preview`: the configured rules over the real source, before going live. Nothing is
written: no CRM call, no workflow started, no notification.

The source is read once (one export of the range, through the pull's own code path,
`activities/usage_read.py`), rolled up with the source's mapping, its accounts' traits read,
and every account evaluated by the engine a worker runs (with the configured conversions; a
running worker's self-calibrated ones may differ). `--compare` evaluates the same export under
a second configuration's rules (and mapping: the same files are rolled up again)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from plg_handoff.activities.ingest import IngestResult
from plg_handoff.activities.mapping_check import (
    MappingWarning,
    mapping_warnings,
    profile_export,
    unmapped_events,
)
from plg_handoff.activities.usage_read import Export, exported
from plg_handoff.config import Config, Secrets, SourceConfig
from plg_handoff.domain.engine import Evaluation, evaluate
from plg_handoff.domain.lookback import lookback_days
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.usage import AccountTraits, DayRollup

ROUTES = ("sales", "nurture", "customer_success", "competitive_intel", "none")
TRAITS = ("plan", "employees", "arr_potential", "region", "industry", "domains", "signup_date")
FORMATS = ("table", "json")


@dataclass
class AccountDecision:
    account_id: str
    route: str
    tier: int
    lead: str | None
    triggers: list[str]
    filters: list[str]
    reason: str
    evidence: list[str]

    @property
    def outcome(self) -> str:
        return f"sales tier {self.tier}" if self.route == "sales" else self.route

    @classmethod
    def of(cls, evaluation: Evaluation) -> AccountDecision:
        lead = evaluation.lead
        return cls(
            account_id=evaluation.account_id,
            route=evaluation.route,
            tier=evaluation.tier,
            lead=lead.trigger if lead else None,
            triggers=[f.trigger for f in evaluation.fired],
            filters=[h.filter for h in evaluation.filtered],
            reason=evaluation.reason,
            evidence=[line for f in evaluation.fired for line in f.evidence],
        )


@dataclass
class Coverage:
    """How much of what the source sends the mapping reads."""

    read: int
    accepted: int
    duplicates: int
    quarantined: dict[str, int]
    accounts: int
    metrics: dict[str, int]  # metric -> events of the export matching it
    unmapped_events: list[tuple[str, int]]  # the most frequent event names no metric names
    traits_missing: dict[str, int]  # trait -> accounts without it
    accounts_without_traits: int  # no profile found for an account with usage
    warnings: list[MappingWarning]


@dataclass
class Comparison:
    other: str  # the other configuration file
    changes: dict[str, int]  # "from -> to" -> accounts
    changed: list[tuple[str, str, str]]  # (account, from, to)


@dataclass
class Preview:
    source: str
    first_day: str
    last_day: str
    decisions: list[AccountDecision]
    coverage: Coverage
    comparison: Comparison | None = None

    def routes(self) -> dict[str, int]:
        counted = Counter(d.outcome for d in self.decisions)
        tiers = [f"sales tier {t}" for t in (1, 2, 3)]
        return {k: counted[k] for k in [*tiers, *ROUTES[1:]] if counted[k]}

    def triggers(self) -> dict[str, int]:
        return dict(Counter(t for d in self.decisions for t in d.triggers).most_common())

    def filters(self) -> dict[str, int]:
        return dict(Counter(f for d in self.decisions for f in d.filters).most_common())

    def strict_failures(self) -> list[MappingWarning]:
        """The warnings on settings the user wrote (what `--strict` refuses)."""
        return [w for w in self.coverage.warnings if w.configured]


def run_preview(
    config: Config,
    secrets: Secrets,
    *,
    source_name: str | None = None,
    days: int | None = None,
    end: date | None = None,
    compare: tuple[str, Config] | None = None,
) -> Preview:
    source = config.source(source_name) if source_name else config.sources[0]
    last = end or datetime.now(UTC).date()
    span = days or lookback_days(config.rules)
    wanted = [last - timedelta(days=n) for n in range(span - 1, -1, -1)]
    iso = [d.isoformat() for d in wanted]
    with exported(source, secrets, wanted, config.data_dir) as export:
        ingested = export.roll_up(iso)
        read = export.traits(sorted(ingested.rollups))
        traits = read.traits
        profile = profile_export(export.files, source)
        other = None
        if compare is not None:
            other = _decisions(_rolled_up_with(export, compare[1], source, iso, ingested),
                               traits, compare[1].rules, last)  # fmt: skip
    decisions = _decisions(ingested.rollups, traits, config.rules, last)
    metric_events = {name: matched for name, (_, matched) in profile.metric_events.items()}
    coverage = Coverage(
        read=ingested.read,
        accepted=ingested.accepted,
        duplicates=ingested.duplicates,
        quarantined=dict(ingested.quarantined),
        accounts=len(ingested.rollups),
        metrics=metric_events,
        unmapped_events=unmapped_events(source, profile),
        traits_missing=_traits_missing(ingested.rollups, traits),
        accounts_without_traits=sum(1 for a in ingested.rollups if a not in traits),
        warnings=mapping_warnings(source, profile, traits),
    )
    preview = Preview(source.name, iso[0], iso[-1], decisions, coverage)
    if compare is not None and other is not None:
        preview.comparison = _compare(compare[0], decisions, other)
    return preview


def _rolled_up_with(
    export: Export, other: Config, source: SourceConfig, days: Sequence[str], ours: IngestResult
) -> dict[str, list[DayRollup]]:
    """The export rolled up with the other configuration's mapping of this source (the same
    rollups when the mapping is the same)."""
    mapped = next((s for s in other.sources if s.name == source.name), None)
    if mapped is None or _mapping(mapped) == _mapping(source):
        return ours.rollups
    return dataclasses.replace(export, config=mapped).roll_up(days).rollups


def _mapping(source: SourceConfig) -> tuple[object, ...]:
    return (
        source.account_property,
        source.gauges,
        source.metric_definitions(),
        source.known_event_names(),
    )


def _decisions(
    rollups: Mapping[str, list[DayRollup]],
    traits: Mapping[str, AccountTraits],
    rules: RuleSet,
    today: date,
) -> list[AccountDecision]:
    return [
        AccountDecision.of(
            evaluate(account, traits.get(account, AccountTraits()), days, rules, today)
        )
        for account, days in sorted(rollups.items())
    ]


def _traits_missing(
    rollups: Mapping[str, list[DayRollup]], traits: Mapping[str, AccountTraits]
) -> dict[str, int]:
    missing: Counter[str] = Counter()
    for account in rollups:
        found = traits.get(account)
        for name in TRAITS:
            value = getattr(found, name) if found is not None else None
            if value is None or value == []:
                missing[name] += 1
    return {name: missing[name] for name in TRAITS if missing[name]}


def _compare(other: str, ours: list[AccountDecision], theirs: list[AccountDecision]) -> Comparison:
    by_account = {d.account_id: d for d in theirs}
    changed = [
        (d.account_id, d.outcome, by_account[d.account_id].outcome)
        for d in ours
        if d.account_id in by_account and d.outcome != by_account[d.account_id].outcome
    ]
    changes = Counter(f"{a} -> {b}" for _, a, b in changed)
    return Comparison(other, dict(changes.most_common()), changed)


# --- rendering --------------------------------------------------------------------------------


def render(preview: Preview, fmt: str, *, account: str | None = None, samples: int = 3) -> str:
    if fmt == "json":
        return json.dumps(_as_json(preview, account), indent=2, default=str) + "\n"
    return "\n".join(_table(preview, account, samples)) + "\n"


def _as_json(preview: Preview, account: str | None) -> dict[str, object]:
    data = dataclasses.asdict(preview)
    data["coverage"]["warnings"] = [
        {"field": w.field, "message": w.message, "configured": w.configured}
        for w in preview.coverage.warnings
    ]
    data["routes"] = preview.routes()
    data["triggers"] = preview.triggers()
    data["filters"] = preview.filters()
    if account is not None:
        data["decisions"] = [d for d in data["decisions"] if d["account_id"] == account]
    return data


def _table(preview: Preview, account: str | None, samples: int) -> list[str]:
    c = preview.coverage
    lines = [
        f"Preview of source {preview.source!r}, {preview.first_day} to {preview.last_day}"
        " (nothing written)",
        f"  events read {c.read}, accepted {c.accepted}, duplicates {c.duplicates},"
        f" quarantined {sum(c.quarantined.values())}"
        + (f" ({_pairs(c.quarantined)})" if c.quarantined else ""),
        f"  accounts {c.accounts}, without traits {c.accounts_without_traits}",
    ]
    if account is not None:
        found = [d for d in preview.decisions if d.account_id == account]
        if not found:
            return [*lines, "", f"No usage for account {account!r} in the range."]
        return [*lines, "", *_account_lines(found[0])]
    lines += ["", "Routes:"]
    lines += [f"  {route:<18} {n}" for route, n in preview.routes().items()] or ["  (no accounts)"]
    lines += ["", "Triggers fired:"]
    lines += [f"  {name:<28} {n}" for name, n in preview.triggers().items()] or ["  none"]
    lines += ["", "Filters:"]
    lines += [f"  {name:<28} {n}" for name, n in preview.filters().items()] or ["  none"]
    for outcome in preview.routes():
        chosen = [d for d in preview.decisions if d.outcome == outcome][:samples]
        lines += ["", f"Sample: {outcome}"]
        for decision in chosen:
            lines += ["  " + line for line in _account_lines(decision)]
    lines += ["", "Mapping coverage:"]
    lines += [f"  metric {name:<26} {n} events" for name, n in sorted(c.metrics.items())]
    if c.unmapped_events:
        lines.append(f"  events no metric names (top): {_pairs(dict(c.unmapped_events))}")
    if c.traits_missing:
        lines.append(f"  accounts missing a trait: {_pairs(c.traits_missing)}")
    lines.append(
        f"  identifiers that never joined: {c.quarantined.get('missing_account', 0)} events"
        f" without an account, {c.accounts_without_traits} accounts with usage and no profile"
    )
    lines += ["", f"Mapping warnings ({len(c.warnings)}):"]
    lines += [f"  {w.line()}" for w in c.warnings] or ["  none"]
    if preview.comparison is not None:
        comparison = preview.comparison
        lines += ["", f"Compared with {comparison.other}: {len(comparison.changed)} changed"]
        lines += [f"  {change:<40} {n}" for change, n in comparison.changes.items()]
        lines += [f"  {a}: {x} -> {y}" for a, x, y in comparison.changed[:20]]
    return lines


def _account_lines(decision: AccountDecision) -> list[str]:
    lines = [f"{decision.account_id}: {decision.outcome} — {decision.reason}"]
    lines += [f"    - {line}" for line in decision.evidence[:6]]
    return lines


def _pairs(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items())
