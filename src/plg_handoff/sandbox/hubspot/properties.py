"""Property definitions: the CRM properties API model and value validation."""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import Any

from .errors import PropertyIssue, validation_error
from .schema import PropertySeed, StandardProperty, property_group
from .values import format_timestamp, parse_datetime, parse_number

PROPERTY_TYPES = frozenset({"string", "number", "date", "datetime", "enumeration", "bool"})
FIELD_TYPES = frozenset(
    {
        "textarea",
        "text",
        "date",
        "file",
        "number",
        "select",
        "radio",
        "checkbox",
        "booleancheckbox",
        "calculation_equation",
        "phonenumber",
        "html",
    }
)
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIRED_CREATE_FIELDS = ("name", "label", "type", "fieldType", "groupName")


@dataclass(frozen=True)
class PropertyDefinition:
    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    created_at: str
    description: str = ""
    options: tuple[tuple[str, str], ...] = ()
    has_unique_value: bool = False
    hubspot_defined: bool = False
    read_only: bool = False
    owner_reference: bool = False

    @classmethod
    def standard(
        cls, object_type: str, prop: StandardProperty, created_at: str
    ) -> PropertyDefinition:
        return cls(
            name=prop.name,
            label=prop.label,
            type=prop.type,
            field_type=prop.field_type,
            group_name=property_group(object_type),
            created_at=created_at,
            options=tuple((value, value) for value in prop.options),
            has_unique_value=prop.has_unique_value,
            hubspot_defined=True,
            read_only=prop.read_only,
            owner_reference=prop.owner_reference,
        )

    @classmethod
    def from_seed(cls, object_type: str, seed: PropertySeed, created_at: str) -> PropertyDefinition:
        definition = cls(
            name=seed.name,
            label=seed.label,
            type=seed.type,
            field_type=seed.field_type,
            group_name=seed.group_name or property_group(object_type),
            created_at=created_at,
            description=seed.description,
            options=tuple((value, value) for value in seed.options),
            has_unique_value=seed.has_unique_value,
        )
        definition.check()
        return definition

    @classmethod
    def from_create_body(cls, body: Mapping[str, Any], created_at: str) -> PropertyDefinition:
        missing = [
            key
            for key in _REQUIRED_CREATE_FIELDS
            if not isinstance(body.get(key), str) or not body[key]
        ]
        if missing:
            raise validation_error(
                "Cannot build PropertyCreate, some of required attributes are not set "
                f"[{', '.join(missing)}]"
            )
        definition = cls(
            name=body["name"],
            label=body["label"],
            type=body["type"],
            field_type=body["fieldType"],
            group_name=body["groupName"],
            created_at=created_at,
            description=str(body.get("description") or ""),
            options=_options_from_body(body.get("options")),
            has_unique_value=bool(body.get("hasUniqueValue", False)),
        )
        definition.check()
        return definition

    @classmethod
    def from_state(cls, data: Mapping[str, Any]) -> PropertyDefinition:
        return cls.from_create_body(data, str(data["createdAt"]))

    def check(self) -> None:
        if not _NAME_PATTERN.match(self.name):
            raise validation_error(
                f"Property name '{self.name}' is invalid: use lowercase letters, digits and "
                "underscores, starting with a letter"
            )
        if self.type not in PROPERTY_TYPES:
            raise validation_error(
                f"Invalid property type '{self.type}', expected one of {sorted(PROPERTY_TYPES)}"
            )
        if self.field_type not in FIELD_TYPES:
            raise validation_error(
                f"Invalid fieldType '{self.field_type}', expected one of {sorted(FIELD_TYPES)}"
            )
        if self.has_unique_value and self.type not in ("string", "number"):
            raise validation_error(
                f"Property '{self.name}' of type {self.type} cannot have unique values"
            )

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [
                {"label": label, "value": value, "displayOrder": index, "hidden": False}
                for index, (label, value) in enumerate(self.options)
            ],
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": self.owner_reference,
            "hasUniqueValue": self.has_unique_value,
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "formField": not self.read_only,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "createdAt": self.created_at,
            "updatedAt": self.created_at,
            "archived": False,
        }
        if self.owner_reference:
            body["referencedObjectType"] = "OWNER"
        return body

    def to_state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": self.group_name,
            "description": self.description,
            "options": [{"label": label, "value": value} for label, value in self.options],
            "hasUniqueValue": self.has_unique_value,
            "createdAt": self.created_at,
        }

    def normalize(self, value: str, active_owner_ids: Set[str]) -> str | PropertyIssue:
        """The value as HubSpot stores it, or the issue HubSpot reports for it."""
        if value == "":
            return value
        if self.owner_reference:
            return (
                value
                if value in active_owner_ids
                else self._issue(f"{value} is not a valid owner id", "INVALID_OWNER_ID")
            )
        normalizer = _NORMALIZERS.get(self.type)
        return normalizer(self, value) if normalizer else value

    def _issue(self, message: str, error: str) -> PropertyIssue:
        return PropertyIssue(self.name, message, error)

    def _number(self, value: str) -> str | PropertyIssue:
        return (
            value
            if parse_number(value) is not None
            else self._issue(f"{value} was not a valid number.", "INVALID_FLOAT")
        )

    def _bool(self, value: str) -> str | PropertyIssue:
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered
        return self._issue(f"{value} was not a valid boolean (true or false).", "INVALID_BOOLEAN")

    def _datetime(self, value: str) -> str | PropertyIssue:
        parsed = parse_datetime(value)
        if parsed is None:
            return self._issue(
                f"{value} was not a valid long or an ISO-8601 datetime.", "INVALID_DATETIME"
            )
        return format_timestamp(parsed)

    def _date(self, value: str) -> str | PropertyIssue:
        parsed = parse_datetime(value)
        if parsed is None:
            return self._issue(f"{value} was not a valid date.", "INVALID_DATE")
        if (parsed.hour, parsed.minute, parsed.second, parsed.microsecond) != (0, 0, 0, 0):
            moment = f"{parsed.hour}:{parsed.minute}:{parsed.second}.{parsed.microsecond // 1000}"
            return self._issue(f"{value} is at {moment} UTC, not midnight!", "INVALID_DATE")
        return parsed.date().isoformat()

    def _enumeration(self, value: str) -> str | PropertyIssue:
        allowed = [option_value for _, option_value in self.options]
        if not allowed:
            return value
        chosen = value.split(";") if self.field_type == "checkbox" else [value]
        if all(item in allowed for item in chosen):
            return value
        return self._issue(
            f"{value} was not one of the allowed options: [{', '.join(allowed)}]", "INVALID_OPTION"
        )


_NORMALIZERS = {
    "number": PropertyDefinition._number,
    "bool": PropertyDefinition._bool,
    "datetime": PropertyDefinition._datetime,
    "date": PropertyDefinition._date,
    "enumeration": PropertyDefinition._enumeration,
}


def _options_from_body(raw: Any) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(
        isinstance(item, Mapping) and "value" in item for item in raw
    ):
        raise validation_error("options must be a list of objects with label and value")
    return tuple((str(item.get("label", item["value"])), str(item["value"])) for item in raw)
