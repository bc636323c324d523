"""Salesforce opportunities, owners and tasks for handoffs, through `simple-salesforce`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
import tenacity
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce

from plg_handoff.config import SalesforceConfig, Secrets
from plg_handoff.connectors.base import (
    FollowUp,
    OpportunityDraft,
    OpportunityRef,
    Owner,
    RefreshResult,
    TaskSpec,
)
from plg_handoff.connectors.errors import (
    AuthError,
    ConnectorError,
    InvalidInput,
    NotFound,
    RateLimited,
    RecordError,
    SetupRequired,
    TransientError,
)
from plg_handoff.connectors.registry import register
from plg_handoff.connectors.salesforce.auth import SalesforceCredentials, Token, fetch_token
from plg_handoff.connectors.salesforce.errors import (
    VENDOR,
    is_salesforce_error,
    is_transport_error,
    map_error,
    record_errors,
)
from plg_handoff.connectors.salesforce.fields import FieldSpec, opportunity_fields

T = TypeVar("T")
COLLECTION_SIZE = 200  # sObject Collections' cap per call
QUERY_IN_CHUNK = 200  # external ids per IN (...) list, well inside the URL length limit
USAGE_FIELDS = (
    "Plg_Trigger__c",
    "Plg_Triggers__c",
    "Plg_Evidence__c",
    "Plg_Score__c",
    "Plg_Tier__c",
    "Plg_Plan__c",
    "Amount",
)
SHORT_WAIT_S = 2.0  # longer waits belong to Temporal's retry policy, not to this process


def _short_retry(exc: BaseException) -> bool:
    if isinstance(exc, RateLimited):
        return (exc.retry_after or 0) <= SHORT_WAIT_S
    return isinstance(exc, TransientError)


def _wait(state: tenacity.RetryCallState) -> float:
    return float(min(0.2 * 2 ** (state.attempt_number - 1), SHORT_WAIT_S))


def _usage_fields(draft: OpportunityDraft) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "Plg_Trigger__c": draft.trigger,
        "Plg_Triggers__c": ";".join(draft.triggers)[:255],
        "Plg_Evidence__c": "\n".join(draft.evidence),
        "Plg_Score__c": round(draft.score, 2),
        "Plg_Tier__c": draft.tier,
        "Plg_Plan__c": draft.plan or "",
    }
    if draft.amount is not None:
        fields["Amount"] = round(draft.amount, 2)
    return fields


def _changed(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The wanted values that differ from Salesforce's (numbers as numbers, null as "")."""

    def same(have: Any, want: Any) -> bool:
        if isinstance(want, int | float) and not isinstance(want, bool):
            try:
                return have is not None and abs(float(have) - float(want)) < 1e-9
            except (TypeError, ValueError):
                return False
        return (have or "") == (want or "")

    return {name: value for name, value in wanted.items() if not same(current.get(name), value)}


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _patch_collection(sf: Any, body: dict[str, Any]) -> Any:
    return sf.restful("composite/sobjects", method="PATCH", json=body)


def _query_more(sf: Any, url: str) -> Any:
    return sf.query_more(url, identifier_is_url=True)


def soql_literal(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


class _Adapter(HTTPAdapter):
    """A default timeout on every request; for a local `http://` instance (the emulator)
    the `https://` URLs simple-salesforce builds are sent to it over plain HTTP."""

    def __init__(self, timeout: float, local_host: str | None) -> None:
        super().__init__()
        self._timeout = timeout
        self._local_host = local_host

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        url = request.url or ""
        if self._local_host and url.startswith(f"https://{self._local_host}/"):
            request.url = "http://" + url.removeprefix("https://")
        return super().send(request, **kwargs)


def _local_host(url: str | None) -> str | None:
    """host:port of an `http://` URL: a local emulator, never a real org."""
    parts = urlsplit(url or "")
    return parts.netloc if parts.scheme == "http" else None


def _session(timeout: float, local_host: str | None) -> requests.Session:
    session = requests.Session()
    if local_host:
        # REQUESTS_CA_BUNDLE would otherwise override verification settings, and a local
        # emulator is never reached through a proxy.
        session.trust_env = False
    adapter = _Adapter(timeout, local_host)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@register("crm", "salesforce")
class SalesforceCrm:
    """One instance per worker: one OAuth token and one HTTP session, renewed when
    Salesforce answers INVALID_SESSION_ID."""

    def __init__(self, config: SalesforceConfig, credentials: SalesforceCredentials) -> None:
        self._config = config
        self._credentials = credentials
        self._timeout = config.timeout.total_seconds()
        instance = str(config.instance_url) if config.instance_url else None
        self._local_host = _local_host(instance) or _local_host(str(config.login_url))
        self._session = _session(self._timeout, self._local_host)
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_short_retry),
            wait=_wait,
            stop=tenacity.stop_after_attempt(3),
            reraise=True,
        )
        self._token: Token | None = None
        self._sf: Any = None
        self._login()

    @classmethod
    def from_secrets(cls, config: SalesforceConfig, secrets: Secrets) -> SalesforceCrm:
        return cls(config, SalesforceCredentials.from_secrets(secrets))

    def _login(self) -> None:
        self._token = self._retrying(fetch_token, self._session, self._config, self._credentials)
        local_host = _local_host(self._token.instance_url)
        if local_host != self._local_host:
            # a local emulator named by the token answer: reach it over plain HTTP too
            self._local_host = local_host
            self._session = _session(self._timeout, local_host)
        self._sf = Salesforce(
            instance_url=self._token.instance_url,
            session_id=self._token.access_token,
            session=self._session,
            version=self._config.api_version,
        )

    def _call(self, fn: Callable[[Any], T], record: str = "", *, idempotent: bool = True) -> T:
        """`idempotent=False` (a create): no retry in this process, since a timeout or 5xx
        does not say whether Salesforce made the record; the activity's retry looks first."""
        try:
            return self._attempts(fn, record, idempotent)
        except AuthError as exc:
            if exc.status != 401:
                raise
        self._login()  # the session expired or was revoked: one new token, one more try
        return self._attempts(fn, record, idempotent)

    def _attempts(self, fn: Callable[[Any], T], record: str, idempotent: bool) -> T:
        if not idempotent:
            return self._mapped(fn, record)
        result: T = self._retrying(self._mapped, fn, record)
        return result

    def _mapped(self, fn: Callable[[Any], T], record: str) -> T:
        try:
            return fn(self._sf)
        except ConnectorError:
            raise
        except Exception as exc:
            if is_salesforce_error(exc) or is_transport_error(exc):
                raise map_error(exc, record) from exc
            raise

    def _query(self, soql: str) -> list[dict[str, Any]]:
        answer: dict[str, Any] = self._call(lambda sf: sf.query(soql))
        records: list[dict[str, Any]] = list(answer.get("records", []))
        while not answer.get("done", True) and answer.get("nextRecordsUrl"):
            answer = self._call(partial(_query_more, url=str(answer["nextRecordsUrl"])))
            records.extend(answer.get("records", []))
        return records

    # CrmConnector --------------------------------------------------------------------------
    def list_owners(self) -> list[Owner]:
        users = self._query(
            "SELECT Id, Name, Email, IsActive FROM User"
            " WHERE IsActive = true AND UserType = 'Standard' ORDER BY Name"
        )
        return [
            Owner(
                id=str(u["Id"]),
                email=str(u.get("Email") or ""),
                name=str(u.get("Name") or u.get("Email") or u["Id"]),
                active=bool(u.get("IsActive")),
            )
            for u in users
        ]

    def upsert_opportunity(self, draft: OpportunityDraft) -> OpportunityRef:
        path = f"{self._config.external_id_field}/{quote(draft.external_id, safe='')}"
        fields = self._opportunity_fields(draft)
        response: requests.Response = self._call(
            lambda sf: sf.Opportunity.upsert(path, fields, raw_response=True),
            record=draft.external_id,
        )
        if response.status_code == 201:
            return OpportunityRef(id=str(response.json()["id"]), created=True)
        if response.status_code == 200:  # API v46.0 and later answer an update with its id
            answer = response.json()
            return OpportunityRef(id=str(answer["id"]), created=bool(answer.get("created")))
        # 204: an update before v46.0, without a body
        found = self._query(
            f"SELECT Id FROM Opportunity WHERE {self._config.external_id_field} = "  # noqa: S608
            f"{soql_literal(draft.external_id)} LIMIT 1"
        )
        if not found:
            raise NotFound(VENDOR, f"opportunity {draft.external_id} vanished after its upsert")
        return OpportunityRef(id=str(found[0]["Id"]), created=False)

    def _opportunity_fields(self, draft: OpportunityDraft) -> dict[str, Any]:
        config = self._config
        return {
            "Name": draft.name[:120],
            "StageName": config.stage_by_trigger.get(draft.trigger, config.stage),
            "CloseDate": (datetime.now(UTC).date() + timedelta(config.close_in_days)).isoformat(),
            "OwnerId": draft.owner_id,
            "Plg_Account_Id__c": draft.account_id,
            **_usage_fields(draft),
        }

    def refresh_opportunities(self, drafts: list[OpportunityDraft]) -> RefreshResult:
        """One query reads every open handoff opportunity (2,000 a page); those not among them
        are looked up by external id (closed, or missing); only changed usage fields are
        written, 200 records a call (sObject Collections, allOrNone false). Refused records
        raise InvalidInput after every other record was written."""
        latest = {draft.external_id: draft for draft in drafts}
        if not latest:
            return RefreshResult(read=0)
        ext = self._config.external_id_field
        columns = ", ".join(["Id", ext, "IsClosed", *USAGE_FIELDS])
        open_rows = self._query(
            f"SELECT {columns} FROM Opportunity WHERE IsClosed = false AND {ext} != null"  # noqa: S608
        )
        current = {str(row[ext]): row for row in open_rows if str(row[ext]) in latest}
        others = [external_id for external_id in latest if external_id not in current]
        closed_ids: set[str] = set()
        for chunk in _chunks(others, QUERY_IN_CHUNK):
            values = ", ".join(soql_literal(v) for v in chunk)
            rows = self._query(f"SELECT {ext} FROM Opportunity WHERE {ext} IN ({values})")  # noqa: S608
            closed_ids.update(str(row[ext]) for row in rows)
        closed = [e for e in others if e in closed_ids]
        missing = [e for e in others if e not in closed_ids]
        changes: list[tuple[str, str, dict[str, Any]]] = []
        for external_id, row in current.items():
            changed = _changed(row, _usage_fields(latest[external_id]))
            if changed:
                changes.append((str(row["Id"]), external_id, changed))
        updated: list[str] = []
        refused: list[RecordError] = []
        for batch in _chunks(changes, COLLECTION_SIZE):
            records = [
                {"attributes": {"type": "Opportunity"}, "id": record_id, **fields}
                for record_id, _, fields in batch
            ]
            body = {"allOrNone": False, "records": records}
            results: list[dict[str, Any]] = self._call(
                partial(_patch_collection, body=body),
                record="opportunity collection",
            )
            for (_, external_id, _), result in zip(batch, results, strict=True):
                if result.get("success"):
                    updated.append(external_id)
                else:
                    refused.extend(record_errors(external_id, result.get("errors") or []))
        if refused:
            raise InvalidInput(
                VENDOR,
                f"{len({r.record for r in refused})} of {len(changes)} changed opportunities"
                f" refused ({len(updated)} updated); they are tried again on the next refresh",
                records=tuple(refused),
            )
        return RefreshResult(
            read=len(current) + len(closed),
            updated=tuple(updated),
            unchanged=len(current) - len(changes),
            missing=tuple(missing),
            closed=tuple(closed),
        )

    def find_task(self, opportunity_id: str) -> str | None:
        tasks = self._query(
            f"SELECT Id FROM Task WHERE WhatId = {soql_literal(opportunity_id)}"  # noqa: S608
            " ORDER BY CreatedDate LIMIT 1"
        )
        return str(tasks[0]["Id"]) if tasks else None

    def create_task(self, task: TaskSpec) -> str:
        due = datetime.fromtimestamp(task.due_at_ms / 1000, UTC).date()
        fields = {
            "WhatId": task.opportunity_id,
            "OwnerId": task.owner_id,
            "Subject": task.subject[:255],
            "Description": task.body,
            "Status": "Not Started",
            "Priority": "High",
            "ActivityDate": due.isoformat(),
        }
        created: dict[str, Any] = self._call(
            lambda sf: sf.Task.create(fields),
            record=f"task for {task.opportunity_id}",
            idempotent=False,
        )
        return str(created["id"])

    def read_follow_up(self, opportunity_id: str, task_id: str | None) -> FollowUp:
        what = soql_literal(opportunity_id)
        fields = "Id, StageName, IsClosed, IsWon, CreatedDate"
        found = self._query(f"SELECT {fields} FROM Opportunity WHERE Id = {what}")  # noqa: S608
        if not found:
            raise NotFound(VENDOR, f"opportunity {opportunity_id} not found")
        opportunity = found[0]
        stage = opportunity.get("StageName")
        outcome = (
            ("won" if opportunity.get("IsWon") else "lost") if opportunity.get("IsClosed") else None
        )
        since = str(opportunity.get("CreatedDate") or "")
        since_clause = f" AND LastModifiedDate >= {since}" if since else ""
        completed = self._query(
            f"SELECT Id FROM Task WHERE WhatId = {what} AND Status = 'Completed'"  # noqa: S608
            f"{since_clause} LIMIT 1"
        )
        meetings = self._query(
            f"SELECT Id FROM Event WHERE WhatId = {what}{since_clause} LIMIT 1"  # noqa: S608
        )
        details: dict[str, str] = {}
        if completed:
            details["completed_task"] = str(completed[0]["Id"])
        if meetings:
            details["meeting"] = str(meetings[0]["Id"])
        contacted = bool(completed or meetings) or outcome is not None
        return FollowUp(contacted=contacted, stage=stage, outcome=outcome, details=details)

    def missing_properties(self) -> list[str]:
        return [spec.name for spec in self._missing_specs()]

    def _missing_specs(self) -> list[FieldSpec]:
        described: dict[str, Any] = self._call(lambda sf: sf.Opportunity.describe())
        existing = {f["name"]: f for f in described.get("fields", [])}
        missing = []
        for spec in opportunity_fields(self._config.external_id_field):
            field = existing.get(spec.name)
            if field is None or (spec.external_id and not field.get("externalId")):
                missing.append(spec)
        return missing

    def ensure_properties(self) -> list[str]:
        """Salesforce's REST API cannot create fields (that is the Metadata API's job): when
        some are missing this says which to create, and how, instead."""
        missing = self._missing_specs()
        if missing:
            lines = "\n  ".join(spec.definition() for spec in missing)
            raise SetupRequired(
                VENDOR,
                "create these Opportunity custom fields (Setup > Object Manager > Opportunity"
                " > Fields & Relationships), give the integration user edit access, then run"
                f" this again:\n  {lines}",
            )
        return []
