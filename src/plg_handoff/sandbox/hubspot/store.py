"""In-memory portal state (objects, properties, associations), optionally persisted as JSON."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CONFLICT, ApiError
from .owners import OwnerSeed
from .properties import PropertyDefinition
from .schema import (
    CLOSED_STAGES,
    OBJECT_TYPES,
    PropertySeed,
    canonical_object_type,
    create_date_property,
    inverse_type_id,
    standard_properties,
)
from .values import now_iso

FIRST_OBJECT_ID = 10_001
STATE_VERSION = 1

AssociationSpec = tuple[str, int]
"""(category, typeId), e.g. ("HUBSPOT_DEFINED", 216)."""


@dataclass
class CrmObject:
    id: str
    properties: dict[str, str]
    created_at: str
    updated_at: str
    archived: bool = False
    archived_at: str | None = None

    def as_json(
        self, only: Sequence[str] | None = None, always: Sequence[str] = ()
    ) -> dict[str, Any]:
        if only is None:
            properties: dict[str, str | None] = dict(self.properties)
        else:
            properties = {
                name: self.properties.get(name) for name in dict.fromkeys([*only, *always])
            }
        body: dict[str, Any] = {
            "id": self.id,
            "properties": properties,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived,
        }
        if self.archived_at:
            body["archivedAt"] = self.archived_at
        return body

    @classmethod
    def from_state(cls, data: Mapping[str, Any]) -> CrmObject:
        return cls(
            id=str(data["id"]),
            properties={str(k): str(v) for k, v in data["properties"].items()},
            created_at=str(data["createdAt"]),
            updated_at=str(data["updatedAt"]),
            archived=bool(data.get("archived", False)),
            archived_at=data.get("archivedAt"),
        )


@dataclass
class _State:
    next_id: int = FIRST_OBJECT_ID
    objects: dict[str, dict[str, CrmObject]] = field(
        default_factory=lambda: {t: {} for t in OBJECT_TYPES}
    )
    definitions: dict[str, dict[str, PropertyDefinition]] = field(default_factory=dict)
    links: dict[tuple[str, str, str, str], set[AssociationSpec]] = field(default_factory=dict)


class CrmStore:
    """Portal state. Callers hold `lock` around reads and writes that must be consistent."""

    def __init__(
        self,
        *,
        owners: Sequence[OwnerSeed],
        custom_properties: Mapping[str, Sequence[PropertySeed]] | None = None,
        state_path: Path | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.owners: tuple[OwnerSeed, ...] = tuple(owners)
        self._seeds = dict(custom_properties or {})
        self._state_path = state_path
        self._state = self._fresh_state()
        if state_path is not None and state_path.exists():
            self._load(state_path)

    def active_owner_ids(self) -> frozenset[str]:
        return frozenset(owner.id for owner in self.owners if not owner.archived)

    def owner(self, owner_id: str) -> OwnerSeed | None:
        return next((owner for owner in self.owners if owner.id == owner_id), None)

    def definitions(self, object_type: str) -> dict[str, PropertyDefinition]:
        return self._state.definitions[object_type]

    def add_definition(self, object_type: str, definition: PropertyDefinition) -> None:
        existing = self._state.definitions[object_type]
        if definition.name in existing:
            raise ApiError(409, CONFLICT, f"Property named '{definition.name}' already exists.")
        existing[definition.name] = definition

    def custom_definitions(self, object_type: str) -> list[PropertyDefinition]:
        return [d for d in self._state.definitions[object_type].values() if not d.hubspot_defined]

    def objects(self, object_type: str, *, archived: bool = False) -> list[CrmObject]:
        found = [
            obj for obj in self._state.objects[object_type].values() if obj.archived == archived
        ]
        return sorted(found, key=lambda obj: int(obj.id))

    def get(self, object_type: str, object_id: str) -> CrmObject | None:
        return self._state.objects[object_type].get(object_id)

    def find_by(self, object_type: str, name: str, value: str) -> CrmObject | None:
        if name == "hs_object_id":
            obj = self.get(object_type, value)
            return obj if obj is not None and not obj.archived else None
        return next(
            (obj for obj in self.objects(object_type) if obj.properties.get(name) == value), None
        )

    def insert(self, object_type: str, properties: Mapping[str, str]) -> CrmObject:
        object_id = str(self._state.next_id)
        self._state.next_id += 1
        now = now_iso()
        system = {
            "hs_object_id": object_id,
            create_date_property(object_type): now,
            "hs_lastmodifieddate": now,
        }
        obj = CrmObject(object_id, {**system, **properties}, now, now)
        _derive(object_type, obj.properties, {}, now)
        self._state.objects[object_type][object_id] = obj
        return obj

    def update(self, obj: CrmObject, properties: Mapping[str, str]) -> None:
        now = now_iso()
        before = dict(obj.properties)
        obj.properties.update(properties)
        obj.properties["hs_lastmodifieddate"] = now
        obj.updated_at = now
        _derive(_object_type_of(self._state.objects, obj), obj.properties, before, now)

    def archive(self, obj: CrmObject) -> None:
        now = now_iso()
        obj.archived, obj.archived_at, obj.updated_at = True, now, now

    def associate(
        self,
        from_type: str,
        from_id: str,
        to_type: str,
        to_id: str,
        specs: Iterable[AssociationSpec],
    ) -> None:
        forward = self._state.links.setdefault((from_type, from_id, to_type, to_id), set())
        backward = self._state.links.setdefault((to_type, to_id, from_type, from_id), set())
        for category, type_id in specs:
            forward.add((category, type_id))
            backward.add((category, inverse_type_id(type_id)))

    def dissociate(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self._state.links.pop((from_type, from_id, to_type, to_id), None)
        self._state.links.pop((to_type, to_id, from_type, from_id), None)

    def associations_of(
        self, from_type: str, from_id: str, to_type: str
    ) -> dict[str, set[AssociationSpec]]:
        found = {
            to_id: specs
            for (f_type, f_id, t_type, to_id), specs in self._state.links.items()
            if (f_type, f_id, t_type) == (from_type, from_id, to_type) and specs
        }
        return dict(sorted(found.items(), key=lambda item: int(item[0])))

    def reset(self) -> None:
        self._state = self._fresh_state()

    def dump(self) -> dict[str, Any]:
        """The persisted document: everything created through the API."""
        state = self._state
        return {
            "version": STATE_VERSION,
            "nextId": state.next_id,
            "customProperties": {
                t: [d.to_state() for d in self.custom_definitions(t)] for t in OBJECT_TYPES
            },
            "objects": {
                t: [obj.as_json() for obj in sorted(objs.values(), key=lambda o: int(o.id))]
                for t, objs in state.objects.items()
            },
            "associations": [
                {
                    "fromType": key[0],
                    "fromId": key[1],
                    "toType": key[2],
                    "toId": key[3],
                    "types": [{"category": c, "typeId": i} for c, i in sorted(specs)],
                }
                for key, specs in state.links.items()
                if specs
            ],
        }

    def persist(self) -> None:
        if self._state_path is None:
            return
        path = self._state_path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.dump(), handle, indent=1)
            Path(temp_name).replace(path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise

    def _fresh_state(self) -> _State:
        state = _State()
        created = now_iso()
        for object_type in OBJECT_TYPES:
            state.definitions[object_type] = {
                prop.name: PropertyDefinition.standard(object_type, prop, created)
                for prop in standard_properties(object_type)
            }
        for raw_type, seeds in self._seeds.items():
            object_type = _known_type(raw_type)
            for seed in seeds:
                state.definitions[object_type][seed.name] = PropertyDefinition.from_seed(
                    object_type, seed, created
                )
        return state

    def _load(self, path: Path) -> None:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read sandbox state from {path}: {exc}") from exc
        state = self._state
        state.next_id = max(state.next_id, int(document.get("nextId", FIRST_OBJECT_ID)))
        for object_type, definitions in document.get("customProperties", {}).items():
            for data in definitions:
                state.definitions[object_type].setdefault(
                    data["name"], PropertyDefinition.from_state(data)
                )
        for object_type, objects in document.get("objects", {}).items():
            state.objects[object_type] = {str(o["id"]): CrmObject.from_state(o) for o in objects}
        for link in document.get("associations", []):
            key = (link["fromType"], str(link["fromId"]), link["toType"], str(link["toId"]))
            state.links[key] = {(t["category"], int(t["typeId"])) for t in link["types"]}


def _object_type_of(objects: Mapping[str, Mapping[str, CrmObject]], obj: CrmObject) -> str:
    return next((t for t, by_id in objects.items() if by_id.get(obj.id) is obj), "")


def _derive(
    object_type: str, properties: dict[str, str], before: Mapping[str, str], now: str
) -> None:
    """What HubSpot sets by itself: a task's completion time; the close date of a deal that
    enters a closed(-won or -lost) stage, unless the same write sets it."""
    if object_type == "tasks":
        if properties.get("hs_task_status") != "COMPLETED":
            properties.pop("hs_task_completion_date", None)
        elif before.get("hs_task_status") != "COMPLETED":
            properties["hs_task_completion_date"] = now
    elif object_type == "deals":
        stage = properties.get("dealstage")
        entered = stage in CLOSED_STAGES and stage != before.get("dealstage")
        if entered and properties.get("closedate") == before.get("closedate"):
            properties["closedate"] = now


def _known_type(object_type: str) -> str:
    resolved = canonical_object_type(object_type)
    if resolved is None:
        raise ValueError(
            f"unknown object type {object_type!r}; expected one of {', '.join(OBJECT_TYPES)}"
        )
    return resolved
