"""One long-lived workflow per account: compact daily usage, trigger evaluation, episodes."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from plg_handoff import search_attributes as sa
    from plg_handoff.activities.contracts import (
        ACCOUNT_STATE_QUERY,
        ACCOUNT_WORKFLOW,
        DISQUALIFY_UPDATE,
        EVIDENCE_SIGNAL,
        HANDOFF_CLOSED_SIGNAL,
        HANDOFF_WORKFLOW,
        REQUALIFY_UPDATE,
        SNOOZE_UPDATE,
        USAGE_SIGNAL,
        AccountInput,
        AccountState,
        AccountSummary,
        DisqualifyRequest,
        EvidenceUpdate,
        HandoffClosed,
        HandoffInput,
        RequalifyRequest,
        SnoozeRequest,
        UsageUpdate,
        handoff_task_queue,
        handoff_workflow_id,
    )
    from plg_handoff.activities.evaluate import (
        EvaluateActivities,
        EvaluateInput,
        EvaluateResult,
    )

    # The converter resolves Evaluation's field types through the sandbox's own sys.modules,
    # which holds only modules a workflow file imports by their full name.
    from plg_handoff.domain.engine import Evaluation  # noqa: F401

RETENTION_DAYS = 400  # long enough for the longest trigger window (6+ months active)
SIGNALS_BEFORE_CONTINUE_AS_NEW = 1_000
MAX_SNOOZE_DAYS = 365
# Added while accounts were running: before it any fired trigger opened a handoff; after it the
# engine's decision (multiple-signal rule, filters, segment motion) does, operators can hold an
# account, and an open handoff hears of new evidence.
PQL_DECISION_PATCH = "pql-decision"
# Added while accounts were running: a snooze or cool-down ending wakes the account, which is
# evaluated again then instead of at its next usage change.
WAKE_AFTER_HOLD_PATCH = "wake-after-hold"
# Replaces PQL_DECISION_PATCH for runs started since: taken in the run's first workflow task,
# before any local activity. PQL_DECISION_PATCH was taken right after the evaluation, and when
# the evaluation outlived its workflow task the SDK could record the local activity's marker in
# a task heartbeat and the patch marker in the next task; such a history did not replay.
DECISION_FROM_START_PATCH = "pql-decision-from-start"
# Added while accounts were running: an evaluation of an account with an open handoff sets its
# SignalAt, so a sync's bulk refresh queries only the accounts whose usage moved (not all).
# Taken at the run's start, like DECISION_FROM_START_PATCH.
MARK_FOR_REFRESH_PATCH = "mark-for-refresh"


@workflow.defn(name=ACCOUNT_WORKFLOW)
class AccountWorkflow:
    def __init__(self) -> None:
        self._id = ""
        self._state = AccountState()
        self._signals = 0
        self._decides = False  # the engine's decision acts (else the pre-decision flow)
        self._marks_for_refresh = False

    @workflow.run
    async def run(self, request: AccountInput) -> None:
        self._decides = workflow.patched(DECISION_FROM_START_PATCH)
        self._marks_for_refresh = workflow.patched(MARK_FOR_REFRESH_PATCH)
        self._id = request.account_id
        if request.state is not None:
            self._state = request.state
        workflow.upsert_search_attributes([sa.ACCOUNT_ID.value_set(self._id)])
        while True:
            wake_at = self._held_back_until() if workflow.patched(WAKE_AFTER_HOLD_PATCH) else None
            try:
                await workflow.wait_condition(
                    lambda: self._state.needs_evaluation or self._should_continue_as_new(),
                    timeout=(wake_at - workflow.now()) if wake_at is not None else None,
                )
            except TimeoutError:  # the snooze or cool-down that held a handoff back is over
                self._state.needs_evaluation = True
            if self._state.needs_evaluation:
                self._state.needs_evaluation = False
                await self._evaluate()
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(AccountInput(self._id, self._state))

    @workflow.signal(name=USAGE_SIGNAL)
    def usage(self, update: UsageUpdate) -> None:
        self._signals += 1
        state = self._state
        changed = False
        if update.traits is not None and update.traits != state.traits:
            state.traits = update.traits
            changed = True
        for day in update.days:
            if state.days.get(day.day) != day:
                state.days[day.day] = day
                changed = True
        if changed:
            self._compact()
            state.needs_evaluation = True

    @workflow.signal(name=HANDOFF_CLOSED_SIGNAL)
    def handoff_closed(self, closed: HandoffClosed) -> None:
        self._signals += 1
        if self._state.open_handoff == handoff_workflow_id(self._id, closed.episode):
            self._state.open_handoff = None
            self._state.cooldown_until = (
                workflow.now() + timedelta(seconds=self._state.cooldown_s)
            ).isoformat()
            self._state.needs_evaluation = True

    @workflow.query(name=ACCOUNT_STATE_QUERY)
    def state(self) -> AccountSummary:
        days = sorted(self._state.days)
        return AccountSummary(
            account_id=self._id,
            episode=self._state.episode,
            open_handoff=self._state.open_handoff,
            cooldown_until=self._state.cooldown_until,
            days_tracked=len(days),
            latest_day=days[-1] if days else None,
            last_evaluation=self._state.last_evaluation,
            traits=self._state.traits,
            handoffs=[handoff_workflow_id(self._id, e) for e in range(1, self._state.episode + 1)],
            held=self._held(),
        )

    @workflow.update(name=SNOOZE_UPDATE)
    def snooze(self, request: SnoozeRequest) -> AccountSummary:
        until = workflow.now() + timedelta(days=request.days)
        self._state.snoozed_until = until.isoformat()
        self._state.hold_reason = f"{request.reason.strip()} (by {request.by})"
        workflow.logger.info(
            "account.snoozed", extra={"until": self._state.snoozed_until, "by": request.by}
        )
        return self.state()

    @snooze.validator
    def _validate_snooze(self, request: SnoozeRequest) -> None:
        _require_reason(request.reason)
        if not 1 <= request.days <= MAX_SNOOZE_DAYS:
            raise ValueError(f"days must be 1 to {MAX_SNOOZE_DAYS}, got {request.days}")

    @workflow.update(name=DISQUALIFY_UPDATE)
    def disqualify(self, request: DisqualifyRequest) -> AccountSummary:
        self._state.disqualified = True
        self._state.hold_reason = f"{request.reason.strip()} (by {request.by})"
        workflow.logger.info("account.disqualified", extra={"by": request.by})
        return self.state()

    @disqualify.validator
    def _validate_disqualify(self, request: DisqualifyRequest) -> None:
        _require_reason(request.reason)

    @workflow.update(name=REQUALIFY_UPDATE)
    def requalify(self, request: RequalifyRequest) -> AccountSummary:
        state = self._state
        state.disqualified = False
        state.snoozed_until = None
        state.hold_reason = None
        state.needs_evaluation = True
        workflow.logger.info("account.requalified", extra={"by": request.by})
        return self.state()

    @requalify.validator
    def _validate_requalify(self, request: RequalifyRequest) -> None:
        _require_reason(request.reason)
        if not self._state.disqualified and self._state.snoozed_until is None:
            raise ValueError("the account is neither snoozed nor disqualified")

    def _held(self) -> str | None:
        state = self._state
        if state.disqualified:
            return f"disqualified: {state.hold_reason}"
        if state.snoozed_until and workflow.now() < datetime.fromisoformat(state.snoozed_until):
            return f"snoozed until {state.snoozed_until}: {state.hold_reason}"
        return None

    async def _evaluate(self) -> None:
        result: EvaluateResult = await workflow.execute_local_activity_method(
            EvaluateActivities.evaluate_account,
            EvaluateInput(
                account_id=self._id,
                traits=self._state.traits,
                days=[self._state.days[d] for d in sorted(self._state.days)],
                today=workflow.now().date().isoformat(),
            ),
            start_to_close_timeout=timedelta(seconds=30),
        )
        self._state.last_evaluation = result.evaluation
        if self._decides or workflow.patched(PQL_DECISION_PATCH):
            await self._act_on(result)
            return
        if not result.evaluation.fired or self._state.open_handoff or self._cooling_down():
            return
        await self._open_handoff(result)

    async def _act_on(self, result: EvaluateResult) -> None:
        """One open handoff per account: while it is open, new evidence updates it; otherwise a
        handoff opens when the engine hands the account to sales and nothing holds it back."""
        state = self._state
        evaluation = result.evaluation
        evidence = [line for fired in evaluation.fired for line in fired.evidence]
        if state.open_handoff is not None:
            if self._marks_for_refresh:
                workflow.upsert_search_attributes([sa.SIGNAL_AT.value_set(workflow.now())])
            if evaluation.fired and evidence != state.evidence_sent:
                state.evidence_sent = evidence
                await self._tell_handoff(state.open_handoff, EvidenceUpdate(evaluation))
            return
        if not evaluation.hand_off or self._cooling_down() or self._held() is not None:
            return
        state.evidence_sent = evidence
        await self._open_handoff(result)

    async def _tell_handoff(self, workflow_id: str, update: EvidenceUpdate) -> None:
        handoff = workflow.get_external_workflow_handle(workflow_id)
        try:
            await handoff.signal(EVIDENCE_SIGNAL, update)
        except ApplicationError:
            workflow.logger.warning("account.handoff_gone", extra={"handoff": workflow_id})

    async def _open_handoff(self, result: EvaluateResult) -> None:
        state = self._state
        state.episode += 1
        workflow_id = handoff_workflow_id(self._id, state.episode)
        state.open_handoff = workflow_id
        state.cooldown_s = result.policy.cooldown_s
        lead = result.evaluation.lead
        await workflow.start_child_workflow(
            HANDOFF_WORKFLOW,
            HandoffInput(
                account_id=self._id,
                episode=state.episode,
                traits=state.traits,
                evaluation=result.evaluation,
                policy=result.policy,
                task_queue=workflow.info().task_queue,
            ),
            id=workflow_id,
            task_queue=handoff_task_queue(workflow.info().task_queue),
            # The handoff outlives this run: continue-as-new must not cancel it.
            parent_close_policy=ParentClosePolicy.ABANDON,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.ACCOUNT_ID, self._id),
                    SearchAttributePair(sa.TRIGGER, lead.trigger if lead else ""),
                    SearchAttributePair(sa.HANDOFF_STAGE, "opened"),
                ]
            ),
        )
        workflow.logger.info(
            "account.handoff_opened",
            extra={"account_id": self._id, "handoff": workflow_id},
        )

    def _held_back_until(self) -> datetime | None:
        """When the snooze or cool-down that keeps an account the engine hands to sales from
        getting its handoff ends: the account is evaluated again then, without waiting for new
        usage. None when nothing is held back."""
        state, evaluation = self._state, self._state.last_evaluation
        if evaluation is None or not evaluation.hand_off or state.open_handoff is not None:
            return None
        if state.disqualified:
            return None
        ends = [
            datetime.fromisoformat(until)
            for until in (state.snoozed_until, state.cooldown_until)
            if until is not None and datetime.fromisoformat(until) > workflow.now()
        ]
        return max(ends) if ends else None

    def _cooling_down(self) -> bool:
        until = self._state.cooldown_until
        return until is not None and workflow.now() < datetime.fromisoformat(until)

    def _compact(self) -> None:
        days = self._state.days
        newest = date.fromisoformat(max(days))
        horizon = (newest - timedelta(days=RETENTION_DAYS)).isoformat()
        for day in [d for d in days if d < horizon]:
            del days[day]

    def _should_continue_as_new(self) -> bool:
        return (
            self._signals >= SIGNALS_BEFORE_CONTINUE_AS_NEW
            or workflow.info().is_continue_as_new_suggested()
        )


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise ValueError("say why: operators after you will read the reason")
