"""One handoff episode: opportunity, owner, task, then follow-up until an outcome or expiry,
held to the tier's SLAs (durable timers) and steerable by operators (workflow updates)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from plg_handoff import search_attributes as sa
    from plg_handoff.activities.contracts import (
        CRM_CHANGED_SIGNAL,
        EVIDENCE_SIGNAL,
        HANDOFF_CLOSED_SIGNAL,
        HANDOFF_WORKFLOW,
        CrmChanged,
        EvidenceUpdate,
        HandoffClosed,
        HandoffInput,
        HandoffPolicy,
        account_workflow_id,
        handoff_workflow_id,
    )
    from plg_handoff.activities.crm import (
        AssignedOwner,
        AssignOwnerInput,
        CrmActivities,
        FindOwnerInput,
        FollowUpInput,
        HandoffFacts,
        OwnerTaskInput,
        RecordFunnelInput,
        UpsertOpportunityInput,
    )
    from plg_handoff.activities.crm_queue import CRM_HEARTBEAT_TIMEOUT, crm_task_queue
    from plg_handoff.activities.notify import Notification, NotifyActivities
    from plg_handoff.activities.writeback import AnnounceInput, WritebackActivities
    from plg_handoff.domain.engine import Evaluation
    from plg_handoff.domain.follow_up import FollowUp, FunnelFields

CRM_CALL_TIMEOUT = timedelta(minutes=2)
P = TypeVar("P")
R = TypeVar("R")
# CRM outages can last hours; keep trying with a capped interval rather than lose the handoff.
CRM_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10))
OPEN_STAGES = ("opened", "assigned", "contacted")
BLOCKED_RETRY_AFTER = timedelta(hours=1)
# Write-back must never hold the handoff up: three quick tries at most.
WRITEBACK_RETRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=10))
# Added after handoffs were already running: they replay without the write-back step.
SEGMENT_WRITEBACK_PATCH = "segment-writeback"
# Stages with meeting, SLA timers, push follow-up, operator updates and the funnel memo;
# handoffs started before replay the earlier flow.
LIFECYCLE_PATCH = "handoff-lifecycle"
LIFECYCLE_OPEN_STAGES = ("opened", "blocked", "assigned", "contacted", "meeting")
FOLLOWING_STAGES = ("assigned", "contacted", "meeting")
CLOSED_STAGES = ("won", "lost", "expired", "disqualified")
NOTIFY_TIMEOUT = timedelta(seconds=30)
# A notification is worth a few quick tries, never a held-up handoff.
NOTIFY_RETRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=10))
# The funnel write-back is informational: a few tries, then the handoff goes on.
FUNNEL_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=1))
MAX_SNOOZE = timedelta(days=30)
MAX_SLA = timedelta(days=30)
FUNNEL_MEMO = "funnel"


@dataclass
class RetryRequest:
    requested_by: str = "operator"


@dataclass
class SnoozeHandoff:
    """Pauses the SLA and expiry timers for `hours`; the CRM is still read."""

    hours: float
    reason: str
    by: str = "operator"


@dataclass
class DisqualifyHandoff:
    """Closes the handoff as disqualified."""

    reason: str
    by: str = "operator"


@dataclass
class ReassignHandoff:
    """Moves the handoff to `owner_id`, or to the next owner in the pool when None."""

    reason: str
    owner_id: str | None = None
    by: str = "operator"


@dataclass
class MarkContacted:
    """First contact happened outside what the CRM shows."""

    note: str
    by: str = "operator"


@dataclass
class AdjustSla:
    """New SLAs for this running handoff, counted as the originals were (None: unchanged)."""

    reason: str
    assign_within_s: float | None = None
    contact_within_s: float | None = None
    by: str = "operator"


@dataclass
class Clock:
    """One deadline: `within` after `start`, pushed back by the snoozes since."""

    start: datetime
    within_s: float
    paused_s: float = 0.0

    @property
    def due(self) -> datetime:
        return self.start + timedelta(seconds=self.within_s + self.paused_s)


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
    meeting_at: datetime | None = None
    outcome: str | None = None  # won, lost, expired or disqualified
    tier: int = 0
    sla_assign: str | None = None  # pending, met or breached
    sla_contact: str | None = None
    assign_due_at: datetime | None = None
    contact_due_at: datetime | None = None  # the current owner's; None once contacted
    expires_at: datetime | None = None
    snoozed_until: datetime | None = None
    next_timer: str | None = None  # what `next_check_at` is: poll, contact SLA, expiry...
    breaches: list[str] = field(default_factory=list)
    previous_owners: list[str] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)  # "<kind>: <channel or reason>"
    notes: list[str] = field(default_factory=list)  # operators' actions, with who and why


@workflow.defn(name=HANDOFF_WORKFLOW)
class HandoffWorkflow:
    @workflow.init
    def __init__(self, request: HandoffInput) -> None:
        self._status: HandoffStatus | None = None
        self._retry_requested = False
        self._facts: HandoffFacts | None = None
        self._newer_evidence: Evaluation | None = None
        self._policy: HandoffPolicy | None = None
        self._lifecycle = False  # the patched flow: memo and new search attributes
        self._wake = False  # an update or signal changed what the timers wait for
        self._check_requested = False  # the CRM pushed a change: read it now
        self._owner_lock = asyncio.Lock()
        self._assign_clock: Clock | None = None
        self._contact_clock: Clock | None = None
        self._expiry_clock: Clock | None = None
        # From the input, not the handoff queue it runs on; known before any handler runs.
        self._crm_queue = crm_task_queue(request.task_queue or workflow.info().task_queue)

    async def _on_crm(
        self,
        activity: Callable[[CrmActivities, P], Awaitable[R]],
        arg: P,
        *,
        retry_policy: RetryPolicy = CRM_RETRY,
    ) -> R:
        """A CRM activity, on the CRM queue, with the options every CRM call shares."""
        return await workflow.execute_activity_method(
            activity,
            arg,
            start_to_close_timeout=CRM_CALL_TIMEOUT,
            heartbeat_timeout=CRM_HEARTBEAT_TIMEOUT,
            retry_policy=retry_policy,
            task_queue=self._crm_queue,
        )

    @workflow.run
    async def run(self, request: HandoffInput) -> HandoffStatus:
        key = handoff_workflow_id(request.account_id, request.episode)
        status = self._status = HandoffStatus(key, "opened", workflow.now())
        facts = self._facts = HandoffFacts(
            key, request.account_id, request.traits, request.evaluation
        )
        if workflow.patched(LIFECYCLE_PATCH):
            return await self._run_lifecycle(request, facts)
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

    async def _run_lifecycle(self, request: HandoffInput, facts: HandoffFacts) -> HandoffStatus:
        status = self._require_status()
        policy = self._policy = request.policy
        self._lifecycle = True
        lead = facts.lead
        status.tier = request.evaluation.tier or lead.tier
        self._assign_clock = Clock(status.signal_at, policy.assign_within_s)
        self._contact_clock = Clock(status.signal_at, policy.contact_within_s)
        status.sla_assign = status.sla_contact = "pending"
        self._show_deadlines()
        attributes: list[SearchAttributeUpdate[Any]] = [
            sa.ACCOUNT_ID.value_set(request.account_id),
            sa.TRIGGER.value_set(lead.trigger),
            sa.HANDOFF_STAGE.value_set("opened"),
            sa.PQL_SCORE.value_set(lead.score),
            sa.SIGNAL_AT.value_set(status.signal_at),
            sa.TIER.value_set(status.tier),
            sa.SLA_BREACHED.value_set(False),
        ]
        if request.evaluation.segment:
            attributes.append(sa.SEGMENT.value_set(request.evaluation.segment))
        workflow.upsert_search_attributes(attributes)
        self._publish()
        await self._assign_within_sla(facts, policy)
        if status.stage in FOLLOWING_STAGES:
            if status.tier == 1:
                await self._notify("handoff_opened")
            await self._announce(facts)
            await self._follow_through(facts, policy)
        await self._record_funnel()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._tell_account(request)
        return status

    async def _assign_within_sla(self, facts: HandoffFacts, policy: HandoffPolicy) -> None:
        """Assignment runs (and may be blocked) while the assignment SLA's timer runs beside it:
        a late assignment is a breach recorded and escalated when the deadline passes."""
        status = self._require_status()
        assignment = asyncio.ensure_future(self._assign_until_done(facts, policy))
        while not assignment.done():
            clock = self._assign_clock if status.sla_assign == "pending" else None
            if clock is not None and workflow.now() >= clock.due:
                breach = f"assigned within {_span(clock.within_s)}"
                self._record_breach("assign", breach)
                await self._notify("sla_breached", breach=breach)
                continue
            status.next_timer = "assignment SLA" if clock else None
            status.next_check_at = clock.due if clock else None
            self._wake = False
            try:
                await workflow.wait_condition(
                    lambda: assignment.done() or self._wake,
                    timeout=(clock.due - workflow.now()) if clock else None,
                )
            except TimeoutError:
                continue
        await assignment
        status.next_timer = status.next_check_at = None
        if status.stage in CLOSED_STAGES:
            return
        if status.sla_assign == "pending":
            status.sla_assign = "met"
        assigned_at = status.assigned_at or workflow.now()
        self._expiry_clock = Clock(assigned_at, policy.expire_after_s)
        self._show_deadlines()
        workflow.upsert_search_attributes(
            [
                sa.ASSIGNED_AT.value_set(int(assigned_at.timestamp())),
                sa.OPPORTUNITY_ID.value_set(status.opportunity_id or ""),
            ]
        )
        self._publish()

    async def _follow_through(self, facts: HandoffFacts, policy: HandoffPolicy) -> None:
        """Reads the CRM on the poll cadence and whenever it pushes a change; holds the current
        owner to the contact SLA; expires when a stage lasts too long without progress."""
        status = self._require_status()
        poll = timedelta(seconds=policy.follow_up_poll_interval_s)
        next_poll = workflow.now() + poll
        while status.stage in FOLLOWING_STAGES:
            if self._check_requested:
                self._check_requested = False
                await self._check_crm()
                continue
            now = workflow.now()
            expiry = self._expiry_clock
            if expiry is not None and now >= expiry.due:
                self._close("expired")
                return
            contact = self._contact_clock if status.contacted_at is None else None
            if contact is not None and now >= contact.due:
                await self._check_crm()  # the CRM may show a contact the last poll could not
                if status.contacted_at is None and status.stage in FOLLOWING_STAGES:
                    await self._contact_missed(facts, policy, contact)
                continue
            if now >= next_poll:
                next_poll = now + poll
                await self._check_crm()
                continue
            timers = [("poll", next_poll)]
            if contact is not None:
                timers.append(("contact SLA", contact.due))
            if expiry is not None:
                timers.append(("expiry", expiry.due))
            status.next_timer, status.next_check_at = min(timers, key=lambda t: t[1])
            self._wake = False
            with contextlib.suppress(TimeoutError):  # a timer is due: the loop sees which
                await workflow.wait_condition(
                    lambda: self._wake or self._check_requested,
                    timeout=status.next_check_at - now,
                )

    async def _check_crm(self) -> None:
        status = self._require_status()
        await self._refresh_evidence()
        try:
            seen: FollowUp = await self._on_crm(
                CrmActivities.read_follow_up,
                FollowUpInput(status.opportunity_id or "", status.task_id),
            )
        except ActivityError as exc:
            if not (isinstance(exc.cause, ApplicationError) and exc.cause.type == "NotFound"):
                raise
            await self._restore_crm_records(str(exc.cause))
            return
        if status.stage not in FOLLOWING_STAGES:  # closed by an operator meanwhile
            return
        if (seen.contacted or seen.meeting) and status.contacted_at is None:
            self._contacted(self._crm_time(seen.contacted_at_ms))
        if seen.meeting and status.meeting_at is None:
            self._met(self._crm_time(seen.meeting_at_ms))
        if seen.outcome is not None:
            self._close(seen.outcome, self._crm_time(seen.closed_at_ms))
        elif seen.contacted or seen.meeting:
            await self._record_funnel()

    def _crm_time(self, epoch_ms: int | None) -> datetime:
        """When the CRM says a step happened, kept after the previous step and not after now
        (clocks differ); now when it does not say."""
        now = workflow.now()
        if epoch_ms is None:
            return now
        status = self._require_status()
        steps = (status.signal_at, status.assigned_at, status.contacted_at, status.meeting_at)
        earliest = max(at for at in steps if at is not None)
        return min(max(datetime.fromtimestamp(epoch_ms / 1000, tz=UTC), earliest), now)

    def _contacted(self, at: datetime) -> None:
        status = self._require_status()
        status.contacted_at = at
        if status.sla_contact == "pending":
            status.sla_contact = "met"
        if self._policy is not None:
            self._expiry_clock = Clock(at, self._policy.expire_after_s)
        self._enter("contacted")
        workflow.upsert_search_attributes([sa.CONTACTED_AT.value_set(at)])
        self._show_deadlines()

    def _met(self, at: datetime) -> None:
        status = self._require_status()
        status.meeting_at = at
        if self._policy is not None:
            self._expiry_clock = Clock(at, self._policy.expire_after_s)
        self._enter("meeting")
        workflow.upsert_search_attributes([sa.MEETING_AT.value_set(int(at.timestamp()))])
        self._show_deadlines()

    async def _contact_missed(
        self, facts: HandoffFacts, policy: HandoffPolicy, clock: Clock
    ) -> None:
        """The owner did not reach out in time: the breach is recorded, the handoff moves to the
        next owner in the pool (who gets a fresh contact window), the escalation is sent."""
        status = self._require_status()
        previous = status.owner_id
        breach = f"first contact within {_span(clock.within_s)}"
        self._record_breach("contact", breach)
        moved = False
        if len(status.previous_owners) < policy.max_reassignments:
            moved = await self._reassign(facts, None, f"SLA missed: {breach}")
        self._contact_clock = Clock(workflow.now(), policy.contact_within_s) if moved else None
        self._show_deadlines()
        await self._notify(
            "sla_breached", breach=breach, previous_owner_id=previous if moved else None
        )

    def _record_breach(self, sla_name: str, breach: str) -> None:
        status = self._require_status()
        if sla_name == "assign":
            status.sla_assign = "breached"
        elif status.sla_contact == "pending":
            status.sla_contact = "breached"
        status.breaches.append(f"{breach} (owner {status.owner_id or 'none'})")
        workflow.logger.warning(
            "handoff.sla_breached",
            extra={"handoff": status.handoff_key, "breach": breach, "owner": status.owner_id},
        )
        workflow.upsert_search_attributes([sa.SLA_BREACHED.value_set(True)])
        self._publish()

    async def _next_owner(self, facts: HandoffFacts, owner_id: str | None) -> AssignedOwner:
        """The owner an operator named (looked up in the CRM), or the pool's next one who has
        not had this handoff; a non-retryable activity error when there is none."""
        if owner_id is not None:
            named: AssignedOwner = await self._on_crm(
                CrmActivities.find_owner,
                FindOwnerInput(owner_id),
            )
            return named
        status = self._require_status()
        current = status.owner_id
        pooled: AssignedOwner = await self._on_crm(
            CrmActivities.assign_owner,
            AssignOwnerInput(
                facts.handoff_key,
                facts.account_id,
                facts=facts,
                exclude=[*status.previous_owners, *([current] if current else [])],
                round=len(status.previous_owners) + 1,
            ),
        )
        return pooled

    async def _reassign(self, facts: HandoffFacts, owner_id: str | None, reason: str) -> bool:
        """Opportunity and a task for another owner: `owner_id`, or the pool's next one who
        has not had this handoff. False when the pool has nobody else."""
        status = self._require_status()
        async with self._owner_lock:
            current = status.owner_id
            try:
                owner = await self._next_owner(facts, owner_id)
            except ActivityError as exc:
                if not isinstance(exc.cause, ApplicationError) or not exc.cause.non_retryable:
                    raise
                status.notes.append(f"not reassigned ({reason}): {exc.cause.message}")
                return False
            if owner.owner_id == current:
                status.notes.append(f"not reassigned ({reason}): no other owner in the pool")
                return False
            opportunity = await self._on_crm(
                CrmActivities.upsert_opportunity,
                UpsertOpportunityInput(facts, owner.owner_id, opportunity_id=status.opportunity_id),
            )
            policy = self._policy
            due_after = timedelta(seconds=policy.task_due_after_s if policy else 86400)
            task = await self._on_crm(
                CrmActivities.create_owner_task,
                OwnerTaskInput(
                    facts, opportunity.opportunity_id, owner, workflow.now() + due_after
                ),
            )
            if current:
                status.previous_owners.append(current)
            self._keep_opportunity(opportunity.opportunity_id)
            status.owner_id, status.owner_name = owner.owner_id, owner.owner_name
            status.task_id = task.task_id
            status.notes.append(f"reassigned from {current} to {owner.owner_id}: {reason}")
            workflow.logger.info(
                "handoff.reassigned",
                extra={"handoff": status.handoff_key, "from": current, "to": owner.owner_id},
            )
            workflow.upsert_search_attributes([sa.OWNER_ID.value_set(owner.owner_id)])
            self._publish()
            return True

    async def _notify(
        self, kind: str, *, breach: str | None = None, previous_owner_id: str | None = None
    ) -> None:
        """Best effort with a bound: a notifier that is down never holds the handoff up."""
        status = self._require_status()
        facts = self._facts
        if facts is None:
            return
        lead = facts.lead
        evaluation = facts.evaluation
        playbook = evaluation.playbook
        notification = Notification(
            kind=kind,
            handoff_key=status.handoff_key,
            account_id=facts.account_id,
            account_name=facts.account_name,
            tier=status.tier,
            trigger=lead.trigger,
            plan=facts.traits.plan,
            usage=[line for fired in evaluation.fired for line in fired.evidence],
            top_features=[fired.trigger for fired in evaluation.fired],
            approach=playbook.approach if playbook is not None else None,
            owner_id=status.owner_id,
            owner_name=status.owner_name,
            territory=facts.traits.region,
            opportunity_id=status.opportunity_id,
            breach=breach,
            previous_owner_id=previous_owner_id,
        )
        try:
            result = await workflow.execute_activity_method(
                NotifyActivities.notify,
                notification,
                start_to_close_timeout=NOTIFY_TIMEOUT,
                retry_policy=NOTIFY_RETRY,
            )
        except ActivityError as exc:
            status.notified.append(f"{kind}: failed: {exc.cause or exc}")
            workflow.logger.warning(
                "handoff.notify_failed", extra={"handoff": status.handoff_key, "kind": kind}
            )
            return
        outcome = (
            (result.channel or "sent") if result.sent else f"not sent: {result.reason or 'capped'}"
        )
        status.notified.append(f"{kind}: {outcome}")

    async def _record_funnel(self) -> None:
        """Durations so far on the opportunity; best effort (the memo has them too)."""
        status = self._require_status()
        if status.opportunity_id is None:
            return

        def between(start: datetime | None, end: datetime | None) -> float | None:
            return (end - start).total_seconds() if start and end else None

        sla = (status.sla_assign, status.sla_contact)
        fields = FunnelFields(
            signal_to_assigned_s=between(status.signal_at, status.assigned_at),
            signal_to_contact_s=between(status.signal_at, status.contacted_at),
            contact_to_meeting_s=between(status.contacted_at, status.meeting_at),
            meeting_to_won_s=between(status.meeting_at, status.closed_at)
            if status.outcome == "won"
            else None,
            sla_met=None if "pending" in sla else "breached" not in sla,
        )
        try:
            await self._on_crm(
                CrmActivities.record_funnel,
                RecordFunnelInput(status.opportunity_id, fields),
                retry_policy=FUNNEL_RETRY,
            )
        except ActivityError as exc:
            workflow.logger.warning(
                "handoff.funnel_write_failed",
                extra={"handoff": status.handoff_key, "error": str(exc.cause or exc)},
            )

    def _show_deadlines(self) -> None:
        status = self._require_status()
        assign, contact, expiry = self._assign_clock, self._contact_clock, self._expiry_clock
        status.assign_due_at = assign.due if assign and status.sla_assign == "pending" else None
        status.contact_due_at = contact.due if contact and status.contacted_at is None else None
        status.expires_at = expiry.due if expiry else None

    def _publish(self) -> None:
        """The `funnel` memo: what `handoff report` reads from visibility, per handoff."""
        status = self._require_status()
        facts = self._facts

        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at else None

        workflow.upsert_memo(
            {
                FUNNEL_MEMO: {
                    "stage": status.stage,
                    "signal_at": iso(status.signal_at),
                    "assigned_at": iso(status.assigned_at),
                    "contacted_at": iso(status.contacted_at),
                    "meeting_at": iso(status.meeting_at),
                    "closed_at": iso(status.closed_at),
                    "outcome": status.outcome,
                    "tier": status.tier,
                    "trigger": facts.lead.trigger if facts else "",
                    "segment": facts.evaluation.segment if facts else None,
                    "owner_id": status.owner_id,
                    "sla": {"assign": status.sla_assign, "contact": status.sla_contact},
                }
            }
        )

    @workflow.signal(name=CRM_CHANGED_SIGNAL)
    def crm_changed(self, change: CrmChanged) -> None:
        """The CRM pushed a change on this handoff's records: read them now, not at the next
        poll."""
        workflow.logger.info("handoff.crm_pushed", extra={"source": change.source})
        self._check_requested = True

    @workflow.update
    def snooze(self, request: SnoozeHandoff) -> HandoffStatus:
        status = self._require_status()
        now = workflow.now()
        until = now + timedelta(hours=request.hours)
        already = (
            status.snoozed_until if status.snoozed_until and status.snoozed_until > now else now
        )
        pause = (until - already).total_seconds()
        if pause > 0:
            for clock in (self._assign_clock, self._contact_clock, self._expiry_clock):
                if clock is not None:
                    clock.paused_s += pause
            status.snoozed_until = until
        status.notes.append(f"snoozed {request.hours:g}h by {request.by}: {request.reason.strip()}")
        self._show_deadlines()
        self._wake = True
        return status

    @snooze.validator
    def _validate_snooze(self, request: SnoozeHandoff) -> None:
        self._require_open(request.reason)
        if not 0 < request.hours <= MAX_SNOOZE.total_seconds() / 3600:
            raise ValueError(f"snooze for more than 0 and at most {MAX_SNOOZE.days} days")

    @workflow.update
    def disqualify(self, request: DisqualifyHandoff) -> HandoffStatus:
        status = self._require_status()
        status.notes.append(f"disqualified by {request.by}: {request.reason.strip()}")
        self._close("disqualified")
        self._wake = True
        return status

    @disqualify.validator
    def _validate_disqualify(self, request: DisqualifyHandoff) -> None:
        self._require_following(request.reason)

    @workflow.update
    async def reassign(self, request: ReassignHandoff) -> HandoffStatus:
        status = self._require_status()
        facts = self._facts
        if facts is None:
            raise ApplicationError("handoff has not started", non_retryable=True)
        reason = f"{request.reason.strip()} (by {request.by})"
        if not await self._reassign(facts, request.owner_id, reason):
            raise ApplicationError(status.notes[-1], type="NotReassigned", non_retryable=True)
        policy = self._policy
        if status.contacted_at is None and policy is not None:
            self._contact_clock = Clock(workflow.now(), policy.contact_within_s)
        self._show_deadlines()
        self._wake = True
        return status

    @reassign.validator
    def _validate_reassign(self, request: ReassignHandoff) -> None:
        self._require_following(request.reason)
        status = self._require_status()
        if request.owner_id is not None and request.owner_id.strip() in ("", status.owner_id):
            raise ValueError("owner_id must name another owner (or be left out: the pool's next)")

    @workflow.update
    def mark_contacted(self, request: MarkContacted) -> HandoffStatus:
        status = self._require_status()
        status.notes.append(f"contact marked by {request.by}: {request.note.strip()}")
        self._contacted(workflow.now())
        self._wake = True
        return status

    @mark_contacted.validator
    def _validate_mark_contacted(self, request: MarkContacted) -> None:
        self._require_following(request.note)
        if self._require_status().contacted_at is not None:
            raise ValueError("contact is already recorded")

    @workflow.update
    def adjust_sla(self, request: AdjustSla) -> HandoffStatus:
        status = self._require_status()
        changed: list[str] = []
        if request.assign_within_s is not None and self._assign_clock is not None:
            self._assign_clock.within_s = request.assign_within_s
            changed.append(f"assign within {_span(request.assign_within_s)}")
        if request.contact_within_s is not None and self._contact_clock is not None:
            self._contact_clock.within_s = request.contact_within_s
            changed.append(f"contact within {_span(request.contact_within_s)}")
        status.notes.append(
            f"SLA set to {', '.join(changed) or 'unchanged'} by {request.by}: "
            f"{request.reason.strip()}"
        )
        self._show_deadlines()
        self._wake = True
        return status

    @adjust_sla.validator
    def _validate_adjust_sla(self, request: AdjustSla) -> None:
        self._require_open(request.reason)
        values = [v for v in (request.assign_within_s, request.contact_within_s) if v is not None]
        if not values:
            raise ValueError("give assign_within_s, contact_within_s or both")
        if not all(0 < v <= MAX_SLA.total_seconds() for v in values):
            raise ValueError(f"an SLA is more than 0 and at most {MAX_SLA.days} days")

    def _require_open(self, reason: str) -> None:
        if not reason.strip():
            raise ValueError("say why: the reason is kept in the handoff's notes")
        if not self._lifecycle:
            raise ValueError("this handoff started before operator controls existed")
        stage = self._require_status().stage
        if stage not in LIFECYCLE_OPEN_STAGES:
            raise ValueError(f"the handoff is closed ({stage})")

    def _require_following(self, reason: str) -> None:
        self._require_open(reason)
        stage = self._require_status().stage
        if stage not in FOLLOWING_STAGES:
            raise ValueError(f"the handoff has no owner yet ({stage})")

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
        opportunity = await self._on_crm(
            CrmActivities.upsert_opportunity,
            UpsertOpportunityInput(facts, status.owner_id, opportunity_id=status.opportunity_id),
        )
        self._keep_opportunity(opportunity.opportunity_id)
        status.evidence_updates += 1
        workflow.upsert_search_attributes([sa.PQL_SCORE.value_set(facts.lead.score)])

    async def _restore_crm_records(self, missing: str) -> None:
        """Someone deleted the opportunity or its task in the CRM: the upsert by external id
        brings the opportunity back (or finds it) and the owner gets their task again."""
        status, facts = self._require_status(), self._facts
        if facts is None or status.owner_id is None:
            raise ApplicationError(f"cannot restore: {missing}", non_retryable=True)
        workflow.logger.warning(
            "handoff.crm_records_restored",
            extra={"handoff": status.handoff_key, "missing": missing},
        )
        opportunity = await self._on_crm(
            CrmActivities.upsert_opportunity,
            UpsertOpportunityInput(facts, status.owner_id, opportunity_id=status.opportunity_id),
        )
        self._keep_opportunity(opportunity.opportunity_id)
        contact = self._contact_clock if status.contacted_at is None else None
        due = contact.due if contact is not None and contact.due > workflow.now() else None
        if due is None:
            due = workflow.now() + timedelta(
                seconds=self._policy.task_due_after_s if self._policy else 86400
            )
        task = await self._on_crm(
            CrmActivities.create_owner_task,
            OwnerTaskInput(
                facts,
                opportunity.opportunity_id,
                AssignedOwner(status.owner_id, status.owner_name or status.owner_id, ""),
                due,
            ),
        )
        status.task_id = task.task_id
        status.notes.append(f"restored in the CRM after: {missing}")

    def _keep_opportunity(self, opportunity_id: str) -> None:
        """An opportunity deleted in the CRM is recreated by the upsert: follow the new one."""
        status = self._require_status()
        if opportunity_id == status.opportunity_id:
            return
        status.notes.append(f"opportunity {status.opportunity_id} was gone; now {opportunity_id}")
        status.opportunity_id = opportunity_id
        if self._lifecycle:
            workflow.upsert_search_attributes([sa.OPPORTUNITY_ID.value_set(opportunity_id)])
            self._publish()

    @workflow.signal
    def retry(self, request: RetryRequest) -> None:
        """Operators: try a blocked handoff again now (after fixing what blocked it)."""
        workflow.logger.info("handoff.retry_requested", extra={"by": request.requested_by})
        self._retry_requested = True

    async def _assign(self, facts: HandoffFacts, policy: HandoffPolicy) -> None:
        status = self._require_status()
        owner: AssignedOwner = await self._on_crm(
            CrmActivities.assign_owner,
            AssignOwnerInput(facts.handoff_key, facts.account_id, facts=facts),
        )
        opportunity = await self._on_crm(
            CrmActivities.upsert_opportunity,
            UpsertOpportunityInput(facts, owner.owner_id),
        )
        task = await self._on_crm(
            CrmActivities.create_owner_task,
            OwnerTaskInput(
                facts,
                opportunity.opportunity_id,
                owner,
                status.signal_at + timedelta(seconds=policy.task_due_after_s),
            ),
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
            seen = await self._on_crm(
                CrmActivities.read_follow_up,
                FollowUpInput(status.opportunity_id or "", status.task_id),
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
        if self._lifecycle:
            self._publish()

    def _close(self, stage: str, at: datetime | None = None) -> None:
        status = self._require_status()
        status.closed_at = at or workflow.now()
        status.next_check_at = None
        if self._lifecycle:
            status.outcome = stage
            status.next_timer = None
            for sla in ("sla_assign", "sla_contact"):
                if getattr(status, sla) == "pending":  # never reached, never due: not measured
                    setattr(status, sla, None)
        self._enter(stage)
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


def _span(seconds: float) -> str:
    """4h, 90m, 2d: how SLAs are written in the config."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
