"""A local emulator of the Salesforce REST API, for tests and the demo.

OAuth 2.0 token endpoint (username-password with the security token appended, client
credentials, JWT bearer with an RS256 signature checked when a public key is given), sObject
create/read/update/delete, upsert by external id (201 created; 200 with a body from API v46.0,
204 before; 300 with the matching records' URLs when more than one matches), describe,
a SOQL subset with `nextRecordsUrl` paging, sObject Collections (`composite/sobjects`, at most
200 records, `allOrNone`), errors as `[{"message", "errorCode", "fields"}]`, the
`Sforce-Limit-Info` header with a daily API request limit, fault injection and request counts
per route. `GET /` is a read-only HTML overview."""

from __future__ import annotations

import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

from plg_handoff.http_server import (
    ServedEndpoint,
    ServerThread,
    TrackedRequestHandler,
    TrackingHTTPServer,
)

from . import page, soql
from .errors import ApiError, not_found
from .faults import FaultPlan
from .schema import DEFAULT_ACCOUNT_FIELDS, DEFAULT_CUSTOM_FIELDS, FieldDef
from .store import DEFAULT_USERS, Store, UserSeed

__all__ = ["Call", "FaultPlan", "SalesforceEmulator"]

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105  # a path, not a secret
USERINFO_PATH = "/services/oauth2/userinfo"
DATA_PREFIX = "/services/data/"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
COLLECTION_LIMIT = 200
ORG_ID = "00D5e000000SANDBOX"


@dataclass(frozen=True)
class Call:
    """One request as the emulator saw it; `route` has ids and values replaced by {…}."""

    method: str
    route: str
    path: str
    status: int


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-serialisable, or str for HTML
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json;charset=UTF-8"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, str) and self.content_type.startswith("text/"):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class _Cursor:
    rows: list[dict[str, Any]]


class SalesforceEmulator(ServedEndpoint):
    def __init__(
        self,
        *,
        username: str = "integration@sandbox.example",
        password: str = "sandbox-password",  # noqa: S107  # the emulator's own fake credentials
        security_token: str = "SANDBOXTOKEN",  # noqa: S107
        client_id: str = "sandbox-client-id",
        client_secret: str = "sandbox-client-secret",  # noqa: S107
        jwt_public_key: str | bytes | None = None,
        users: Sequence[UserSeed] = DEFAULT_USERS,
        custom_fields: Iterable[FieldDef] = DEFAULT_CUSTOM_FIELDS,
        account_fields: Iterable[FieldDef] = DEFAULT_ACCOUNT_FIELDS,
        daily_limit: int = 100_000,
        query_batch_size: int = 2000,
    ) -> None:
        """`jwt_public_key` (PEM): JWT bearer assertions must carry an RS256 signature it
        verifies; without one any structurally valid JWT with the right claims is accepted."""
        self.username = username
        self.password = password
        self.security_token = security_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.jwt_public_key = jwt_public_key
        self.daily_limit = daily_limit
        self.query_batch_size = query_batch_size
        self.faults = FaultPlan()
        self.store = Store(users=users, custom_fields=custom_fields, account_fields=account_fields)
        self.store.rejections = self.faults.rejections
        self._tokens: set[str] = set()
        self._usage = 0
        self._cursors: dict[str, _Cursor] = {}
        self._cursor_ids = itertools.count(1)
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._serving = ServerThread("salesforce-emulator")

    # lifecycle ---------------------------------------------------------------------------
    def _make_server(self, address: tuple[str, int]) -> _Server:
        return _Server(address, self)

    # test helpers ------------------------------------------------------------------------
    def records(self, sobject: str) -> list[dict[str, Any]]:
        return self.store.records(sobject)

    def insert(self, sobject: str, data: Mapping[str, Any]) -> str:
        """Adds a record as a CRM user would (unique fields are not checked, so a test can
        make the ambiguous state of two records with one external id)."""
        return self.store.insert(sobject, data, check_unique=False)

    def update(self, sobject: str, record_id: str, data: Mapping[str, Any]) -> None:
        self.store.update(sobject, record_id, data)

    def users(self, *, active: bool | None = None) -> list[dict[str, Any]]:
        return [u for u in self.store.records("User") if active is None or u["IsActive"] is active]

    def issue_token(self) -> str:
        token = f"{ORG_ID}!{secrets.token_urlsafe(24)}"
        with self._lock:
            self._tokens.add(token)
        return token

    def expire_sessions(self) -> None:
        with self._lock:
            self._tokens.clear()

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def api_calls(self) -> list[Call]:
        """Requests that count against the org's API limit (the OAuth endpoint does not)."""
        return [c for c in self.calls if c.route != f"POST {TOKEN_PATH}"]

    def route_counts(self) -> Counter[str]:
        return Counter(c.route for c in self.calls)

    def reset_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    @property
    def api_usage(self) -> int:
        return self._usage

    # dispatch ----------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if method == "GET" and path in ("/", "/index.html"):
            return Reply(200, page.render(self.store), content_type="text/html; charset=utf-8")
        if path == TOKEN_PATH and method == "POST":
            reply = self._token(headers, body)
            self._record(method, TOKEN_PATH, path, reply.status)
            return reply
        if path == USERINFO_PATH and method == "GET":
            reply = self._userinfo(headers)
            self._record(method, USERINFO_PATH, path, reply.status)
            return reply
        if not path.startswith(DATA_PREFIX):
            return Reply(404, not_found().body())
        route = _route_name(method, path)
        reply = self._api(method, path, query, headers, body)
        reply.headers["Sforce-Limit-Info"] = f"api-usage={self._usage}/{self.daily_limit}"
        self._record(method, route, path, reply.status)
        return reply

    def _record(self, method: str, route: str, path: str, status: int) -> None:
        with self._lock:
            self._calls.append(
                Call(method, route if " " in route else f"{method} {route}", path, status)
            )

    def _api(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        if (delay := self.faults.take_delay()) > 0:
            time.sleep(delay)
        try:
            self._admit(headers.get("authorization"))
            segments = [unquote(s) for s in path[len(DATA_PREFIX) :].split("/") if s]
            if not segments:
                return Reply(200, [{"version": "62.0", "url": "/services/data/v62.0"}])
            version, rest = segments[0], segments[1:]
            if not version.startswith("v"):
                raise not_found()
            return self._resource(method, float(version[1:]), rest, query, body)
        except ApiError as error:
            return Reply(error.status, error.body())

    def _admit(self, authorization: str | None) -> None:
        """Session, daily limit, then the injected failures, in Salesforce's order."""
        self._authenticate(authorization)
        with self._lock:
            self._usage += 1
            over = self._usage > self.daily_limit
        failure = self.faults.take_failure()
        if over or (failure is not None and failure.status == 403):
            raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if failure is not None:
            raise ApiError(
                failure.status, "SERVER_UNAVAILABLE", "Server unavailable, try again later."
            )

    def _userinfo(self, headers: Mapping[str, str]) -> Reply:
        """OpenID Connect's UserInfo for a session (what an outbound message's SessionId can
        be checked with); an unknown session is 403 `Bad_OAuth_Token`, as Salesforce answers."""
        try:
            self._authenticate(headers.get("authorization"))
        except ApiError:
            return Reply(403, "Bad_OAuth_Token", content_type="text/plain")
        return Reply(200, {"organization_id": ORG_ID, "user_id": "0055e000001SANDBOX"})

    def _authenticate(self, header: str | None) -> None:
        token = header[7:] if header and header.lower().startswith("bearer ") else ""
        with self._lock:
            known = token in self._tokens
        if not known:
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def _resource(
        self, method: str, version: float, rest: list[str], query: Mapping[str, str], body: bytes
    ) -> Reply:
        head = rest[0] if rest else ""
        if head == "limits" and method == "GET":
            return Reply(
                200,
                {
                    "DailyApiRequests": {
                        "Max": self.daily_limit,
                        "Remaining": max(0, self.daily_limit - self._usage),
                    }
                },
            )
        if head == "query" and method == "GET":
            if len(rest) == 2:
                return self._query_more(version, rest[1])
            return self._query(version, query.get("q", ""))
        if rest == ["composite"] and method == "POST":
            return self._composite(_json(body))
        if rest[:2] == ["composite", "sobjects"] and len(rest) == 4 and method == "PATCH":
            return self._collection_upsert(version, rest[2], rest[3], _json(body))
        if rest[:2] == ["composite", "sobjects"] and method in {"POST", "PATCH"}:
            return self._collection(method, version, _json(body))
        if head == "sobjects" and len(rest) >= 2:
            sobject = self.store.sobject(rest[1])
            tail = rest[2:]
            if not tail and method == "POST":
                record_id = self.store.insert(sobject, _object(_json(body)))
                return Reply(201, {"id": record_id, "success": True, "errors": []})
            if tail == ["describe"] and method == "GET":
                return Reply(200, self._describe(sobject))
            if len(tail) == 1:
                return self._record_by_id(method, version, sobject, tail[0], query, body)
            if len(tail) == 2:
                return self._by_external_id(method, version, sobject, tail[0], tail[1], body)
        raise not_found()

    # sObjects ----------------------------------------------------------------------------
    def _record_by_id(
        self,
        method: str,
        version: float,
        sobject: str,
        record_id: str,
        query: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        if method == "GET":
            record = self.store.get(sobject, record_id)
            wanted = query.get("fields")
            if wanted:
                names = [self.store.field(sobject, f.strip()).name for f in wanted.split(",")]
                record = {n: record.get(n) for n in names}
            return Reply(200, self._rendered(version, sobject, record_id, record))
        if method == "PATCH":
            self.store.update(sobject, record_id, _object(_json(body)))
            return Reply(204)
        if method == "DELETE":
            self.store.delete(sobject, record_id)
            return Reply(204)
        raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")

    def _by_external_id(
        self, method: str, version: float, sobject: str, field_name: str, value: str, body: bytes
    ) -> Reply:
        try:
            field_def = self.store.field(sobject, field_name)
        except ApiError:
            field_def = None
        if field_def is None or not (field_def.external_id or field_def.name == "Id"):
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {field_name}"
            )
        with self.store.lock:
            matching = self.store.ids_where(sobject, field_def.name, value)
            if len(matching) > 1:
                urls = [self._record_url(version, sobject, i) for i in matching]
                return Reply(300, urls)
            if method == "GET":
                if not matching:
                    raise not_found()
                record = self.store.get(sobject, matching[0])
                return Reply(200, self._rendered(version, sobject, matching[0], record))
            if method == "DELETE":
                if not matching:
                    raise not_found()
                self.store.delete(sobject, matching[0])
                return Reply(204)
            if method != "PATCH":
                raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed")
            data = _object(_json(body))
            given = data.get(field_def.name)
            if given is not None and given != value:
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    f"The external ID in the URL ({value}) does not match the one in the body",
                    [field_def.name],
                )
            if not matching:
                record_id = self.store.insert(sobject, {**data, field_def.name: value})
                return Reply(201, {"id": record_id, "success": True, "errors": [], "created": True})
            self.store.update(sobject, matching[0], data)
            if version >= 46.0:
                return Reply(
                    200, {"id": matching[0], "success": True, "errors": [], "created": False}
                )
            return Reply(204)

    def _describe(self, sobject: str) -> dict[str, Any]:
        return {
            "name": sobject,
            "label": sobject,
            "custom": False,
            "createable": True,
            "updateable": True,
            "queryable": True,
            "fields": [f.describe() for f in self.store.fields(sobject)],
        }

    def _record_url(self, version: float, sobject: str, record_id: str) -> str:
        return f"/services/data/v{version:.1f}/sobjects/{sobject}/{record_id}"

    def _rendered(
        self, version: float, sobject: str, record_id: str, record: Mapping[str, Any]
    ) -> dict[str, Any]:
        url = self._record_url(version, sobject, record_id)
        return {"attributes": {"type": sobject, "url": url}, **record}

    # query -------------------------------------------------------------------------------
    def _query(self, version: float, text: str) -> Reply:
        parsed = soql.parse(text)
        rows = self.store.query(parsed)
        for row in rows:
            if row.get("Id"):
                row["attributes"]["url"] = self._record_url(
                    version, row["attributes"]["type"], row["Id"]
                )
        return self._page(version, rows, len(rows), None)

    def _query_more(self, version: float, locator: str) -> Reply:
        cursor_id, _, offset_text = locator.rpartition("-")
        with self._lock:
            cursor = self._cursors.get(cursor_id)
        if cursor is None or not offset_text.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(version, cursor.rows, len(cursor.rows), (cursor_id, int(offset_text)))

    def _page(
        self,
        version: float,
        rows: list[dict[str, Any]],
        total: int,
        at: tuple[str, int] | None,
    ) -> Reply:
        cursor_id, offset = at if at else ("", 0)
        batch = rows[offset : offset + self.query_batch_size]
        end = offset + len(batch)
        answer: dict[str, Any] = {"totalSize": total, "done": end >= total, "records": batch}
        if end < total:
            if not cursor_id:
                cursor_id = f"01g5e{next(self._cursor_ids):010d}"
                with self._lock:
                    self._cursors[cursor_id] = _Cursor(rows)
            answer["nextRecordsUrl"] = f"/services/data/v{version:.1f}/query/{cursor_id}-{end}"
        return Reply(200, answer)

    # Composite ---------------------------------------------------------------------------
    def _composite(self, body: Any) -> Reply:
        """POST /composite: up to 25 subrequests in order, one API call in all; a later one may
        use an earlier answer through @{referenceId.path}. With allOrNone, the first failure
        rolls back every write and the rest answer PROCESSING_HALTED."""
        if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
            raise ApiError(400, "JSON_PARSER_ERROR", "expected {compositeRequest: [...]}")
        requests: list[Any] = body["compositeRequest"]
        if len(requests) > COMPOSITE_LIMIT:
            raise ApiError(
                400, "INVALID_INPUT", f"cannot submit more than {COMPOSITE_LIMIT} subrequests"
            )
        all_or_none = bool(body.get("allOrNone"))
        answers: list[dict[str, Any]] = []
        bodies: dict[str, Any] = {}
        halted = ApiError(
            400,
            "PROCESSING_HALTED",
            "The transaction was rolled back since another operation in the same transaction"
            " failed.",
        ).body()
        with self.store.lock:
            snapshot = {s: self.store.records(s) for s in ("Account", "Opportunity", "Task")}
            failed = False
            for sub in requests:
                reference = str((sub or {}).get("referenceId", ""))
                if failed and all_or_none:
                    answers.append(_sub_answer(reference, 400, halted))
                    continue
                reply = self._subrequest(sub, bodies)
                bodies[reference] = reply.body
                answers.append(_sub_answer(reference, reply.status, reply.body))
                failed = failed or reply.status >= 400
            if failed and all_or_none:
                self._restore(snapshot)
                answers = [
                    a
                    if a["httpStatusCode"] >= 400
                    else {**a, "httpStatusCode": 400, "body": halted}
                    for a in answers
                ]
        return Reply(200, {"compositeResponse": answers})

    def _subrequest(self, sub: Any, bodies: Mapping[str, Any]) -> Reply:
        try:
            return self._dispatch_sub(sub, bodies)
        except ApiError as error:
            return Reply(error.status, error.body())

    def _dispatch_sub(self, sub: Any, bodies: Mapping[str, Any]) -> Reply:
        if not isinstance(sub, dict) or not sub.get("url") or not sub.get("method"):
            raise ApiError(400, "INVALID_INPUT", "each subrequest needs method, url")
        parts = urlsplit(_resolve(str(sub["url"]), bodies))
        if not parts.path.startswith(DATA_PREFIX):
            raise not_found()
        segments = [unquote(p) for p in parts.path[len(DATA_PREFIX) :].split("/") if p]
        if not segments or not segments[0].startswith("v"):
            raise not_found()
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        payload = sub.get("body")
        raw = json.dumps(_resolve_json(payload, bodies)).encode() if payload else b""
        method = str(sub["method"]).upper()
        return self._resource(method, float(segments[0][1:]), segments[1:], query, raw)

    # sObject Collections -----------------------------------------------------------------
    def _collection(self, method: str, version: float, body: Any) -> Reply:
        return self._each_record(body, lambda record: self._collection_one(method, record))

    def _collection_upsert(
        self, version: float, sobject_name: str, field_name: str, body: Any
    ) -> Reply:
        """PATCH composite/sobjects/{SObject}/{ExternalIdField} (API v46.0+): upserts by the
        external id each record carries in its body; UpsertResult per record, in order."""
        if version < 46.0:
            raise not_found()
        sobject = self.store.sobject(sobject_name)
        field_def = self._external_id_field(sobject, field_name)
        return self._each_record(
            body, lambda record: self._upsert_one(sobject, field_def.name, record)
        )

    def _each_record(self, body: Any, write: Callable[[Any], dict[str, Any]]) -> Reply:
        """An sObject Collections request: at most COLLECTION_LIMIT records, one result each in
        order; with allOrNone, one failure rolls every record back."""
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise ApiError(400, "JSON_PARSER_ERROR", "expected {allOrNone, records: [...]}")
        records: list[Any] = body["records"]
        if len(records) > COLLECTION_LIMIT:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {COLLECTION_LIMIT} records into"
                " this call",
            )
        with self.store.lock:
            snapshot = {s: self.store.records(s) for s in ("Account", "Opportunity", "Task")}
            results = [write(record) for record in records]
            if bool(body.get("allOrNone")) and not all(r["success"] for r in results):
                self._restore(snapshot)
                results = [r if not r["success"] else _rolled_back() for r in results]
        return Reply(200, results)

    def _external_id_field(self, sobject: str, field_name: str) -> FieldDef:
        try:
            field_def = self.store.field(sobject, field_name)
        except ApiError:
            field_def = None
        if field_def is None or not (field_def.external_id or field_def.name == "Id"):
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {field_name}"
            )
        return field_def

    def _upsert_one(self, sobject: str, field_name: str, record: Any) -> dict[str, Any]:
        try:
            record_id, created = self._upsert_write(sobject, field_name, record)
        except ApiError as error:
            failure = {"statusCode": error.error_code, "message": error.message}
            return {"id": None, "success": False, "errors": [{**failure, "fields": error.fields}]}
        return {"id": record_id, "success": True, "errors": [], "created": created}

    def _upsert_write(self, sobject: str, field_name: str, record: Any) -> tuple[str, bool]:
        if not isinstance(record, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "each record must be an object")
        kind = str((record.get("attributes") or {}).get("type", ""))
        if kind.lower() != sobject.lower():
            raise ApiError(
                400, "INVALID_TYPE", f"records must all be of type {sobject}, got {kind!r}"
            )
        value = record.get(field_name)
        if value in (None, ""):
            raise ApiError(400, "MISSING_ARGUMENT", f"{field_name} not specified", [field_name])
        data = {k: v for k, v in record.items() if k not in {"attributes", "id", "Id"}}
        matching = self.store.ids_where(sobject, field_name, value)
        if len(matching) > 1:
            raise ApiError(
                300,
                "DUPLICATE_EXTERNAL_ID",
                f"more than one record found for external id field: {matching}",
                [field_name],
            )
        if matching:
            self.store.update(sobject, matching[0], data)
            return matching[0], False
        return self.store.insert(sobject, data), True

    def _collection_one(self, method: str, record: Any) -> dict[str, Any]:
        try:
            record_id = self._collection_write(method, record)
        except ApiError as error:
            failure = {"statusCode": error.error_code, "message": error.message}
            return {"id": None, "success": False, "errors": [{**failure, "fields": error.fields}]}
        return {"id": record_id, "success": True, "errors": []}

    def _collection_write(self, method: str, record: Any) -> str:
        if not isinstance(record, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "each record must be an object")
        attributes = record.get("attributes") or {}
        sobject = self.store.sobject(str(attributes.get("type", "")))
        data = {k: v for k, v in record.items() if k not in {"attributes", "id", "Id"}}
        if method == "POST":
            return self.store.insert(sobject, data)
        record_id = str(record.get("id") or record.get("Id") or "")
        if not record_id:
            raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call")
        self.store.update(sobject, record_id, data)
        return record_id

    def _restore(self, snapshot: Mapping[str, list[dict[str, Any]]]) -> None:
        for sobject, rows in snapshot.items():
            self.store.replace(sobject, rows)

    # OAuth -------------------------------------------------------------------------------
    def _token(self, headers: Mapping[str, str], body: bytes) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type", "")
        check: Callable[[Mapping[str, str]], str | None]
        if grant == "password":
            check = self._password_grant
        elif grant == "client_credentials":
            check = self._client_credentials_grant
        elif grant == JWT_GRANT:
            check = self._jwt_grant
        else:
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        problem = check(form)
        if problem is not None:
            code = "invalid_client_id" if problem.startswith("client") else "invalid_grant"
            return _oauth_error(code, problem)
        user = self.store.records("User")[0]["Id"]
        return Reply(
            200,
            {
                "access_token": self.issue_token(),
                "instance_url": self.url,
                "id": f"{self.url}/id/{ORG_ID}/{user}",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "signature": secrets.token_urlsafe(32),
            },
        )

    def _client_ok(self, form: Mapping[str, str], *, secret: bool = True) -> bool:
        ok = hmac.compare_digest(form.get("client_id", ""), self.client_id)
        if secret:
            ok = ok and hmac.compare_digest(form.get("client_secret", ""), self.client_secret)
        return ok

    def _password_grant(self, form: Mapping[str, str]) -> str | None:
        if not self._client_ok(form):
            return "client identifier invalid"
        expected = self.password + self.security_token
        if form.get("username") != self.username or not hmac.compare_digest(
            form.get("password", ""), expected
        ):
            return "authentication failure"
        return None

    def _client_credentials_grant(self, form: Mapping[str, str]) -> str | None:
        return None if self._client_ok(form) else "client identifier invalid"

    def _jwt_grant(self, form: Mapping[str, str]) -> str | None:
        assertion = form.get("assertion", "")
        try:
            if self.jwt_public_key is not None:
                claims = jwt.decode(
                    assertion,
                    self.jwt_public_key,
                    algorithms=["RS256"],
                    audience=[*LOGIN_AUDIENCES, self.url],
                    options={"require": ["iss", "sub", "aud", "exp"]},
                )
            else:
                claims = jwt.decode(assertion, options={"verify_signature": False})
                if claims.get("aud") not in (*LOGIN_AUDIENCES, self.url):
                    return "audience is invalid"
                if float(claims.get("exp", 0)) < time.time():
                    return "expired authorization code"
        except jwt.PyJWTError as exc:
            return f"invalid assertion: {exc}"
        if claims.get("iss") != self.client_id:
            return "client identifier invalid"
        if claims.get("sub") != self.username:
            return "user hasn't approved this consumer"
        return None


COMPOSITE_LIMIT = 25
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")


def _sub_answer(reference: str, status: int, body: Any) -> dict[str, Any]:
    return {"body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": reference}


def _lookup(bodies: Mapping[str, Any], reference: str, path: str) -> Any:
    value: Any = bodies.get(reference)
    for step in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        name, index = step
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError):
            raise ApiError(
                400, "INVALID_INPUT", f"Invalid reference specified: @{{{reference}{path}}}"
            ) from None
    return value


def _resolve(text: str, bodies: Mapping[str, Any]) -> str:
    return _REFERENCE.sub(lambda m: str(_lookup(bodies, m[1], m[2])), text)


def _resolve_json(value: Any, bodies: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return _resolve(value, bodies)
    if isinstance(value, list):
        return [_resolve_json(v, bodies) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_json(v, bodies) for k, v in value.items()}
    return value


def _rolled_back() -> dict[str, Any]:
    return {
        "id": None,
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the"
                " request was using AllOrNone header",
                "fields": [],
            }
        ],
    }


def _route_name(method: str, path: str) -> str:
    segments = [s for s in path[len(DATA_PREFIX) :].split("/") if s][1:]
    if segments[:1] == ["sobjects"] and len(segments) >= 3 and segments[2] != "describe":
        names = (
            ["sobjects", segments[1], "{id}"]
            if len(segments) == 3
            else ["sobjects", segments[1], segments[2], "{value}"]
        )
        segments = names
    elif segments[:1] == ["query"] and len(segments) == 2:
        segments = ["query", "{locator}"]
    return f"{method} /{'/'.join(segments)}"


def _oauth_error(code: str, description: str) -> Reply:
    return Reply(400, {"error": code, "error_description": description})


def _json(body: bytes) -> Any:
    if not body:
        return {}
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "the body must be a JSON object")
    return cast(dict[str, Any], value)


class _Server(TrackingHTTPServer):
    def __init__(self, address: tuple[str, int], emulator: SalesforceEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class _Handler(TrackedRequestHandler):
    server_version = "SalesforceSandbox/1.0"
    timeout = 120

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self.read_body()
        headers = {name.lower(): value for name, value in self.headers.items()}
        emulator = cast(_Server, self.server).emulator
        reply = emulator.handle(self.command, self.path, headers, body)
        payload = reply.encoded()
        try:
            self.send_response(reply.status)
            if payload:
                self.send_header("Content-Type", reply.content_type)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload:
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `SalesforceEmulator.calls` instead."""
