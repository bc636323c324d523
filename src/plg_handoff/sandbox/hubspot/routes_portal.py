"""Owners, properties and v4 associations endpoints."""

from __future__ import annotations

from typing import Any

from .errors import OBJECT_NOT_FOUND, RecordError, not_found, validation_error
from .owners import OwnerSeed
from .properties import PropertyDefinition
from .records import HUBSPOT_DEFINED, with_default_type
from .routing import Request, Response, Router
from .schema import (
    ASSOCIATION_TYPES,
    DEFAULT_ASSOCIATIONS,
    OBJECT_TYPE_IDS,
    inverse_type_id,
    singular,
)
from .store import AssociationSpec, CrmStore
from .values import now_iso

OWNERS_LIMIT = 500
ASSOCIATIONS_LIMIT = 500
ASSOCIATIONS = "/crm/v4/objects/{from_type}/{from_id}/associations"
BATCH_ASSOCIATIONS = "/crm/v4/associations/{from_type}/{to_type}"
BATCH_LIMIT = 100


class PortalRoutes:
    def __init__(self, store: CrmStore) -> None:
        self._store = store

    def register(self, router: Router) -> None:
        router.add("GET", "/crm/v3/owners", self.list_owners)
        router.add("GET", "/crm/v3/owners/{owner_id}", self.get_owner)
        router.add("GET", "/crm/v3/properties/{object_type}", self.list_properties)
        router.add("POST", "/crm/v3/properties/{object_type}", self.create_property, mutates=True)
        router.add("GET", "/crm/v3/properties/{object_type}/{name}", self.get_property)
        router.add(
            "PUT",
            f"{ASSOCIATIONS}/default/{{to_type}}/{{to_id}}",
            self.associate_default,
            mutates=True,
        )
        router.add(
            "PUT", f"{ASSOCIATIONS}/{{to_type}}/{{to_id}}", self.associate_labelled, mutates=True
        )
        router.add("DELETE", f"{ASSOCIATIONS}/{{to_type}}/{{to_id}}", self.dissociate, mutates=True)
        router.add("GET", f"{ASSOCIATIONS}/{{to_type}}", self.list_associations)
        router.add(
            "POST",
            f"{BATCH_ASSOCIATIONS}/batch/associate/default",
            self.batch_associate_default,
            mutates=True,
        )

    def list_owners(self, req: Request) -> Response:
        limit = req.int_arg("limit", 100, OWNERS_LIMIT)
        offset = _offset(req.arg("after"))
        email = (req.arg("email") or "").lower()
        matching = [
            owner
            for owner in self._store.owners
            if owner.archived == req.flag("archived")
            and (not email or owner.email.lower() == email)
        ]
        return Response(200, _page([owner.as_json() for owner in matching], offset, limit))

    def get_owner(self, req: Request) -> Response:
        owner = self._owner(req.params["owner_id"], req.arg("idProperty") or "id")
        if owner is None or owner.archived != req.flag("archived"):
            raise not_found(f"Owner {req.params['owner_id']} not found")
        return Response(200, owner.as_json())

    def _owner(self, key: str, id_property: str) -> OwnerSeed | None:
        if id_property == "userId":
            return next((o for o in self._store.owners if str(o.user_id) == key), None)
        return self._store.owner(key)

    def list_properties(self, req: Request) -> Response:
        definitions = self._store.definitions(req.object_type())
        results = [] if req.flag("archived") else [d.as_json() for d in definitions.values()]
        return Response(200, {"results": results})

    def get_property(self, req: Request) -> Response:
        object_type = req.object_type()
        definition = self._store.definitions(object_type).get(req.params["name"])
        if definition is None:
            raise not_found(
                f"Unable to find property {req.params['name']} for object type {object_type}"
            )
        return Response(200, definition.as_json())

    def create_property(self, req: Request) -> Response:
        object_type = req.object_type()
        definition = PropertyDefinition.from_create_body(req.json_object(), now_iso())
        self._store.add_definition(object_type, definition)
        return Response(201, definition.as_json())

    def _endpoints(self, req: Request) -> tuple[str, str, str, str]:
        from_type, to_type = req.object_type("from_type"), req.object_type("to_type")
        from_id, to_id = req.params["from_id"], req.params.get("to_id", "")
        for object_type, object_id in ((from_type, from_id), (to_type, to_id)):
            if object_id and not self._exists(object_type, object_id):
                raise not_found(f"No {singular(object_type)} with id {object_id} exists")
        return from_type, from_id, to_type, to_id

    def _exists(self, object_type: str, object_id: str) -> bool:
        obj = self._store.get(object_type, object_id)
        return obj is not None and not obj.archived

    def associate_default(self, req: Request) -> Response:
        started = now_iso()
        from_type, from_id, to_type, to_id = self._endpoints(req)
        default = DEFAULT_ASSOCIATIONS.get((from_type, to_type))
        if default is None:
            raise validation_error(
                f"There is no default association type from {from_type} to {to_type}"
            )
        self._store.associate(
            from_type, from_id, to_type, to_id, [(HUBSPOT_DEFINED, default.type_id)]
        )
        results = [
            _default_result(from_id, to_id, default.type_id),
            _default_result(to_id, from_id, inverse_type_id(default.type_id)),
        ]
        return Response(
            200,
            {
                "status": "COMPLETE",
                "results": results,
                "startedAt": started,
                "completedAt": now_iso(),
            },
        )

    def batch_associate_default(self, req: Request) -> Response:
        """Default (unlabelled) associations for many pairs; missing records are per-record
        errors of a 207, the others are still associated."""
        started = now_iso()
        from_type, to_type = req.object_type("from_type"), req.object_type("to_type")
        default = DEFAULT_ASSOCIATIONS.get((from_type, to_type))
        if default is None:
            raise validation_error(
                f"There is no default association type from {from_type} to {to_type}"
            )
        inputs = req.json_object().get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise validation_error("Invalid input JSON: inputs must be a list of objects")
        if len(inputs) > BATCH_LIMIT:
            raise validation_error(
                f"Batch input limit exceeded: got {len(inputs)} inputs, the limit is {BATCH_LIMIT}"
            )
        results: list[dict[str, Any]] = []
        errors: list[RecordError] = []
        for item in inputs:
            try:
                from_id = str(item["from"]["id"])
                to_id = str(item["to"]["id"])
            except (KeyError, TypeError) as exc:
                raise validation_error(f"Invalid association input: {item!r}") from exc
            absent = [
                object_id
                for object_type, object_id in ((from_type, from_id), (to_type, to_id))
                if not self._exists(object_type, object_id)
            ]
            if absent:
                errors.append(
                    RecordError(
                        404,
                        OBJECT_NOT_FOUND,
                        f"No {singular(from_type)} or {singular(to_type)} with id "
                        f"{', '.join(absent)} exists",
                        {"ids": absent},
                    )
                )
                continue
            self._store.associate(
                from_type, from_id, to_type, to_id, [(HUBSPOT_DEFINED, default.type_id)]
            )
            results.append(_default_result(from_id, to_id, default.type_id))
            results.append(_default_result(to_id, from_id, inverse_type_id(default.type_id)))
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": now_iso(),
        }
        if not errors:
            return Response(200, body)
        body.update(errors=[error.as_json() for error in errors], numErrors=len(errors))
        return Response(207, body)

    def associate_labelled(self, req: Request) -> Response:
        from_type, from_id, to_type, to_id = self._endpoints(req)
        specs = _parse_specs(req.body, from_type, to_type)
        stored = with_default_type(from_type, to_type, specs)
        self._store.associate(from_type, from_id, to_type, to_id, stored)
        body = {
            "fromObjectTypeId": OBJECT_TYPE_IDS[from_type],
            "fromObjectId": int(from_id),
            "toObjectTypeId": OBJECT_TYPE_IDS[to_type],
            "toObjectId": int(to_id),
            "labels": [label for spec in stored if (label := _label(spec)) is not None],
        }
        return Response(201, body)

    def dissociate(self, req: Request) -> Response:
        from_type, from_id, to_type, to_id = self._endpoints(req)
        self._store.dissociate(from_type, from_id, to_type, to_id)
        return Response(204)

    def list_associations(self, req: Request) -> Response:
        from_type, from_id, to_type, _ = self._endpoints(req)
        limit = req.int_arg("limit", ASSOCIATIONS_LIMIT, ASSOCIATIONS_LIMIT)
        linked = self._store.associations_of(from_type, from_id, to_type)
        results = [
            {
                "toObjectId": int(to_id),
                "associationTypes": [
                    {"category": category, "typeId": type_id, "label": _label((category, type_id))}
                    for category, type_id in sorted(specs)
                ],
            }
            for to_id, specs in linked.items()
        ]
        return Response(200, _page(results, _offset(req.arg("after")), limit))


def _offset(after: str | None) -> int:
    if after in (None, ""):
        return 0
    if not after.isdigit():
        raise validation_error(
            f"after must be a paging cursor returned by a previous call, got {after!r}"
        )
    return int(after)


def _page(items: list[dict[str, Any]], offset: int, limit: int) -> dict[str, Any]:
    body: dict[str, Any] = {"results": items[offset : offset + limit]}
    if offset + limit < len(items):
        body["paging"] = {"next": {"after": str(offset + limit)}}
    return body


def _default_result(from_id: str, to_id: str, type_id: int) -> dict[str, Any]:
    return {
        "from": {"id": from_id},
        "to": {"id": to_id},
        "associationSpec": {"associationCategory": HUBSPOT_DEFINED, "associationTypeId": type_id},
    }


def _label(spec: AssociationSpec) -> str | None:
    category, type_id = spec
    known = ASSOCIATION_TYPES.get(type_id)
    return known.label if category == HUBSPOT_DEFINED and known is not None else None


def _parse_specs(body: Any, from_type: str, to_type: str) -> list[AssociationSpec]:
    if not isinstance(body, list) or not body:
        raise validation_error("Invalid input JSON: expected a non-empty list of association types")
    specs: list[AssociationSpec] = []
    for item in body:
        try:
            spec = (str(item["associationCategory"]), int(item["associationTypeId"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise validation_error(f"Invalid association type {item!r}") from exc
        _check_spec(spec, from_type, to_type)
        specs.append(spec)
    return specs


def _check_spec(spec: AssociationSpec, from_type: str, to_type: str) -> None:
    category, type_id = spec
    if category not in (HUBSPOT_DEFINED, "USER_DEFINED", "INTEGRATOR_DEFINED"):
        raise validation_error(f"Unknown association category {category}")
    known = ASSOCIATION_TYPES.get(type_id)
    if category == HUBSPOT_DEFINED and (
        known is None or (known.from_type, known.to_type) != (from_type, to_type)
    ):
        raise validation_error(
            f"{category} association type {type_id} is not valid between {from_type} and {to_type}"
        )
