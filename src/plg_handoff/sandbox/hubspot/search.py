"""The CRM search endpoint's filter, sort and paging rules."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import validation_error
from .properties import PropertyDefinition
from .store import CrmObject
from .values import parse_number, to_epoch_ms

MAX_LIMIT = 200
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_RESULTS = 10_000

Key = tuple[int, float | str]


@dataclass(frozen=True)
class Filter:
    property_name: str
    operator: str
    value: str | None
    values: tuple[str, ...]
    high_value: str | None


@dataclass(frozen=True)
class SearchPage:
    total: int
    results: list[CrmObject]
    next_after: str | None


def run_search(
    objects: Sequence[CrmObject],
    definitions: Mapping[str, PropertyDefinition],
    body: Mapping[str, Any],
) -> SearchPage:
    groups = _parse_groups(body.get("filterGroups") or [])
    limit, offset = _paging(body)
    query = str(body.get("query") or "").strip().lower()
    matcher = _Matcher(definitions)
    hits = [
        obj for obj in objects if matcher.matches_any(obj, groups) and _matches_query(obj, query)
    ]
    hits = _sorted(hits, body.get("sorts") or [], matcher)
    page = hits[offset : offset + limit]
    has_more = offset + limit < min(len(hits), MAX_RESULTS)
    return SearchPage(len(hits), page, str(offset + limit) if has_more else None)


def _paging(body: Mapping[str, Any]) -> tuple[int, int]:
    try:
        limit = int(body.get("limit") or 10)
        offset = int(body.get("after") or 0)
    except (TypeError, ValueError) as exc:
        raise validation_error(f"Invalid limit or after: {exc}") from exc
    if not 0 < limit <= MAX_LIMIT:
        raise validation_error(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if not 0 <= offset < MAX_RESULTS:
        raise validation_error(f"after must be between 0 and {MAX_RESULTS - 1}, got {offset}")
    return limit, offset


def _parse_groups(raw: Any) -> list[list[Filter]]:
    if not isinstance(raw, list) or len(raw) > MAX_GROUPS:
        raise validation_error(f"filterGroups must be a list of at most {MAX_GROUPS} groups")
    groups = [_parse_group(group) for group in raw]
    return [group for group in groups if group]


def _parse_group(raw: Any) -> list[Filter]:
    filters = raw.get("filters") if isinstance(raw, Mapping) else None
    if not isinstance(filters, list) or len(filters) > MAX_FILTERS_PER_GROUP:
        raise validation_error(
            f"each filter group needs a list of at most {MAX_FILTERS_PER_GROUP} filters"
        )
    return [_parse_filter(item) for item in filters]


def _parse_filter(raw: Any) -> Filter:
    if not isinstance(raw, Mapping) or not raw.get("propertyName"):
        raise validation_error(f"Invalid filter {raw!r}: propertyName is required")
    operator = str(raw.get("operator") or "EQ")
    if operator not in _OPERATORS:
        raise validation_error(
            f"Invalid filter operator {operator}; expected one of {sorted(_OPERATORS)}"
        )
    if operator in _NEEDS_VALUE and raw.get("value") is None:
        raise validation_error(
            f"Filter on {raw['propertyName']} with operator {operator} needs a value"
        )
    return Filter(
        property_name=str(raw["propertyName"]),
        operator=operator,
        value=None if raw.get("value") is None else str(raw["value"]),
        values=tuple(str(v) for v in raw.get("values") or ()),
        high_value=None if raw.get("highValue") is None else str(raw["highValue"]),
    )


class _Matcher:
    def __init__(self, definitions: Mapping[str, PropertyDefinition]) -> None:
        self._definitions = definitions

    def key(self, name: str, value: str) -> Key:
        """Numbers and dates compare by value, everything else case-insensitively."""
        definition = self._definitions.get(name)
        kind = definition.type if definition else "string"
        number: float | None = None
        if kind == "number":
            number = parse_number(value)
        elif kind in ("date", "datetime"):
            epoch = to_epoch_ms(value)
            number = None if epoch is None else float(epoch)
        return (0, number) if number is not None else (1, value.lower())

    def matches_any(self, obj: CrmObject, groups: Sequence[Sequence[Filter]]) -> bool:
        return not groups or any(all(self.matches(obj, f) for f in group) for group in groups)

    def matches(self, obj: CrmObject, flt: Filter) -> bool:
        actual = obj.properties.get(flt.property_name) or ""
        return _OPERATORS[flt.operator](self, flt, actual)

    def _compare(self, flt: Filter, actual: str, test: Callable[[Key, Key], bool]) -> bool:
        if not actual or flt.value is None:
            return False
        return test(self.key(flt.property_name, actual), self.key(flt.property_name, flt.value))

    def _in(self, flt: Filter, actual: str) -> bool:
        candidates = {self.key(flt.property_name, value) for value in flt.values}
        return bool(actual) and self.key(flt.property_name, actual) in candidates

    def _between(self, flt: Filter, actual: str) -> bool:
        if not actual or flt.value is None or flt.high_value is None:
            return False
        key = self.key(flt.property_name, actual)
        return (
            self.key(flt.property_name, flt.value)
            <= key
            <= self.key(flt.property_name, flt.high_value)
        )

    @staticmethod
    def _contains_token(flt: Filter, actual: str) -> bool:
        pattern = (flt.value or "").lower()
        return any(fnmatch.fnmatchcase(token, pattern) for token in actual.lower().split())


_OPERATORS: dict[str, Callable[[_Matcher, Filter, str], bool]] = {
    "EQ": lambda m, f, a: m._compare(f, a, lambda x, y: x == y),
    "NEQ": lambda m, f, a: not m._compare(f, a, lambda x, y: x == y),
    "GT": lambda m, f, a: m._compare(f, a, lambda x, y: x > y),
    "GTE": lambda m, f, a: m._compare(f, a, lambda x, y: x >= y),
    "LT": lambda m, f, a: m._compare(f, a, lambda x, y: x < y),
    "LTE": lambda m, f, a: m._compare(f, a, lambda x, y: x <= y),
    "IN": lambda m, f, a: m._in(f, a),
    "NOT_IN": lambda m, f, a: not m._in(f, a),
    "BETWEEN": lambda m, f, a: m._between(f, a),
    "HAS_PROPERTY": lambda m, f, a: bool(a),
    "NOT_HAS_PROPERTY": lambda m, f, a: not a,
    "CONTAINS_TOKEN": lambda m, f, a: m._contains_token(f, a),
    "NOT_CONTAINS_TOKEN": lambda m, f, a: not m._contains_token(f, a),
}
_NEEDS_VALUE = frozenset(
    {"EQ", "NEQ", "GT", "GTE", "LT", "LTE", "BETWEEN", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}
)


def _matches_query(obj: CrmObject, query: str) -> bool:
    return not query or any(query in value.lower() for value in obj.properties.values())


def _sorted(objects: list[CrmObject], raw_sorts: Any, matcher: _Matcher) -> list[CrmObject]:
    ordered = sorted(objects, key=lambda obj: int(obj.id))
    for name, descending in reversed(_parse_sorts(raw_sorts)):
        present = [obj for obj in ordered if obj.properties.get(name)]
        missing = [obj for obj in ordered if not obj.properties.get(name)]
        present.sort(key=lambda obj: matcher.key(name, obj.properties[name]), reverse=descending)
        ordered = present + missing
    return ordered


def _parse_sorts(raw: Any) -> list[tuple[str, bool]]:
    """Sorts come as {"propertyName", "direction"} objects or as "name" / "-name" strings."""
    if not isinstance(raw, list):
        raise validation_error("sorts must be a list")
    parsed: list[tuple[str, bool]] = []
    for item in raw:
        if isinstance(item, str):
            parsed.append((item.lstrip("-"), item.startswith("-")))
        elif isinstance(item, Mapping) and item.get("propertyName"):
            parsed.append(
                (str(item["propertyName"]), str(item.get("direction", "ASCENDING")) == "DESCENDING")
            )
        else:
            raise validation_error(f"Invalid sort {item!r}")
    return parsed
