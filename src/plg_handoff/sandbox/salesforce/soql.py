"""A small SOQL subset: SELECT f, ... FROM Type [WHERE cond AND cond ... | cond OR cond ...]
[ORDER BY f [ASC|DESC]] [LIMIT n]; a condition is `field op literal` (=, !=, <, <=, >, >=)
or `field IN (literal, ...)`; literals are 'strings', numbers, true/false/null, dates and
datetimes (2026-01-31, 2026-01-31T10:00:00Z)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .errors import ApiError

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<op><=|>=|!=|<>|=|<|>)|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z0-9_.:+\-]+))"
)


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any  # a literal, or a list of literals for IN


@dataclass(frozen=True)
class Query:
    fields: tuple[str, ...]
    sobject: str
    where: tuple[Condition, ...] = ()
    order_by: str | None = None
    descending: bool = False
    limit: int | None = None
    any_of: bool = False  # the conditions are joined by OR


def _malformed(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", message)


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise _malformed(f"unexpected token at: {text[position : position + 20]!r}")
        tokens.append(match.group().strip())
        position = match.end()
    return tokens


def _literal(token: str) -> Any:
    if token.startswith("'"):
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    lowered = token.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered == "null":
        return None
    if re.fullmatch(r"-?\d+(\.\d+)?", token):
        return float(token)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", token):
        return token
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})", token):
        return parse_datetime(token)
    raise _malformed(f"unexpected literal {token!r}")


def parse_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def parse(text: str) -> Query:
    tokens = _tokens(text)
    upper = [t.upper() for t in tokens]
    if not upper or upper[0] != "SELECT" or "FROM" not in upper:
        raise _malformed("expected SELECT ... FROM ...")
    at_from = upper.index("FROM")
    fields = tuple(t for t in tokens[1:at_from] if t != ",")
    if not fields:
        raise _malformed("no fields selected")
    sobject = tokens[at_from + 1] if at_from + 1 < len(tokens) else ""
    i = at_from + 2
    where: list[Condition] = []
    order_by: str | None = None
    descending = False
    limit: int | None = None
    joins: set[str] = set()
    if i < len(tokens) and upper[i] == "WHERE":
        i += 1
        while True:
            if i + 2 > len(tokens):
                raise _malformed("incomplete WHERE condition")
            field, op = tokens[i], upper[i + 1]
            if op == "IN":
                if tokens[i + 2] != "(":
                    raise _malformed("IN needs a list")
                values: list[Any] = []
                i += 3
                while i < len(tokens) and tokens[i] != ")":
                    if tokens[i] != ",":
                        values.append(_literal(tokens[i]))
                    i += 1
                i += 1
                where.append(Condition(field, "IN", values))
            else:
                if op not in {"=", "!=", "<>", "<", "<=", ">", ">="}:
                    raise _malformed(f"unsupported operator {tokens[i + 1]!r}")
                if i + 2 >= len(tokens):
                    raise _malformed("incomplete WHERE condition")
                where.append(Condition(field, "!=" if op == "<>" else op, _literal(tokens[i + 2])))
                i += 3
            if i < len(tokens) and upper[i] in {"AND", "OR"}:
                joins.add(upper[i])
                if len(joins) > 1:
                    # Salesforce refuses AND and OR side by side without parentheses
                    raise _malformed("unexpected token: 'OR'; use parentheses with AND and OR")
                i += 1
                continue
            break
    if i + 1 < len(tokens) and upper[i] == "ORDER" and upper[i + 1] == "BY":
        order_by = tokens[i + 2]
        i += 3
        if i < len(tokens) and upper[i] in {"ASC", "DESC"}:
            descending = upper[i] == "DESC"
            i += 1
    if i < len(tokens) and upper[i] == "LIMIT":
        try:
            limit = int(tokens[i + 1])
        except (IndexError, ValueError):
            raise _malformed("LIMIT needs a number") from None
        i += 2
    if i != len(tokens):
        raise _malformed(f"unexpected token {tokens[i]!r}")
    return Query(fields, sobject, tuple(where), order_by, descending, limit, joins == {"OR"})


def _comparable(value: Any) -> Any:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}T.*", value):
        return parse_datetime(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


_OPS: Mapping[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a is not None and a < b,
    "<=": lambda a, b: a is not None and a <= b,
    ">": lambda a, b: a is not None and a > b,
    ">=": lambda a, b: a is not None and a >= b,
}


def matches(
    record: Mapping[str, Any], conditions: tuple[Condition, ...], *, any_of: bool = False
) -> bool:
    if any_of:
        return any(matches(record, (condition,)) for condition in conditions)
    for condition in conditions:
        value = _comparable(record.get(condition.field))
        if condition.op == "IN":
            if value not in [_comparable(v) for v in condition.value]:
                return False
            continue
        try:
            if not _OPS[condition.op](value, _comparable(condition.value)):
                return False
        except TypeError:
            raise _malformed(f"cannot compare {condition.field} with {condition.value!r}") from None
    return True
