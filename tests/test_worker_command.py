"""`handoff worker`, as production runs it: bad configuration fails at start-up naming what is
wrong; a good one connects, creates the sync Schedule and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from temporalio.client import ScheduleDescription
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from plg_handoff.config import load_config, load_secrets
from plg_handoff.devserver import DevServer
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm
from tests.conftest import TOKEN
from tests.support import free_port

HANDOFF = Path(sys.executable).parent / "handoff"


def write_config(tmp_path: Path, address: str, hubspot_url: str, extra: str = "") -> Path:
    path = tmp_path / "handoff.toml"
    path.write_text(
        f"""
data_dir = "data"
[temporal]
address = "{address}"
task_queue = "worker-cmd-{tmp_path.name}"
[[sources]]
kind = "file"
name = "demo"
path = "usage"
sync_interval = "1h"
[crm]
kind = "hubspot"
base_url = "{hubspot_url}"
{extra}
""",
        encoding="utf-8",
    )
    return path


def run_worker(config: Path, token: str | None = TOKEN) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    if token:
        env["HANDOFF_HUBSPOT_ACCESS_TOKEN"] = token
    env["HANDOFF_TEMPORAL_API_KEY"] = ""
    return subprocess.Popen(
        [str(HANDOFF), "worker", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def schedule_of_running_worker(
    env: WorkflowEnvironment, process: subprocess.Popen[str], timeout_s: float
) -> ScheduleDescription:
    """The sync Schedule once the worker created it; the worker must stay up meanwhile."""
    handle = env.client.get_schedule_handle("usage-sync/demo")
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, process.communicate()[0]
        try:
            return await handle.describe()
        except RPCError as exc:  # NOT_FOUND until the worker created it
            if exc.status != RPCStatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_bad_setting_fails_at_start_naming_the_field(
    tmp_path: Path, hubspot: HubSpotEmulator
) -> None:
    config = write_config(
        tmp_path, "127.0.0.1:1", hubspot.url, "[rules.limit_approaching]\nthreshold = 1.5"
    )
    process = run_worker(config)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "rules.limit_approaching.threshold" in output
    assert "less than or equal to 1" in output


def test_missing_token_fails_naming_the_variable(tmp_path: Path, hubspot: HubSpotEmulator) -> None:
    process = run_worker(write_config(tmp_path, "127.0.0.1:1", hubspot.url), token=None)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "HANDOFF_HUBSPOT_ACCESS_TOKEN" in output


def test_missing_crm_properties_fail_with_the_fix(tmp_path: Path, hubspot: HubSpotEmulator) -> None:
    process = run_worker(write_config(tmp_path, "127.0.0.1:1", hubspot.url))
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "plg_handoff_id" in output and "handoff crm setup" in output


async def test_worker_creates_the_schedule_and_stops_on_sigterm(
    tmp_path: Path,
    hubspot: HubSpotEmulator,
    dev_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    address = dev_env.client.service_client.config.target_host
    config_path = write_config(tmp_path, address, hubspot.url)
    config = load_config(config_path)
    build_crm(config, load_secrets(config)).ensure_properties()

    process = run_worker(config_path)
    try:
        description = await schedule_of_running_worker(dev_env, process, timeout_s=30)
        assert description.schedule.spec.intervals[0].every.total_seconds() == 3600
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        await dev_env.client.get_schedule_handle("usage-sync/demo").delete()
    assert process.returncode == 0, output
    assert "worker.started" in output and "worker.stopped" in output


async def test_the_worker_rides_out_crm_hiccups_at_start(
    tmp_path: Path,
    hubspot: HubSpotEmulator,
    dev_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three 503s, a 429 with Retry-After and an answer slower than the CRM timeout while the
    worker checks the CRM: it waits them out (each retry logged) and starts."""
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    address = dev_env.client.service_client.config.target_host
    config_path = write_config(tmp_path, address, hubspot.url, 'timeout = "2s"')
    config = load_config(config_path)
    build_crm(config, load_secrets(config)).ensure_properties()
    hubspot.faults.fail_next(3, 503)
    hubspot.faults.rate_limit_next(1, retry_after_s=1)
    hubspot.faults.slow_next(1, seconds=3)

    process = run_worker(config_path)
    try:
        await schedule_of_running_worker(dev_env, process, timeout_s=60)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        await dev_env.client.get_schedule_handle("usage-sync/demo").delete()
    assert process.returncode == 0, output
    # the connector waits out the shortest hiccups itself; what is left is retried here
    assert '"event": "worker.startup_retry"' in output, output
    assert '"check": "crm.properties"' in output
    assert "worker.started" in output


def test_a_wrong_crm_token_ends_the_start_at_once(tmp_path: Path, hubspot: HubSpotEmulator) -> None:
    """A definite refusal is not retried: the worker exits, saying why."""
    started = time.monotonic()
    refused = "not-the-private-app-token"
    process = run_worker(write_config(tmp_path, "127.0.0.1:1", hubspot.url), token=refused)
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "worker.startup_retry" not in output
    assert time.monotonic() - started < 20


async def test_a_worker_started_before_temporal_waits_for_it(
    tmp_path: Path, hubspot: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that starts while the server restarts (or before it, in a compose file)
    connects once the server is up, each wait logged, instead of exiting."""
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    server = DevServer(tmp_path / "temporal", port=free_port(), ui_port=free_port())
    config_path = write_config(tmp_path, server.address, hubspot.url)
    config = load_config(config_path)
    build_crm(config, load_secrets(config)).ensure_properties()

    process = run_worker(config_path)
    try:
        time.sleep(2.5)  # the worker's first attempts meet no server
        assert process.poll() is None
        client = await server.start()
        env = WorkflowEnvironment.from_client(client)
        await schedule_of_running_worker(env, process, timeout_s=60)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        server.stop()
    assert process.returncode == 0, output
    assert '"check": "temporal ' in output and "worker.startup_retry" in output, output
    assert "worker.started" in output
