"""CRM v3 object endpoints: basic CRUD, batch and search."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import OBJECT_NOT_FOUND, RecordError, not_found, validation_error
from .records import Records, batch_inputs, parse_properties, raise_for, trace_context
from .routing import Request, Response, Router, resolve_object_type
from .schema import singular, system_properties
from .search import run_search
from .store import CrmObject, CrmStore
from .values import now_iso

LIST_LIMIT = 100
OBJECTS = "/crm/v3/objects/{object_type}"
OBJECT = "/crm/v3/objects/{object_type}/{object_id}"


def render(
    object_type: str, obj: CrmObject, properties: Sequence[str] | None = None
) -> dict[str, Any]:
    return obj.as_json(only=properties or None, always=system_properties(object_type))


def batch_response(
    results: list[dict[str, Any]],
    errors: Sequence[RecordError],
    started_at: str,
    ok_status: int = 200,
) -> Response:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started_at,
        "completedAt": now_iso(),
    }
    if not errors:
        return Response(ok_status, body)
    body.update(errors=[error.as_json() for error in errors], numErrors=len(errors))
    return Response(207, body)


def _with_trace(body: dict[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    if raw.get("objectWriteTraceId"):
        body["objectWriteTraceId"] = str(raw["objectWriteTraceId"])
    return body


class ObjectRoutes:
    def __init__(self, store: CrmStore, records: Records) -> None:
        self._store = store
        self._records = records

    def register(self, router: Router) -> None:
        router.add("POST", f"{OBJECTS}/batch/create", self.batch_create, mutates=True)
        router.add("POST", f"{OBJECTS}/batch/update", self.batch_update, mutates=True)
        router.add("POST", f"{OBJECTS}/batch/upsert", self.batch_upsert, mutates=True)
        router.add("POST", f"{OBJECTS}/batch/archive", self.batch_archive, mutates=True)
        router.add("POST", f"{OBJECTS}/batch/read", self.batch_read)
        router.add("POST", f"{OBJECTS}/search", self.search)
        router.add("POST", OBJECTS, self.create, mutates=True)
        router.add("GET", OBJECTS, self.list)
        router.add("GET", OBJECT, self.get)
        router.add("PATCH", OBJECT, self.update, mutates=True)
        router.add("DELETE", OBJECT, self.archive, mutates=True)

    def _lookup(
        self, object_type: str, object_id: str, id_property: str | None, *, archived: bool = False
    ) -> CrmObject:
        found = self._find(object_type, object_id, id_property, archived=archived)
        if found is None:
            raise not_found()
        return found

    def _find(
        self, object_type: str, object_id: str, id_property: str | None, *, archived: bool
    ) -> CrmObject | None:
        if id_property and id_property != "hs_object_id":
            self._records.require_unique_property(object_type, id_property)
            found = self._store.find_by(object_type, id_property, object_id)
            return found if found is not None and not archived else None
        found = self._store.get(object_type, object_id)
        return found if found is not None and found.archived == archived else None

    def _associations_json(
        self, object_type: str, obj: CrmObject, to_types: Sequence[str]
    ) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for raw_type in to_types:
            to_type = resolve_object_type(raw_type)
            linked = self._store.associations_of(object_type, obj.id, to_type)
            kind = f"{singular(object_type)}_to_{singular(to_type)}"
            if linked:
                result[to_type] = {"results": [{"id": to_id, "type": kind} for to_id in linked]}
        return result

    def create(self, req: Request) -> Response:
        object_type = req.object_type()
        body = req.json_object()
        properties = parse_properties(body.get("properties"))
        self._records.require_known(object_type, [properties])
        associations = self._records.parse_associations(object_type, body.get("associations"))
        obj = raise_for(self._records.create(object_type, properties, associations, {}))
        return Response(201, render(object_type, obj))

    def get(self, req: Request) -> Response:
        object_type = req.object_type()
        obj = self._lookup(
            object_type,
            req.params["object_id"],
            req.arg("idProperty"),
            archived=req.flag("archived"),
        )
        body = render(object_type, obj, req.args("properties"))
        associations = self._associations_json(object_type, obj, req.args("associations"))
        if associations:
            body["associations"] = associations
        return Response(200, body)

    def list(self, req: Request) -> Response:
        object_type = req.object_type()
        limit = req.int_arg("limit", 10, LIST_LIMIT)
        after = req.arg("after") or "0"
        if not after.isdigit():
            raise validation_error(
                f"after must be a paging cursor returned by a previous call, got {after!r}"
            )
        candidates = [
            o
            for o in self._store.objects(object_type, archived=req.flag("archived"))
            if int(o.id) >= int(after)
        ]
        body: dict[str, Any] = {
            "results": [render(object_type, o, req.args("properties")) for o in candidates[:limit]]
        }
        if len(candidates) > limit:
            cursor = candidates[limit].id
            body["paging"] = {"next": {"after": cursor, "link": f"{req.path}?after={cursor}"}}
        return Response(200, body)

    def update(self, req: Request) -> Response:
        object_type = req.object_type()
        properties = parse_properties(req.json_object().get("properties"))
        self._records.require_known(object_type, [properties])
        obj = self._lookup(object_type, req.params["object_id"], req.arg("idProperty"))
        return Response(
            200,
            render(object_type, raise_for(self._records.update(object_type, obj, properties, {}))),
        )

    def archive(self, req: Request) -> Response:
        object_type = req.object_type()
        obj = self._find(object_type, req.params["object_id"], None, archived=False)
        if obj is not None:
            self._store.archive(obj)
        return Response(204)

    def batch_create(self, req: Request) -> Response:
        started, object_type = now_iso(), req.object_type()
        inputs = batch_inputs(req.json_object())
        properties = [parse_properties(raw.get("properties")) for raw in inputs]
        self._records.require_known(object_type, properties)
        associations = [
            self._records.parse_associations(object_type, raw.get("associations")) for raw in inputs
        ]
        results, errors = [], []
        for index, raw in enumerate(inputs):
            outcome = self._records.create(
                object_type, properties[index], associations[index], trace_context(raw, index)
            )
            if isinstance(outcome, RecordError):
                errors.append(outcome)
            else:
                results.append(_with_trace(render(object_type, outcome), raw))
        return batch_response(results, errors, started, ok_status=201)

    def batch_update(self, req: Request) -> Response:
        started, object_type = now_iso(), req.object_type()
        inputs = batch_inputs(req.json_object())
        properties = [parse_properties(raw.get("properties")) for raw in inputs]
        self._records.require_known(object_type, properties)
        ids = [str(raw.get("id", "")) for raw in inputs]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise validation_error(
                f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique"
            )
        results, errors = [], []
        for index, raw in enumerate(inputs):
            outcome = self._update_one(object_type, raw, properties[index])
            if isinstance(outcome, RecordError):
                errors.append(outcome)
            else:
                results.append(_with_trace(render(object_type, outcome), raw))
        return batch_response(results, errors, started)

    def _update_one(
        self, object_type: str, raw: Mapping[str, Any], properties: dict[str, str]
    ) -> CrmObject | RecordError:
        object_id = str(raw.get("id", ""))
        context = {"ids": [object_id]}
        rejected = self._records.injected_rejection(object_type, object_id, context)
        if rejected is not None:
            return rejected
        obj = self._find(object_type, object_id, raw.get("idProperty"), archived=False)
        if obj is None:
            return RecordError(404, OBJECT_NOT_FOUND, self._missing_message(object_type), context)
        return self._records.update(object_type, obj, properties, context)

    def batch_upsert(self, req: Request) -> Response:
        started, object_type = now_iso(), req.object_type()
        inputs = self._records.parse_upsert_inputs(object_type, batch_inputs(req.json_object()))
        results, errors = [], []
        for item in inputs:
            outcome = self._records.upsert(object_type, item)
            if isinstance(outcome, RecordError):
                errors.append(outcome)
                continue
            obj, is_new = outcome
            body = {**render(object_type, obj), "new": is_new}
            results.append(_with_trace(body, {"objectWriteTraceId": item.trace_id}))
        return batch_response(results, errors, started)

    def batch_archive(self, req: Request) -> Response:
        object_type = req.object_type()
        for raw in batch_inputs(req.json_object()):
            obj = self._find(object_type, str(raw.get("id", "")), None, archived=False)
            if obj is not None:
                self._store.archive(obj)
        return Response(204)

    def batch_read(self, req: Request) -> Response:
        started, object_type = now_iso(), req.object_type()
        body = req.json_object()
        id_property = body.get("idProperty")
        properties = [str(p) for p in body.get("properties") or []]
        results, missing = [], []
        for raw in batch_inputs(body):
            object_id = str(raw.get("id", ""))
            obj = self._find(object_type, object_id, id_property, archived=req.flag("archived"))
            if obj is None:
                missing.append(object_id)
            else:
                results.append(render(object_type, obj, properties))
        errors = [
            RecordError(404, OBJECT_NOT_FOUND, self._missing_message(object_type), {"ids": missing})
        ]
        return batch_response(results, errors if missing else [], started)

    @staticmethod
    def _missing_message(object_type: str) -> str:
        return (
            f"Could not get some {singular(object_type).upper()} objects, they may be deleted or "
            "not exist. Check that ids are valid."
        )

    def search(self, req: Request) -> Response:
        object_type = req.object_type()
        body = req.json_object()
        page = run_search(
            self._store.objects(object_type), self._store.definitions(object_type), body
        )
        properties = [str(p) for p in body.get("properties") or []]
        result: dict[str, Any] = {
            "total": page.total,
            "results": [render(object_type, obj, properties) for obj in page.results],
        }
        if page.next_after is not None:
            result["paging"] = {"next": {"after": page.next_after}}
        return Response(200, result)
