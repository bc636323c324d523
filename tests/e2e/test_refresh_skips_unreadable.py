"""One account whose `state` query fails (its workflow fails its tasks, or is not what the
query expects) is skipped and counted by the bulk refresh; every other open opportunity is
still refreshed in that cycle."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
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
from plg_handoff.config import Config, load_secrets
from plg_handoff.connectors.base import CrmConnector
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


UNREADABLE = "unreadable-"


@workflow.defn(name="AccountWorkflow")
class StandInAccount:
    """Answers the `state` query with a firing evaluation, except for an account whose id
    starts with UNREADABLE: its query fails, as it does for an account whose workflow cannot
    replay."""

    @workflow.run
    async def run(self, account_id: str) -> None:
        self._id = account_id
        await workflow.wait_condition(lambda: False)

    @workflow.query(name=ACCOUNT_STATE_QUERY)
    def state(self) -> AccountSummary:
        if self._id.startswith(UNREADABLE):
            raise ApplicationError(f"{self._id} cannot answer")
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


@pytest.fixture
def refresh_setup(
    hubspot: HubSpotEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Config, CrmConnector]:
    """The configuration and the HubSpot connector (its properties created) a refresh uses."""
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    config = make_config(tmp_path, hubspot.url)
    crm = build_crm(config, load_secrets(config))
    crm.ensure_properties()
    return config, crm


async def refresh_with(
    client: Client,
    config: Config,
    crm: CrmConnector,
    accounts: Sequence[tuple[str, bool]],
) -> RefreshOpenResult:
    """Each (account, evaluated lately) gets a stand-in account workflow and an assigned
    handoff; returns the bulk refresh's result once visibility lists them all."""
    queue = config.temporal.task_queue
    async with Worker(
        client,
        task_queue=queue,
        workflows=[OpenHandoff, StandInAccount],
        workflow_runner=UnsandboxedWorkflowRunner(),  # stand-ins with nothing to guard
    ):
        for account, evaluated_lately in accounts:
            attributes: list[SearchAttributePair[Any]] = [
                SearchAttributePair(sa.ACCOUNT_ID, account)
            ]
            if evaluated_lately:  # what an evaluation while the handoff is open sets
                attributes.append(SearchAttributePair(sa.SIGNAL_AT, datetime.now(UTC)))
            await client.start_workflow(
                StandInAccount.run,
                account,
                id=account_workflow_id(account),
                task_queue=queue,
                search_attributes=TypedSearchAttributes(attributes),
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
        lately = sum(1 for _, evaluated_lately in accounts if evaluated_lately)

        async def run_refresh() -> RefreshOpenResult:
            return await asyncio.wait_for(
                environment.run(refresh.refresh_open_opportunities, RefreshOpenInput("demo")),
                timeout=30,
            )

        # Visibility lists the workflows a moment after they start.
        return await eventually(
            run_refresh, lambda r: r.open == len(accounts) and r.recently_evaluated == lately
        )


async def test_a_failing_account_query_is_skipped_and_the_others_are_refreshed(
    dev_env: WorkflowEnvironment, refresh_setup: tuple[Config, CrmConnector]
) -> None:
    config, crm = refresh_setup
    suffix = uuid.uuid4().hex[:8]
    good, bad = f"readable-{suffix}", f"{UNREADABLE}{suffix}"
    result = await refresh_with(dev_env.client, config, crm, [(good, True), (bad, True)])
    assert result.unreadable == [bad]
    # The readable account's opportunity was looked up in the CRM (it has none there yet).
    assert result.missing == [f"handoff/{good}/1"]


async def test_only_accounts_evaluated_since_their_handoff_opened_are_queried(
    dev_env: WorkflowEnvironment, refresh_setup: tuple[Config, CrmConnector]
) -> None:
    """A burst of new handoffs, written from the evaluations that opened them, costs the
    refresh no query: an account not evaluated again is not asked (were it asked, its query
    would fail and list it as unreadable)."""
    config, crm = refresh_setup
    suffix = uuid.uuid4().hex[:8]
    moved, quiet = f"moved-{suffix}", f"{UNREADABLE}quiet-{suffix}"
    result = await refresh_with(dev_env.client, config, crm, [(moved, True), (quiet, False)])
    assert (result.open, result.recently_evaluated, result.unreadable) == (2, 1, [])
    assert result.missing == [f"handoff/{moved}/1"]
