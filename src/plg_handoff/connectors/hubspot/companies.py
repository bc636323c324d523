"""The account's company: found by `plg_account_id`, then by domain, else created; the deal is
associated to it (associations v4, batch endpoint)."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from hubspot.crm.associations.v4 import (
    BatchInputPublicDefaultAssociationMultiPost,
    PublicDefaultAssociationMultiPost,
)
from hubspot.crm.associations.v4 import PublicObjectId as AssociationObjectId
from hubspot.crm.companies import (
    AssociationSpec,
    BatchInputSimplePublicObjectBatchInputForCreate,
    Filter,
    FilterGroup,
    PublicAssociationsForObject,
    PublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectInputForCreate,
)

from plg_handoff.connectors.base import AccountRef, OpportunityDraft
from plg_handoff.connectors.errors import (
    Conflict,
    ConnectorError,
    InvalidInput,
    NotFound,
    RecordError,
)
from plg_handoff.connectors.hubspot.batches import outcomes_by_trace, trace_id
from plg_handoff.connectors.hubspot.errors import VENDOR
from plg_handoff.connectors.hubspot.properties import COMPANY_ID_PROPERTY

COMPANY_TO_DEAL = 342  # HubSpot-defined default association type id, company -> deal
CACHE_SIZE = 10_000
MAX_IN_VALUES = 100  # values in one IN filter: accounts (and domains) in one batched search
SEARCH_PAGE = 200  # the search endpoint's largest page
BATCH_SIZE = 100  # inputs of one batch create or association call
T = TypeVar("T")
AccountLookup = tuple[str, Sequence[str]]
"""An account id and its domains."""
OWNER_PROPERTY = "hubspot_owner_id"
_EXISTING_ID = re.compile(r"Existing ID: (\d+)")


class Caller(Protocol):
    def __call__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        idempotent: bool = True,
        search: bool = False,
        **kwargs: Any,
    ) -> Any: ...


class _Lru(OrderedDict[str, str]):
    def remember(self, key: str, value: str) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > CACHE_SIZE:
            self.popitem(last=False)


class Companies:
    """Keeps account -> company and the deals already linked, per process: an account's later
    handoffs skip the search, and a retried upsert skips a link it already made."""

    def __init__(
        self,
        call: Caller,
        search_api: Any,
        basic_api: Any,
        batch_api: Any,
        companies_batch_api: Any,
    ) -> None:
        self._call = call
        self._search = search_api
        self._basic = basic_api
        self._associations = batch_api
        self._batch = companies_batch_api
        self._by_account = _Lru()
        self._absent = _Lru()  # accounts a lookup just found no company for
        self._linked = _Lru()

    def find(self, account_id: str, domains: Sequence[str]) -> AccountRef | None:
        """One search; remembered, so the deal's `link` that follows makes no other."""
        found = self._search_for(account_id, domains)
        self._remember(account_id, found)
        return found

    def find_many(self, wanted: Sequence[AccountLookup]) -> list[AccountRef | None]:
        """The companies of many accounts, one search per up to MAX_IN_VALUES of them (their
        external ids, or any of their domains), each answer remembered as `find` remembers
        one: a burst of handoffs costs a few searches instead of one each."""
        found: dict[str, AccountRef | None] = {}
        for chunk in _chunks(wanted):
            found.update(self._search_many(chunk))
        answers = []
        for account_id, _ in wanted:
            ref = found.get(account_id)
            self._remember(account_id, ref)
            answers.append(ref)
        return answers

    def _remember(self, account_id: str, found: AccountRef | None) -> None:
        if found is None:
            self._by_account.pop(account_id, None)
            self._absent.remember(account_id, "")
        else:
            self._absent.pop(account_id, None)
            self._by_account.remember(account_id, found.id)

    def link(self, draft: OpportunityDraft, deal_id: str) -> str:
        """The company id the deal is (now) associated to."""
        if (known := self._linked.get(deal_id)) is not None:
            return known
        company_id = draft.account_ref or self._by_account.get(draft.account_id)
        if company_id is not None:
            try:
                self._associate(deal_id, company_id)
            except (NotFound, InvalidInput):  # merged or deleted in HubSpot since: look again
                self._by_account.pop(draft.account_id, None)
                company_id = None
        if company_id is None:
            absent = self._absent.pop(draft.account_id, None) is not None
            found = None if absent else self._search_for(draft.account_id, draft.domains)
            if found is None:
                company_id = self._create(draft, deal_id)  # associated by the create itself
            else:
                company_id = found.id
                self._associate(deal_id, company_id)
            self._by_account.remember(draft.account_id, company_id)
        self._linked.remember(deal_id, company_id)
        return company_id

    def link_many(
        self, pairs: Sequence[tuple[OpportunityDraft, str]]
    ) -> list[str | ConnectorError]:
        """`link` for many new deals: the deals of known companies associated in one batch
        call, the companies of accounts a lookup found none for created in one batch call
        (each associated to its deal by the create). What a batch cannot settle (a company
        merged away since, a create HubSpot refused) goes through `link` alone. One outcome per
        pair, in order: the company id or the error of that pair alone."""
        if len(pairs) == 1:
            return [self._link_alone(draft, deal_id) for draft, deal_id in pairs]
        outcomes: list[str | ConnectorError | None] = [None] * len(pairs)
        associate: list[tuple[int, str]] = []
        create: list[int] = []
        for i, (draft, deal_id) in enumerate(pairs):
            company_id = self._linked.get(deal_id)
            if company_id is not None:
                outcomes[i] = company_id
                continue
            company_id = draft.account_ref or self._by_account.get(draft.account_id)
            if company_id is not None:
                associate.append((i, company_id))
            elif self._absent.get(draft.account_id) is not None:
                create.append(i)
        for known in _batches(associate):
            if self._associate_all([(pairs[i][1], company_id) for i, company_id in known]):
                for i, company_id in known:
                    outcomes[i] = self._linked_to(pairs[i][0], pairs[i][1], company_id)
        for missing in _batches(create):
            created = self._create_all([pairs[i] for i in missing])
            for i, new_id in zip(missing, created, strict=True):
                if new_id is not None:
                    outcomes[i] = self._linked_to(pairs[i][0], pairs[i][1], new_id)
        return [
            self._link_alone(*pairs[i]) if outcome is None else outcome
            for i, outcome in enumerate(outcomes)
        ]

    def _link_alone(self, draft: OpportunityDraft, deal_id: str) -> str | ConnectorError:
        try:
            return self.link(draft, deal_id)
        except (InvalidInput, NotFound, Conflict) as exc:  # this pair's own; the rest is raised
            return exc

    def _linked_to(self, draft: OpportunityDraft, deal_id: str, company_id: str) -> str:
        self._absent.pop(draft.account_id, None)
        self._by_account.remember(draft.account_id, company_id)
        self._linked.remember(deal_id, company_id)
        return company_id

    def _associate_all(self, pairs: Sequence[tuple[str, str]]) -> bool:
        """Deals to companies in one call; False when HubSpot refused any (each goes alone)."""
        try:
            self._associate_raw(pairs)
        except (NotFound, InvalidInput):
            return False
        return True

    def _create_all(self, pairs: Sequence[tuple[OpportunityDraft, str]]) -> list[str | None]:
        """Companies, each associated to its deal, in one batch create; None for a company
        HubSpot refused (its pair goes alone, which settles a unique-id conflict)."""
        batch = BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(
                    properties=_company_properties(draft),
                    associations=[_to_deal(deal_id)],
                    object_write_trace_id=trace_id(position),
                )
                for position, (draft, deal_id) in enumerate(pairs)
            ]
        )
        try:
            answer = self._call(self._batch.create, batch, idempotent=False)
        except (InvalidInput, Conflict):
            return [None] * len(pairs)
        outcomes = outcomes_by_trace(answer, len(pairs), "company refused")
        return [None if isinstance(o, ConnectorError) else str(o.id) for o in outcomes]

    def _search_for(self, account_id: str, domains: Sequence[str]) -> AccountRef | None:
        """One search: the external id or any of the domains (filter groups are ORed)."""
        groups = [
            FilterGroup(
                filters=[Filter(property_name=COMPANY_ID_PROPERTY, operator="EQ", value=account_id)]
            )
        ]
        wanted = sorted({d.strip().lower() for d in domains if d.strip()})
        if wanted:
            groups.append(
                FilterGroup(filters=[Filter(property_name="domain", operator="IN", values=wanted)])
            )
        page = self._call(
            self._search.do_search,
            PublicObjectSearchRequest(
                filter_groups=groups,
                properties=[COMPANY_ID_PROPERTY, "domain", OWNER_PROPERTY],
                limit=10,
            ),
            search=True,
        )
        results = list(page.results or [])
        by_id = [r for r in results if (r.properties or {}).get(COMPANY_ID_PROPERTY) == account_id]
        # Several companies on one domain: the oldest, HubSpot's own pick when it dedupes.
        chosen = by_id or sorted(results, key=lambda r: int(r.id))
        if not chosen:
            return None
        owner = (chosen[0].properties or {}).get(OWNER_PROPERTY) or None
        return AccountRef(id=str(chosen[0].id), owner_id=owner)

    def _search_many(self, chunk: Sequence[AccountLookup]) -> dict[str, AccountRef | None]:
        """One search (paged) for every company of these accounts. IN compares strings in
        lower case (HubSpot asks for lower-case values), so ids are matched exactly after."""
        ids = sorted({account_id.lower() for account_id, _ in chunk})
        domains = sorted({d.strip().lower() for _, ds in chunk for d in ds if d.strip()})
        groups = [
            FilterGroup(
                filters=[Filter(property_name=COMPANY_ID_PROPERTY, operator="IN", values=ids)]
            )
        ]
        if domains:
            groups.append(
                FilterGroup(filters=[Filter(property_name="domain", operator="IN", values=domains)])
            )
        results: list[Any] = []
        after: str | None = None
        while True:
            page = self._call(
                self._search.do_search,
                PublicObjectSearchRequest(
                    filter_groups=groups,
                    properties=[COMPANY_ID_PROPERTY, "domain", OWNER_PROPERTY],
                    limit=SEARCH_PAGE,
                    after=after,
                ),
                search=True,
            )
            results.extend(page.results or [])
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return {account_id: _pick(results, account_id, ds) for account_id, ds in chunk}

    def _create(self, draft: OpportunityDraft, deal_id: str) -> str:
        body = SimplePublicObjectInputForCreate(
            properties=_company_properties(draft), associations=[_to_deal(deal_id)]
        )
        try:
            created = self._call(self._basic.create, body, idempotent=False)
        except Conflict as exc:
            # plg_account_id is unique: an earlier attempt (or another worker) created it, and
            # search had not indexed it yet.
            match = _EXISTING_ID.search(exc.message)
            if match:
                existing: str | None = match.group(1)
            else:
                found = self._search_for(draft.account_id, draft.domains)
                existing = found.id if found else None
            if existing is None:
                raise
            self._associate(deal_id, existing)
            return existing
        return str(created.id)

    def _associate(self, deal_id: str, company_id: str) -> None:
        self._associate_raw([(deal_id, company_id)])

    def _associate_raw(self, pairs: Sequence[tuple[str, str]]) -> None:
        """(deal, company) pairs in one call of the batch endpoint; raises on any refusal."""
        deals = [deal for deal, _ in pairs]  # the records an error without ids is about
        batch = BatchInputPublicDefaultAssociationMultiPost(
            inputs=[
                PublicDefaultAssociationMultiPost(
                    _from=AssociationObjectId(id=deal), to=AssociationObjectId(id=company)
                )
                for deal, company in pairs
            ]
        )
        # The SDK maps only a 200 answer of this endpoint and returns None for a 207: read the
        # raw answer so per-record errors are not lost.
        raw = self._call(
            self._associations.create_default,
            "deals",
            "companies",
            batch,
            _preload_content=False,
        )
        body = _json(raw.data)
        errors = body.get("errors") or []
        if raw.status == 207 or errors:
            records = tuple(
                RecordError(
                    record=",".join((e.get("context") or {}).get("ids") or deals),
                    message=str(e.get("message")),
                )
                for e in errors
            )
            cls = (
                NotFound
                if all(e.get("category") == "OBJECT_NOT_FOUND" for e in errors)
                else InvalidInput
            )
            raise cls(VENDOR, "association refused", status=raw.status, records=records)


def _company_properties(draft: OpportunityDraft) -> dict[str, str]:
    properties = {
        "name": draft.account_name or draft.account_id,
        COMPANY_ID_PROPERTY: draft.account_id,
        OWNER_PROPERTY: draft.owner_id,  # the account's owner from now on
    }
    if draft.domains:
        properties["domain"] = draft.domains[0].strip().lower()
    return properties


def _to_deal(deal_id: str) -> PublicAssociationsForObject:
    return PublicAssociationsForObject(
        to=PublicObjectId(id=deal_id),
        types=[
            AssociationSpec(
                association_category="HUBSPOT_DEFINED", association_type_id=COMPANY_TO_DEAL
            )
        ],
    )


def _batches(items: Sequence[T]) -> list[Sequence[T]]:
    return [items[start : start + BATCH_SIZE] for start in range(0, len(items), BATCH_SIZE)]


def _chunks(wanted: Sequence[AccountLookup]) -> list[list[AccountLookup]]:
    """Runs of lookups with at most MAX_IN_VALUES ids and as many domains each."""
    chunks: list[list[AccountLookup]] = []
    domains: set[str] = set()
    for lookup in wanted:
        mine = {d.strip().lower() for d in lookup[1] if d.strip()}
        if not chunks or len(chunks[-1]) == MAX_IN_VALUES or len(domains | mine) > MAX_IN_VALUES:
            chunks.append([])
            domains = set()
        chunks[-1].append(lookup)
        domains |= mine
    return chunks


def _pick(results: Sequence[Any], account_id: str, domains: Sequence[str]) -> AccountRef | None:
    """The account's company among a batched search's results: its external id first, else the
    oldest on one of its domains (HubSpot's own pick when it dedupes)."""

    def prop(result: Any, name: str) -> str:
        return str((result.properties or {}).get(name) or "")

    by_id = [r for r in results if prop(r, COMPANY_ID_PROPERTY) == account_id]
    wanted = {d.strip().lower() for d in domains if d.strip()}
    on_domain = sorted(
        (r for r in results if prop(r, "domain").lower() in wanted), key=lambda r: int(r.id)
    )
    chosen = by_id or on_domain
    if not chosen:
        return None
    return AccountRef(id=str(chosen[0].id), owner_id=prop(chosen[0], OWNER_PROPERTY) or None)


def _json(data: bytes | str | None) -> dict[str, Any]:
    if not data:
        return {}
    try:
        parsed = json.loads(data)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
