"""Metric definitions (`domain.metrics`) as DuckDB SQL, for both ingestion paths.

Each path supplies the event name and, per property, its JSON type and text (`typed_columns`).
Per event row a metric has a match bit in `mm` or, for `distinct` and `values`, the value of
a matching row `mv_<k>`; folding the copies of one event keeps `mask`, the OR of their bits
(any copy matched), and `v_<k>` (the smallest value of a matching copy), the rules
`domain.rollup.UsageRollup` follows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import duckdb

from plg_handoff.domain.metrics import Condition, MetricDefinition
from plg_handoff.domain.usage import DayRollup

_INTEGER = "('BIGINT', 'UBIGINT')"
_NUMBER = "('BIGINT', 'UBIGINT', 'DOUBLE')"


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Typed:
    """A JSON property as its `json_type` and its text (`->>'$'`), each parsed once a row."""

    type: str
    text: str


def id_text(value: Typed) -> str:
    """`domain.metrics.id_text` in SQL: a non-empty string or an integer, as text."""
    return (
        f"CASE WHEN {value.type} IN {_INTEGER} OR ({value.type} = 'VARCHAR' AND {value.text} <> '')"
        f" THEN {value.text} END"
    )


def _equals(value: Typed, expected: str | bool | int) -> str:
    if isinstance(expected, bool):
        return f"({value.type} = 'BOOLEAN' AND {value.text} = '{str(expected).lower()}')"
    if isinstance(expected, int):
        return f"({value.type} IN {_INTEGER} AND TRY_CAST({value.text} AS HUGEINT) = {expected})"
    return f"({value.type} = 'VARCHAR' AND {value.text} = {sql_string(expected)})"


def _condition(condition: Condition, value: Typed) -> str:
    if condition.exists is not None:
        operator = "<>" if condition.exists else "="
        return f"(coalesce({value.type}, 'NULL') {operator} 'NULL')"
    if condition.equals is not None:
        return _equals(value, condition.equals)
    if condition.one_of is not None:
        return "(" + " OR ".join([_equals(value, o) for o in condition.one_of] or ["false"]) + ")"
    if condition.contains is not None:
        parts = " OR ".join(f"contains({value.text}, {sql_string(p)})" for p in condition.contains)
        return f"({value.type} = 'VARCHAR' AND ({parts}))"
    number = f"TRY_CAST({value.text} AS DOUBLE)"
    return f"({value.type} IN {_NUMBER} AND {number} >= {condition.at_least!r})"


def typed_columns(properties: list[str], column: Callable[[str], str]) -> str:
    """`, pt_<j>, ps_<j>`: each property's JSON type and text, for `MetricSql.row_columns`."""
    return "".join(
        f", json_type({column(name)}) AS pt_{j}, {column(name)}->>'$' AS ps_{j}"
        for j, name in enumerate(properties)
    )


@dataclass(frozen=True)
class MetricSql:
    """Metrics whose figure needs only whether an event matched share one bit mask per event
    (`mask`, bit k for metric k); `distinct` and `values` metrics carry their value instead."""

    metrics: Mapping[str, MetricDefinition]

    @property
    def properties(self) -> list[str]:
        """Every property a metric reads, each once."""
        names: dict[str, None] = {}
        for metric in self.metrics.values():
            names.update((c.property, None) for c in metric.where)
            if metric.property:
                names[metric.property] = None
        return list(names)

    def _valued(self, metric: MetricDefinition) -> bool:
        return metric.kind in ("distinct", "values")

    def row_columns(self, event: str) -> str:
        """`, mm, mv_<k>...`: the row's match bits and values, from the event name and the
        `typed_columns` of each property."""
        typed = {name: Typed(f"pt_{j}", f"ps_{j}") for j, name in enumerate(self.properties)}
        bits, values = [], []
        for index, metric in enumerate(self.metrics.values()):
            tests = [f"{event} IN ({', '.join(sql_string(e) for e in metric.events)})"] * bool(
                metric.events
            )
            tests += [_condition(c, typed[c.property]) for c in metric.where]
            match = " AND ".join(tests) or "true"
            if self._valued(metric):
                assert metric.property is not None  # noqa: S101  # the definition requires it
                value = id_text(typed[metric.property])
                values.append(f", CASE WHEN {match} THEN {value} END AS mv_{index}")
            else:
                bits.append(f"(CASE WHEN {match} THEN {1 << index} ELSE 0 END)::UBIGINT")
        return f", {' | '.join(bits) or '0::UBIGINT'} AS mm" + "".join(values)

    def _value_indexes(self) -> list[int]:
        return [i for i, m in enumerate(self.metrics.values()) if self._valued(m)]

    def fold(self) -> str:
        """Aggregates over the copies of one event (GROUP BY the dedup key)."""
        return ", bit_or(mm) AS mask" + "".join(
            f", min(mv_{i}) AS v_{i}" for i in self._value_indexes()
        )

    def fold_over(self, window: str) -> str:
        """The same as window aggregates, keeping every row (the exact path)."""
        return f", bit_or(mm) OVER {window} AS mask" + "".join(
            f", min(mv_{i}) OVER {window} AS v_{i}" for i in self._value_indexes()
        )

    def collect(
        self,
        connection: duckdb.DuckDBPyConnection,
        counted: str,
        day: Callable[[str, int], DayRollup],
    ) -> None:
        """Fills each day's `metrics` and `values` from `counted`: one row per distinct event
        with account, day (a day number), event, user_id, t_sec and the folded `mask` and
        `v_<k>`. Every metric read from the match bits comes out of one pass at the (user,
        event) grain; each `distinct`, `values` and `sessions` metric takes one query."""
        bits = [
            (index, name, metric.kind)
            for index, (name, metric) in enumerate(self.metrics.items())
            if metric.kind in _BIT_KINDS
        ]
        counts = [m for m in bits if m[2] == "count"]
        per_user = [m for m in bits if m[2] != "count"]
        for query, metrics in ((_counts_sql, counts), (_per_user_sql, per_user)):
            if not metrics:
                continue
            for account, number, *found in connection.execute(query(metrics, counted)).fetchall():
                day(account, number).metrics.update(
                    (name, int(n)) for (_, name, _), n in zip(metrics, found, strict=True) if n
                )
        for index, (name, metric) in enumerate(self.metrics.items()):
            if metric.kind in _BIT_KINDS:
                continue
            for account, number, figure in connection.execute(
                _figure_sql(index, metric, counted)
            ).fetchall():
                if metric.kind == "values":
                    day(account, number).values[name] = [str(v) for v in figure]
                else:
                    day(account, number).metrics[name] = int(figure)


_BIT_KINDS = ("count", "max_per_user", "max_repeat")


def _counts_sql(metrics: Sequence[tuple[int, str, str]], counted: str) -> str:
    figures = ", ".join(f"count(*) FILTER (WHERE {_matched(i)})" for i, _, _ in metrics)
    return f"SELECT account, day, {figures} FROM {counted} GROUP BY ALL"


def _per_user_sql(metrics: Sequence[tuple[int, str, str]], counted: str) -> str:
    """The max_per_user and max_repeat metrics in one pass: matches counted per (user, event),
    summed per user or kept per event, then the day's maximum."""
    per_event = ", ".join(f"count(*) FILTER (WHERE {_matched(i)}) AS c_{i}" for i, _, _ in metrics)
    per_user = ", ".join(
        f"max(c_{i}) AS c_{i}" if kind == "max_repeat" else f"sum(c_{i}) AS c_{i}"
        for i, _, kind in metrics
    )
    per_day = ", ".join(f"max(c_{i})" for i, _, _ in metrics)
    return f"""
        SELECT account, day, {per_day} FROM (
            SELECT account, day, user_id, {per_user} FROM (
                SELECT account, day, user_id, event, {per_event} FROM {counted} GROUP BY ALL
            ) GROUP BY ALL
        ) GROUP BY ALL"""


def _matched(index: int) -> str:
    return f"(mask & {1 << index}::UBIGINT) <> 0"


def _figure_sql(index: int, metric: MetricDefinition, counted: str) -> str:
    """(account, day, figure) rows of one metric; days where it is zero are left out."""
    if metric.kind in ("distinct", "values"):
        figure = (
            "count(*)" if metric.kind == "distinct" else f"list(v ORDER BY v)[1:{metric.limit}]"
        )
        return f"""
            SELECT account, day, {figure} FROM (
                SELECT DISTINCT account, day, v_{index} AS v FROM {counted}
            ) WHERE v IS NOT NULL GROUP BY ALL"""
    matched = f"(SELECT * FROM {counted}) WHERE {_matched(index)}"
    if metric.kind == "sessions":
        timeout = metric.timeout_minutes * 60
        # A user's visits: one, plus one for each gap longer than the timeout between events
        # in time order (events at the same second are 0 apart).
        return f"""
            SELECT account, day, sum(1 + len(list_filter(
                list_zip(ts[2:], ts[:-1]), lambda pair: pair[1] - pair[2] > {timeout}
            ))) FROM (
                SELECT account, day, user_id, list(t_sec ORDER BY t_sec) AS ts
                FROM {matched} GROUP BY ALL
            ) GROUP BY ALL"""
    raise ValueError(f"{metric.kind} metrics come from the match bits")
