"""The emulator's records, validated the way Salesforce validates them on write."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import soql
from .errors import ApiError, invalid_field, not_found
from .schema import (
    DEFAULT_ACCOUNT_FIELDS,
    DEFAULT_CUSTOM_FIELDS,
    KEY_PREFIXES,
    LOST_STAGES,
    STANDARD_FIELDS,
    WON_STAGES,
    FieldDef,
)


@dataclass(frozen=True)
class UserSeed:
    first_name: str
    last_name: str
    email: str
    active: bool = True


DEFAULT_USERS: Sequence[UserSeed] = (
    UserSeed("Ada", "Lovelace", "ada.lovelace@sandbox.example"),
    UserSeed("Grace", "Hopper", "grace.hopper@sandbox.example"),
    UserSeed("Alan", "Turing", "alan.turing@sandbox.example"),
    UserSeed("Tom", "Becker", "tom.becker@sandbox.example", active=False),
)


def sf_datetime(moment: datetime) -> str:
    """Salesforce's own datetime format: 2026-01-31T10:00:00.000+0000."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}+0000"
    )


class Store:
    def __init__(
        self,
        *,
        users: Sequence[UserSeed] = DEFAULT_USERS,
        custom_fields: Iterable[FieldDef] = DEFAULT_CUSTOM_FIELDS,
        account_fields: Iterable[FieldDef] = DEFAULT_ACCOUNT_FIELDS,
    ) -> None:
        self.lock = threading.RLock()
        custom = list(custom_fields)
        self._schema: dict[str, dict[str, FieldDef]] = {
            sobject: {f.name: f for f in fields} for sobject, fields in STANDARD_FIELDS.items()
        }
        for field in custom:
            self._schema["Opportunity"][field.name] = field
        for field in account_fields:
            self._schema["Account"][field.name] = field
        self._records: dict[str, dict[str, dict[str, Any]]] = {s: {} for s in self._schema}
        self._counter = itertools.count(1)
        self._deleted: set[str] = set()  # an update of one answers 404 ENTITY_IS_DELETED
        self.rejections: dict[tuple[str, str], str] = {}
        for user in users:
            self.insert(
                "User",
                {
                    "Username": user.email,
                    "Email": user.email,
                    "FirstName": user.first_name,
                    "LastName": user.last_name,
                    "IsActive": user.active,
                },
            )

    # schema ------------------------------------------------------------------------------
    def sobject(self, name: str) -> str:
        for known in self._schema:
            if known.lower() == name.lower():
                return known
        raise ApiError(404, "NOT_FOUND", f"The requested resource does not exist: {name}")

    def field(self, sobject: str, name: str) -> FieldDef:
        fields = self._schema[sobject]
        if name in fields:
            return fields[name]
        for known, field in fields.items():
            if known.lower() == name.lower():
                return field
        raise invalid_field(sobject, name)

    def fields(self, sobject: str) -> list[FieldDef]:
        return list(self._schema[sobject].values())

    def add_field(self, sobject: str, field: FieldDef) -> None:
        with self.lock:
            self._schema[self.sobject(sobject)][field.name] = field

    # records -----------------------------------------------------------------------------
    def records(self, sobject: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self._records[self.sobject(sobject)].values()]

    def new_id(self, sobject: str) -> str:
        return f"{KEY_PREFIXES[sobject]}5e{next(self._counter):011d}AAA"

    def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        with self.lock:
            record = self._records[self.sobject(sobject)].get(record_id)
            if record is None:
                raise not_found()
            return dict(record)

    def insert(self, sobject: str, data: Mapping[str, Any], *, check_unique: bool = True) -> str:
        with self.lock:
            sobject = self.sobject(sobject)
            values = self._validated(sobject, data, creating=True, check_unique=check_unique)
            record_id = self.new_id(sobject)
            now = sf_datetime(datetime.now(UTC))
            record: dict[str, Any] = {f.name: None for f in self.fields(sobject)}
            record.update(values)
            record.update(Id=record_id, CreatedDate=now, LastModifiedDate=now, SystemModstamp=now)
            _derive(sobject, record, None, now)
            self._records[sobject][record_id] = record
            return record_id

    def update(self, sobject: str, record_id: str, data: Mapping[str, Any]) -> None:
        with self.lock:
            sobject = self.sobject(sobject)
            record = self._records[sobject].get(record_id)
            if record is None:
                raise self._missing(record_id)
            values = self._validated(sobject, data, creating=False, own_id=record_id)
            before = dict(record)
            record.update(values)
            now = sf_datetime(datetime.now(UTC))
            record.update(LastModifiedDate=now, SystemModstamp=now)
            _derive(sobject, record, before, now)

    def replace(self, sobject: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Restores a snapshot (an allOrNone collection that failed)."""
        with self.lock:
            self._records[self.sobject(sobject)] = {r["Id"]: dict(r) for r in rows}

    def delete(self, sobject: str, record_id: str) -> None:
        with self.lock:
            if self._records[self.sobject(sobject)].pop(record_id, None) is None:
                raise self._missing(record_id)
            self._deleted.add(record_id)

    def _missing(self, record_id: str) -> ApiError:
        if record_id in self._deleted:
            return ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return not_found()

    def ids_where(self, sobject: str, field: str, value: Any) -> list[str]:
        with self.lock:
            name = self.field(sobject, field).name
            return [i for i, r in self._records[sobject].items() if r.get(name) == value]

    def query(self, query: soql.Query) -> list[dict[str, Any]]:
        with self.lock:
            sobject = self.sobject(query.sobject)
            names = [self.field(sobject, f).name for f in query.fields]
            conditions = tuple(
                soql.Condition(self.field(sobject, c.field).name, c.op, c.value)
                for c in query.where
            )
            rows = [
                r
                for r in self._records[sobject].values()
                if soql.matches(r, conditions, any_of=query.any_of)
            ]
            if query.order_by:
                key = self.field(sobject, query.order_by).name
                rows.sort(
                    key=lambda r: (r.get(key) is None, r.get(key) or ""), reverse=query.descending
                )
            if query.limit is not None:
                rows = rows[: query.limit]
            return [{"attributes": {"type": sobject}, **{n: r.get(n) for n in names}} for r in rows]

    # validation --------------------------------------------------------------------------
    def _validated(
        self,
        sobject: str,
        data: Mapping[str, Any],
        *,
        creating: bool,
        own_id: str | None = None,
        check_unique: bool = True,
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name == "attributes":
                continue
            field = self.field(sobject, name)
            if not field.writable:
                raise ApiError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {field.name}. Please check the security"
                    " settings of this field and verify that it is read/write for your profile"
                    " or permission set.",
                    [field.name],
                )
            values[field.name] = self._value(sobject, field, value)
            if (message := self.rejections.get((sobject, field.name))) is not None:
                raise ApiError(400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", message, [field.name])
        if creating:
            missing = [
                f.name for f in self.fields(sobject) if f.required and values.get(f.name) is None
            ]
            if missing:
                raise ApiError(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
        if check_unique:
            for name, value in values.items():
                field = self._schema[sobject][name]
                if field.unique and value is not None:
                    clash = [i for i in self.ids_where(sobject, name, value) if i != own_id]
                    if clash:
                        raise ApiError(
                            400,
                            "DUPLICATE_VALUE",
                            f"duplicate value found: {name} duplicates value on record with id:"
                            f" {clash[0]}",
                            [name],
                        )
        return values

    def _value(self, sobject: str, field: FieldDef, value: Any) -> Any:
        if value is None:
            if field.required:
                raise ApiError(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{field.name}]",
                    [field.name],
                )
            return None
        kind = field.type
        if kind in {"string", "textarea", "picklist"}:
            text = value if isinstance(value, str) else str(value)
            if len(text) > field.length:
                raise ApiError(
                    400,
                    "STRING_TOO_LONG",
                    f"{field.name}: data value too large: {text[:40]}... (max length="
                    f"{field.length})",
                    [field.name],
                )
            return text
        if kind == "boolean":
            if not isinstance(value, bool):
                raise _parse_error(value, "boolean")
            return value
        if kind in {"double", "currency", "int"}:
            if isinstance(value, bool):
                raise _parse_error(value, "double")
            try:
                return float(value)
            except (TypeError, ValueError):
                raise _parse_error(value, "double") from None
        if kind == "date":
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise _parse_error(value, "date")
            return value
        if kind == "datetime":
            try:
                return sf_datetime(soql.parse_datetime(str(value)))
            except ValueError:
                raise _parse_error(value, "datetime") from None
        if kind == "reference":
            return self._reference(sobject, field, str(value))
        return value

    def _reference(self, sobject: str, field: FieldDef, value: str) -> str:
        for target in field.reference_to:
            record = self._records[target].get(value)
            if record is None:
                continue
            if target == "User" and not record.get("IsActive"):
                raise ApiError(
                    400,
                    "INACTIVE_OWNER_OR_USER",
                    "operation performed with inactive user as owner",
                    [field.name],
                )
            return value
        raise ApiError(
            400,
            "INVALID_CROSS_REFERENCE_KEY",
            f"{field.name}: id value of incorrect type: {value}",
            [field.name],
        )


def _parse_error(value: Any, kind: str) -> ApiError:
    return ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from VALUE_STRING value {value!r}",
    )


def _derive(
    sobject: str, record: dict[str, Any], before: Mapping[str, Any] | None, now: str
) -> None:
    """Salesforce's read-only fields: closed/won flags, when the stage last changed, when a
    task was completed."""
    if sobject == "Opportunity":
        stage = record.get("StageName")
        record["IsWon"] = stage in WON_STAGES
        record["IsClosed"] = stage in WON_STAGES or stage in LOST_STAGES
        if before is None or before.get("StageName") != stage:
            record["LastStageChangeDate"] = now
    elif sobject == "Task":
        record["IsClosed"] = record.get("Status") == "Completed"
        if not record["IsClosed"]:
            record["CompletedDateTime"] = None
        elif before is None or not before.get("IsClosed"):
            record["CompletedDateTime"] = now
    elif sobject == "User":
        parts = (record.get("FirstName"), record.get("LastName"))
        record["Name"] = " ".join(p for p in parts if p)
        record["UserType"] = record.get("UserType") or "Standard"
        if record.get("IsActive") is None:
            record["IsActive"] = True
