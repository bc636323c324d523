"""A worker killed while a CRM call is in flight (issue 15, defect 5): the call is retried after
its heartbeat timeout (15 s), not its start-to-close timeout (2 minutes), and the handoff's deal
lands within 30 s of the kill. Two `handoff worker` processes, the dev server, the HubSpot
emulator holding the first CRM answer until the worker is dead."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.testing import WorkflowEnvironment

from plg_handoff.config import load_config, load_secrets
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm
from tests.conftest import TOKEN
from tests.e2e.test_worker_crash import start_worker, tail
from tests.support import eventually, handoff_status, start_account_near_its_seat_limit

pytestmark = pytest.mark.e2e
RECOVERY_S = 30


def write_config(tmp_path: Path, address: str, hubspot_url: str, source: str) -> Path:
    path = tmp_path / "handoff.toml"
    path.write_text(
        f"""
data_dir = "data"
[temporal]
address = "{address}"
task_queue = "recovery-{uuid.uuid4().hex[:8]}"
[[sources]]
kind = "file"
name = "{source}"
path = "usage"
sync_interval = "1h"
[crm]
kind = "hubspot"
base_url = "{hubspot_url}"
[handoff]
follow_up_poll_interval = "1h"
""",
        encoding="utf-8",
    )
    (tmp_path / "usage").mkdir()
    return path


async def test_a_crm_call_on_a_killed_worker_is_retried_within_seconds(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = dev_env.client
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    source = f"recovery-{uuid.uuid4().hex[:6]}"  # Schedule ids are namespace-wide
    config_path = write_config(
        tmp_path, client.service_client.config.target_host, hubspot.url, source
    )
    config = load_config(config_path)
    build_crm(config, load_secrets(config)).ensure_properties()
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers: list[subprocess.Popen[str]] = []
    account = f"recovery-{uuid.uuid4().hex[:6]}"
    handoff = f"handoff/{account}/1"
    try:
        with logs[0].open("w") as log:
            workers.append(start_worker(config_path, log))
        await eventually(
            lambda: asyncio.sleep(0, "worker.started" in logs[0].read_text()),
            lambda started: started,
            timeout_s=30,
        )
        hubspot.faults.slow_next(1, seconds=60)  # the handoff's first CRM call hangs
        await start_account_near_its_seat_limit(client, config.temporal.task_queue, account)

        async def in_flight() -> bool:
            try:
                description = await client.get_workflow_handle(handoff).describe()
            except Exception:  # noqa: BLE001  # not started yet
                return False
            return any(
                a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                for a in description.raw_description.pending_activities
            )

        await eventually(in_flight, lambda started: started, timeout_s=30)
        await asyncio.sleep(1)  # the call is at the emulator, waiting
        workers[0].kill()  # SIGKILL: the server is told nothing
        workers[0].wait(timeout=10)
        killed_at = time.monotonic()
        with logs[1].open("w") as log:
            workers.append(start_worker(config_path, log))
        status = await eventually(
            lambda: handoff_status(client, handoff),
            lambda s: s is not None and s.stage == "assigned",
            timeout_s=RECOVERY_S + 15,
        )
        recovered_s = time.monotonic() - killed_at
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)
        await client.get_schedule_handle(f"usage-sync/{source}").delete()
    print(f"\nthe deal landed {recovered_s:.1f} s after the kill")
    assert status is not None
    assert recovered_s <= RECOVERY_S, (recovered_s, tail(logs[1]))
    deals = [d for d in hubspot.objects("deals") if d["properties"]["plg_handoff_id"] == handoff]
    assert len(deals) == 1
