"""Usage file -> UsageSyncWorkflow -> AccountWorkflow -> HandoffWorkflow -> Salesforce
Opportunity, owner and Task, through a real Temporal dev server, the real worker and the
Salesforce emulator over HTTP (simple-salesforce on a rewriting session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.contracts import AccountSummary
from plg_handoff.config import Config, SalesforceConfig, load_secrets
from plg_handoff.sandbox.salesforce import SalesforceEmulator
from plg_handoff.worker import build_crm, build_worker
from plg_handoff.workflows.account import AccountWorkflow
from tests.conftest import make_config
from tests.e2e.test_thin_path import handoff_count, seed_usage
from tests.support import eventually, handoff_status, sync

pytestmark = pytest.mark.e2e


@pytest.fixture
def salesforce(monkeypatch: pytest.MonkeyPatch) -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator() as emulator:
        monkeypatch.setenv("HANDOFF_SALESFORCE_USERNAME", emulator.username)
        monkeypatch.setenv("HANDOFF_SALESFORCE_PASSWORD", emulator.password)
        monkeypatch.setenv("HANDOFF_SALESFORCE_SECURITY_TOKEN", emulator.security_token)
        monkeypatch.setenv("HANDOFF_SALESFORCE_CLIENT_ID", emulator.client_id)
        monkeypatch.setenv("HANDOFF_SALESFORCE_CLIENT_SECRET", emulator.client_secret)
        yield emulator


def salesforce_config(tmp_path: Path, emulator: SalesforceEmulator) -> Config:
    config = make_config(tmp_path, "http://unused.invalid")
    crm = SalesforceConfig.model_validate(
        {
            "kind": "salesforce",
            "login_url": emulator.url,
            "stage_by_trigger": {"limit_approaching": "Qualification"},
        }
    )
    return config.model_copy(update={"crm": crm})


async def test_one_hot_account_makes_exactly_one_opportunity_with_owner_and_task(
    dev_env: WorkflowEnvironment, salesforce: SalesforceEmulator, tmp_path: Path
) -> None:
    client = dev_env.client
    config = salesforce_config(tmp_path, salesforce)
    hot = "acct-sf-hot"
    seed_usage(tmp_path, hot=hot)
    secrets = load_secrets(config)
    crm = build_crm(config, secrets)
    assert crm.ensure_properties() == []

    async with build_worker(client, config, secrets, crm):
        first = await sync(client, config)
        assert first.accounts == 3
        status = await eventually(
            lambda: handoff_status(client, f"handoff/{hot}/1"),
            lambda s: s is not None and s.stage == "assigned",
        )
        assert status is not None
        second = await sync(client, config)
        assert second.accounts == 3
        account = client.get_workflow_handle(f"account/{hot}")
        summary: AccountSummary = await account.query(AccountWorkflow.state)
        assert summary.episode == 1
        assert await eventually(lambda: handoff_count(client, config), lambda n: n >= 1) == 1
        history = await client.get_workflow_handle(f"handoff/{hot}/1").fetch_history()
        assert salesforce.password not in history.to_json()

    opportunities = salesforce.records("Opportunity")
    assert len(opportunities) == 1
    opportunity = opportunities[0]
    assert opportunity["Plg_Handoff_Id__c"] == f"handoff/{hot}/1"
    assert opportunity["Plg_Account_Id__c"] == hot
    assert opportunity["Plg_Trigger__c"] == "limit_approaching"
    assert "9 of 10 seats in use (90%)" in opportunity["Plg_Evidence__c"]
    assert opportunity["Plg_Score__c"] > 0
    assert opportunity["Amount"] == 50000.0
    assert opportunity["StageName"] == "Qualification"
    active = {u["Id"] for u in salesforce.users(active=True)}
    assert opportunity["OwnerId"] in active
    assert opportunity["OwnerId"] == status.owner_id

    tasks = salesforce.records("Task")
    assert len(tasks) == 1
    task = tasks[0]
    assert task["WhatId"] == opportunity["Id"]
    assert task["OwnerId"] == opportunity["OwnerId"]
    assert "Hot Co" in task["Subject"]
    assert task["Status"] == "Not Started"
