"""CRM activities of a handoff: owner, opportunity, task, follow-up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from plg_handoff.activities.contracts import (
    NEXT_OWNER_UPDATE,
    OWNER_POOL_WORKFLOW,
    NextOwnerRequest,
    OwnerPoolInput,
    owner_pool_workflow_id,
)
from plg_handoff.config import Config
from plg_handoff.connectors.base import CrmConnector, FollowUp, OpportunityDraft, TaskSpec
from plg_handoff.domain.engine import Evaluation, FiredTrigger
from plg_handoff.domain.usage import AccountTraits
from plg_handoff.logs import get_logger

log = get_logger(__name__)
DEFAULT_POOL = "default"


@dataclass
class AssignOwnerInput:
    handoff_key: str
    account_id: str


@dataclass
class AssignedOwner:
    owner_id: str
    owner_name: str
    owner_email: str


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
class UpsertOpportunityInput:
    facts: HandoffFacts
    owner_id: str


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


class CrmActivities:
    def __init__(self, crm: CrmConnector, client: Client, config: Config) -> None:
        self._crm = crm
        self._client = client
        self._config = config

    @activity.defn(name="assign_owner")
    async def assign_owner(self, request: AssignOwnerInput) -> AssignedOwner:
        pool = set(self._config.crm.owner_pool)
        owners = [
            o
            for o in await asyncio.to_thread(self._crm.list_owners)
            if o.active and (not pool or o.id in pool)
        ]
        if not owners:
            raise ApplicationError(
                "no active CRM owner in the configured pool (crm.owner_pool)", type="NoActiveOwner"
            )
        owner_id = await self._next_in_rotation(request.handoff_key, sorted(o.id for o in owners))
        owner = next(o for o in owners if o.id == owner_id)
        log.info("handoff.owner_assigned", handoff=request.handoff_key, owner_id=owner.id)
        return AssignedOwner(owner.id, owner.name, owner.email)

    async def _next_in_rotation(self, handoff_key: str, candidates: list[str]) -> str:
        """The rotation lives in a Temporal entity workflow: durable, and one order for all
        workers. Asking twice for the same handoff gives the same owner."""
        task_queue = self._config.temporal.task_queue
        handle = await self._client.start_workflow(
            OWNER_POOL_WORKFLOW,
            OwnerPoolInput(DEFAULT_POOL),
            id=owner_pool_workflow_id(task_queue, DEFAULT_POOL),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        owner: str = await handle.execute_update(
            NEXT_OWNER_UPDATE, NextOwnerRequest(handoff_key, candidates), result_type=str
        )
        return owner

    @activity.defn(name="upsert_opportunity")
    async def upsert_opportunity(self, request: UpsertOpportunityInput) -> UpsertOpportunityResult:
        draft = opportunity_draft(request.facts, request.owner_id)
        ref = await asyncio.to_thread(self._crm.upsert_opportunity, draft)
        log.info(
            "handoff.opportunity_upserted",
            external_id=draft.external_id,
            opportunity_id=ref.id,
            created=ref.created,
        )
        return UpsertOpportunityResult(ref.id, ref.created)

    @activity.defn(name="create_owner_task")
    async def create_owner_task(self, request: OwnerTaskInput) -> OwnerTaskResult:
        existing = await asyncio.to_thread(self._crm.find_task, request.opportunity_id)
        if existing is not None:
            return OwnerTaskResult(existing, created=False)
        task = owner_task(request)
        task_id = await asyncio.to_thread(self._crm.create_task, task)
        log.info("handoff.task_created", opportunity_id=request.opportunity_id, task_id=task_id)
        return OwnerTaskResult(task_id, created=True)

    @activity.defn(name="read_follow_up")
    async def read_follow_up(self, request: FollowUpInput) -> FollowUp:
        return await asyncio.to_thread(
            self._crm.read_follow_up, request.opportunity_id, request.task_id
        )


def opportunity_draft(facts: HandoffFacts, owner_id: str) -> OpportunityDraft:
    lead = facts.lead
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
