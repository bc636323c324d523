"""What `build_worker` hands the SDK's workers from the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from plg_handoff.config import load_secrets
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from tests.conftest import TOKEN, make_config


async def test_the_workflow_cache_is_a_setting_of_both_workflow_queues(
    tmp_path: Path,
    hubspot: HubSpotEmulator,
    dev_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    config = make_config(tmp_path, hubspot.url, temporal={"max_cached_workflows": 12_000})
    secrets = load_secrets(config)
    workers = build_worker(dev_env.client, config, secrets, build_crm(config, secrets))

    settings = [worker.config() for worker in workers.workers]
    caches = [s.get("max_cached_workflows") for s in settings if s.get("workflows")]

    assert caches == [12_000, 12_000]  # the accounts' queue and the handoffs' queue
