"""Writes to CRM records with HubSpot's validation rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import (
    CONFLICT,
    OBJECT_NOT_FOUND,
    VALIDATION_ERROR,
    ApiError,
    PropertyIssue,
    RecordError,
    invalid_properties,
    property_values_message,
    validation_error,
)
from .faults import FaultPlan
from .schema import ASSOCIATION_TYPES, DEFAULT_ASSOCIATIONS, ENGAGEMENT_TYPES, singular
from .store import AssociationSpec, CrmObject, CrmStore
from .values import stringify

BATCH_LIMIT = 100
HUBSPOT_DEFINED = "HUBSPOT_DEFINED"


@dataclass(frozen=True)
class AssociationInput:
    to_type: str
    to_id: str
    specs: tuple[AssociationSpec, ...]


@dataclass(frozen=True)
class UpsertInput:
    id_property: str
    value: str
    properties: dict[str, str]
    trace_id: str | None


def parse_properties(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise validation_error("Invalid input JSON: properties must be an object")
    return {str(name): stringify(value) for name, value in raw.items()}


def batch_inputs(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(item, Mapping) for item in inputs):
        raise validation_error("Invalid input JSON: inputs must be a list of objects")
    if len(inputs) > BATCH_LIMIT:
        raise validation_error(
            f"Batch input limit exceeded: got {len(inputs)} inputs, the limit is {BATCH_LIMIT}"
        )
    return inputs


def trace_context(raw: Mapping[str, Any], index: int) -> dict[str, list[str]]:
    trace = raw.get("objectWriteTraceId")
    return {"objectWriteTraceId": [str(trace)]} if trace else {"index": [str(index)]}


def with_default_type(
    from_type: str, to_type: str, specs: Iterable[AssociationSpec]
) -> tuple[AssociationSpec, ...]:
    """HubSpot keeps the unlabeled association next to any labelled one."""
    default = DEFAULT_ASSOCIATIONS.get((from_type, to_type))
    extra = [(HUBSPOT_DEFINED, default.type_id)] if default else []
    return tuple(dict.fromkeys([*extra, *specs]))


class Records:
    def __init__(self, store: CrmStore, faults: FaultPlan) -> None:
        self._store = store
        self._faults = faults

    def require_known(self, object_type: str, property_sets: Iterable[Mapping[str, str]]) -> None:
        definitions = self._store.definitions(object_type)
        unknown = dict.fromkeys(
            name for props in property_sets for name in props if name not in definitions
        )
        if unknown:
            raise invalid_properties(
                [
                    PropertyIssue(
                        name, f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST"
                    )
                    for name in unknown
                ]
            )

    def require_unique_property(self, object_type: str, name: str) -> None:
        definition = self._store.definitions(object_type).get(name)
        if definition is None:
            raise validation_error(
                f'Property "{name}" does not exist', context={"idProperty": [name]}
            )
        if not definition.has_unique_value:
            raise validation_error(
                f'Property "{name}" is not a unique identifier property (hasUniqueValue is false)',
                context={"idProperty": [name]},
            )

    def normalize(
        self,
        object_type: str,
        raw: Mapping[str, str],
        *,
        creating: bool,
        context: dict[str, list[str]],
    ) -> dict[str, str] | RecordError:
        issues: list[PropertyIssue] = []
        values: dict[str, str] = {}
        for name, value in raw.items():
            result = self._normalize_one(object_type, name, value)
            if isinstance(result, PropertyIssue):
                issues.append(result)
            else:
                values[name] = result
        if creating and object_type in ENGAGEMENT_TYPES and not values.get("hs_timestamp"):
            issues.append(PropertyIssue("hs_timestamp", "hs_timestamp is required", "REQUIRED"))
        if issues:
            return RecordError(400, VALIDATION_ERROR, property_values_message(issues), context)
        return values

    def _normalize_one(self, object_type: str, name: str, value: str) -> str | PropertyIssue:
        definition = self._store.definitions(object_type)[name]
        if definition.read_only:
            return PropertyIssue(
                name, f"{name} is a read only property; its value cannot be set.", "READ_ONLY_VALUE"
            )
        rejection = self._faults.rejection(object_type, name)
        if rejection is not None:
            return PropertyIssue(name, rejection, "INVALID_PROPERTY_VALUE")
        return definition.normalize(value, self._store.active_owner_ids())

    def conflict(
        self,
        object_type: str,
        values: Mapping[str, str],
        exclude_id: str | None,
        context: dict[str, list[str]],
    ) -> RecordError | None:
        definitions = self._store.definitions(object_type)
        for name, value in values.items():
            if not value or not definitions[name].has_unique_value:
                continue
            existing = self._store.find_by(object_type, name, value)
            if existing is not None and existing.id != exclude_id:
                message = (
                    f"A {singular(object_type)} with {name} {value!r} already exists. "
                    f"Existing ID: {existing.id}"
                )
                return RecordError(409, CONFLICT, message, context)
        return None

    def parse_associations(self, object_type: str, raw: Any) -> list[AssociationInput]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise validation_error("Invalid input JSON: associations must be a list")
        return [self._parse_association(object_type, item) for item in raw]

    def _parse_association(self, object_type: str, item: Any) -> AssociationInput:
        try:
            to_id = str(item["to"]["id"])
            specs = [
                (str(t["associationCategory"]), int(t["associationTypeId"])) for t in item["types"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise validation_error(f"Invalid association input: {item!r}") from exc
        to_types = {self._association_target(object_type, spec) for spec in specs}
        if len(to_types) != 1:
            raise validation_error(
                f"Association types {specs} do not point to a single object type"
            )
        to_type = to_types.pop()
        target = self._store.get(to_type, to_id)
        if target is None or target.archived:
            raise validation_error(
                f"Cannot associate {singular(object_type)} with {singular(to_type)} {to_id}: "
                f"no {singular(to_type)} with that id exists"
            )
        return AssociationInput(to_type, to_id, with_default_type(object_type, to_type, specs))

    def _association_target(self, object_type: str, spec: AssociationSpec) -> str:
        category, type_id = spec
        known = ASSOCIATION_TYPES.get(type_id)
        if category != HUBSPOT_DEFINED or known is None or known.from_type != object_type:
            raise validation_error(
                f"{category} association type {type_id} is not valid for "
                f"{singular(object_type)} records"
            )
        return known.to_type

    def create(
        self,
        object_type: str,
        raw: Mapping[str, str],
        associations: Sequence[AssociationInput],
        context: dict[str, list[str]],
    ) -> CrmObject | RecordError:
        values = self.normalize(object_type, raw, creating=True, context=context)
        if isinstance(values, RecordError):
            return values
        problem = self.conflict(object_type, values, None, context)
        if problem is not None:
            return problem
        obj = self._store.insert(object_type, values)
        for link in associations:
            self._store.associate(object_type, obj.id, link.to_type, link.to_id, link.specs)
        return obj

    def update(
        self,
        object_type: str,
        obj: CrmObject,
        raw: Mapping[str, str],
        context: dict[str, list[str]],
    ) -> CrmObject | RecordError:
        values = self.normalize(object_type, raw, creating=False, context=context)
        if isinstance(values, RecordError):
            return values
        problem = self.conflict(object_type, values, obj.id, context)
        if problem is not None:
            return problem
        self._store.update(obj, values)
        return obj

    def injected_rejection(
        self, object_type: str, record_id: str, context: dict[str, list[str]]
    ) -> RecordError | None:
        message = self._faults.record_rejection(object_type, record_id)
        if message is None:
            return None
        return RecordError(400, VALIDATION_ERROR, message, context)

    def upsert(self, object_type: str, item: UpsertInput) -> tuple[CrmObject, bool] | RecordError:
        context = {"id": [item.value]}
        rejected = self.injected_rejection(object_type, item.value, context)
        if rejected is not None:
            return rejected
        existing = self._store.find_by(object_type, item.id_property, item.value)
        if existing is not None:
            updated = self.update(object_type, existing, item.properties, context)
            return updated if isinstance(updated, RecordError) else (updated, False)
        if item.id_property == "hs_object_id":
            return RecordError(
                404, OBJECT_NOT_FOUND, f"No {singular(object_type)} with id {item.value}", context
            )
        created = self.create(
            object_type, {**item.properties, item.id_property: item.value}, (), context
        )
        return created if isinstance(created, RecordError) else (created, True)

    def parse_upsert_inputs(
        self, object_type: str, inputs: Sequence[Mapping[str, Any]]
    ) -> list[UpsertInput]:
        parsed = [self._parse_upsert_input(raw) for raw in inputs]
        for id_property in dict.fromkeys(item.id_property for item in parsed):
            if id_property != "hs_object_id":
                self.require_unique_property(object_type, id_property)
        keys = [(item.id_property, item.value) for item in parsed]
        duplicates = sorted({value for key, value in keys if keys.count((key, value)) > 1})
        if duplicates:
            raise validation_error(
                f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
            )
        self.require_known(object_type, [item.properties for item in parsed])
        return parsed

    @staticmethod
    def _parse_upsert_input(raw: Mapping[str, Any]) -> UpsertInput:
        value = raw.get("id")
        if value is None or value == "":
            raise validation_error("Invalid input JSON: every upsert input needs an id")
        trace = raw.get("objectWriteTraceId")
        return UpsertInput(
            id_property=str(raw.get("idProperty") or "hs_object_id"),
            value=stringify(value),
            properties=parse_properties(raw.get("properties")),
            trace_id=str(trace) if trace else None,
        )


def raise_for(result: CrmObject | RecordError) -> CrmObject:
    """Single-record endpoints answer a record error as the whole response."""
    if isinstance(result, RecordError):
        raise ApiError(result.status, result.category, result.message)
    return result
