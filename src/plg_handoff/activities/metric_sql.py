"""Metric definitions (`domain.metrics`) as DuckDB SQL, for both ingestion paths.

Each path supplies the event name and each property as JSON text. DuckDB writes every JSON
value it extracts in one canonical form (yyjson's: no whitespace, `-0` as `0`, a string's
escapes only for `"`, `\\` and control characters), so most tests compare that text directly
instead of parsing it again: the string "sso" is exactly `"sso"`, the integer 429 exactly
`429`. Only text with a backslash is unescaped (`->>'$'`).

Per event row a metric has a match bit in `mm` or, for `distinct` and `values`, the JSON
text of a matching row's value `mv_<k>` (for `sum` and `max`, its finite quantity as DOUBLE);
folding the copies of one event keeps `mask`, the OR of their bits (any copy matched), and
`v_<k>` (the value of a matching copy whose `id_text` is smallest; the smallest quantity), the
rules `domain.rollup.UsageRollup` follows. Values stay JSON text until the
per-day figures: `id_text` then runs once per distinct text instead of once per event."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import duckdb

from plg_handoff.domain.metrics import (
    EMAIL_DOMAIN,
    MAX_ID,
    MIN_ID,
    QUANTITY_KINDS,
    VALUE_KINDS,
    Condition,
    MetricDefinition,
    figure,
)
from plg_handoff.domain.usage import DayRollup


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _plain(text: str) -> bool:
    """A string DuckDB writes as JSON without any escape."""
    return not any(c in '"\\' or ord(c) < 0x20 for c in text)


def is_string(value: str) -> str:
    """SQL: the JSON text is a string."""
    return f"starts_with({value}, '\"')"


def string_text(value: str) -> str:
    """SQL: a JSON string's content (the JSON text of a string without its quotes)."""
    return f"CASE WHEN contains({value}, '\\') THEN {value}->>'$' ELSE ({value})[2:-2] END"


def integer_text(value: str) -> str:
    """SQL: the JSON text is an integer a JSON engine reads exactly (BIGINT or UBIGINT)."""
    return (
        f"(TRY_CAST({value} AS HUGEINT) BETWEEN {MIN_ID} AND {MAX_ID}"
        f" AND NOT contains({value}, '.') AND NOT contains(lower({value}), 'e'))"
    )


def plain_string(value: str) -> str:
    """SQL: the JSON text is a non-empty string written without escapes, so the text between
    its quotes is its content."""
    return f"({is_string(value)} AND {value} <> '\"\"' AND NOT contains({value}, '\\'))"


def plain_id(value: str) -> str:
    """SQL: the JSON text is an identifier (`id_text`) that needs no unescaping: a plain
    string or an integer."""
    return (
        f"CASE WHEN {is_string(value)} THEN {value} <> '\"\"' AND NOT contains({value}, '\\')"
        f" ELSE {integer_text(value)} END"
    )


def unquoted(json_text: str) -> str:
    """A plain string's or an integer's JSON text as the identifier it holds."""
    return json_text[1:-1] if json_text.startswith('"') else json_text


def id_text(value: str) -> str:
    """`domain.metrics.id_text` in SQL: a non-empty string or an integer, as text."""
    return (
        f"CASE WHEN {is_string(value)} THEN nullif({string_text(value)}, '')"
        f" WHEN {integer_text(value)} THEN {value} END"
    )


def json_number(value: str) -> str:
    """SQL: a JSON number as DOUBLE (NULL for anything else, NaN included)."""
    return f"CASE WHEN {value} <> 'NaN' THEN TRY_CAST({value} AS DOUBLE) END"


def number_value(json_text: str) -> str:
    """SQL: a JSON number, or a string holding one, as DOUBLE (`domain.metrics.quantity`, which
    gauges read too); anything else is NULL. NaN and infinities are left to the caller."""
    return (
        f"CASE WHEN {is_string(json_text)} THEN TRY_CAST(trim({json_text}->>'$') AS DOUBLE)"
        f" ELSE {json_number(json_text)} END"
    )


def json_literal(expected: str | bool | int) -> str:
    """SQL: the JSON text DuckDB writes for a plain value."""
    if isinstance(expected, bool):
        return sql_string(str(expected).lower())
    if isinstance(expected, int):
        return sql_string(str(expected))
    return sql_string(f'"{expected}"')


def _equals_any(value: str, options: Sequence[str | bool | int]) -> str:
    """The JSON text equals one of the options: plain strings, booleans and integers compare
    as canonical text; a string with characters JSON escapes compares unescaped."""
    literal = [o for o in options if not isinstance(o, str) or _plain(o)]
    escaped = [o for o in options if isinstance(o, str) and not _plain(o)]
    tests = [f"{value} IN ({', '.join(map(json_literal, literal))})"] * bool(literal)
    tests += [f"({is_string(value)} AND {value}->>'$' = {sql_string(o)})" for o in escaped]
    return "(" + (" OR ".join(tests) or "false") + ")"


def condition_sql(condition: Condition, value: str) -> str:
    if condition.exists is not None:  # an absent property is NULL, a JSON null is `null`
        present = f"coalesce({value} <> 'null', false)"
        return present if condition.exists else f"NOT {present}"
    if condition.equals is not None:
        return _equals_any(value, [condition.equals])
    if condition.one_of is not None:
        return _equals_any(value, condition.one_of)
    if condition.contains is not None:
        # A plain part never matches a quote, so it can be looked for in the JSON text itself.
        text = (
            f"CASE WHEN contains({value}, '\\') THEN {value}->>'$' ELSE {value} END"
            if all(map(_plain, condition.contains))
            else f"{value}->>'$'"
        )
        parts = " OR ".join(f"contains({text}, {sql_string(p)})" for p in condition.contains)
        return f"({is_string(value)} AND ({parts}))"
    return f"coalesce({json_number(value)} >= {condition.at_least!r}, false)"


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
            names.update((p, None) for p in metric.reads())
        return list(names)

    def _valued(self, metric: MetricDefinition) -> bool:
        return metric.kind in VALUE_KINDS + QUANTITY_KINDS

    def _fold_value(self, index: int, window: str = "") -> str:
        """One event's value from its copies' (`v_<k>`)."""
        metric = list(self.metrics.values())[index]
        if metric.kind in QUANTITY_KINDS:
            return f", min(mv_{index}){window} AS v_{index}"
        return f", arg_min(mv_{index}, {id_text(f'mv_{index}')}){window} AS v_{index}"

    def row_columns(
        self,
        event: str,
        json_text: Callable[[str], str],
        event_literal: Callable[[str], str] = sql_string,
    ) -> str:
        """`, mm, mv_<k>...`: the row's match bits and values, from the event name (an SQL
        expression compared with `event_literal` of each name) and each property's JSON
        text."""
        text = {name: json_text(name) for name in self.properties}
        bits, values = [], []
        for index, metric in enumerate(self.metrics.values()):
            if _by_name_only(metric):
                continue  # counted from the day's event counts, no bit needed
            tests = [f"{event} IN ({', '.join(map(event_literal, metric.events))})"] * bool(
                metric.events
            )
            tests += [condition_sql(c, text[c.property]) for c in metric.where]
            match = " AND ".join(tests) or "true"
            raw = _first_present([text[p] for p in metric.reads()]) if metric.reads() else ""
            if metric.kind in QUANTITY_KINDS:
                number = number_value(raw)
                values.append(
                    f", CASE WHEN {match} AND isfinite({number}) THEN {number} END AS mv_{index}"
                )
            elif self._valued(metric):
                value = _email_domain(raw) if metric.email_domain else raw
                values.append(f", CASE WHEN {match} THEN {value} END AS mv_{index}")
            else:
                bits.append(f"(CASE WHEN {match} THEN {1 << index} ELSE 0 END)::UBIGINT")
        return f", {' | '.join(bits) or '0::UBIGINT'} AS mm" + "".join(values)

    def _value_indexes(self) -> list[int]:
        return [i for i, m in enumerate(self.metrics.values()) if self._valued(m)]

    def fold(self) -> str:
        """Aggregates over the copies of one event (GROUP BY the dedup key)."""
        return ", bit_or(mm) AS mask" + "".join(map(self._fold_value, self._value_indexes()))

    def single(self) -> str:
        """The same for an event that has one copy: its own bits and values."""
        return ", mm AS mask" + "".join(f", mv_{i} AS v_{i}" for i in self._value_indexes())

    def fold_over(self, window: str) -> str:
        """The same as window aggregates, keeping every row (the exact path)."""
        return f", bit_or(mm) OVER {window} AS mask" + "".join(
            self._fold_value(i, f" OVER {window}") for i in self._value_indexes()
        )

    def collect(
        self,
        connection: duckdb.DuckDBPyConnection,
        counted: str,
        day: Callable[[str, int], DayRollup],
        counted_days: Iterable[DayRollup],
    ) -> None:
        """Fills each day's `metrics` and `values` from `counted`: one row per distinct event
        with account, day (a day number), event, user_id, t_sec and the folded `mask` and
        `v_<k>`. A count of events by name alone is the sum of `counted_days`' event counts;
        the other metrics read from the match bits come out of one pass per grain (day, and
        user and event); each `distinct`, `values` and `sessions` metric takes one query."""
        by_name = [n for n, m in self.metrics.items() if _by_name_only(m)]
        every_event = [n for n in by_name if not self.metrics[n].events]
        counting: dict[str, list[str]] = defaultdict(list)  # event name -> metrics counting it
        for name in by_name:
            for event in dict.fromkeys(self.metrics[name].events):
                counting[event].append(name)
        for rollup in counted_days:
            totals = rollup.metrics
            for event, count in rollup.events.items():
                for name in counting.get(event, ()):
                    totals[name] = totals.get(name, 0) + count
                for name in every_event:
                    totals[name] = totals.get(name, 0) + count
        bits = [
            (index, name, metric.kind)
            for index, (name, metric) in enumerate(self.metrics.items())
            if metric.kind in _BIT_KINDS and name not in by_name
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
            for account, number, found in connection.execute(
                _figure_sql(index, metric, counted)
            ).fetchall():
                if metric.kind == "values":
                    day(account, number).values[name] = [str(v) for v in found]
                elif metric.kind in QUANTITY_KINDS:
                    if kept := figure(found):
                        day(account, number).metrics[name] = kept
                else:
                    day(account, number).metrics[name] = int(found)


_BIT_KINDS = ("count", "max_per_user", "max_repeat")


def _first_present(texts: Sequence[str]) -> str:
    """The first JSON text that is present and not null (`MetricDefinition.reads`)."""
    if len(texts) == 1:
        return texts[0]
    return "coalesce(" + ", ".join(f"nullif({t}, 'null')" for t in texts) + ")"


def _email_domain(value: str) -> str:
    """`domain.metrics.email_domain` as the JSON text of a string ("" when there is none,
    which `id_text` reads as no value): domains need no escape."""
    pattern = sql_string(EMAIL_DOMAIN + "$")
    return (
        f"CASE WHEN {is_string(value)} THEN"
        f" '\"' || lower(regexp_extract({value}->>'$', {pattern}, 1)) || '\"' END"
    )


def _by_name_only(metric: MetricDefinition) -> bool:
    return metric.kind == "count" and not metric.where


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
        # Each day's distinct JSON texts first, then their `id_text`: "5" and 5 are one value.
        return f"""
            SELECT account, day, {figure} FROM (
                SELECT account, day, {id_text("text")} AS v FROM (
                    SELECT account, day, v_{index} AS text FROM {counted} GROUP BY ALL
                ) GROUP BY ALL
            ) WHERE v IS NOT NULL GROUP BY ALL"""
    if metric.kind in QUANTITY_KINDS:
        total = "fsum" if metric.kind == "sum" else "max"
        return f"""
            SELECT account, day, {total}(v_{index}) FROM (SELECT * FROM {counted})
            WHERE v_{index} IS NOT NULL GROUP BY ALL"""
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
