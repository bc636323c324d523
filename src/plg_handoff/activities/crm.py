"""CRM activities of a handoff: owner, opportunity, task, follow-up."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from plg_handoff import search_attributes as sa
from plg_handoff.activities.coalesce import Coalescer
from plg_handoff.activities.contracts import HANDOFF_WORKFLOW, deployment_queues
from plg_handoff.activities.rotation import OpenHandoffs, PoolAsk, RotationBatcher
from plg_handoff.config import Config
from plg_handoff.connectors.base import (
    AccountRef,
    CrmConnector,
    FollowUp,
    FunnelFields,
    OpportunityDraft,
    OpportunityRef,
    Owner,
    SupportsAccountLookups,
    SupportsBatchWrites,
    TaskSpec,
)
from plg_handoff.connectors.errors import ConnectorError, TransientError
from plg_handoff.domain import routing
from plg_handoff.domain.engine import Evaluation, FiredTrigger
from plg_handoff.domain.usage import AccountTraits
from plg_handoff.logs import get_logger

log = get_logger(__name__)
VISIBILITY_PAGE = 1_000
VISIBILITY_LAG_S = 300.0  # as the owner pool counts its own recent assignments
ACCOUNT_LOOKUPS_PER_CALL = 100
WRITES_PER_CALL = 100  # opportunities or tasks a batch write takes (the connector splits more)
# Failures after which the CRM may still be doing the write: no answer at all (our timeout, a
# dropped connection), or a gateway that stopped waiting for the CRM (504).
UNANSWERED: frozenset[int | None] = frozenset({None, 504})
AccountLookup = tuple[str, tuple[str, ...]]


@dataclass
class HandoffFacts:
    """What a handoff is about; activities turn it into vendor records."""

    handoff_key: str
    account_id: str
    traits: AccountTraits
    evaluation: Evaluation

    @property
    def account_name(self) -> str:
        return self.traits.name or self.account_id

    @property
    def lead(self) -> FiredTrigger:
        lead = self.evaluation.lead
        if lead is None:
            raise ValueError("a handoff needs at least one fired trigger")
        return lead


@dataclass
class FindOwnerInput:
    owner_id: str


@dataclass
class AssignOwnerInput:
    handoff_key: str
    account_id: str
    facts: HandoffFacts | None = None
    """Traits and evaluation: what routing rules match on (None: the default pool)."""
    exclude: list[str] = field(default_factory=list)
    """Owners who must not get it (e.g. the one who let the SLA lapse)."""
    round: int = 0
    """0: the first assignment; a reassignment asks with 1, 2, ...: one stable answer per
    (handoff_key, round)."""


@dataclass
class AssignedOwner:
    owner_id: str
    owner_name: str
    owner_email: str
    reason: str = "round_robin"
    """existing_owner, or round_robin in `pool`."""
    pool: str | None = None
    account_ref: str | None = None
    """The CRM's id of the account/company found while assigning, if any."""


@dataclass
class UpsertOpportunityInput:
    facts: HandoffFacts
    owner_id: str
    account_ref: str | None = None
    opportunity_id: str | None = None
    """The opportunity the handoff already has: updated, keeping what sales changed."""


@dataclass
class UpsertOpportunityResult:
    opportunity_id: str
    created: bool


@dataclass
class OwnerTaskInput:
    facts: HandoffFacts
    opportunity_id: str
    owner: AssignedOwner
    due_at: datetime


@dataclass
class OwnerTaskResult:
    task_id: str
    created: bool


@dataclass
class FollowUpInput:
    opportunity_id: str
    task_id: str | None


@dataclass
class RecordFunnelInput:
    opportunity_id: str
    funnel: FunnelFields


class CrmActivities:
    def __init__(self, crm: CrmConnector, client: Client, config: Config) -> None:
        self._crm = crm
        self._client = client
        self._config = config
        self._rotation = RotationBatcher(client, config.temporal.task_queue, self._open_handoffs)
        self._find_many = crm.find_accounts if isinstance(crm, SupportsAccountLookups) else None
        self._lookups: Coalescer[str, AccountLookup, AccountRef | None] = Coalescer(
            self._find_accounts, ACCOUNT_LOOKUPS_PER_CALL
        )
        self._batch_writes = crm if isinstance(crm, SupportsBatchWrites) else None
        self._opportunity_writes: Coalescer[str, OpportunityDraft, OpportunityRef] = Coalescer(
            self._upsert_many, WRITES_PER_CALL
        )
        self._task_writes: Coalescer[str, TaskSpec, str] = Coalescer(
            self._create_many, WRITES_PER_CALL
        )

    @activity.defn(name="assign_owner")
    async def assign_owner(self, request: AssignOwnerInput) -> AssignedOwner:
        """The account's active owner first; else the pool of the first routing rule that
        matches, round-robin among its active owners under their cap of open handoffs. The
        account lookup is the one the opportunity upsert then reuses (no extra CRM call)."""
        crm_config = self._config.crm
        exclude = set(request.exclude)
        domains = tuple(request.facts.traits.domains) if request.facts else ()
        account = await self._find_account(request.account_id, domains)
        owners = {o.id: o for o in await asyncio.to_thread(self._crm.list_owners) if o.active}
        account_ref = account.id if account else None
        if account is not None and crm_config.existing_owner_first:
            kept = routing.existing_owner(
                account.owner_id,
                active=owners,
                exclude=exclude,
                owner_active=account.owner_active,
            )
            if kept is not None:
                return self._assigned(request, owners[kept], "existing_owner", None, account_ref)
        rule, candidates = self._pool_for(request, owners, exclude)
        # The rotation lives in a Temporal entity workflow per pool: durable, one order for
        # all workers; concurrent asks of this worker share its updates.
        owner_id = await self._rotation.next_owner(
            PoolAsk(rule.pool, tuple(candidates), rule.max_open_per_owner),
            rotation_key(request.handoff_key, request.round),
        )
        return self._assigned(request, owners[owner_id], "round_robin", rule.pool, account_ref)

    async def _find_account(self, account_id: str, domains: tuple[str, ...]) -> AccountRef | None:
        """The account in the CRM; concurrent lookups of this worker share one call where the
        CRM finds many accounts at once (a burst of handoffs costs a few searches)."""
        if self._find_many is None:
            return await asyncio.to_thread(self._crm.find_account, account_id, domains)
        return await self._lookups.ask("accounts", (account_id, domains))

    async def _find_accounts(
        self, _group: str, wanted: list[AccountLookup]
    ) -> list[AccountRef | None]:
        find_many = self._find_many
        if find_many is None:  # not asked: `_find_account` calls the CRM one account at a time
            raise RuntimeError("the CRM connector has no batched account lookup")
        return await asyncio.to_thread(find_many, wanted)

    def _assigned(
        self,
        request: AssignOwnerInput,
        owner: Owner,
        reason: str,
        pool: str | None,
        account_ref: str | None,
    ) -> AssignedOwner:
        log.info(
            "handoff.owner_assigned",
            handoff=request.handoff_key,
            owner_id=owner.id,
            reason=reason,
            pool=pool,
            round=request.round,
        )
        return AssignedOwner(owner.id, owner.name, owner.email, reason, pool, account_ref)

    def _pool_for(
        self, request: AssignOwnerInput, owners: Mapping[str, Owner], exclude: set[str]
    ) -> tuple[routing.RoutingRule, list[str]]:
        """The matching rule's pool; the default pool when it has no one left to take it."""
        crm_config = self._config.crm
        default = routing.RoutingRule(
            routing.DEFAULT_POOL,
            tuple(crm_config.owner_pool),
            max_open_per_owner=crm_config.max_open_per_owner,
        )
        rules = [
            routing.RoutingRule(
                route.name,
                tuple(route.owners),
                tuple(route.regions),
                tuple(route.segments),
                tuple(route.industries),
                route.max_open_per_owner or crm_config.max_open_per_owner,
            )
            for route in crm_config.routing
        ]
        rule = routing.route(rules, routing_facts(request.facts), default)
        candidates = routing.candidates(rule, owners, exclude)
        if not candidates and rule is not default:
            log.warning("handoff.routing_pool_empty", handoff=request.handoff_key, pool=rule.pool)
            rule = default
            candidates = routing.candidates(rule, owners, exclude)
        if not candidates:
            # Retried while nobody is active (someone may fix the pool); final when only the
            # exclusions (a reassignment) leave nobody: retrying cannot change that.
            raise ApplicationError(
                f"no active CRM owner left in pool {rule.pool!r} (crm.owner_pool, crm.routing)"
                + (f" after excluding {sorted(exclude)}" if exclude else ""),
                type="NoActiveOwner",
                non_retryable=bool(exclude),
            )
        return rule, candidates

    async def _open_handoffs(self, candidates: list[str]) -> OpenHandoffs:
        """Running handoff workflows per owner of this deployment (its task queue), from
        Temporal visibility, and which of them are recent enough that the pool may count them
        among its own assignments too."""
        owners = ", ".join(json.dumps(c) for c in candidates)
        query = (
            f'WorkflowType="{HANDOFF_WORKFLOW}" AND ExecutionStatus="Running"'
            f" AND {deployment_queues(self._config.temporal.task_queue)}"
            f" AND {sa.OWNER_ID.name} IN ({owners})"
        )
        recent_after = time.time() - VISIBILITY_LAG_S
        counts: dict[str, int] = {}
        recent: list[str] = []
        async for execution in self._client.list_workflows(query, page_size=VISIBILITY_PAGE):
            attributes = execution.typed_search_attributes
            owner = attributes.get(sa.OWNER_ID)
            if owner is None:
                continue
            counts[owner] = counts.get(owner, 0) + 1
            assigned_at = attributes.get(sa.ASSIGNED_AT)
            started = execution.start_time.timestamp()
            if started >= recent_after or (assigned_at or 0) >= recent_after:
                recent.append(execution.id)
        return OpenHandoffs(counts, tuple(recent))

    @activity.defn(name="find_owner")
    async def find_owner(self, request: FindOwnerInput) -> AssignedOwner:
        """An owner an operator named: an active CRM user, or a non-retryable UnknownOwner."""
        owners = {o.id: o for o in await asyncio.to_thread(self._crm.list_owners)}
        owner = owners.get(request.owner_id.strip())
        if owner is None or not owner.active:
            state = "inactive" if owner is not None else "unknown"
            raise ApplicationError(
                f"owner {request.owner_id!r} is {state} in the CRM",
                type="UnknownOwner",
                non_retryable=True,
            )
        return AssignedOwner(owner.id, owner.name, owner.email, reason="operator")

    @activity.defn(name="upsert_opportunity")
    async def upsert_opportunity(self, request: UpsertOpportunityInput) -> UpsertOpportunityResult:
        draft = opportunity_draft(
            request.facts, request.owner_id, request.account_ref, request.opportunity_id
        )
        ref = await self._upsert(draft)
        if request.opportunity_id is not None and ref.id != request.opportunity_id:
            log.warning(
                "handoff.opportunity_recreated",
                external_id=draft.external_id,
                gone_id=request.opportunity_id,
                opportunity_id=ref.id,
            )
        log.info(
            "handoff.opportunity_upserted",
            external_id=draft.external_id,
            opportunity_id=ref.id,
            created=ref.created,
        )
        return UpsertOpportunityResult(ref.id, ref.created)

    @activity.defn(name="create_owner_task")
    async def create_owner_task(self, request: OwnerTaskInput) -> OwnerTaskResult:
        existing = await self._find_task(request)
        if existing is not None:
            return OwnerTaskResult(existing, created=False)
        try:
            task_id = await self._create_task(owner_task(request))
        except TransientError as exc:
            task_id = await self._created_after_all(request, exc)
        log.info("handoff.task_created", opportunity_id=request.opportunity_id, task_id=task_id)
        return OwnerTaskResult(task_id, created=True)

    async def _find_task(self, request: OwnerTaskInput) -> str | None:
        return await asyncio.to_thread(
            self._crm.find_task, request.opportunity_id, request.owner.owner_id
        )

    async def _created_after_all(self, request: OwnerTaskInput, failure: TransientError) -> str:
        """The task of a create whose outcome is unknown, or `failure` again. A task has no
        key the CRM would refuse a second one by, so a retry that looked while the first
        create was still on its way would make a second task. An answered request (any
        status) is over: one look tells. An unanswered one (our timeout, a dropped
        connection, a gateway's 504) may still be running: the look is repeated after the
        time a request is given, before Temporal's retry looks and creates again."""
        found = await self._find_task(request)
        if found is None and failure.status in UNANSWERED:
            log.warning(
                "handoff.task_create_unclear",
                opportunity_id=request.opportunity_id,
                error=type(failure).__name__,
                status=failure.status,
            )
            await asyncio.sleep(self._config.crm.timeout.total_seconds())
            found = await self._find_task(request)
        if found is None:
            raise failure
        return found

    async def _upsert(self, draft: OpportunityDraft) -> OpportunityRef:
        """Concurrent upserts of this worker share batch calls where the CRM batches (a burst
        of handoffs costs a few calls instead of one or two each); a lone one is sent at once."""
        if self._batch_writes is None:
            return await asyncio.to_thread(self._crm.upsert_opportunity, draft)
        return await self._opportunity_writes.ask("opportunities", draft)

    async def _upsert_many(
        self, _group: str, drafts: list[OpportunityDraft]
    ) -> list[OpportunityRef | ConnectorError]:
        if self._batch_writes is None:  # not asked: `_upsert` writes one at a time
            raise RuntimeError("the CRM connector has no batch writes")
        return await asyncio.to_thread(self._batch_writes.upsert_opportunities, drafts)

    async def _create_task(self, task: TaskSpec) -> str:
        """As `_upsert`, for the owners' tasks."""
        if self._batch_writes is None:
            return await asyncio.to_thread(self._crm.create_task, task)
        return await self._task_writes.ask("tasks", task)

    async def _create_many(self, _group: str, tasks: list[TaskSpec]) -> list[str | ConnectorError]:
        if self._batch_writes is None:  # not asked: `_create_task` writes one at a time
            raise RuntimeError("the CRM connector has no batch writes")
        return await asyncio.to_thread(self._batch_writes.create_tasks, tasks)

    @activity.defn(name="read_follow_up")
    async def read_follow_up(self, request: FollowUpInput) -> FollowUp:
        return await asyncio.to_thread(
            self._crm.read_follow_up, request.opportunity_id, request.task_id
        )

    @activity.defn(name="record_funnel")
    async def record_funnel(self, request: RecordFunnelInput) -> None:
        await asyncio.to_thread(self._crm.write_funnel, request.opportunity_id, request.funnel)
        log.info("handoff.funnel_recorded", opportunity_id=request.opportunity_id)


def rotation_key(handoff_key: str, round_: int) -> str:
    """The first assignment keeps the bare key (as before reassignments existed)."""
    return handoff_key if round_ == 0 else f"{handoff_key}#{round_}"


def routing_facts(facts: HandoffFacts | None) -> routing.RoutingFacts:
    if facts is None:
        return routing.RoutingFacts()
    return routing.RoutingFacts(
        region=facts.traits.region,
        segment=facts.evaluation.segment or None,
        industry=facts.traits.industry,
    )


def opportunity_draft(
    facts: HandoffFacts,
    owner_id: str,
    account_ref: str | None = None,
    existing_id: str | None = None,
) -> OpportunityDraft:
    lead = facts.lead
    playbook = facts.evaluation.playbook
    return OpportunityDraft(
        external_id=facts.handoff_key,
        name=f"{facts.account_name}: {lead.trigger.replace('_', ' ')} (PQL)",
        account_id=facts.account_id,
        owner_id=owner_id,
        trigger=lead.trigger,
        triggers=tuple(f.trigger for f in facts.evaluation.fired),
        evidence=tuple(line for f in facts.evaluation.fired for line in f.evidence),
        score=lead.score,
        tier=facts.evaluation.tier or lead.tier,
        plan=facts.traits.plan,
        amount=facts.traits.arr_potential,
        account_name=facts.account_name,
        domains=tuple(facts.traits.domains),
        account_ref=account_ref,
        segment=facts.evaluation.segment or None,
        approach=playbook.approach if playbook is not None else None,
        existing_id=existing_id,
    )


def owner_task(request: OwnerTaskInput) -> TaskSpec:
    facts = request.facts
    lead = facts.lead
    evidence = "\n".join(f"- {line}" for f in facts.evaluation.fired for line in f.evidence)
    tier = facts.evaluation.tier or lead.tier
    playbook = facts.evaluation.playbook
    suggestion = (
        f"\n\nSuggested approach: {playbook.approach}\n\nDraft:\nSubject: {playbook.subject}\n\n"
        f"{playbook.body}"
        if playbook is not None and playbook.body
        else ""
    )
    return TaskSpec(
        opportunity_id=request.opportunity_id,
        owner_id=request.owner.owner_id,
        subject=f"Reach out to {facts.account_name} about {lead.trigger.replace('_', ' ')}",
        body=(
            f"{facts.account_name} ({facts.traits.plan or 'unknown plan'}) "
            f"fired {lead.trigger} on {lead.fired_on}; score {lead.score:g}, tier {tier}.\n"
            f"What the usage shows:\n{evidence}{suggestion}"
        ),
        due_at_ms=int(request.due_at.timestamp() * 1000),
    )
