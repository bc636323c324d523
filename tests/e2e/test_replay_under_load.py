"""Account workflows replay from their histories after evaluations that outlived their workflow
task, as they do under load: a worker with a one-entry cache answers every query by replaying.

The evaluation here takes about as long as the SDK waits before it heartbeats the workflow task,
and the worker's event loop is busy when the evaluation returns (what a loaded 2-core worker
does): the SDK then records the local activity's marker in the heartbeat, before the workflow
code saw the result. A patch decided after the evaluation fell in the next task, and the
account could never be queried or replayed again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from plg_handoff.activities.contracts import (
    ACCOUNT_STATE_QUERY,
    USAGE_SIGNAL,
    AccountInput,
    AccountSummary,
    UsageUpdate,
    account_workflow_id,
)
from plg_handoff.activities.evaluate import EvaluateActivities, EvaluateInput, EvaluateResult
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.payloads import DATA_CONVERTER
from plg_handoff.workflows.account import AccountWorkflow
from plg_handoff.workflows.registry import ALL_WORKFLOWS
from tests.conftest import make_config
from tests.support import eventually, record_history

pytestmark = pytest.mark.e2e
TASK_TIMEOUT = timedelta(seconds=2)  # the SDK heartbeats the task after 80 %: 1.6 s
EVALUATION_S = 1.5
BUSY_LOOP_S = 0.5
ACCOUNTS = 4


def slow_evaluation(
    real: EvaluateActivities, loop: asyncio.AbstractEventLoop
) -> Callable[[EvaluateInput], EvaluateResult]:
    @activity.defn(name="evaluate_account")
    def evaluate_account(request: EvaluateInput) -> EvaluateResult:
        time.sleep(EVALUATION_S)
        loop.call_soon_threadsafe(time.sleep, BUSY_LOOP_S)  # the worker is busy elsewhere
        return real.evaluate_account(request)

    return evaluate_account


async def summary(client: Client, workflow_id: str) -> AccountSummary:
    answer: AccountSummary = await client.get_workflow_handle(workflow_id).query(
        ACCOUNT_STATE_QUERY, result_type=AccountSummary
    )
    return answer


@pytest.mark.timeout(120)
async def test_every_account_replays_after_evaluations_that_outlive_their_task(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_env.client
    config = make_config(tmp_path, "http://127.0.0.1:9")
    queue = config.temporal.task_queue
    evaluate = slow_evaluation(EvaluateActivities(config, None), asyncio.get_running_loop())
    run = uuid.uuid4().hex[:6]
    ids = [account_workflow_id(f"loaded-{run}-{n}") for n in range(ACCOUNTS)]
    async with Worker(
        client,
        task_queue=queue,
        workflows=[AccountWorkflow],
        activities=[evaluate],
        activity_executor=ThreadPoolExecutor(max_workers=ACCOUNTS),
        max_cached_workflows=1,  # every other account's task and query replays it
    ):
        for n, workflow_id in enumerate(ids):
            account = workflow_id.removeprefix("account/")
            await client.start_workflow(
                AccountWorkflow.run,
                AccountInput(account),
                id=workflow_id,
                task_queue=queue,
                task_timeout=TASK_TIMEOUT,
                start_signal=USAGE_SIGNAL,
                start_signal_args=[
                    UsageUpdate(
                        account,
                        [DayRollup("2026-12-01", {"Report Viewed": 3 + n}, 2, {"seats": 2})],
                        AccountTraits(name=account, plan="team", limits={"seats": 10}),
                    )
                ],
            )
        for workflow_id in ids:
            found = await eventually(
                lambda w=workflow_id: summary(client, w),  # type: ignore[misc]
                lambda s: s.last_evaluation is not None,
                timeout_s=60,
            )
            assert found.last_evaluation is not None
        await record_history(client, ids[0], "account_slow_evaluation")

    replayer = Replayer(workflows=list(ALL_WORKFLOWS), data_converter=DATA_CONVERTER)
    failures = {}
    for workflow_id in ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[workflow_id] = str(result.replay_failure)[:200]
    assert failures == {}
