"""Salesforce opportunities, owners and tasks for handoffs, through `simple-salesforce`.

Pacing: at most `requests_per_second` requests a second from this process, and none once the
org's daily API allocation is used up to its reserve for other integrations (a RateLimited
with a retry-after instead); across workers the CRM task queue's rate applies."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import requests
import tenacity
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce

from plg_handoff.config import SalesforceConfig, Secrets
from plg_handoff.connectors.base import (
    AccountRef,
    FollowUp,
    FunnelFields,
    OpportunityDraft,
    OpportunityRef,
    Owner,
    RefreshResult,
    TaskSpec,
)
from plg_handoff.connectors.errors import (
    AuthError,
    Conflict,
    ConnectorError,
    InvalidInput,
    NotFound,
    RateLimited,
    RecordError,
    SetupRequired,
    TransientError,
)
from plg_handoff.connectors.pacing import RequestPacer
from plg_handoff.connectors.registry import register
from plg_handoff.connectors.salesforce.allocation import DailyAllocation
from plg_handoff.connectors.salesforce.auth import SalesforceCredentials, Token, fetch_token
from plg_handoff.connectors.salesforce.errors import (
    VENDOR,
    is_salesforce_error,
    is_transport_error,
    map_answer,
    map_error,
    record_errors,
)
from plg_handoff.connectors.salesforce.fields import (
    FUNNEL_FIELDS,
    FieldSpec,
    account_fields,
    opportunity_fields,
)

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
    "Plg_Segment__c",
    "Plg_Approach__c",
)
SHORT_WAIT_S = 2.0  # longer waits belong to Temporal's retry policy, not to this process
OWNERS_TTL_S = 300.0
PACE_WINDOW_S = 1.0
CACHE_SIZE = 10_000


def _short_retry(exc: BaseException) -> bool:
    if isinstance(exc, RateLimited):
        return (exc.retry_after or 0) <= SHORT_WAIT_S
    return isinstance(exc, TransientError)


def _wait(state: tenacity.RetryCallState) -> float:
    return float(min(0.2 * 2 ** (state.attempt_number - 1), SHORT_WAIT_S))


def _usage_fields(draft: OpportunityDraft) -> dict[str, Any]:
    """Written on create, on update and by the refresh: Salesforce's values stay current."""
    return {
        "Plg_Trigger__c": draft.trigger,
        "Plg_Triggers__c": ";".join(draft.triggers)[:255],
        "Plg_Evidence__c": "\n".join(draft.evidence),
        "Plg_Score__c": round(draft.score, 2),
        "Plg_Tier__c": draft.tier,
        "Plg_Plan__c": draft.plan or "",
        "Plg_Segment__c": (draft.segment or "")[:40],
        "Plg_Approach__c": (draft.approach or "")[:32768],
    }


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


USERS_SOQL = (
    "SELECT Id, Name, Email, IsActive FROM User"
    " WHERE IsActive = true AND UserType = 'Standard' ORDER BY Name"
)


def _owners(users: list[dict[str, Any]]) -> list[Owner]:
    return [
        Owner(
            id=str(u["Id"]),
            email=str(u.get("Email") or ""),
            name=str(u.get("Name") or u.get("Email") or u["Id"]),
            active=bool(u.get("IsActive")),
        )
        for u in users
    ]


def _composite(sf: Any, body: dict[str, Any]) -> Any:
    return sf.restful("composite", method="POST", json=body)


def _upsert_collection(sf: Any, path: str, body: dict[str, Any]) -> Any:
    return sf.restful(path, method="PATCH", json=body)


def website_variants(domains: Sequence[str]) -> list[str]:
    """How people type a domain into Account.Website: bare, with www., with a scheme, with
    a trailing slash."""
    variants: list[str] = []
    for domain in sorted({d.strip().lower() for d in domains if d.strip()}):
        for host in (domain, f"www.{domain}"):
            for prefix in ("", "http://", "https://"):
                variants.extend((f"{prefix}{host}", f"{prefix}{host}/"))
    return variants


class _Lru(OrderedDict[str, str]):
    def remember(self, key: str, value: str) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > CACHE_SIZE:
            self.popitem(last=False)


def _create_collection(sf: Any, body: dict[str, Any]) -> Any:
    return sf.restful("composite/sobjects", method="POST", json=body)


def _account_fields(draft: OpportunityDraft) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "Name": (draft.account_name or draft.account_id)[:255],
        "OwnerId": draft.owner_id,
    }
    if draft.domains:
        fields["Website"] = draft.domains[0].strip().lower()
    return fields


def _task_fields(task: TaskSpec) -> dict[str, Any]:
    due = datetime.fromtimestamp(task.due_at_ms / 1000, UTC).date()
    return {
        "WhatId": task.opportunity_id,
        "OwnerId": task.owner_id,
        "Subject": task.subject[:255],
        "Description": task.body,
        "Status": "Not Started",
        "Priority": "High",
        "ActivityDate": due.isoformat(),
    }


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

    def __init__(
        self,
        config: SalesforceConfig,
        credentials: SalesforceCredentials,
        *,
        owners_ttl_s: float = OWNERS_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._owners_ttl_s = owners_ttl_s
        self._clock = clock
        self._owners_cache: tuple[float, list[Owner]] | None = None
        # account id -> Account Id found (or "" when a lookup found none), for the upsert
        # that follows the lookup; opportunities created here that have no task yet.
        self._accounts: _Lru = _Lru()
        self._fresh: _Lru = _Lru()
        self._credentials = credentials
        self._timeout = config.timeout.total_seconds()
        self._pacer = RequestPacer(config.requests_per_second, PACE_WINDOW_S)
        self._allocation = DailyAllocation(config.daily_api_reserve, clock)
        instance = str(config.instance_url) if config.instance_url else None
        self._local_host = _local_host(instance) or _local_host(str(config.login_url))
        self._session = self._new_session(self._local_host)
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

    def _new_session(self, local_host: str | None) -> requests.Session:
        session = _session(self._timeout, local_host)
        session.hooks["response"].append(self._allocation.observe)
        return session

    def _login(self) -> None:
        self._token = self._retrying(fetch_token, self._session, self._config, self._credentials)
        local_host = _local_host(self._token.instance_url)
        if local_host != self._local_host:
            # a local emulator named by the token answer: reach it over plain HTTP too
            self._local_host = local_host
            self._session = self._new_session(local_host)
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
        self._allocation.admit()
        try:
            with self._pacer.slot():
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

    def _queries(self, *soqls: str) -> list[list[dict[str, Any]]]:
        """Several queries in one API call (a composite request); later pages by queryMore."""
        prefix = f"/services/data/v{self._config.api_version}/query?"
        body = {
            "allOrNone": False,
            "compositeRequest": [
                {"method": "GET", "url": prefix + urlencode({"q": soql}), "referenceId": f"q{i}"}
                for i, soql in enumerate(soqls)
            ],
        }
        answer: dict[str, Any] = self._call(partial(_composite, body=body))
        results: list[list[dict[str, Any]]] = []
        for sub in answer.get("compositeResponse", []):
            status = int(sub.get("httpStatusCode", 500))
            page: dict[str, Any] = sub.get("body") or {}
            if status >= 400:
                raise map_answer(status, page)
            records = list(page.get("records", []))
            while not page.get("done", True) and page.get("nextRecordsUrl"):
                page = self._call(partial(_query_more, url=str(page["nextRecordsUrl"])))
                records.extend(page.get("records", []))
            results.append(records)
        return results

    # CrmConnector --------------------------------------------------------------------------
    def share_pace(self, processes: int) -> None:
        self._pacer.share(processes)

    def list_owners(self) -> list[Owner]:
        """Cached for `owners_ttl_s` (a new handoff's call budget); dropped when Salesforce
        refuses an opportunity, e.g. for an owner deactivated since."""
        now = self._clock()
        if self._owners_cache is not None and now < self._owners_cache[0]:
            return list(self._owners_cache[1])
        owners = self._fetch_owners()
        if self._owners_ttl_s > 0:
            self._owners_cache = (now + self._owners_ttl_s, owners)
        return list(owners)

    def _fetch_owners(self) -> list[Owner]:
        return _owners(self._query(USERS_SOQL))

    def find_account(self, account_id: str, domains: Sequence[str]) -> AccountRef | None:
        """One query: the Account with this external id, else the oldest whose Website is
        one of the domains. Remembered for the opportunity upsert that follows. When the
        active users are not cached, they come in the same call (a composite request)."""
        ext = self._config.account_external_id_field
        conditions = [f"{ext} = {soql_literal(account_id)}"]
        websites = website_variants(domains)
        if websites:
            conditions.append(f"Website IN ({', '.join(soql_literal(w) for w in websites)})")
        soql = (
            f"SELECT Id, OwnerId, {ext} FROM Account WHERE {' OR '.join(conditions)}"  # noqa: S608
            " ORDER BY CreatedDate LIMIT 10"
        )
        now = self._clock()
        if self._owners_ttl_s > 0 and (self._owners_cache is None or now >= self._owners_cache[0]):
            rows, users = self._queries(soql, USERS_SOQL)
            self._owners_cache = (now + self._owners_ttl_s, _owners(users))
        else:
            rows = self._query(soql)
        by_id = [r for r in rows if r.get(ext) == account_id]
        chosen = (by_id or rows)[:1]
        if not chosen:
            self._accounts.remember(account_id, "")
            return None
        ref = AccountRef(id=str(chosen[0]["Id"]), owner_id=chosen[0].get("OwnerId") or None)
        self._accounts.remember(account_id, ref.id)
        return ref

    def upsert_opportunity(self, draft: OpportunityDraft) -> OpportunityRef:
        """Upserted by external id with sObject Collections: the handoff key travels in the
        body, never in the URL path (it contains slashes). One the handoff already has is
        updated by Id in one call, with its owner, account id and usage fields only: the
        stage, close date, name and amount stay as sales set them. Gone from Salesforce
        (deleted, merged away): upserted anew."""
        if draft.existing_id:
            try:
                return self._update_existing(draft, draft.existing_id)
            except NotFound:  # 404 NOT_FOUND or ENTITY_IS_DELETED: recreated below
                pass
        try:
            result = self._upsert_linked(draft, self._account_for(draft))
        except InvalidInput as exc:
            if not any("AccountId" in record.fields for record in exc.records):
                self._owners_cache = None
                raise
            # The Account was deleted or merged since it was looked up: look again, once.
            self._accounts.pop(draft.account_id, None)
            fresh = replace(draft, account_ref=None)
            result = self._upsert_linked(fresh, self._account_for(fresh))
        ref = OpportunityRef(id=str(result["id"]), created=bool(result.get("created")))
        if ref.created:
            self._fresh.remember(ref.id, "")
        return ref

    def upsert_opportunities(
        self, drafts: Sequence[OpportunityDraft]
    ) -> list[OpportunityRef | ConnectorError]:
        """Opportunities by external id, 200 a call (sObject Collections, allOrNone false),
        after the Accounts that lookups found none for, 200 a call too (by the account's
        external id, one per account). A draft with `existing_id`, one not looked up, and one
        whose record Salesforce refused in a collection go the single way (which looks again
        for an Account merged away and names the refused record). One outcome per draft."""
        if len(drafts) == 1:
            return [self._upsert_alone(drafts[0])]
        outcomes: list[OpportunityRef | ConnectorError | None] = [None] * len(drafts)
        new = [i for i, draft in enumerate(drafts) if draft.existing_id is None]
        accounts = self._accounts_for([drafts[i] for i in new])
        ready = [(i, account) for i, account in zip(new, accounts, strict=True) if account]
        ext = self._config.external_id_field
        for chunk in _chunks(ready, COLLECTION_SIZE):
            records = [
                {
                    **self._opportunity_fields(drafts[i]),
                    "AccountId": account,
                    ext: drafts[i].external_id,
                }
                for i, account in chunk
            ]
            results = self._upsert_collection("Opportunity", ext, records, "opportunity collection")
            for (i, _), result in zip(chunk, results, strict=True):
                if result.get("success"):
                    ref = OpportunityRef(id=str(result["id"]), created=bool(result.get("created")))
                    if ref.created:
                        self._fresh.remember(ref.id, "")
                    outcomes[i] = ref
        return [
            self._upsert_alone(drafts[i]) if outcome is None else outcome
            for i, outcome in enumerate(outcomes)
        ]

    def _upsert_alone(self, draft: OpportunityDraft) -> OpportunityRef | ConnectorError:
        try:
            return self.upsert_opportunity(draft)
        except (InvalidInput, NotFound, Conflict) as exc:  # this draft's own; the rest raises
            return exc

    def _accounts_for(self, drafts: Sequence[OpportunityDraft]) -> list[str | None]:
        """Each draft's Account id: the one its lookup found, else one created (200 Accounts
        a call, upserted on the account's external id, so racing workers make one); None for
        a draft never looked up or whose Account Salesforce refused (it goes alone)."""
        answers: list[str | None] = [None] * len(drafts)
        missing: dict[str, list[int]] = {}  # account id -> its drafts' positions
        for position, draft in enumerate(drafts):
            known = draft.account_ref or self._accounts.get(draft.account_id)
            if known:
                answers[position] = known
            elif known == "":  # looked up: Salesforce has none
                missing.setdefault(draft.account_id, []).append(position)
        ext = self._config.account_external_id_field
        for chunk in _chunks(list(missing.items()), COLLECTION_SIZE):
            records = [{**_account_fields(drafts[at[0]]), ext: account} for account, at in chunk]
            results = self._upsert_collection("Account", ext, records, "account collection")
            for (account, at), result in zip(chunk, results, strict=True):
                if result.get("success"):
                    self._accounts.remember(account, str(result["id"]))
                    for position in at:
                        answers[position] = str(result["id"])
        return answers

    def _update_existing(self, draft: OpportunityDraft, opportunity_id: str) -> OpportunityRef:
        fields = {
            "OwnerId": draft.owner_id,
            "Plg_Account_Id__c": draft.account_id,
            **_usage_fields(draft),
        }
        try:
            self._call(
                lambda sf: sf.Opportunity.update(opportunity_id, fields),
                record=draft.external_id,
            )
        except InvalidInput:
            self._owners_cache = None
            raise
        return OpportunityRef(id=opportunity_id, created=False)

    def _upsert_linked(self, draft: OpportunityDraft, account: str) -> dict[str, Any]:
        fields = {**self._opportunity_fields(draft), "AccountId": account}
        return self._upsert_one(
            "Opportunity", self._config.external_id_field, draft.external_id, fields
        )

    def _account_for(self, draft: OpportunityDraft) -> str:
        """The Account the lookup found (or finds now), else a new one owned by the
        opportunity's owner, made by upsert on the account's external id (no duplicate when
        two workers race)."""
        known = draft.account_ref or self._accounts.get(draft.account_id)
        if known is None:
            found = self.find_account(draft.account_id, draft.domains)
            known = found.id if found else ""
        if known:
            return known
        ext = self._config.account_external_id_field
        fields = _account_fields(draft)
        result = self._upsert_one("Account", ext, draft.account_id, fields, draft.external_id)
        account_id = str(result["id"])
        self._accounts.remember(draft.account_id, account_id)
        return account_id

    def _upsert_one(
        self,
        sobject: str,
        external_field: str,
        value: str,
        fields: dict[str, Any],
        record_name: str | None = None,
    ) -> dict[str, Any]:
        """`record_name` names the record in errors (the handoff's key by default)."""
        [result] = self._upsert_collection(
            sobject, external_field, [{**fields, external_field: value}], record_name or value
        )
        if result.get("success"):
            return result
        errors = result.get("errors") or []
        records = record_errors(record_name or value, errors)
        if any(e.get("statusCode") == "DUPLICATE_EXTERNAL_ID" for e in errors):
            raise Conflict(VENDOR, f"{sobject} upsert refused", status=300, records=records)
        raise InvalidInput(VENDOR, f"{sobject} upsert refused", records=records)

    def _upsert_collection(
        self, sobject: str, external_field: str, records: list[dict[str, Any]], name: str
    ) -> list[dict[str, Any]]:
        """Records upserted by `external_field` in one sObject Collections call (allOrNone
        false): a result per record, in order. `name` names the call in errors."""
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **record} for record in records],
        }
        path = f"composite/sobjects/{sobject}/{external_field}"
        results: list[dict[str, Any]] = self._call(
            partial(_upsert_collection, path=path, body=body), record=name
        )
        return results

    def _opportunity_fields(self, draft: OpportunityDraft) -> dict[str, Any]:
        config = self._config
        return {
            "Name": draft.name[:120],
            "StageName": config.stage_by_trigger.get(draft.trigger, config.stage),
            "CloseDate": (datetime.now(UTC).date() + timedelta(config.close_in_days)).isoformat(),
            "OwnerId": draft.owner_id,
            "Plg_Account_Id__c": draft.account_id,
            **_usage_fields(draft),
            **({} if draft.amount is None else {"Amount": round(draft.amount, 2)}),
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

    def find_task(self, opportunity_id: str, owner_id: str) -> str | None:
        """The opportunity's first Task for this owner (a reassigned one has the earlier
        owner's too)."""
        if opportunity_id in self._fresh:
            return None
        tasks = self._query(
            f"SELECT Id FROM Task WHERE WhatId = {soql_literal(opportunity_id)}"  # noqa: S608
            f" AND OwnerId = {soql_literal(owner_id)} ORDER BY CreatedDate LIMIT 1"
        )
        return str(tasks[0]["Id"]) if tasks else None

    def create_task(self, task: TaskSpec) -> str:
        # Forgotten before the call: if it fails after Salesforce made the Task, the next
        # attempt must look.
        self._fresh.pop(task.opportunity_id, None)
        fields = _task_fields(task)
        created: dict[str, Any] = self._call(
            lambda sf: sf.Task.create(fields),
            record=f"task for {task.opportunity_id}",
            idempotent=False,
        )
        return str(created["id"])

    def create_tasks(self, tasks: Sequence[TaskSpec]) -> list[str | ConnectorError]:
        """Tasks, 200 a call (sObject Collections, allOrNone false); a lone one through the
        single create. One outcome per task, in order: its id, or the error Salesforce gave
        that record alone."""
        if len(tasks) == 1:
            try:
                return [self.create_task(tasks[0])]
            except InvalidInput as exc:
                return [exc]
        created: list[str | ConnectorError] = []
        for chunk in _chunks(tasks, COLLECTION_SIZE):
            for task in chunk:  # forgotten before the call, as by `create_task`
                self._fresh.pop(task.opportunity_id, None)
            records = [{"attributes": {"type": "Task"}, **_task_fields(task)} for task in chunk]
            results: list[dict[str, Any]] = self._call(
                partial(_create_collection, body={"allOrNone": False, "records": records}),
                record="task collection",
                idempotent=False,
            )
            for task, result in zip(chunk, results, strict=True):
                if result.get("success"):
                    created.append(str(result["id"]))
                    continue
                name = f"task for {task.opportunity_id}"
                refused = record_errors(name, result.get("errors") or [])
                created.append(InvalidInput(VENDOR, "task refused", records=refused))
        return created

    def read_follow_up(self, opportunity_id: str, task_id: str | None) -> FollowUp:
        """Three queries: the opportunity (stage, close), its first completed Task (a call,
        email or to-do done: contact) and its first Event (a meeting) since it was created."""
        what = soql_literal(opportunity_id)
        fields = "Id, StageName, IsClosed, IsWon, CreatedDate, LastStageChangeDate"
        found = self._query(f"SELECT {fields} FROM Opportunity WHERE Id = {what}")  # noqa: S608
        if not found:
            raise NotFound(VENDOR, f"opportunity {opportunity_id} not found")
        opportunity = found[0]
        stage = opportunity.get("StageName")
        closed = bool(opportunity.get("IsClosed"))
        outcome = ("won" if opportunity.get("IsWon") else "lost") if closed else None
        since = soql_datetime(opportunity.get("CreatedDate"))
        completed = self._query(
            "SELECT Id, CompletedDateTime, LastModifiedDate FROM Task"  # noqa: S608
            f" WHERE WhatId = {what} AND Status = 'Completed'"
            + (f" AND LastModifiedDate >= {since}" if since else "")
            + " ORDER BY CompletedDateTime LIMIT 1"
        )
        meetings = self._query(
            f"SELECT Id, StartDateTime, CreatedDate FROM Event WHERE WhatId = {what}"  # noqa: S608
            + (f" AND StartDateTime >= {since}" if since else "")
            + " ORDER BY StartDateTime LIMIT 1"
        )
        details: dict[str, str] = {}
        contacted_at: int | None = None
        meeting_at: int | None = None
        if completed:
            details["completed_task"] = str(completed[0]["Id"])
            task = completed[0]
            contacted_at = epoch_ms(task.get("CompletedDateTime") or task.get("LastModifiedDate"))
        if meetings:
            details["meeting"] = str(meetings[0]["Id"])
            meeting_at = epoch_ms(meetings[0].get("StartDateTime"))
            booked = epoch_ms(meetings[0].get("CreatedDate"))
            if booked is not None and (contacted_at is None or booked < contacted_at):
                contacted_at = booked
        return FollowUp(
            contacted=bool(completed or meetings) or outcome is not None,
            stage=stage,
            outcome=outcome,
            details=details,
            meeting=bool(meetings),
            contacted_at_ms=contacted_at,
            meeting_at_ms=meeting_at,
            closed_at_ms=epoch_ms(opportunity.get("LastStageChangeDate")) if closed else None,
        )

    def write_funnel(self, opportunity_id: str, funnel: FunnelFields) -> None:
        fields: dict[str, Any] = {}
        for key, (name, _) in FUNNEL_FIELDS.items():
            value = getattr(funnel, key)
            if value is not None:
                fields[name] = value if isinstance(value, bool) else round(float(value), 1)
        if not fields:
            return
        self._call(
            lambda sf: sf.Opportunity.update(opportunity_id, fields),
            record=opportunity_id,
        )

    def missing_properties(self) -> list[str]:
        return [
            spec.name if sobject == "Opportunity" else f"{sobject}.{spec.name}"
            for sobject, spec in self._missing_specs()
        ]

    def _missing_specs(self) -> list[tuple[str, FieldSpec]]:
        wanted = {
            "Opportunity": opportunity_fields(self._config.external_id_field),
            "Account": account_fields(self._config.account_external_id_field),
        }
        missing: list[tuple[str, FieldSpec]] = []
        for sobject, specs in wanted.items():
            described: dict[str, Any] = self._call(partial(_describe, sobject=sobject))
            existing = {f["name"]: f for f in described.get("fields", [])}
            for spec in specs:
                field = existing.get(spec.name)
                if field is None or (spec.external_id and not field.get("externalId")):
                    missing.append((sobject, spec))
        return missing

    def setup_help(self) -> list[tuple[str, str]]:
        return [
            (
                spec.name if sobject == "Opportunity" else f"{sobject}.{spec.name}",
                f"{sobject}.{spec.definition()}: create it in Setup > Object Manager >"
                f" {sobject} > Fields & Relationships, editable by the integration user",
            )
            for sobject, spec in self._missing_specs()
        ]

    def ensure_properties(self) -> list[str]:
        """Salesforce's REST API cannot create fields (that is the Metadata API's job): when
        some are missing this says which to create, and how, instead."""
        missing = self._missing_specs()
        if missing:
            lines = "\n  ".join(f"{sobject}.{spec.definition()}" for sobject, spec in missing)
            raise SetupRequired(
                VENDOR,
                "create these custom fields (Setup > Object Manager > Opportunity or Account"
                " > Fields & Relationships), give the integration user edit access, then run"
                f" this again:\n  {lines}",
            )
        return []


def _describe(sf: Any, sobject: str) -> Any:
    return getattr(sf, sobject).describe()


def soql_datetime(value: Any) -> str:
    """A datetime literal SOQL accepts (2026-01-31T10:00:00Z); "" when there is none."""
    ms = epoch_ms(value)
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_ms(value: Any) -> int | None:
    """Salesforce's datetime (2026-01-31T10:00:00.000+0000) in epoch milliseconds."""
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
