"""Each sync cycle: the usage fields of every open opportunity brought up to date in bulk.

The open handoffs come from Temporal visibility (their HandoffStage, AccountId and OwnerId search
attributes). Only those whose account was evaluated again lately (its SignalAt, set by each
evaluation while a handoff is open, within the last REFRESH_LOOKBACK_CYCLES sync intervals) can
have newer usage: their latest usage comes from the account's `state` query, and the rest cost
nothing (a burst of new handoffs, written from the evaluation that opened them, costs no query).
The CRM connector's batch refresh writes only the records whose fields changed. A record the CRM
refuses is logged and reported, never fails the cycle, and is tried again on the next ones."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
)
from temporalio.service import RPCError

from plg_handoff import search_attributes as sa
from plg_handoff.activities.contracts import (
    ACCOUNT_STATE_QUERY,
    ACCOUNT_WORKFLOW,
    AccountSummary,
    account_workflow_id,
    deployment_queues,
)
from plg_handoff.activities.crm import HandoffFacts, opportunity_draft
from plg_handoff.activities.funnel_reader import rfc3339
from plg_handoff.config import Config
from plg_handoff.connectors.base import CrmConnector, OpportunityDraft, RefreshResult
from plg_handoff.connectors.errors import InvalidInput
from plg_handoff.logs import get_logger

log = get_logger(__name__)
OPEN_STAGES = ("assigned", "contacted", "meeting")
CONCURRENT_QUERIES = 16
VISIBILITY_PAGE = 1_000
# An account evaluated after one refresh is read by the next ones within this many cycles: a
# refresh that failed or a record the CRM refused is tried again by the next two cycles.
REFRESH_LOOKBACK_CYCLES = 3
MIN_LOOKBACK = timedelta(minutes=15)  # an evaluation backlog at a burst outlasts short cycles


@dataclass
class RefreshOpenInput:
    source: str  # the sync cycle that asks, for the logs


@dataclass
class RefreshOpenResult:
    supported: bool = True  # the CRM connector has a batch refresh
    open: int = 0  # open handoffs found
    recently_evaluated: int = 0  # of them, whose account was evaluated within the lookback
    without_usage: int = 0  # their account has no firing evaluation now: left as they are
    read: int = 0
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    missing: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # external id -> the CRM's reason
    unreadable: list[str] = field(default_factory=list)
    """Accounts whose `state` query failed this cycle: skipped, the others refreshed."""


def evaluated_since_query(task_queue: str, since: datetime) -> str:
    return (
        f'WorkflowType = "{ACCOUNT_WORKFLOW}" AND TaskQueue = "{task_queue}" '
        f'AND {sa.SIGNAL_AT.name} >= "{rfc3339(since)}"'
    )


def open_handoffs_query(task_queue: str) -> str:
    stages = ", ".join(f'"{stage}"' for stage in OPEN_STAGES)
    return (
        f'WorkflowType = "HandoffWorkflow" AND ExecutionStatus = "Running" '
        f"AND {deployment_queues(task_queue)} AND {sa.HANDOFF_STAGE.name} IN ({stages})"
    )


class RefreshActivities:
    def __init__(self, crm: CrmConnector, client: Client, config: Config) -> None:
        self._crm = crm
        self._client = client
        self._config = config

    @activity.defn(name="refresh_open_opportunities")
    async def refresh_open_opportunities(self, request: RefreshOpenInput) -> RefreshOpenResult:
        refresh = getattr(self._crm, "refresh_opportunities", None)
        if refresh is None:
            return RefreshOpenResult(supported=False)
        handoffs = [
            execution
            async for execution in self._client.list_workflows(
                open_handoffs_query(self._config.temporal.task_queue),
                page_size=VISIBILITY_PAGE,
            )
        ]
        evaluated = await self._evaluated_since(datetime.now(UTC) - self._lookback(request))
        moved = [h for h in handoffs if h.typed_search_attributes.get(sa.ACCOUNT_ID) in evaluated]
        unreadable: list[str] = []
        drafts = await self._drafts(moved, unreadable)
        result = RefreshOpenResult(
            open=len(handoffs),
            recently_evaluated=len(moved),
            without_usage=len(moved) - len(drafts) - len(unreadable),
            unreadable=sorted(unreadable),
        )
        if drafts:
            try:
                done: RefreshResult = await asyncio.to_thread(refresh, drafts)
            except InvalidInput as exc:
                result.refused = {r.record: r.message for r in exc.records}
                for record in exc.records:
                    log.warning(
                        "crm.refresh_refused", external_id=record.record, reason=record.message
                    )
            else:
                result.read, result.unchanged = done.read, done.unchanged
                result.updated = list(done.updated)
                result.missing, result.closed = list(done.missing), list(done.closed)
        log.info(
            "crm.refreshed",
            source=request.source,
            open=result.open,
            recently_evaluated=result.recently_evaluated,
            updated=len(result.updated),
            unchanged=result.unchanged,
            refused=len(result.refused),
            missing=len(result.missing),
            unreadable=len(result.unreadable),
        )
        return result

    def _lookback(self, request: RefreshOpenInput) -> timedelta:
        intervals = [s.sync_interval for s in self._config.sources if s.name == request.source]
        interval = intervals[0] if intervals else MIN_LOOKBACK
        return max(MIN_LOOKBACK, REFRESH_LOOKBACK_CYCLES * interval)

    async def _evaluated_since(self, since: datetime) -> set[str]:
        query = evaluated_since_query(self._config.temporal.task_queue, since)
        found: set[str] = set()
        async for execution in self._client.list_workflows(query, page_size=VISIBILITY_PAGE):
            account_id = execution.typed_search_attributes.get(sa.ACCOUNT_ID)
            if account_id is not None:
                found.add(account_id)
        return found

    async def _drafts(
        self, handoffs: Sequence[WorkflowExecution], unreadable: list[str]
    ) -> list[OpportunityDraft]:
        """One draft per handoff whose account has a firing evaluation now. An account whose
        query fails (gone, failing its workflow task, refusing the query) is skipped and listed
        in `unreadable`: one bad account never costs the others their refresh."""
        gate = asyncio.Semaphore(CONCURRENT_QUERIES)

        async def draft(execution: WorkflowExecution) -> OpportunityDraft | None:
            attributes = execution.typed_search_attributes
            account_id = attributes.get(sa.ACCOUNT_ID)
            owner_id = attributes.get(sa.OWNER_ID)
            if account_id is None or owner_id is None:
                return None
            async with gate:
                try:
                    summary = await self._client.get_workflow_handle(
                        account_workflow_id(account_id)
                    ).query(ACCOUNT_STATE_QUERY, result_type=AccountSummary)
                except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
                    log.warning(
                        "crm.refresh_account_unreadable",
                        account_id=account_id,
                        error_type=type(exc).__name__,
                        error=str(exc)[:300],
                    )
                    unreadable.append(account_id)
                    return None
            evaluation = summary.last_evaluation
            if evaluation is None or evaluation.lead is None or summary.traits is None:
                return None
            facts = HandoffFacts(execution.id, account_id, summary.traits, evaluation)
            return opportunity_draft(facts, owner_id)

        found = await asyncio.gather(*(draft(execution) for execution in handoffs))
        return [d for d in found if d is not None]
