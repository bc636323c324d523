"""Whether a source's mapping can match what the source sends (issue: nothing is accepted
silently). One pass over an export profiles the event names and the properties the mapping
reads; each metric, condition, gauge and trait that cannot match becomes a warning naming its
config field and what the source sends instead.

A warning on a setting the user wrote is `configured`; one on the default mapping (default
metrics, gauges and trait names the user kept) is not: a product need not send every default
event, but a user should know which defaults read nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from plg_handoff.activities.metric_sql import condition_sql, sql_string
from plg_handoff.config import SourceConfig, TraitMapping
from plg_handoff.domain.metrics import Condition, MetricDefinition, default_metrics
from plg_handoff.domain.usage import AccountTraits, DayRollup

TOP_UNMAPPED = 10
_JSON_TYPES = {  # DuckDB's json_type names as a JSON user reads them
    "VARCHAR": "string",
    "BIGINT": "integer",
    "UBIGINT": "integer",
    "DOUBLE": "number",
    "BOOLEAN": "boolean",
    "OBJECT": "object",
    "ARRAY": "array",
    "NULL": "null",
}


@dataclass(frozen=True)
class MappingWarning:
    field: str  # the config field, e.g. sources.product.metrics.pricing_visits.where[0]
    message: str
    configured: bool = True  # False: a default the user kept

    def line(self) -> str:
        return f"{self.field}: {self.message}" + ("" if self.configured else " (default)")


@dataclass
class PropertyStats:
    present: int = 0  # events with the property, not null
    types: Counter[str] = field(default_factory=Counter)
    sample: str | None = None  # one value as sent (JSON text), for the message


@dataclass
class ExportProfile:
    """What an export sends, as far as the mapping reads it."""

    events: int = 0
    event_counts: Counter[str] = field(default_factory=Counter)
    # per metric: events of its names, and those matching all its conditions (and carrying a
    # value, for a metric that reads one)
    metric_events: dict[str, tuple[int, int]] = field(default_factory=dict)
    # per (metric, condition index): events of the metric's names with the property, holding
    conditions: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)
    # per (metric, property): the property on the metric's events
    metric_properties: dict[tuple[str, str], PropertyStats] = field(default_factory=dict)
    properties: dict[str, PropertyStats] = field(default_factory=dict)  # on any event


def read_properties(source: SourceConfig) -> list[str]:
    """Every event property the source's mapping reads, each once."""
    names: dict[str, None] = {source.account_property: None}
    names.update((p, None) for p in source.gauges.values())
    for metric in source.metric_definitions().values():
        names.update((c.property, None) for c in metric.where)
        names.update((p, None) for p in metric.reads())
    return list(names)


def profile_export(files: Sequence[Path], source: SourceConfig) -> ExportProfile:
    """Profiles the files (JSONL in Mixpanel's export shape) in one DuckDB pass; a line the
    JSON reader cannot place is left out (the pull quarantines it with its reason)."""
    profile = ExportProfile()
    if not files:
        return profile
    properties = read_properties(source)
    column = {name: f"p_{i}" for i, name in enumerate(properties)}
    extract = "".join(
        f", json_extract(properties, {_path(name)})::VARCHAR AS {col}"
        for name, col in column.items()
    )
    connection = duckdb.connect()
    try:
        # ignore_errors: a poison line (invalid UTF-8, over 4 MiB) is read as nulls
        connection.execute(_lines_sql(files, extract))
        for event, n in connection.execute(
            "SELECT event, count(*) FROM lines GROUP BY ALL"
        ).fetchall():
            if isinstance(event, str):
                profile.event_counts[event] = int(n)
            profile.events += int(n)
        for name, col in column.items():
            profile.properties[name] = _stats(connection, col, "true")
        for metric_name, metric in source.metric_definitions().items():
            _profile_metric(connection, profile, metric_name, metric, column)
    finally:
        connection.close()
    return profile


def _lines_sql(files: Sequence[Path], extract: str) -> str:
    file_list = ", ".join(sql_string(str(f)) for f in files)
    return f"""
        CREATE TEMP TABLE lines AS
        SELECT event->>'$' AS event {extract}
        FROM read_ndjson([{file_list}], columns={{'event': 'JSON', 'properties': 'JSON'}},
                         format='newline_delimited', ignore_errors=true,
                         compression='auto', maximum_object_size=4194304)
    """


def _path(name: str) -> str:
    return sql_string('$."' + name.replace('"', '\\"') + '"')


def _stats(connection: duckdb.DuckDBPyConnection, col: str, where: str) -> PropertyStats:
    stats = PropertyStats()
    for json_type, n, sample in connection.execute(f"""
        SELECT json_type({col}::JSON), count(*), min({col}) FROM lines
        WHERE {where} AND {col} IS NOT NULL AND {col} <> 'null' GROUP BY ALL
    """).fetchall():
        stats.types[_JSON_TYPES.get(str(json_type), str(json_type).lower())] += int(n)
        stats.present += int(n)
        stats.sample = stats.sample or str(sample)
    return stats


def _profile_metric(
    connection: duckdb.DuckDBPyConnection,
    profile: ExportProfile,
    name: str,
    metric: MetricDefinition,
    column: Mapping[str, str],
) -> None:
    named = f"event IN ({', '.join(map(sql_string, metric.events))})" if metric.events else "true"
    tests = [condition_sql(c, column[c.property]) for c in metric.where]
    if metric.reads():  # a value metric is fed by the matching events carrying a value
        tests.append(
            "("
            + " OR ".join(f"coalesce({column[p]} <> 'null', false)" for p in metric.reads())
            + ")"
        )
    all_hold = " AND ".join([named, *tests])
    found = connection.execute(
        f"SELECT count(*) FILTER (WHERE {named}), count(*) FILTER (WHERE {all_hold}) FROM lines"
    ).fetchone() or (0, 0)
    profile.metric_events[name] = (int(found[0]), int(found[1]))
    for index, condition in enumerate(metric.where):
        col = column[condition.property]
        present = f"{named} AND {col} IS NOT NULL AND {col} <> 'null'"
        hold = f"{present} AND {condition_sql(condition, col)}"
        counts = connection.execute(
            f"SELECT count(*) FILTER (WHERE {present}), count(*) FILTER (WHERE {hold}) FROM lines"
        ).fetchone() or (0, 0)
        profile.conditions[(name, index)] = (int(counts[0]), int(counts[1]))
        profile.metric_properties[(name, condition.property)] = _stats(connection, col, named)
    for prop in metric.reads():
        profile.metric_properties[(name, prop)] = _stats(connection, column[prop], named)


def mapping_warnings(
    source: SourceConfig,
    profile: ExportProfile,
    traits: Mapping[str, AccountTraits] | None = None,
) -> list[MappingWarning]:
    """Each setting of the source's mapping that matches nothing the export sends. Nothing is
    said about an empty export: there is nothing to judge by."""
    if profile.events == 0:
        return []
    base = f"sources.{source.name}"
    warnings: list[MappingWarning] = []
    own = source.metrics
    defaults = default_metrics(source.kind)
    for name, metric in source.metric_definitions().items():
        configured = name in own or not source.default_metrics
        configured = configured or metric != defaults.get(name)
        warnings += _metric_warnings(f"{base}.metrics.{name}", name, metric, profile, configured)
    default_gauges = type(source).model_fields["gauges"].get_default(call_default_factory=True)
    for gauge, prop in source.gauges.items():
        stats = profile.properties.get(prop, PropertyStats())
        configured = default_gauges.get(gauge) != prop
        if stats.present == 0:
            warnings.append(
                MappingWarning(
                    f"{base}.gauges.{gauge}", f"property {prop!r} is on no event", configured
                )
            )
        elif not stats.types.keys() & {"integer", "number", "string"}:
            warnings.append(
                MappingWarning(
                    f"{base}.gauges.{gauge}",
                    f"property {prop!r} is never a number (sent as {_types(stats)})",
                    configured,
                )
            )
    account = profile.properties.get(source.account_property, PropertyStats())
    if account.present == 0:
        warnings.append(
            MappingWarning(
                f"{base}.account_property",
                f"property {source.account_property!r} is on no event: no event joins an account",
            )
        )
    if traits:
        warnings += _trait_warnings(f"{base}.traits", source.traits, traits)
    return warnings


def _metric_warnings(
    field_path: str, name: str, metric: MetricDefinition, profile: ExportProfile, configured: bool
) -> list[MappingWarning]:
    found: list[MappingWarning] = []
    unseen = [e for e in metric.events if e not in profile.event_counts]
    if metric.events and len(unseen) == len(metric.events):
        found.append(
            MappingWarning(
                f"{field_path}.events",
                f"no event named {_names(metric.events)} in the export",
                configured,
            )
        )
        return found
    if unseen:
        found.append(
            MappingWarning(f"{field_path}.events", f"never seen: {_names(unseen)}", configured)
        )
    for index, condition in enumerate(metric.where):
        present, holding = profile.conditions.get((name, index), (0, 0))
        where = f"{field_path}.where[{index}]"
        stats = profile.metric_properties.get((name, condition.property), PropertyStats())
        if present == 0:
            found.append(
                MappingWarning(
                    where,
                    f"property {condition.property!r} is on none of the {_scope(metric)} events",
                    configured,
                )
            )
        elif holding == 0 and not (expected := _expected_types(condition)) & stats.types.keys():
            found.append(
                MappingWarning(
                    where,
                    f"can never hold: {condition.property!r} is sent as {_types(stats)}"
                    f" (e.g. {stats.sample}), the condition reads {' or '.join(sorted(expected))}",
                    configured,
                )
            )
    if metric.reads():
        seen = [
            p
            for p in metric.reads()
            if profile.metric_properties.get((name, p), PropertyStats()).present
        ]
        if not seen:
            found.append(
                MappingWarning(
                    f"{field_path}.property",
                    f"{_names(metric.reads())} on none of the {_scope(metric)} events",
                    configured,
                )
            )
        elif metric.kind in ("sum", "max"):
            stats = profile.metric_properties[(name, seen[0])]
            if not stats.types.keys() & {"integer", "number", "string"}:
                found.append(
                    MappingWarning(
                        f"{field_path}.property",
                        f"property {seen[0]!r} is never a number (sent as {_types(stats)})",
                        configured,
                    )
                )
    return found


def _trait_warnings(
    field_path: str, mapping: TraitMapping, traits: Mapping[str, AccountTraits]
) -> list[MappingWarning]:
    """A trait read on no account: its property is missing or of a type it cannot be read as."""
    found: list[MappingWarning] = []
    defaults = TraitMapping()
    checks: list[tuple[str, str, list[object]]] = [
        (name, getattr(mapping, name), [getattr(t, name) for t in traits.values()])
        for name in ("name", "plan", "employees", "arr_potential", "region", "industry",
                     "signup_date")
    ]  # fmt: skip
    checks.append(("domains", mapping.domains, [t.domains or None for t in traits.values()]))
    for limit, prop in mapping.limits.items():
        checks.append((f"limits.{limit}", prop, [t.limits.get(limit) for t in traits.values()]))
    for trait, prop, values in checks:
        if any(v is not None for v in values):
            continue
        default = trait.startswith("limits.") and defaults.limits.get(trait[7:]) == prop
        default = default or getattr(defaults, trait, None) == prop
        found.append(
            MappingWarning(
                f"{field_path}.{trait}",
                f"property {prop!r} missing or unreadable on all {len(traits)} accounts",
                not default,
            )
        )
    return found


def unmapped_events(source: SourceConfig, profile: ExportProfile) -> list[tuple[str, int]]:
    """The most frequent event names no metric reads by name (every-event metrics aside)."""
    named = {e for m in source.metric_definitions().values() for e in m.events}
    counts = Counter({e: n for e, n in profile.event_counts.items() if e not in named})
    return counts.most_common(TOP_UNMAPPED)


def _expected_types(condition: Condition) -> set[str]:
    """The JSON types a value must have for the condition to hold on it."""
    if condition.contains is not None:
        return {"string"}
    if condition.at_least is not None:
        return {"integer", "number"}
    if condition.exists is not None:
        return set(_JSON_TYPES.values()) - {"null"}
    options = [condition.equals] if condition.equals is not None else list(condition.one_of or ())
    return {_type_of(option) for option in options}


def _type_of(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    return "integer" if isinstance(value, int) else "string"


def _scope(metric: MetricDefinition) -> str:
    return _names(metric.events) if metric.events else "export's"


def _names(names: Iterable[str]) -> str:
    return ", ".join(repr(n) for n in names)


def _types(stats: PropertyStats) -> str:
    return ", ".join(f"{t} ({n})" for t, n in stats.types.most_common())


def pull_warnings(
    source: SourceConfig, rollups: Mapping[str, Sequence[DayRollup]]
) -> list[MappingWarning]:
    """What one pull tells from its rollups alone about the settings the user wrote: a metric
    whose events did not occur in the pull, or whose figure stayed 0 although they did, and a
    gauge no event reported. Facts about this pull (a short late-data pull may see fewer
    events), cheap enough for every sync; the defaults a user kept are left to the preview."""
    days = [d for rollup in rollups.values() for d in rollup]
    if not any(d.events for d in days):
        return []
    base = f"sources.{source.name}"
    seen = {name for d in days for name, n in d.events.items() if n}
    warnings: list[MappingWarning] = []
    for name, metric in source.metric_definitions().items():
        if name not in source.metrics and source.default_metrics:
            continue
        fed = any(d.metrics.get(name) or d.values.get(name) for d in days)
        if metric.events and not seen & set(metric.events):
            warnings.append(
                MappingWarning(
                    f"{base}.metrics.{name}.events",
                    f"no event named {_names(metric.events)} in this pull",
                )
            )
        elif not fed:
            warnings.append(
                MappingWarning(
                    f"{base}.metrics.{name}",
                    f"matched none of the {_scope(metric)} events in this pull",
                )
            )
    default_gauges = type(source).model_fields["gauges"].get_default(call_default_factory=True)
    for gauge, prop in source.gauges.items():
        if default_gauges.get(gauge) == prop:
            continue
        if not any(gauge in d.gauges for d in days):
            warnings.append(
                MappingWarning(
                    f"{base}.gauges.{gauge}", f"property {prop!r} on no event of this pull"
                )
            )
    return warnings
