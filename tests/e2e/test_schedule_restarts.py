"""A worker's start creates its sources' Schedules and runs each once; a worker that merely
restarts runs nothing more (each run spends the source's query budget: Mixpanel allows 60
exports an hour, and a crash-looping worker would spend them all), while a changed interval
runs at once."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, ScheduleHandle
from temporalio.testing import WorkflowEnvironment

from plg_handoff.schedules import ensure_schedules, schedule_id
from tests.conftest import make_config

pytestmark = pytest.mark.e2e


async def actions_settle(
    client: Client, handle: ScheduleHandle, at_least: int, within_s: float = 10
) -> int:
    """The Schedule's runs so far, once `at_least` are seen and a moment passed; each run is
    ended at once (no worker serves this test), so the next is never skipped as an overlap."""
    deadline = time.monotonic() + within_s
    while True:
        info = (await handle.describe()).info
        if info.num_actions >= at_least or time.monotonic() > deadline:
            await asyncio.sleep(0.5)
            info = (await handle.describe()).info
            for running in info.running_actions:
                if isinstance(running, ScheduleActionExecutionStartWorkflow):
                    await client.get_workflow_handle(running.workflow_id).terminate("test")
            return info.num_actions
        await asyncio.sleep(0.1)


async def test_a_restart_runs_nothing_and_a_new_interval_runs_at_once(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    name = f"restarts-{tmp_path.name[-12:]}"
    config = make_config(tmp_path, "http://127.0.0.1:9")
    source = config.sources[0].model_copy(update={"name": name})
    config = config.model_copy(update={"sources": [source]})
    handle = dev_env.client.get_schedule_handle(schedule_id(name))
    try:
        await ensure_schedules(dev_env.client, config)  # the first start: runs once
        assert await actions_settle(dev_env.client, handle, 1) == 1
        await ensure_schedules(dev_env.client, config)  # restarts
        await ensure_schedules(dev_env.client, config)
        assert await actions_settle(dev_env.client, handle, 2, within_s=3) == 1

        faster = source.model_copy(update={"sync_interval": timedelta(minutes=2)})
        await ensure_schedules(dev_env.client, config.model_copy(update={"sources": [faster]}))
        assert await actions_settle(dev_env.client, handle, 2) == 2
    finally:
        await handle.delete()
