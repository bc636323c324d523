"""The `handoff` commands that talk to Temporal end with their own exit code: never SIGABRT
from the Temporal client's native threads at interpreter exit, never a traceback for Temporal
being unreachable or refusing a call."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support import free_port, run_handoff

# One finished run in about fifteen used to abort at exit: 24 runs catch that 4 times in 5.
RUNS = 24


def write_config(tmp_path: Path, address: str, namespace: str = "default") -> Path:
    path = tmp_path / f"handoff-{uuid.uuid4().hex[:8]}.toml"
    path.write_text(
        f'[temporal]\naddress = "{address}"\nnamespace = "{namespace}"\n'
        f'task_queue = "cli-exit-{uuid.uuid4().hex[:8]}"\n'
        '[[sources]]\nkind = "file"\nname = "demo"\npath = "usage"\n[crm]\nkind = "hubspot"\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.timeout(150)
def test_a_finished_command_exits_with_its_own_code_every_time(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    config = write_config(tmp_path, dev_env.client.service_client.config.target_host)
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(
            pool.map(lambda _: run_handoff(config, "report", "--format", "json"), range(RUNS))
        )
    assert [run.returncode for run in runs] == [0] * RUNS, [run.stderr for run in runs]
    for run in runs:
        assert json.loads(run.stdout)["groups"][-1]["group"] == "(all)"


@pytest.mark.timeout(60)
def test_temporal_refusing_or_unreachable_is_one_line_and_exit_1(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    address = dev_env.client.service_client.config.target_host
    unknown = run_handoff(write_config(tmp_path, address), "handoff", "explain", "nobody/1")
    assert unknown.returncode == 1
    assert "Temporal refused NOT_FOUND" in unknown.stderr
    assert "handoff/nobody/1" in unknown.stderr

    no_namespace = run_handoff(write_config(tmp_path, address, namespace="absent"), "report")
    assert no_namespace.returncode == 1
    assert "Temporal refused NOT_FOUND" in no_namespace.stderr
    assert "absent" in no_namespace.stderr

    down = f"127.0.0.1:{free_port()}"  # nothing listens there
    unreachable = run_handoff(write_config(tmp_path, down), "report")
    assert unreachable.returncode == 1
    assert "Temporal unreachable" in unreachable.stderr
    assert f"cannot connect to Temporal at {down}" in " ".join(unreachable.stderr.split())

    for run in (unknown, no_namespace, unreachable):
        assert "Traceback" not in run.stderr, run.stderr
