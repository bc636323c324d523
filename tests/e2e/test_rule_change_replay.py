"""Records the history the replay tests use to show that changing a rule never breaks a running
account: a handoff opened under a 50 % threshold (`RECORD_HISTORIES=1` writes it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from plg_handoff.config import load_secrets
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from tests.conftest import TOKEN, make_config
from tests.e2e.test_operator_controls import seats
from tests.support import eventually, handoff_status, record_history, sync

pytestmark = pytest.mark.e2e
ACCOUNT = "rule-change"  # also named in tests/test_replay.py


async def test_a_handoff_opened_under_a_lower_threshold(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    client = dev_env.client
    config = make_config(tmp_path, hubspot.url, rules={"limit_approaching": {"threshold": 0.5}})
    crm = build_crm(config, load_secrets(config))
    crm.ensure_properties()
    seats(tmp_path, ACCOUNT, yesterday=5, today=6)  # 60 %: over 0.5, under the default 0.8
    async with build_worker(client, config, load_secrets(config), crm):
        await sync(client, config)
        status = await eventually(
            lambda: handoff_status(client, f"handoff/{ACCOUNT}/1"),
            lambda s: s is not None and s.stage == "assigned",
        )
        assert status is not None
        await record_history(client, f"account/{ACCOUNT}", "account_threshold_0_5")
