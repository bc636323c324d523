"""A test-only stand-in for HandoffWorkflow that carries the funnel contract (the `funnel`
memo and search attributes) and ends at once: what `handoff report`, the weekly digest and
self-calibration read from visibility is tested without running the whole lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.client import Client
from temporalio.common import SearchAttributeUpdate
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from plg_handoff import search_attributes as sa


@dataclass
class FunnelFixture:
    funnel: dict[str, Any]


@workflow.defn(name="HandoffWorkflow")
class FunnelFixtureHandoffWorkflow:
    """Upserts the contract's memo and search attributes, then completes."""

    @workflow.run
    async def run(self, fixture: FunnelFixture) -> None:
        funnel = fixture.funnel
        workflow.upsert_memo({"funnel": funnel})
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.SIGNAL_AT.value_set(datetime.fromisoformat(funnel["signal_at"])),
            sa.HANDOFF_STAGE.value_set(funnel["stage"]),
            sa.TRIGGER.value_set(funnel["trigger"]),
        ]
        if funnel.get("contacted_at"):
            updates.append(
                sa.CONTACTED_AT.value_set(datetime.fromisoformat(funnel["contacted_at"]))
            )
        workflow.upsert_search_attributes(updates)


async def start_handoffs(
    client: Client, task_queue: str, funnels: Sequence[dict[str, Any]]
) -> list[str]:
    """Runs one fixture handoff per funnel (ids handoff/<task_queue>-<n>/1) and waits until
    visibility lists them all with their memo."""
    ids = [f"handoff/{task_queue}-{index}/1" for index in range(len(funnels))]
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[FunnelFixtureHandoffWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),  # a fixture with no imports to guard
    ):
        await asyncio.gather(
            *(
                client.execute_workflow(
                    FunnelFixtureHandoffWorkflow.run,
                    FunnelFixture(dict(funnel)),
                    id=workflow_id,
                    task_queue=task_queue,
                )
                for workflow_id, funnel in zip(ids, funnels, strict=True)
            )
        )
    query = f'WorkflowType="HandoffWorkflow" AND TaskQueue="{task_queue}"'
    for _ in range(150):
        listed = [e async for e in client.list_workflows(query)]
        memos = [await e.memo_value("funnel", default=None) for e in listed]
        if len(listed) == len(funnels) and all(memos):
            return ids
        await asyncio.sleep(0.2)
    raise AssertionError("the fixture handoffs never became visible")
