"""HubSpot deals, companies, owners and tasks for handoffs, through the official SDK.

Retries: urllib3's own retry is off (the SDK's default would retry a 429 by itself, three times,
before our error mapping sees it). A short, bounded tenacity retry covers blips of at most
`SHORT_WAIT_S`; anything longer is raised typed (RateLimited with retry_after, TransientError)
for Temporal's retry policy. Calls that create records are not retried here when the request
may have been processed (transport errors, 5xx): the activity's next attempt looks first.

Pacing: every request waits for a slot under the private app's limit per 10 seconds, and a
search also under the search endpoints' limit per second, so this process never sends one
that HubSpot would refuse for its rate (across workers the CRM task queue's rate applies).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import tenacity
import urllib3
from hubspot import HubSpot
from hubspot.crm.deals import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
)
from hubspot.crm.objects import BatchReadInputSimplePublicObjectId as EngagementBatchRead
from hubspot.crm.objects import SimplePublicObjectId as EngagementId
from hubspot.crm.objects.tasks import (
    AssociationSpec,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects.tasks import (
    BatchInputSimplePublicObjectBatchInputForCreate as TaskBatchCreate,
)
from hubspot.crm.objects.tasks import SimplePublicObjectBatchInputForCreate as TaskForCreate
from hubspot.crm.properties import OptionInput, PropertyCreate
from urllib3.util.retry import Retry

from plg_handoff.config import HubSpotConfig
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
    ConnectorError,
    InvalidInput,
    NotFound,
    RateLimited,
    RecordError,
    TransientError,
)
from plg_handoff.connectors.hubspot.batches import outcomes_by_trace, trace_id
from plg_handoff.connectors.hubspot.companies import Companies
from plg_handoff.connectors.hubspot.errors import (
    VENDOR,
    is_hubspot_api_error,
    map_error,
    record_errors,
)
from plg_handoff.connectors.hubspot.properties import (
    COMPANY_GROUP,
    FUNNEL_PROPERTIES,
    GROUP,
    NUMERIC_FIELDS,
    USAGE_FIELDS,
    PropertySpec,
    company_properties,
    deal_properties,
)
from plg_handoff.connectors.pacing import RequestPacer, paced
from plg_handoff.connectors.registry import register
from plg_handoff.logs import get_logger

log = get_logger(__name__)
T = TypeVar("T")
TASK_TO_DEAL = 216  # HubSpot-defined association type id, task -> deal
SHORT_WAIT_S = 2.0  # longer waits belong to Temporal's retry policy, not to this process
ATTEMPTS = 3
BATCH_SIZE = 100  # HubSpot's limit for batch read/update/upsert inputs
OWNERS_TTL_S = 300.0
LIMIT_WINDOW_S = 10.0
SEARCH_WINDOW_S = 1.0
FRESH_DEALS = 10_000
MAX_TASKS = BATCH_SIZE  # tasks read per deal when looking for an owner's own
CANCELLED_MEETINGS = frozenset({"CANCELED", "CANCELLED", "NO_SHOW"})
ASSOCIATED_KINDS = ("meetings", "calls", "emails", "companies")


def no_retry() -> Retry:
    """urllib3 retries nothing: a 429/5xx reaches the error mapping on the first answer."""
    return Retry(
        total=0,
        connect=0,
        read=0,
        redirect=0,
        status=0,
        other=0,
        raise_on_status=False,
        respect_retry_after_header=False,
    )


def _short_retry(exc: BaseException) -> bool:
    if isinstance(exc, RateLimited):
        return (exc.retry_after or 0) <= SHORT_WAIT_S
    return isinstance(exc, TransientError)


def _unprocessed_retry(exc: BaseException) -> bool:
    """For creates: only a 429 says for sure that HubSpot did not process the request."""
    return isinstance(exc, RateLimited) and (exc.retry_after or 0) <= SHORT_WAIT_S


def _wait(state: tenacity.RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, ConnectorError) and exc.retry_after is not None:
        return exc.retry_after
    return float(min(0.2 * 2 ** (state.attempt_number - 1), SHORT_WAIT_S))


def _chunks(items: Sequence[T], size: int = BATCH_SIZE) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@register("crm", "hubspot")
class HubSpotCrm:
    """One instance per worker: the SDK's API objects are built once and reused."""

    def __init__(
        self,
        config: HubSpotConfig,
        access_token: str,
        *,
        owners_ttl_s: float = OWNERS_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        client = HubSpot(
            access_token=access_token, host=str(config.base_url).rstrip("/"), retry=no_retry()
        )
        self._deals_batch = client.crm.deals.batch_api
        self._deals = client.crm.deals.basic_api
        self._tasks = client.crm.objects.tasks.basic_api
        self._tasks_batch = client.crm.objects.tasks.batch_api
        self._owners = client.crm.owners.owners_api
        self._associations = client.crm.associations.v4.basic_api
        self._properties = client.crm.properties.core_api
        self._company_api = client.crm.companies.basic_api
        self._engagements = {
            "meetings": client.crm.objects.meetings.batch_api,
            "calls": client.crm.objects.calls.batch_api,
            "emails": client.crm.objects.emails.batch_api,
        }
        self._companies = Companies(
            self._call,
            client.crm.companies.search_api,
            client.crm.companies.basic_api,
            client.crm.associations.v4.batch_api,
            client.crm.companies.batch_api,
        )
        self._timeout = config.timeout.total_seconds()
        self._pacer = RequestPacer(config.requests_per_10s, LIMIT_WINDOW_S)
        self._search_pacer = RequestPacer(config.search_requests_per_s, SEARCH_WINDOW_S)
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_short_retry),
            wait=_wait,
            stop=tenacity.stop_after_attempt(ATTEMPTS),
            reraise=True,
        )
        self._retrying_create = self._retrying.copy(
            retry=tenacity.retry_if_exception(_unprocessed_retry)
        )
        self._owners_ttl_s = owners_ttl_s
        self._clock = clock
        self._owners_cache: tuple[float, list[Owner]] | None = None
        self._owners_lock = threading.Lock()
        self._owners_reloading = False
        # Deals this process created and has not yet created a task for: they have no task,
        # so `find_task` needs no call for them.
        self._fresh_deals: OrderedDict[str, None] = OrderedDict()

    def _call(
        self,
        fn: Callable[..., T],
        *args: Any,
        idempotent: bool = True,
        search: bool = False,
        **kwargs: Any,
    ) -> T:
        """`search=True`: a CRM search endpoint, paced under its own limit too."""
        retrying = self._retrying if idempotent else self._retrying_create
        pacers = (self._search_pacer, self._pacer) if search else (self._pacer,)
        result: T = retrying(
            self._mapped, pacers, fn, *args, _request_timeout=self._timeout, **kwargs
        )
        return result

    @staticmethod
    def _mapped(
        pacers: Sequence[RequestPacer], fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        try:
            with paced(*pacers):
                return fn(*args, **kwargs)
        except ConnectorError:
            raise
        except Exception as exc:  # the SDK raises a different class per sub-package
            if is_hubspot_api_error(exc) or _is_transport_error(exc):
                raise map_error(exc) from exc
            raise

    def share_pace(self, processes: int) -> None:
        self._pacer.share(processes)
        self._search_pacer.share(processes)

    def list_owners(self) -> list[Owner]:
        """Cached for `owners_ttl_s`; past it the cached list is still answered while one
        background thread reloads it, so a new handoff never waits for the owners once they
        were loaded (the worker loads them at start). Dropped when HubSpot refuses a deal, e.g.
        for an owner deactivated since: the next call then loads them first."""
        with self._owners_lock:
            cached = self._owners_cache
            stale = cached is not None and self._clock() >= cached[0]
            if stale and not self._owners_reloading:
                self._owners_reloading = True
                threading.Thread(
                    target=self._reload_owners, name="hubspot-owners", daemon=True
                ).start()
        if cached is None:
            return list(self._load_owners())
        return list(cached[1])

    def _load_owners(self) -> list[Owner]:
        owners = self._fetch_owners()
        if self._owners_ttl_s > 0:
            with self._owners_lock:
                self._owners_cache = (self._clock() + self._owners_ttl_s, owners)
        return owners

    def _reload_owners(self) -> None:
        try:
            self._load_owners()
        except ConnectorError as exc:  # the stale list serves until a reload gets through
            log.warning("hubspot.owners_reload_failed", error=str(exc))
        finally:
            with self._owners_lock:
                self._owners_reloading = False

    def _fetch_owners(self) -> list[Owner]:
        owners: list[Owner] = []
        after: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": 100, "archived": False}
            if after:
                kwargs["after"] = after
            page = self._call(self._owners.get_page, **kwargs)
            owners.extend(
                Owner(
                    id=str(o.id),
                    email=o.email or "",
                    name=" ".join(p for p in (o.first_name, o.last_name) if p) or str(o.email),
                    active=not o.archived,
                )
                for o in page.results
            )
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return owners

    def upsert_opportunity(self, draft: OpportunityDraft) -> OpportunityRef:
        """A deal the handoff already has is updated by id in one call, with its owner,
        account id and usage fields only: the stage, pipeline, close date, name and amount
        stay as sales set them. Gone from HubSpot (deleted, merged away): upserted anew."""
        [outcome] = self.upsert_opportunities([draft])
        if isinstance(outcome, ConnectorError):
            raise outcome
        return outcome

    def upsert_opportunities(
        self, drafts: Sequence[OpportunityDraft]
    ) -> list[OpportunityRef | ConnectorError]:
        """Deals by external id, a hundred a batch upsert, then their companies linked in a
        few batch calls (`Companies.link_many`); a draft with `existing_id` is updated by id
        alone. One outcome per draft, in order: a record HubSpot refused is that draft's
        error and the others are written. A call refused as a whole raises, except a batch's
        invalid input, whose drafts are then sent one by one to find the refused one."""
        outcomes: list[OpportunityRef | ConnectorError | None] = [None] * len(drafts)
        new: list[int] = []
        for i, draft in enumerate(drafts):
            if draft.existing_id is None:
                new.append(i)
                continue
            try:
                outcomes[i] = self._update_existing(draft, draft.existing_id)
            except NotFound:
                new.append(i)  # recreated by external id below
            except InvalidInput as exc:
                outcomes[i] = exc
        upserted: list[tuple[int, OpportunityRef]] = []
        for chunk in _chunks(new):
            for i, outcome in zip(
                chunk, self._upsert_deals([drafts[i] for i in chunk]), strict=True
            ):
                if isinstance(outcome, ConnectorError):
                    outcomes[i] = outcome
                else:
                    upserted.append((i, outcome))
        links = self._companies.link_many([(drafts[i], ref.id) for i, ref in upserted])
        for (i, ref), link in zip(upserted, links, strict=True):
            outcomes[i] = link if isinstance(link, ConnectorError) else ref
        written = [o for o in outcomes if o is not None]
        if len(written) != len(drafts):  # every path above gives each draft its outcome
            raise RuntimeError(f"{len(drafts) - len(written)} drafts got no outcome")
        return written

    def _upsert_deals(
        self, drafts: Sequence[OpportunityDraft]
    ) -> list[OpportunityRef | ConnectorError]:
        batch = BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id_property=self._config.external_id_property,
                    id=draft.external_id,
                    properties=self._deal_properties(draft),
                    object_write_trace_id=trace_id(position),
                )
                for position, draft in enumerate(drafts)
            ]
        )
        try:
            answer = self._call(self._deals_batch.upsert, batch)
        except InvalidInput as exc:
            self._owners_cache = None  # an owner HubSpot refused: read the owners again
            if len(drafts) == 1:
                return [exc]
            return [o for draft in drafts for o in self._upsert_deals([draft])]
        refs: list[OpportunityRef | ConnectorError] = []
        for outcome in outcomes_by_trace(answer, len(drafts), "deal refused"):
            if isinstance(outcome, ConnectorError):
                self._owners_cache = None
                refs.append(outcome)
                continue
            ref = OpportunityRef(id=str(outcome.id), created=bool(outcome.new))
            if ref.created:
                self._fresh_deals[ref.id] = None
                while len(self._fresh_deals) > FRESH_DEALS:
                    self._fresh_deals.popitem(last=False)
            refs.append(ref)
        return refs

    def _update_existing(self, draft: OpportunityDraft, deal_id: str) -> OpportunityRef:
        properties = {
            "hubspot_owner_id": draft.owner_id,
            "plg_account_id": draft.account_id,
            **_usage_properties(draft),
        }
        try:
            updated = self._call(
                self._deals.update, deal_id, SimplePublicObjectInput(properties=properties)
            )
        except InvalidInput:
            self._owners_cache = None
            raise
        return OpportunityRef(id=str(updated.id), created=False)

    def _deal_properties(self, draft: OpportunityDraft) -> dict[str, str]:
        config = self._config
        close = datetime.now(UTC).date() + timedelta(days=config.close_in_days)
        properties = {
            "dealname": draft.name,
            "pipeline": config.pipeline,
            "dealstage": config.stage_by_trigger.get(draft.trigger, config.deal_stage),
            "closedate": f"{close.isoformat()}T00:00:00Z",  # datetime; a date is midnight UTC
            "hubspot_owner_id": draft.owner_id,
            "plg_account_id": draft.account_id,
            **_usage_properties(draft),
        }
        if draft.amount is not None:
            properties["amount"] = f"{draft.amount:.2f}"
        return properties

    def find_task(self, opportunity_id: str, owner_id: str) -> str | None:
        """The deal's first task for this owner: one call for the deal's tasks, and one more to
        read their owners when it has any (a reassigned deal has the earlier owner's)."""
        if opportunity_id in self._fresh_deals:
            return None
        page = self._call(
            self._associations.get_page, "deals", opportunity_id, "tasks", limit=MAX_TASKS
        )
        task_ids = [str(result.to_object_id) for result in page.results or []]
        if not task_ids:
            return None
        tasks = self._call(
            self._tasks_batch.read,
            EngagementBatchRead(
                properties=["hubspot_owner_id"],
                inputs=[EngagementId(id=task_id) for task_id in task_ids],
            ),
            archived=False,
        )
        owned = sorted(
            (task.created_at, str(task.id))
            for task in tasks.results or []
            if (task.properties or {}).get("hubspot_owner_id") == owner_id
        )
        return owned[0][1] if owned else None

    def create_task(self, task: TaskSpec) -> str:
        # Forgotten before the call: if it times out after HubSpot created the task, the next
        # attempt must look.
        self._fresh_deals.pop(task.opportunity_id, None)
        body = SimplePublicObjectInputForCreate(
            properties=_task_properties(task), associations=[_task_to_deal(task)]
        )
        created = self._call(self._tasks.create, body, idempotent=False)
        return str(created.id)

    def create_tasks(self, tasks: Sequence[TaskSpec]) -> list[str | ConnectorError]:
        """Tasks, each associated to its deal, a hundred a batch create (a lone one through
        the single create). One outcome per task, in order, as `upsert_opportunities`."""
        if len(tasks) == 1:
            try:
                return [self.create_task(tasks[0])]
            except InvalidInput as exc:
                return [exc]
        created: list[str | ConnectorError] = []
        for chunk in _chunks(tasks):
            for task in chunk:  # forgotten before the call, as by `create_task`
                self._fresh_deals.pop(task.opportunity_id, None)
            batch = TaskBatchCreate(
                inputs=[
                    TaskForCreate(
                        properties=_task_properties(task),
                        associations=[_task_to_deal(task)],
                        object_write_trace_id=trace_id(position),
                    )
                    for position, task in enumerate(chunk)
                ]
            )
            try:
                answer = self._call(self._tasks_batch.create, batch, idempotent=False)
            except InvalidInput:
                created += [o for task in chunk for o in self.create_tasks([task])]
                continue
            for outcome in outcomes_by_trace(answer, len(chunk), "task refused"):
                created.append(outcome if isinstance(outcome, ConnectorError) else str(outcome.id))
        return created

    def find_account(self, account_id: str, domains: Sequence[str]) -> AccountRef | None:
        return self._companies.find(account_id, domains)

    def find_accounts(self, wanted: Sequence[tuple[str, Sequence[str]]]) -> list[AccountRef | None]:
        """Many accounts' companies in one search per hundred (see `SupportsAccountLookups`)."""
        return self._companies.find_many(wanted)

    def read_follow_up(self, opportunity_id: str, task_id: str | None) -> FollowUp:
        """The deal (stage, close date, associated engagements), the owner's task, the
        company's meetings, then the engagements themselves (one batch read per kind): calls,
        emails and the completed task are contact; a meeting not cancelled is a meeting."""
        deal = self._call(
            self._deals.get_by_id,
            opportunity_id,
            properties=["dealstage", "closedate", "createdate"],
            associations=["meetings", "calls", "emails", "companies"],
        )
        properties = deal.properties or {}
        stage = properties.get("dealstage")
        outcome = self._outcome(stage)
        since = epoch_ms(properties.get("createdate")) or 0
        linked = _associated_ids(deal)
        contact_times: list[int] = []
        details: dict[str, str] = {}
        if task_id:
            task = self._call(
                self._tasks.get_by_id,
                task_id,
                properties=["hs_task_status", "hs_task_completion_date", "hs_lastmodifieddate"],
            )
            task_properties = task.properties or {}
            if task_properties.get("hs_task_status") == "COMPLETED":
                details["completed_task"] = task_id
                done = task_properties.get("hs_task_completion_date") or task_properties.get(
                    "hs_lastmodifieddate"
                )
                contact_times.append(epoch_ms(done) or since)
        meeting_ids = set(linked.get("meetings", ()))
        # The company's meetings only when the deal has none: one call less once it has.
        for company_id in [] if meeting_ids else linked.get("companies", ())[:1]:
            company = self._call(self._company_api.get_by_id, company_id, associations=["meetings"])
            meeting_ids.update(_associated_ids(company).get("meetings", ()))
        for kind in ("calls", "emails"):
            for engagement in self._read_engagements(kind, linked.get(kind, ()), ["hs_timestamp"]):
                at = epoch_ms((engagement.properties or {}).get("hs_timestamp"))
                if at is not None and at >= since:
                    details.setdefault(f"first_{kind[:-1]}", str(engagement.id))
                    contact_times.append(at)
        meetings: list[tuple[int, int, str]] = []  # (start, booked, id)
        for meeting in self._read_engagements(
            "meetings",
            sorted(meeting_ids),
            ["hs_meeting_start_time", "hs_timestamp", "hs_meeting_outcome", "hs_createdate"],
        ):
            values = meeting.properties or {}
            if values.get("hs_meeting_outcome") in CANCELLED_MEETINGS:
                continue
            start = epoch_ms(values.get("hs_meeting_start_time") or values.get("hs_timestamp"))
            if start is not None and start >= since:
                booked = epoch_ms(values.get("hs_createdate")) or start
                meetings.append((start, booked, str(meeting.id)))
        meeting_at: int | None = None
        if meetings:
            start, booked, meeting_id = min(meetings)
            meeting_at = start
            details["meeting"] = meeting_id
            contact_times.append(min(booked, start))
        closed_at = epoch_ms(properties.get("closedate")) if outcome is not None else None
        return FollowUp(
            contacted=bool(contact_times) or outcome is not None,
            stage=stage,
            outcome=outcome,
            details=details,
            meeting=bool(meetings),
            contacted_at_ms=min(contact_times) if contact_times else None,
            meeting_at_ms=meeting_at,
            closed_at_ms=closed_at,
        )

    def _read_engagements(self, kind: str, ids: Sequence[str], properties: list[str]) -> list[Any]:
        found: list[Any] = []
        api = self._engagements[kind]
        for chunk in _chunks(list(ids)):
            answer = self._call(
                api.read,
                EngagementBatchRead(
                    properties=properties,
                    inputs=[EngagementId(id=engagement_id) for engagement_id in chunk],
                ),
                archived=False,
            )
            found.extend(answer.results or [])
        return found

    def write_funnel(self, opportunity_id: str, funnel: FunnelFields) -> None:
        properties: dict[str, str] = {}
        for key, (name, _) in FUNNEL_PROPERTIES.items():
            value = getattr(funnel, key)
            if isinstance(value, bool):
                properties[name] = "true" if value else "false"
            elif value is not None:
                properties[name] = f"{float(value):.1f}"
        if properties:
            self._call(
                self._deals.update, opportunity_id, SimplePublicObjectInput(properties=properties)
            )

    def _outcome(self, stage: str | None) -> str | None:
        if stage in self._config.won_stages:
            return "won"
        if stage in self._config.lost_stages:
            return "lost"
        return None

    def refresh_opportunities(self, drafts: list[OpportunityDraft]) -> RefreshResult:
        """Reads the open deals by external id (100 a call) and batch-updates (100 a call) only
        the usage fields that differ. Deleted deals are reported missing, closed ones left
        alone. Refused records raise InvalidInput after every other record was written."""
        latest = {draft.external_id: draft for draft in drafts}
        id_property = self._config.external_id_property
        missing: list[str] = []
        closed: list[str] = []
        changes: list[tuple[str, str, dict[str, str]]] = []  # (deal id, external id, props)
        for chunk in _chunks(list(latest)):
            answer = self._call(
                self._deals_batch.read,
                BatchReadInputSimplePublicObjectId(
                    id_property=id_property,
                    properties=[id_property, "dealstage", *USAGE_FIELDS],
                    inputs=[SimplePublicObjectId(id=external_id) for external_id in chunk],
                ),
                archived=False,
            )
            current = {
                (deal.properties or {}).get(id_property): deal for deal in answer.results or []
            }
            for external_id in chunk:
                deal = current.get(external_id)
                if deal is None:
                    missing.append(external_id)
                    continue
                properties = deal.properties or {}
                if self._outcome(properties.get("dealstage")) is not None:
                    closed.append(external_id)
                    continue
                changed = _changed(properties, _usage_properties(latest[external_id]))
                if changed:
                    changes.append((str(deal.id), external_id, changed))
        updated: list[str] = []
        refused: list[RecordError] = []
        for batch in _chunks(changes):
            by_deal = {deal_id: external_id for deal_id, external_id, _ in batch}
            answer = self._call(
                self._deals_batch.update,
                BatchInputSimplePublicObjectBatchInput(
                    inputs=[
                        SimplePublicObjectBatchInput(id=deal_id, properties=properties)
                        for deal_id, _, properties in batch
                    ]
                ),
            )
            updated.extend(by_deal.get(str(deal.id), str(deal.id)) for deal in answer.results or [])
            refused.extend(
                RecordError(
                    record=",".join(by_deal.get(i, i) for i in error.record.split(",")),
                    message=error.message,
                )
                for error in record_errors(getattr(answer, "errors", None) or [])
            )
        if refused:
            raise InvalidInput(
                VENDOR,
                f"{len(refused)} of {len(changes)} changed deals refused "
                f"({len(updated)} updated); they are tried again on the next refresh",
                status=207,
                records=tuple(refused),
            )
        return RefreshResult(
            read=len(latest) - len(missing),
            updated=tuple(updated),
            unchanged=len(latest) - len(missing) - len(closed) - len(changes),
            missing=tuple(missing),
            closed=tuple(closed),
        )

    def missing_properties(self) -> list[str]:
        return [_qualified(object_type, spec) for object_type, spec in self._missing_specs()]

    def _missing_specs(self) -> list[tuple[str, PropertySpec]]:
        wanted = {
            "deals": deal_properties(self._config.external_id_property),
            "companies": company_properties(),
        }
        missing: list[tuple[str, PropertySpec]] = []
        for object_type, specs in wanted.items():
            existing = {p.name for p in self._call(self._properties.get_all, object_type).results}
            missing.extend((object_type, spec) for spec in specs if spec.name not in existing)
        return missing

    def setup_help(self) -> list[tuple[str, str]]:
        return [
            (
                _qualified(object_type, spec),
                f"{object_type} property {spec.name!r} (label {spec.label!r}, type {spec.type},"
                f" fieldType {spec.field_type}{', unique' if spec.unique else ''}, group"
                f" {GROUP if object_type == 'deals' else COMPANY_GROUP}):"
                " `handoff crm setup` creates it",
            )
            for object_type, spec in self._missing_specs()
        ]

    def ensure_properties(self) -> list[str]:
        missing = self._missing_specs()
        for object_type, spec in missing:
            self._call(
                self._properties.create,
                object_type,
                PropertyCreate(
                    name=spec.name,
                    label=spec.label,
                    type=spec.type,
                    field_type=spec.field_type,
                    group_name=GROUP if object_type == "deals" else COMPANY_GROUP,
                    has_unique_value=spec.unique,
                    options=[
                        OptionInput(label=label, value=value, display_order=i, hidden=False)
                        for i, (label, value) in enumerate(spec.options)
                    ],
                ),
            )
        return [_qualified(object_type, spec) for object_type, spec in missing]


def _qualified(object_type: str, spec: PropertySpec) -> str:
    """Deal properties by name (as before); others prefixed with their object type."""
    return spec.name if object_type == "deals" else f"{object_type}.{spec.name}"


def _usage_properties(draft: OpportunityDraft) -> dict[str, str]:
    """Written on create, on update and by the refresh: HubSpot's values stay current."""
    return {
        "plg_trigger": draft.trigger,
        "plg_triggers": ";".join(draft.triggers),
        "plg_evidence": "\n".join(draft.evidence),
        "plg_score": f"{draft.score:g}",
        "plg_tier": str(draft.tier),
        "plg_plan": draft.plan or "",
        "plg_segment": draft.segment or "",
        "plg_approach": draft.approach or "",
    }


def _changed(current: dict[str, str | None], wanted: dict[str, str]) -> dict[str, str]:
    """The wanted values that differ from HubSpot's (numbers compared as numbers)."""
    return {
        name: value
        for name, value in wanted.items()
        if not _same(name, current.get(name) or "", value)
    }


def _same(name: str, current: str, wanted: str) -> bool:
    if name in NUMERIC_FIELDS and current and wanted:
        try:
            return float(current) == float(wanted)
        except ValueError:
            return False
    return current == wanted


def _task_properties(task: TaskSpec) -> dict[str, str]:
    return {
        "hs_task_subject": task.subject,
        "hs_task_body": task.body,
        "hs_task_status": "NOT_STARTED",
        "hs_task_priority": "HIGH",
        "hs_task_type": "TODO",
        "hs_timestamp": str(task.due_at_ms),
        "hubspot_owner_id": task.owner_id,
    }


def _task_to_deal(task: TaskSpec) -> PublicAssociationsForObject:
    return PublicAssociationsForObject(
        to=PublicObjectId(id=task.opportunity_id),
        types=[
            AssociationSpec(
                association_category="HUBSPOT_DEFINED", association_type_id=TASK_TO_DEAL
            )
        ],
    )


def _associated_ids(record: Any) -> dict[str, list[str]]:
    """Ids by object type from a record read with `associations=[...]` (the v3 answer keys
    them by plural type name, sometimes with a portal-specific suffix)."""
    found: dict[str, list[str]] = {}
    for name, page in (getattr(record, "associations", None) or {}).items():
        kind = next((k for k in ASSOCIATED_KINDS if str(name).startswith(k)), str(name))
        found.setdefault(kind, []).extend(str(a.id) for a in (page.results or []))
    return found


def epoch_ms(value: Any) -> int | None:
    """HubSpot's datetime (ISO 8601 with Z, or epoch milliseconds) in epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value)
        if text.isdigit():
            return int(text)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _is_transport_error(exc: BaseException) -> bool:
    return isinstance(exc, urllib3.exceptions.HTTPError)
