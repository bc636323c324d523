"""Roll usage files up per account-day at the speed of DuckDB, with bounded memory.

Sources hand over local files in the Mixpanel export shape (JSONL, gzip or plain): references,
not data. Each line is read as text and classified with DuckDB's JSON functions, so a bad line
gets the same quarantine reason as `connectors.mixpanel_shape.parse_event_line` (the reference
implementation, and the differential tests hold the two to it), and aggregation, dedup and
quarantine all run vectorised in C++. DuckDB's memory limit and spill directory keep the
resident size flat whatever the size of the export."""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import duckdb

from plg_handoff.activities.metric_sql import (
    MetricSql,
    is_string,
    json_literal,
    number_value,
    plain_id,
    plain_string,
    sql_string,
    unquoted,
)
from plg_handoff.activities.screen import MAX_LINE_BYTES, engine_error, screen
from plg_handoff.connectors.base import Quarantined
from plg_handoff.connectors.mixpanel_shape import (
    EARLIEST_EVENT,
    FUTURE_TOLERANCE_S,
    MS_THRESHOLD,
)
from plg_handoff.domain.metrics import MetricDefinition
from plg_handoff.domain.usage import DayRollup

MEMORY_LIMIT = "448MB"
THREADS = 2
COPY_CHECK_ROWS = 2_000_000  # rows whose copy hashes one query groups at most
QUARANTINE_KEEP = 10_000  # raw lines kept for inspection per pull; every one is counted


@dataclass
class IngestResult:
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    outside_window: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    kept: list[Quarantined] = field(default_factory=list)
    rollups: dict[str, list[DayRollup]] = field(default_factory=dict)
    path: str = "none"  # "fast" or "exact": which way the files went


def _property_path(key: str) -> str:
    """A JSON path to an event property, quoted so `$insert_id` or dotted names work."""
    return sql_string('$.properties."' + key.replace('"', '\\"') + '"')


def roll_up(
    files: Sequence[Path],
    *,
    account_property: str,
    gauges: Mapping[str, str],
    days: Sequence[str],
    metrics: Mapping[str, MetricDefinition] | None = None,
    known_events: Collection[str] | None = None,
    now: float | None = None,
    spill_dir: Path | None = None,
    fast: bool = True,
) -> IngestResult:
    """Rolls the files up. The fast path parses with DuckDB's JSON reader and applies when every
    line is a clean event with a single account; any other line sends the whole pull down the
    exact path, which classifies each line as the reference parser does. Both give the same
    result on clean input (`fast=False` forces the exact path)."""
    result = IngestResult()
    if not files:
        return result
    latest = int((now if now is not None else time.time()) + FUTURE_TOLERANCE_S)
    sql = MetricSql(dict(metrics or {}))
    known = None if known_events is None else tuple(known_events)
    with tempfile.TemporaryDirectory(dir=spill_dir, prefix="ingest-") as spill:
        args = (account_property, gauges, sql, known, latest, days)
        try:
            _roll_up_files(result, files, Path(spill), fast, *args)
        except duckdb.Error as exc:
            # A line DuckDB cannot read at all (invalid UTF-8, too long) fails its whole file:
            # set such lines aside and roll up the rest.
            try:
                screened = screen(files, Path(spill) / "screened", QUARANTINE_KEEP)
            except (OSError, EOFError):  # not a line but the file is unreadable (broken gzip)
                raise engine_error(exc) from None
            if not screened.quarantined:
                raise engine_error(exc) from None
            result = IngestResult()
            try:
                _roll_up_files(result, screened.files, Path(spill), fast, *args)
            except duckdb.Error as again:
                raise engine_error(again) from None
            result.read += sum(screened.quarantined.values())
            for reason, count in screened.quarantined.items():
                result.quarantined[reason] = result.quarantined.get(reason, 0) + count
            result.quarantined = dict(sorted(result.quarantined.items()))
            result.kept = [*screened.kept, *result.kept][:QUARANTINE_KEEP]
    return result


def _roll_up_files(
    result: IngestResult,
    files: Sequence[Path],
    spill: Path,
    fast: bool,
    account_property: str,
    gauges: Mapping[str, str],
    sql: MetricSql,
    known: tuple[str, ...] | None,
    latest: int,
    days: Sequence[str],
) -> None:
    connection = duckdb.connect()
    try:
        for setting in (
            f"SET memory_limit='{MEMORY_LIMIT}'",
            f"SET threads={THREADS}",
            f"SET temp_directory={sql_string(str(spill))}",
            "SET preserve_insertion_order=false",
            "SET TimeZone='UTC'",
        ):
            connection.execute(setting)
        result.path = "fast"
        args = (files, account_property, gauges, sql, known, latest, days)
        if not (fast and _fast_path(connection, result, *args)):
            result.path = "exact"
            connection.execute(_classify_sql(*args))
            _collect(connection, result, list(gauges), sql)
    finally:
        connection.close()


EPOCH = date(1970, 1, 1)


@lru_cache(maxsize=4096)
def _iso_day(number: int) -> str:
    return (EPOCH + timedelta(days=number)).isoformat()


def _day_number(iso: str) -> int:
    """Days since 1970-01-01: rows carry the day as this number, turned into text at the end."""
    return (date.fromisoformat(iso) - EPOCH).days


def _is_known(
    event: str,
    known_events: tuple[str, ...] | None,
    literal: Callable[[str], str] = sql_string,
) -> str:
    """SQL: the event name (an SQL expression, compared with `literal` of each known name) is
    a known event; any name is when no list of known events is configured."""
    if known_events is None:
        return "true"
    return f"coalesce({event} IN ({', '.join(map(literal, known_events)) or 'NULL'}), false)"


def _finite_max(column: str) -> str:
    return f"max({column}) FILTER (WHERE isfinite({column}))"


IDENTIFIERS = ("user_id", "account", "insert_id")  # event_rows' identifier columns


def _mixes_forms(column: str) -> str:
    """SQL aggregate over event_rows: the column holds both strings and integers."""
    present = f"WHERE {column} <> ''"
    return (
        f"coalesce(bool_or({is_string(column)}) FILTER ({present})"
        f" AND bool_or(NOT {is_string(column)}) FILTER ({present}), false)"
    )


def _names_collide(connection: duckdb.DuckDBPyConnection, column: str) -> bool:
    """Whether two JSON texts of `event_rows.column`, a column that mixes strings and integers,
    hold the same identifier: the string "7" and the integer 7."""
    (collisions,) = connection.execute(
        f"""SELECT count(*) FROM (
                SELECT DISTINCT {column} AS text FROM event_rows WHERE {column} <> ''
            ) GROUP BY CASE WHEN {is_string("text")} THEN text[2:-2] ELSE text END
            HAVING count(*) > 1 LIMIT 1"""
    ).fetchone() or (0,)
    return bool(collisions)


def _fast_path(
    connection: duckdb.DuckDBPyConnection,
    result: IngestResult,
    files: Sequence[Path],
    account_property: str,
    gauges: Mapping[str, str],
    metrics: MetricSql,
    known_events: tuple[str, ...] | None,
    latest: int,
    days: Sequence[str],
) -> bool:
    fields = list(
        dict.fromkeys(
            [
                "time",
                "distinct_id",
                account_property,
                "$insert_id",
                *gauges.values(),
                *metrics.properties,
            ]
        )
    )
    struct = ", ".join(f'"{name.replace(chr(34), chr(34) * 2)}" JSON' for name in fields)
    columns = {"event": "JSON", "properties": f"STRUCT({struct})"}

    column_of = {name: f"f_{index}" for index, name in enumerate(fields)}
    prop = column_of.__getitem__
    # Each property's JSON text as VARCHAR, once: slicing or `contains` on the JSON type would
    # act on the JSON value, and each reference to a struct field would extract it again.
    unpacked = "".join(
        f', properties."{name.replace(chr(34), chr(34) * 2)}"::VARCHAR AS {column}'
        for name, column in column_of.items()
    )

    file_list = ", ".join(sql_string(str(f)) for f in files)
    gauge_select = "".join(
        f", {number_value(prop(p))} AS g_{index}" for index, p in enumerate(gauges.values())
    )
    column_spec = ", ".join(f"{sql_string(k)}: {sql_string(v)}" for k, v in columns.items())
    day_list = ", ".join(str(_day_number(d)) for d in days)
    gauge_max = "".join(f", {_finite_max(f'g_{i}')} AS g_{i}" for i in range(len(gauges)))
    gauge_carry = "".join(f", g_{i}" for i in range(len(gauges)))

    # Two statements: parse and type each line (streaming), then fold copies of the same
    # event (Mixpanel's dedup key) into one row. `clean` says whether a line was a plain,
    # valid event; `copy_hash` finds the copies without a hash table of every key.
    # The event name and the identifiers stay JSON text: a clean line's are plain strings or
    # integers, which name the same thing as their content as long as one field does not
    # mix the two ("7" and 7 are one user), which the check below makes sure of.
    def known(name: str) -> str:
        return _is_known(name, known_events, literal=json_literal)

    try:
        connection.execute(f"""
            CREATE TEMP TABLE event_rows AS
            SELECT
                {plain_string("event")} AND isfinite(t_num) AND {plain_id("user_id")}
                    AND {plain_id("account")} AND (insert_id = '' OR {plain_id("insert_id")})
                    AND {known("event")}
                    AS clean,
                event, user_id, account, insert_id, t_sec,
                (t_sec // 86400)::INTEGER AS day,
                hash(account, event, user_id, t_sec, insert_id) AS copy_hash
                {gauge_carry} {metrics.row_columns("event", prop, json_literal)}
            FROM (
                SELECT *,
                    TRY_CAST({prop("time")} AS DOUBLE) AS t_num,
                    TRY_CAST(trunc(CASE WHEN t_num > {MS_THRESHOLD}
                        THEN t_num / 1000 ELSE t_num END) AS BIGINT) AS t_sec,
                    {prop("distinct_id")} AS user_id,
                    {prop(account_property)} AS account,
                    coalesce(nullif({prop("$insert_id")}, '""'), '') AS insert_id
                    {gauge_select}
                FROM (
                    SELECT event::VARCHAR AS event {unpacked}
                    FROM read_ndjson([{file_list}], columns={{{column_spec}}},
                                     format='newline_delimited', ignore_errors=false,
                                     compression='auto', maximum_object_size=4194304)
                )
            )
        """)
    except duckdb.Error:
        return False  # a line the JSON reader refuses: only the exact path can place it

    rows, unclean, *mixed = connection.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE clean IS NOT TRUE OR t_sec IS NULL
            OR t_sec < {EARLIEST_EVENT} OR t_sec > {latest}),
            {", ".join(map(_mixes_forms, IDENTIFIERS))} FROM event_rows"""
    ).fetchone() or (0, 0, *(False for _ in IDENTIFIERS))
    mixing = (column for column, mixes in zip(IDENTIFIERS, mixed, strict=True) if mixes)
    if unclean or any(_names_collide(connection, column) for column in mixing):
        connection.execute("DROP TABLE event_rows")
        return False
    # The copies, found a slice of hashes at a time so the hash table stays the same size
    # whatever the size of the export.
    connection.execute("CREATE TEMP TABLE copied (copy_hash UBIGINT)")
    slices = max(1, -(-int(rows) // COPY_CHECK_ROWS))
    for part in range(slices):
        connection.execute(f"""
            INSERT INTO copied SELECT copy_hash FROM event_rows
            WHERE copy_hash % {slices} = {part} GROUP BY copy_hash HAVING count(*) > 1
        """)
    key = "account, day, event, user_id, t_sec, insert_id"
    connection.execute(f"""
        CREATE TEMP VIEW events AS
        SELECT {key}, 1 AS copies {gauge_carry} {metrics.single()}
        FROM event_rows WHERE copy_hash NOT IN (SELECT copy_hash FROM copied)
        UNION ALL
        SELECT {key}, count(*) AS copies {gauge_max} {metrics.fold()}
        FROM event_rows WHERE copy_hash IN (SELECT copy_hash FROM copied) GROUP BY {key};
    """)
    connection.execute(f"""
        CREATE TEMP VIEW kept AS SELECT * FROM events WHERE day IN ({day_list})
    """)
    read, in_window, distinct = connection.execute("""
        SELECT (SELECT sum(copies) FROM events), sum(copies), count(*) FROM kept
    """).fetchone() or (0, 0, 0)
    result.read = int(read or 0)
    result.accepted = int(distinct or 0)
    result.duplicates = int(in_window or 0) - result.accepted
    result.outside_window = result.read - int(in_window or 0)
    _collect_rollups(connection, result, list(gauges), metrics, counted="kept", name=unquoted)
    return True


def _classify_sql(
    files: Sequence[Path],
    account_property: str,
    gauges: Mapping[str, str],
    metrics: MetricSql,
    known_events: tuple[str, ...] | None,
    latest: int,
    days: Sequence[str],
) -> str:
    file_list = ", ".join(sql_string(str(f)) for f in files)
    gauge_names = [f"g_{index}" for index in range(len(gauges))]
    paths = [
        "'$.event'",
        "'$.properties.time'",
        "'$.properties.distinct_id'",
        _property_path(account_property),
        _property_path("$insert_id"),
        *(_property_path(prop) for prop in gauges.values()),
        *(_property_path(prop) for prop in metrics.properties),
    ]
    gauge_extract = "".join(f", v[{6 + i}] AS {name}" for i, name in enumerate(gauge_names))
    first_property = 6 + len(gauge_names)
    property_column = {name: f"q_{i}" for i, name in enumerate(metrics.properties)}
    property_extract = "".join(
        f", v[{first_property + i}] AS {column}"
        for i, column in enumerate(property_column.values())
    )
    gauge_carry = "".join(f", {name}" for name in gauge_names)
    gauge_typed = "".join(
        f", {number_value(f'({name}::VARCHAR)')} AS {name}" for name in gauge_names
    )
    property_carry = "".join(f", {column}" for column in property_column.values())
    day_list = ", ".join(str(_day_number(d)) for d in days)
    id_like = (
        "json_type({0}) IN ('BIGINT', 'UBIGINT') "
        "OR (json_type({0}) = 'VARCHAR' AND {0}->>'$' <> '')"
    )
    # One row per non-blank line; chr(1) never occurs in valid JSON text, so no line is split.
    # Each line is parsed once: `try` turns invalid JSON into NULL instead of an error.
    # Only quarantined lines keep their text; accepted ones travel as narrow columns.
    return f"""
    CREATE TEMP TABLE parsed AS
    WITH lines AS (
        SELECT row_number() OVER () AS line_no, filename, line
        FROM read_csv([{file_list}], columns={{'line': 'VARCHAR'}}, delim=chr(1), quote='',
                      escape='', header=false, auto_detect=false, strict_mode=false,
                      filename=true, compression='auto', max_line_size={MAX_LINE_BYTES + 16})
        WHERE line IS NOT NULL AND trim(line) <> ''
    ), o AS (
        SELECT line_no, filename, line,
            try(json_extract(line, [{", ".join(paths)}])) AS v
        FROM lines
    ), p AS (
        SELECT line_no, filename, line, v IS NOT NULL AS valid,
            v[1] AS ev, v[2] AS t_raw, v[3] AS u_raw, v[4] AS a_raw, v[5] AS i_raw
            {gauge_extract} {property_extract}
        FROM o
    ), t AS (
        SELECT *,
            CASE json_type(t_raw)
                WHEN 'BIGINT' THEN t_raw::DOUBLE WHEN 'UBIGINT' THEN t_raw::DOUBLE
                WHEN 'DOUBLE' THEN t_raw::DOUBLE
                WHEN 'VARCHAR' THEN TRY_CAST(trim(t_raw->>'$') AS DOUBLE)
            END AS t_num,
            CASE WHEN json_type(a_raw) = 'ARRAY'
                THEN list_filter(CAST(a_raw AS JSON[]), lambda x: {id_like.format("x")})
                WHEN {id_like.format("a_raw")} THEN [a_raw]
                ELSE []
            END AS accounts
        FROM p
    ), s AS (
        SELECT *,
            CASE WHEN isfinite(t_num) THEN
                trunc(CASE WHEN t_num > {MS_THRESHOLD} THEN t_num / 1000 ELSE t_num END)::BIGINT
            END AS t_sec
        FROM t
    ), c AS (
        SELECT *,
            CASE
                WHEN NOT valid THEN 'unparseable_json'
                WHEN left(ltrim(line, e' \\t\\r\\n'), 1) <> '{{' THEN 'not_an_object'
                WHEN json_type(ev) IS DISTINCT FROM 'VARCHAR' OR ev->>'$' = ''
                    THEN 'missing_event_name'
                -- properties' own type is looked at only where its time is missing
                WHEN t_raw IS NULL
                    AND json_type(line, '$.properties') IS DISTINCT FROM 'OBJECT'
                    THEN 'missing_properties'
                WHEN t_raw IS NULL OR json_type(t_raw) = 'NULL' THEN 'missing_time'
                WHEN t_sec IS NULL THEN 'bad_time'
                WHEN t_sec < {EARLIEST_EVENT} OR t_sec > {latest} THEN 'impossible_time'
                WHEN NOT coalesce({id_like.format("u_raw")}, false) THEN 'missing_distinct_id'
                WHEN len(accounts) = 0 THEN 'missing_account'
                WHEN NOT {_is_known("(ev->>'$')", known_events)} THEN 'unknown_event'
            END AS reason
        FROM s
    )
    SELECT line_no, filename, reason,
        CASE WHEN reason IS NOT NULL THEN line END AS text,
        ev->>'$' AS event, t_sec, u_raw->>'$' AS user_id, accounts,
        CASE WHEN {id_like.format("i_raw")} THEN i_raw->>'$' END AS insert_id,
        (t_sec // 86400)::INTEGER AS day
        {gauge_carry} {property_carry}
    FROM c;

    CREATE TEMP TABLE events AS
    SELECT DISTINCT ON (line_no, account)
        line_no, account, event, day, t_sec, user_id, insert_id,
        day IN ({day_list}) AS in_window {gauge_typed}
        {metrics.row_columns("event", lambda name: f"{property_column[name]}::VARCHAR")}
    FROM (
        SELECT * EXCLUDE (accounts), unnest(accounts)->>'$' AS account
        FROM parsed WHERE reason IS NULL
    );

    CREATE TEMP TABLE kept AS
    SELECT e.*,
        row_number() OVER (copies ORDER BY line_no) = 1 AS first_seen
        {metrics.fold_over("copies")}
    FROM events e WHERE in_window
    WINDOW copies AS (PARTITION BY account, event, user_id, t_sec, coalesce(insert_id, ''));
    """


def _collect(
    connection: duckdb.DuckDBPyConnection,
    result: IngestResult,
    gauges: list[str],
    metrics: MetricSql,
) -> None:
    quarantine_rows = connection.execute(
        "SELECT reason, count(*) FROM parsed WHERE reason IS NOT NULL GROUP BY ALL ORDER BY 1"
    ).fetchall()
    result.quarantined = {str(reason): int(count) for reason, count in quarantine_rows}
    for reason, filename, line_no, line in connection.execute(
        f"""SELECT reason, filename, line_no, text FROM parsed WHERE reason IS NOT NULL
            ORDER BY line_no LIMIT {QUARANTINE_KEEP}"""
    ).fetchall():
        location = f"{Path(str(filename)).name}:{line_no}"
        result.kept.append(Quarantined(str(reason), str(line), location))

    (result.read,) = connection.execute("SELECT count(*) FROM parsed").fetchone() or (0,)
    line_counts = connection.execute(
        """
        SELECT
            count(*) FILTER (WHERE NOT in_window_any),
            count(*) FILTER (WHERE in_window_any AND any_first),
            count(*) FILTER (WHERE in_window_any AND NOT any_first)
        FROM (
            SELECT e.line_no, bool_or(e.in_window) AS in_window_any,
                   coalesce(bool_or(k.first_seen), false) AS any_first
            FROM events e LEFT JOIN kept k USING (line_no, account)
            GROUP BY e.line_no
        )
        """
    ).fetchone() or (0, 0, 0)
    result.outside_window, result.accepted, result.duplicates = (int(n) for n in line_counts)
    _collect_rollups(connection, result, gauges, metrics)


def _collect_rollups(
    connection: duckdb.DuckDBPyConnection,
    result: IngestResult,
    gauges: list[str],
    metrics: MetricSql,
    counted: str = "kept WHERE first_seen",
    name: Callable[[str], str] = str,
) -> None:
    """Event counts from `counted` (one row per distinct event); users and gauge maxima from
    every in-window row, where a duplicate cannot change them. `name` turns the rows' account
    and event into the names the rollups use."""
    days: dict[tuple[str, int], DayRollup] = {}  # by the rows' own account text

    def day(account: str, number: int) -> DayRollup:
        rollup = days.get((account, number))
        if rollup is None:
            rollup = days[account, number] = DayRollup(day=_iso_day(number))
        return rollup

    for account, number, event, count in connection.execute(
        f"SELECT account, day, event, count(*) FROM {counted} GROUP BY ALL"
    ).fetchall():
        day(account, number).events[name(event)] = int(count)
    gauge_max = "".join(
        f", max(g_{index}) FILTER (WHERE isfinite(g_{index}))" for index in range(len(gauges))
    )
    for account, number, users, *tops in connection.execute(
        f"SELECT account, day, count(DISTINCT user_id) {gauge_max} FROM kept GROUP BY ALL"
    ).fetchall():
        rollup = day(account, number)
        rollup.active_users = int(users)
        rollup.gauges.update(
            (name, float(top)) for name, top in zip(gauges, tops, strict=True) if top is not None
        )
    metrics.collect(connection, counted, day, list(days.values()))

    by_account: dict[str, list[DayRollup]] = defaultdict(list)
    for (account, _), rollup in sorted(days.items()):
        rollup.events = dict(sorted(rollup.events.items()))
        rollup.gauges = dict(sorted(rollup.gauges.items()))
        rollup.metrics = dict(sorted(rollup.metrics.items()))
        rollup.values = dict(sorted(rollup.values.items()))
        by_account[name(account)].append(rollup)
    result.rollups = dict(sorted(by_account.items()))
