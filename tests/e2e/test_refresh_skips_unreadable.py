"""One account whose `state` query fails (its workflow fails its tasks, or is not what the
query expects) is skipped and counted by the bulk refresh; every other open opportunity is
still refreshed in that cycle."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from plg_handoff import search_attributes as sa
from plg_handoff.activities.contracts import (
    ACCOUNT_STATE_QUERY,
    AccountSummary,
    account_workflow_id,
)
from plg_handoff.activities.refresh import (
    RefreshActivities,
    RefreshOpenInput,
    RefreshOpenResult,
)
from plg_handoff.config import load_secrets
from plg_handoff.domain.engine import Evaluation
from plg_handoff.domain.triggers.registry import FiredTrigger
from plg_handoff.domain.usage import AccountTraits
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm
from tests.conftest import TOKEN, make_config
from tests.support import eventually

pytestmark = pytest.mark.e2e


@workflow.defn(name="HandoffWorkflow")
class OpenHandoff:
    """Stands in for a running handoff: visibility lists it as assigned."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@workflow.defn(name="AccountWorkflow")
class ReadableAccount:
    @workflow.run
    async def run(self, account_id: str) -> None:
        self._id = account_id
        await workflow.wait_condition(lambda: False)

    @workflow.query(name=ACCOUNT_STATE_QUERY)
    def state(self) -> AccountSummary:
        fired = FiredTrigger(
            "limit_approaching", "volume", ["9 of 10 seats"], {"seats": 9}, 0.4, 2, 12.0, "x"
        )
        return AccountSummary(
            self._id,
            1,
            f"handoff/{self._id}/1",
            None,
            3,
            "2026-12-01",
            last_evaluation=Evaluation(self._id, "2026-12-01", [fired], route="sales", tier=2),
            traits=AccountTraits(name="Readable Co", plan="team"),
        )


@workflow.defn(name="UnreadableAccount")
class UnreadableAccount:
    """Answers no `state` query: the query fails, as it does for an account whose workflow
    cannot replay."""

    @workflow.run
    async def run(self, account_id: str) -> None:
        await workflow.wait_condition(lambda: False)


async def test_a_failing_account_query_is_skipped_and_the_others_are_refreshed(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    client = dev_env.client
    config = make_config(tmp_path, hubspot.url)
    queue = config.temporal.task_queue
    suffix = uuid.uuid4().hex[:8]
    good, bad = f"readable-{suffix}", f"unreadable-{suffix}"
    crm = build_crm(config, load_secrets(config))
    crm.ensure_properties()
    async with Worker(
        client,
        task_queue=queue,
        workflows=[OpenHandoff, ReadableAccount, UnreadableAccount],
        workflow_runner=UnsandboxedWorkflowRunner(),  # stand-ins with nothing to guard
    ):
        for account, kind in ((good, ReadableAccount.run), (bad, UnreadableAccount.run)):
            await client.start_workflow(
                kind, account, id=account_workflow_id(account), task_queue=queue
            )
            await client.start_workflow(
                OpenHandoff.run,
                id=f"handoff/{account}/1",
                task_queue=queue,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(sa.ACCOUNT_ID, account),
                        SearchAttributePair(sa.OWNER_ID, "owner-1"),
                        SearchAttributePair(sa.HANDOFF_STAGE, "assigned"),
                    ]
                ),
            )
        refresh = RefreshActivities(crm, client, config)
        environment = ActivityEnvironment()

        async def run_refresh() -> RefreshOpenResult:
            return await asyncio.wait_for(
                environment.run(refresh.refresh_open_opportunities, RefreshOpenInput("demo")),
                timeout=30,
            )

        # Visibility lists the two handoffs a moment after they start.
        result = await eventually(run_refresh, lambda r: r.open == 2)

    assert result.unreadable == [bad]
    # The readable account's opportunity was looked up in the CRM (it has none there yet).
    assert result.missing == [f"handoff/{good}/1"]
