"""assign_owner through the real activity: the HubSpot emulator over HTTP, the owner-pool entity
workflows on the Temporal dev server (visibility answers the open-handoff counts)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from temporalio.api.enums.v1 import EventType
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from plg_handoff import search_attributes as sa
from plg_handoff.activities.contracts import handoff_task_queue, owner_pool_workflow_id
from plg_handoff.activities.crm import AssignedOwner, AssignOwnerInput, CrmActivities, HandoffFacts
from plg_handoff.config import Config
from plg_handoff.connectors.hubspot import HubSpotCrm
from plg_handoff.domain.engine import Evaluation
from plg_handoff.domain.triggers.registry import FiredTrigger
from plg_handoff.domain.usage import AccountTraits
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.workflows.owner_pool import OwnerPoolWorkflow
from tests.conftest import TOKEN, make_config
from tests.support import eventually

MAYA, DANIEL, PRIYA, TOM_ARCHIVED = "1001", "1002", "1003", "1004"


def facts(account_id: str, episode: int = 1, **traits: Any) -> HandoffFacts:
    lead = FiredTrigger(
        "limit_approaching", "volume", ["9 of 10 seats"], {}, 0.4, 1, 5.0, "2026-01-05"
    )
    evaluation = Evaluation(
        account_id, "2026-01-05", fired=[lead], segment=traits.pop("segment", "sales_assist")
    )
    return HandoffFacts(
        f"handoff/{account_id}/{episode}", account_id, AccountTraits(**traits), evaluation
    )


class Assigner:
    def __init__(self, config: Config, crm: HubSpotCrm, env: WorkflowEnvironment) -> None:
        self.config = config
        self.activities = CrmActivities(crm, env.client, config)

    async def __call__(
        self,
        handoff: HandoffFacts,
        *,
        exclude: list[str] | None = None,
        round_: int = 0,
    ) -> AssignedOwner:
        request = AssignOwnerInput(
            handoff.handoff_key, handoff.account_id, handoff, exclude or [], round_
        )
        result: AssignedOwner = await ActivityEnvironment().run(
            self.activities.assign_owner, request
        )
        return result


@asynccontextmanager
async def assigner(
    tmp_path: Path, hubspot: HubSpotEmulator, env: WorkflowEnvironment, crm: dict[str, Any]
) -> AsyncIterator[Assigner]:
    config = make_config(
        tmp_path, hubspot.url, crm={"kind": "hubspot", "base_url": hubspot.url, **crm}
    )
    connector = HubSpotCrm(config.crm, TOKEN)  # type: ignore[arg-type]
    connector.ensure_properties()
    async with Worker(
        env.client,
        task_queue=handoff_task_queue(config.temporal.task_queue),  # where the pools run
        workflows=[OwnerPoolWorkflow],
    ):
        yield Assigner(config, connector, env)


@pytest.fixture
async def assign(
    tmp_path: Path, hubspot: HubSpotEmulator, dev_env: WorkflowEnvironment, request: Any
) -> AsyncIterator[Assigner]:
    async with assigner(tmp_path, hubspot, dev_env, getattr(request, "param", {})) as assign:
        yield assign


def add_company(hubspot: HubSpotEmulator, **properties: str) -> str:
    answer = requests.post(
        f"{hubspot.url}/crm/v3/objects/companies",
        json={"properties": properties},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    answer.raise_for_status()
    return str(answer.json()["id"])


async def test_round_robin_over_active_owners_and_the_same_answer_when_asked_again(
    assign: Assigner,
) -> None:
    account = f"acct-{uuid.uuid4().hex[:6]}"
    owners = [(await assign(facts(account, n))).owner_id for n in range(1, 5)]
    assert sorted(owners[:3]) == [MAYA, DANIEL, PRIYA]
    assert owners[3] == owners[0]
    assert TOM_ARCHIVED not in owners
    again = await assign(facts(account, 2))
    assert again.owner_id == owners[1]


async def test_the_accounts_active_owner_comes_first_unless_excluded(
    assign: Assigner, hubspot: HubSpotEmulator
) -> None:
    company = add_company(
        hubspot, name="Owned", plg_account_id="acct-owned", hubspot_owner_id=PRIYA
    )
    first = await assign(facts("acct-owned"))
    assert (first.owner_id, first.reason, first.account_ref) == (PRIYA, "existing_owner", company)

    moved = await assign(facts("acct-owned"), exclude=[PRIYA], round_=1)
    assert moved.owner_id != PRIYA
    assert moved.reason == "round_robin"
    assert (await assign(facts("acct-owned"), exclude=[PRIYA], round_=1)) == moved


async def test_a_deactivated_account_owner_is_skipped(
    tmp_path: Path, hubspot: HubSpotEmulator, dev_env: WorkflowEnvironment
) -> None:
    async with assigner(tmp_path, hubspot, dev_env, {}) as assign:
        add_company(hubspot, name="Gone", plg_account_id="acct-gone", hubspot_owner_id=PRIYA)
        hubspot.deactivate_owner(PRIYA)
        owner = await assign(facts("acct-gone"))
    assert owner.reason == "round_robin"
    assert owner.owner_id in {MAYA, DANIEL}


@pytest.mark.parametrize(
    "assign",
    [
        {
            "owner_pool": [MAYA, DANIEL],
            "routing": [
                {
                    "name": "emea-ent",
                    "owners": [PRIYA],
                    "regions": ["EMEA"],
                    "segments": ["enterprise"],
                },
                {"name": "fintech", "owners": [DANIEL, TOM_ARCHIVED], "industries": ["fintech"]},
            ],
        }
    ],
    indirect=True,
)
async def test_routing_rules_choose_the_pool(assign: Assigner) -> None:
    emea = await assign(facts("acct-r1", region="emea", segment="enterprise"))
    assert (emea.owner_id, emea.pool) == (PRIYA, "emea-ent")
    fintech = [(await assign(facts(f"acct-f{n}", industry="Fintech"))).owner_id for n in range(3)]
    assert fintech == [DANIEL] * 3  # the archived owner of the pool is skipped
    other = {(await assign(facts(f"acct-d{n}", region="emea"))).owner_id for n in range(4)}
    assert other == {MAYA, DANIEL}


@pytest.mark.parametrize(
    "assign", [{"owner_pool": [MAYA, DANIEL], "max_open_per_owner": 2}], indirect=True
)
async def test_a_full_owner_is_skipped_until_everyone_is_full(assign: Assigner) -> None:
    async def owner(n: int, exclude: str | None = None) -> str:
        assigned = await assign(facts(f"acct-c{n}"), exclude=[exclude] if exclude else [])
        return assigned.owner_id

    assert [await owner(1, DANIEL), await owner(2, DANIEL), await owner(3, MAYA)] == [
        MAYA,
        MAYA,
        DANIEL,
    ]
    # Maya was assigned least recently but holds 2 open handoffs, the cap.
    assert await owner(4) == DANIEL
    # Both at the cap: the least loaded, then least recent, gets it (logged as over capacity).
    assert await owner(5) == MAYA


@pytest.mark.parametrize(
    "assign", [{"owner_pool": [MAYA, DANIEL], "max_open_per_owner": 1}], indirect=True
)
async def test_open_handoffs_that_visibility_lists_count_toward_the_cap(
    assign: Assigner, dev_env: WorkflowEnvironment
) -> None:
    """Maya comes first in a fresh rotation, but a running handoff of hers (assigned before,
    by another worker or as the account's owner) fills her cap of 1."""
    client, task_queue = dev_env.client, assign.config.temporal.task_queue
    busy = await client.start_workflow(
        "HandoffWorkflow",
        "a stand-in: only its search attributes matter here",
        id=f"handoff/busy-{uuid.uuid4().hex[:6]}/1",
        task_queue=task_queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.OWNER_ID, MAYA)]),
    )
    try:
        query = (
            f'WorkflowType="HandoffWorkflow" AND ExecutionStatus="Running"'
            f' AND TaskQueue="{task_queue}" AND OwnerId="{MAYA}"'
        )
        await eventually(lambda: client.count_workflows(query), lambda c: c.count == 1)
        assert (await assign(facts("acct-v1"))).owner_id == DANIEL
    finally:
        await busy.terminate()


@pytest.mark.parametrize("assign", [{"owner_pool": [MAYA]}], indirect=True)
async def test_no_owner_left_is_an_error_naming_the_pool(assign: Assigner) -> None:
    with pytest.raises(ApplicationError, match="no active CRM owner left in pool 'default'") as e:
        await assign(facts("acct-x"), exclude=[MAYA], round_=1)
    assert e.value.type == "NoActiveOwner"
    assert e.value.non_retryable  # only the exclusions leave nobody: retrying cannot help


BURST = 60
SEARCH_COMPANIES = "/crm/v3/objects/companies/search"


async def pool_updates(env: WorkflowEnvironment, config: Config) -> int:
    """Updates the pool's entity workflow took, over all its runs."""
    pool_id = owner_pool_workflow_id(config.temporal.task_queue, "default")
    count = 0
    async for execution in env.client.list_workflows(f'WorkflowId = "{pool_id}"'):
        history = await env.client.get_workflow_handle(
            pool_id, run_id=execution.run_id
        ).fetch_history()
        count += sum(
            1
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        )
    return count


@pytest.mark.parametrize("cap", [None, BURST // 3])
async def test_a_burst_of_handoffs_is_assigned_fairly_in_a_few_pool_updates(
    tmp_path: Path, dev_env: WorkflowEnvironment, cap: int | None
) -> None:
    """60 handoffs opening at once (a first sync, a backfill): every one gets an owner, the
    three owners get 20 each (the cap, when there is one, is never passed), asking again gives
    the same answers, and the pool's entity takes a handful of updates, not 60: a workflow
    takes at most 10 updates in flight, and one update per handoff made the pool the
    bottleneck of every handoff. The companies are looked up in a few searches, under
    HubSpot's 4 searches a second."""
    hubspot = HubSpotEmulator(token=TOKEN)  # HubSpot's limits: 4 searches/s among them
    hubspot.start()
    crm = {"owner_pool": [MAYA, DANIEL, PRIYA], "max_open_per_owner": cap}
    try:
        async with assigner(tmp_path, hubspot, dev_env, crm) as assign:
            handoffs = [facts(f"acct-burst-{n}-{uuid.uuid4().hex[:4]}") for n in range(BURST)]
            first = await asyncio.gather(*(assign(h) for h in handoffs))
            again = await asyncio.gather(*(assign(h) for h in handoffs[:10]))
            updates = await pool_updates(dev_env, assign.config)
            searches = [c for c in hubspot.calls if c == ("POST", SEARCH_COMPANIES)]
            refusals = hubspot.refusals
    finally:
        hubspot.stop()
    owners = [a.owner_id for a in first]
    assert Counter(owners) == {MAYA: 20, DANIEL: 20, PRIYA: 20}
    assert [a.owner_id for a in again] == owners[:10]
    assert updates <= BURST // 5
    # The accounts' companies are looked up a batch a search, not one search each.
    assert 1 <= len(searches) <= BURST // 5
    assert refusals == {}
