"""One handoff episode: opportunity, owner, task, then follow-up until an outcome or expiry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from plg_handoff import search_attributes as sa
    from plg_handoff.activities.contracts import (
        EVIDENCE_SIGNAL,
        HANDOFF_CLOSED_SIGNAL,
        EvidenceUpdate,
        HandoffClosed,
        account_workflow_id,
        handoff_workflow_id,
    )
    from plg_handoff.activities.crm import (
        AssignedOwner,
        AssignOwnerInput,
        CrmActivities,
        FollowUpInput,
        HandoffFacts,
        OwnerTaskInput,
        UpsertOpportunityInput,
    )
    from plg_handoff.activities.evaluate import HandoffPolicy
    from plg_handoff.activities.writeback import AnnounceInput, WritebackActivities
    from plg_handoff.domain.engine import Evaluation
    from plg_handoff.domain.usage import AccountTraits

CRM_CALL_TIMEOUT = timedelta(minutes=2)
# CRM outages can last hours; keep trying with a capped interval rather than lose the handoff.
CRM_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10))
OPEN_STAGES = ("opened", "assigned", "contacted")
BLOCKED_RETRY_AFTER = timedelta(hours=1)
# Write-back must never hold the handoff up: three quick tries at most.
WRITEBACK_RETRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=10))
# Added after handoffs were already running: they replay without the write-back step.
SEGMENT_WRITEBACK_PATCH = "segment-writeback"


@dataclass
class RetryRequest:
    requested_by: str = "operator"


@dataclass
class HandoffInput:
    account_id: str
    episode: int
    traits: AccountTraits
    evaluation: Evaluation
    policy: HandoffPolicy


@dataclass
class HandoffStatus:
    handoff_key: str
    stage: str
    signal_at: datetime
    opportunity_id: str | None = None
    owner_id: str | None = None
    owner_name: str | None = None
    task_id: str | None = None
    assigned_at: datetime | None = None
    contacted_at: datetime | None = None
    closed_at: datetime | None = None
    next_check_at: datetime | None = None
    announced: bool = False  # the usage system (Segment) was told
    writeback_error: str | None = None
    blocked_reason: str | None = None
    blocked_details: list[str] = field(default_factory=list)
    evidence_updates: int = 0  # times the opportunity got newer evidence while open


@workflow.defn
class HandoffWorkflow:
    def __init__(self) -> None:
        self._status: HandoffStatus | None = None
        self._retry_requested = False
        self._facts: HandoffFacts | None = None
        self._newer_evidence: Evaluation | None = None

    @workflow.run
    async def run(self, request: HandoffInput) -> HandoffStatus:
        key = handoff_workflow_id(request.account_id, request.episode)
        status = self._status = HandoffStatus(key, "opened", workflow.now())
        facts = self._facts = HandoffFacts(
            key, request.account_id, request.traits, request.evaluation
        )
        lead = facts.lead
        attributes: list[SearchAttributeUpdate[Any]] = [
            sa.ACCOUNT_ID.value_set(request.account_id),
            sa.TRIGGER.value_set(lead.trigger),
            sa.HANDOFF_STAGE.value_set("opened"),
            sa.PQL_SCORE.value_set(lead.score),
            sa.SIGNAL_AT.value_set(status.signal_at),
        ]
        if request.evaluation.segment:
            attributes.append(sa.SEGMENT.value_set(request.evaluation.segment))
        workflow.upsert_search_attributes(attributes)
        await self._assign_until_done(facts, request.policy)
        if workflow.patched(SEGMENT_WRITEBACK_PATCH):
            await self._announce(facts)
        await self._follow_up(request.policy)
        await self._tell_account(request)
        return status

    async def _assign_until_done(self, facts: HandoffFacts, policy: HandoffPolicy) -> None:
        """A CRM refusal that retrying cannot fix (invalid field, auth) blocks the handoff in
        plain sight instead of failing it: the vendor's message is in the status and the
        HandoffStage is "blocked". It is tried again after BLOCKED_RETRY_AFTER, or at once
        when an operator sends the `retry` signal after fixing the cause."""
        status = self._require_status()
        while True:
            try:
                await self._assign(facts, policy)
            except ActivityError as exc:
                cause = exc.cause
                if not isinstance(cause, ApplicationError) or not cause.non_retryable:
                    raise
                status.blocked_reason = f"{cause.type}: {cause.message}"
                status.blocked_details = [str(d) for d in cause.details]
                self._enter("blocked")
                workflow.logger.warning(
                    "handoff.blocked",
                    extra={"handoff": facts.handoff_key, "reason": status.blocked_reason},
                )
                self._retry_requested = False
                await workflow.wait_condition(
                    lambda: self._retry_requested, timeout=BLOCKED_RETRY_AFTER
                )
                self._enter("opened")
            else:
                status.blocked_reason = None
                return

    async def _announce(self, facts: HandoffFacts) -> None:
        """Best effort: a few quick tries, then the handoff goes on; the failure is recorded."""
        status = self._require_status()
        try:
            announced = await workflow.execute_activity_method(
                WritebackActivities.announce_handoff,
                AnnounceInput(facts, status.owner_id or "", status.opportunity_id or ""),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=WRITEBACK_RETRY,
            )
            status.announced = announced.sent
        except ActivityError as exc:
            status.writeback_error = str(exc.cause or exc)
            workflow.logger.warning(
                "handoff.writeback_failed",
                extra={"handoff": facts.handoff_key, "error": status.writeback_error},
            )

    @workflow.signal(name=EVIDENCE_SIGNAL)
    def evidence_updated(self, update: EvidenceUpdate) -> None:
        """The account fired again while this handoff is open: the opportunity gets the newer
        evidence at the next follow-up check instead of a second opportunity opening."""
        if update.evaluation.lead is not None:
            self._newer_evidence = update.evaluation

    async def _refresh_evidence(self) -> None:
        status = self._require_status()
        newer, facts = self._newer_evidence, self._facts
        if newer is None or facts is None or status.owner_id is None:
            return
        self._newer_evidence = None
        self._facts = facts = HandoffFacts(facts.handoff_key, facts.account_id, facts.traits, newer)
        await workflow.execute_activity_method(
            CrmActivities.upsert_opportunity,
            UpsertOpportunityInput(facts, status.owner_id),
            start_to_close_timeout=CRM_CALL_TIMEOUT,
            retry_policy=CRM_RETRY,
        )
        status.evidence_updates += 1
        workflow.upsert_search_attributes([sa.PQL_SCORE.value_set(facts.lead.score)])

    @workflow.signal
    def retry(self, request: RetryRequest) -> None:
        """Operators: try a blocked handoff again now (after fixing what blocked it)."""
        workflow.logger.info("handoff.retry_requested", extra={"by": request.requested_by})
        self._retry_requested = True

    async def _assign(self, facts: HandoffFacts, policy: HandoffPolicy) -> None:
        status = self._require_status()
        owner: AssignedOwner = await workflow.execute_activity_method(
            CrmActivities.assign_owner,
            AssignOwnerInput(facts.handoff_key, facts.account_id),
            start_to_close_timeout=CRM_CALL_TIMEOUT,
            retry_policy=CRM_RETRY,
        )
        opportunity = await workflow.execute_activity_method(
            CrmActivities.upsert_opportunity,
            UpsertOpportunityInput(facts, owner.owner_id),
            start_to_close_timeout=CRM_CALL_TIMEOUT,
            retry_policy=CRM_RETRY,
        )
        task = await workflow.execute_activity_method(
            CrmActivities.create_owner_task,
            OwnerTaskInput(
                facts,
                opportunity.opportunity_id,
                owner,
                status.signal_at + timedelta(seconds=policy.task_due_after_s),
            ),
            start_to_close_timeout=CRM_CALL_TIMEOUT,
            retry_policy=CRM_RETRY,
        )
        status.opportunity_id = opportunity.opportunity_id
        status.owner_id, status.owner_name = owner.owner_id, owner.owner_name
        status.task_id = task.task_id
        self._enter("assigned")
        status.assigned_at = workflow.now()
        workflow.upsert_search_attributes([sa.OWNER_ID.value_set(owner.owner_id)])

    async def _follow_up(self, policy: HandoffPolicy) -> None:
        """Polls the CRM on the policy's cadence; expires when a stage lasts too long."""
        status = self._require_status()
        poll = timedelta(seconds=policy.follow_up_poll_interval_s)
        expire_after = timedelta(seconds=policy.expire_after_s)
        stage_since = workflow.now()
        while status.stage in OPEN_STAGES:
            deadline = stage_since + expire_after
            remaining = deadline - workflow.now()
            if remaining <= timedelta(0):
                self._close("expired")
                return
            status.next_check_at = workflow.now() + min(poll, remaining)
            await workflow.sleep(min(poll, remaining))
            if workflow.now() >= deadline:
                continue
            await self._refresh_evidence()
            seen = await workflow.execute_activity_method(
                CrmActivities.read_follow_up,
                FollowUpInput(status.opportunity_id or "", status.task_id),
                start_to_close_timeout=CRM_CALL_TIMEOUT,
                retry_policy=CRM_RETRY,
            )
            if seen.contacted and status.contacted_at is None:
                status.contacted_at = workflow.now()
                self._enter("contacted")
                workflow.upsert_search_attributes([sa.CONTACTED_AT.value_set(status.contacted_at)])
                stage_since = status.contacted_at
            if seen.outcome is not None:
                self._close(seen.outcome)

    def _enter(self, stage: str) -> None:
        self._require_status().stage = stage
        workflow.upsert_search_attributes([sa.HANDOFF_STAGE.value_set(stage)])

    def _close(self, stage: str) -> None:
        status = self._require_status()
        self._enter(stage)
        status.closed_at = workflow.now()
        status.next_check_at = None
        workflow.upsert_search_attributes([sa.CLOSED_AT.value_set(status.closed_at)])

    async def _tell_account(self, request: HandoffInput) -> None:
        account = workflow.get_external_workflow_handle(account_workflow_id(request.account_id))
        try:
            await account.signal(
                HANDOFF_CLOSED_SIGNAL,
                HandoffClosed(request.episode, self._require_status().stage),
            )
        except ApplicationError:
            workflow.logger.warning(
                "handoff.account_gone", extra={"account_id": request.account_id}
            )

    def _require_status(self) -> HandoffStatus:
        if self._status is None:
            raise ApplicationError("handoff has not started", non_retryable=True)
        return self._status

    @workflow.query
    def status(self) -> HandoffStatus | None:
        return self._status
