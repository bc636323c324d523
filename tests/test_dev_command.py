"""`handoff dev` itself, as a newcomer runs it: deals appear within a minute, Ctrl-C stops every
child process, and a second run carries on with the same data."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from tests.support import HANDOFF, free_port

pytestmark = pytest.mark.slow
DEALS_WITHIN_S = 60


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def deals(sandbox_port: int) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{sandbox_port}/crm/v3/objects/deals?limit=100&properties=plg_handoff_id",
        headers={"Authorization": "Bearer sandbox-token"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310  # local sandbox
            results: list[dict[str, Any]] = json.load(answer)["results"]
            return results
    except OSError:
        return []


@contextmanager
def handoff_dev(cwd: Path, ports: dict[str, int]) -> Iterator[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    process = subprocess.Popen(
        [
            str(HANDOFF),
            "dev",
            "--port",
            str(ports["temporal"]),
            "--ui-port",
            str(ports["ui"]),
            "--sandbox-port",
            str(ports["sandbox"]),
            "--sync-interval",
            "5s",
            "--feed-interval",
            "5",
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for_deals(process: subprocess.Popen[bytes], sandbox_port: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DEALS_WITHIN_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"handoff dev exited early with {process.returncode}"
        found = deals(sandbox_port)
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"no deal in the sandbox CRM within {DEALS_WITHIN_S}s")


async def connect_when_up(port: int, timeout_s: float = 30) -> Client:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await Client.connect(f"127.0.0.1:{port}")
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=40)
    return output.decode("utf-8", "replace")


async def test_handoff_dev_creates_deals_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    ports = {"temporal": free_port(), "ui": free_port(), "sandbox": free_port()}

    with handoff_dev(tmp_path, ports) as first:
        created = wait_for_deals(first, ports["sandbox"])
        output = stop(first)
    assert first.returncode == 0, output
    assert "Temporal UI" in output and f"127.0.0.1:{ports['sandbox']}" in output
    assert not port_open(ports["temporal"]), "the Temporal dev server outlived Ctrl-C"
    assert not port_open(ports["sandbox"]), "the sandbox outlived Ctrl-C"
    first_ids = {d["properties"]["plg_handoff_id"] for d in created}

    data = tmp_path / ".handoff"
    assert (data / "temporal.db").exists() and (data / "handoff.toml").exists()

    with handoff_dev(tmp_path, ports) as second:
        again = wait_for_deals(second, ports["sandbox"])
        assert first_ids <= {d["properties"]["plg_handoff_id"] for d in again}
        client = await connect_when_up(ports["temporal"])
        account = next(iter(first_ids)).split("/")[1]
        description = await client.get_workflow_handle(f"account/{account}").describe()
        assert description.start_time.timestamp() < time.time() - 1
        time.sleep(6)  # at least one more sync cycle on the restarted worker
        ids = [d["properties"]["plg_handoff_id"] for d in deals(ports["sandbox"])]
        assert len(ids) == len(set(ids)), "a restart made a second deal for one handoff"
        output = stop(second)
    assert second.returncode == 0, output
