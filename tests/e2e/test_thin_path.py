"""Usage file -> UsageSyncWorkflow -> AccountWorkflow -> HandoffWorkflow -> HubSpot deal,
through a real Temporal dev server, the real worker and the HubSpot emulator over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.contracts import AccountSummary, deployment_queues
from plg_handoff.config import Config
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from plg_handoff.workflows.account import AccountWorkflow
from tests.conftest import TOKEN, make_config
from tests.support import (
    eventually,
    handoff_status,
    record_history,
    sync,
    usage_lines,
    write_profiles,
    write_usage,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def hubspot_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)


def seed_usage(tmp_path: Path, hot: str = "acct-hot") -> None:
    """Three accounts; only `hot` is over 80 % of its seats. Workflow ids are namespace-wide,
    so each test names its own hot account."""
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    calm, near = f"{hot}-calm", f"{hot}-near"
    lines = [
        *usage_lines(hot, yesterday, users=8, seats_used=8),
        *usage_lines(hot, today, users=9, seats_used=9),  # 9 of 10 seats: 90 %
        *usage_lines(calm, today, users=5, seats_used=5),  # 50 %
        *usage_lines(near, today, users=15, seats_used=15),  # 15 of 20: 75 %
    ]
    write_usage(tmp_path / "usage", "export.jsonl", lines)
    write_profiles(
        tmp_path / "accounts.jsonl",
        {
            hot: {"name": "Hot Co", "plan": "team", "seat_limit": 10, "arr_potential": 50000},
            calm: {"name": "Calm Co", "plan": "team", "seat_limit": 10},
            near: {"name": "Near Co", "plan": "business", "seat_limit": 20},
        },
    )


async def handoff_count(client: Client, config: Config) -> int:
    query = f'WorkflowType="HandoffWorkflow" AND {deployment_queues(config.temporal.task_queue)}'
    return (await client.count_workflows(query)).count


async def test_one_account_over_80_percent_makes_exactly_one_deal(
    dev_env: WorkflowEnvironment, hubspot: HubSpotEmulator, tmp_path: Path
) -> None:
    from plg_handoff.config import load_secrets

    client = dev_env.client
    config = make_config(tmp_path, hubspot.url)
    seed_usage(tmp_path)
    crm = build_crm(config, load_secrets(config))
    crm.ensure_properties()

    async with build_worker(client, config, load_secrets(config), crm):
        first = await sync(client, config)
        assert first.accounts == 3
        assert first.quarantined == {}

        status = await eventually(
            lambda: handoff_status(client, "handoff/acct-hot/1"),
            lambda s: s is not None and s.stage == "assigned",
        )
        assert status is not None

        second = await sync(client, config)
        assert second.accounts == 3
        account = client.get_workflow_handle("account/acct-hot")
        summary: AccountSummary = await account.query(AccountWorkflow.state)
        assert summary.episode == 1
        assert summary.open_handoff == "handoff/acct-hot/1"
        assert await eventually(lambda: handoff_count(client, config), lambda n: n >= 1) == 1
        for workflow_id in ("account/acct-hot", "handoff/acct-hot/1"):
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            assert TOKEN not in history.to_json(), f"the CRM token leaked into {workflow_id}"
        await record_history(client, "account/acct-hot", "account_two_syncs")
        await record_history(client, f"usage-sync/demo/{config.temporal.task_queue}", "usage_sync")

    deals = hubspot.objects("deals")
    assert len(deals) == 1
    deal = deals[0]["properties"]
    assert deal["plg_handoff_id"] == "handoff/acct-hot/1"
    assert deal["plg_account_id"] == "acct-hot"
    assert deal["plg_trigger"] == "limit_approaching"
    assert "9 of 10 seats in use (90%)" in deal["plg_evidence"]
    assert float(deal["plg_score"]) > 0
    assert deal["amount"] == "50000.00"
    owners = {o.id for o in crm.list_owners()}
    assert deal["hubspot_owner_id"] in owners
    assert deal["hubspot_owner_id"] == status.owner_id

    tasks = hubspot.objects("tasks")
    assert len(tasks) == 1
    task = tasks[0]
    assert task["properties"]["hubspot_owner_id"] == deal["hubspot_owner_id"]
    assert "Hot Co" in task["properties"]["hs_task_subject"]
    assert hubspot.associations("deals", deals[0]["id"], "tasks") == [task["id"]]


async def test_malformed_lines_are_counted_quarantined_and_the_cycle_completes(
    dev_env: WorkflowEnvironment, hubspot: HubSpotEmulator, tmp_path: Path
) -> None:
    from plg_handoff.config import load_secrets

    client = dev_env.client
    config = make_config(tmp_path, hubspot.url)
    source = config.sources[0].model_copy(update={"known_events": ("Report Viewed",)})
    config = config.model_copy(update={"sources": (source,)})
    today = datetime.now(UTC).date()
    good = usage_lines("acct-ok", today, users=2, seats_used=2)
    now = int(datetime.now(UTC).timestamp())
    bad = [
        json.dumps(
            {
                "event": "Checkout Viewed",
                "properties": {"time": now, "distinct_id": "u", "account_id": "acct-ok"},
            }
        ),
        "{not json",
        "[1, 2]",
        json.dumps({"event": "x"}),
        json.dumps({"event": "x", "properties": {"distinct_id": "u", "account_id": "a"}}),
        json.dumps(
            {"event": "x", "properties": {"time": "soon", "distinct_id": "u", "account_id": "a"}}
        ),
        json.dumps(
            {"event": "x", "properties": {"time": 1000, "distinct_id": "u", "account_id": "a"}}
        ),
        json.dumps({"event": "x", "properties": {"time": now, "distinct_id": "u"}}),
    ]
    write_usage(tmp_path / "usage", "export.jsonl", [good[0], *bad, *good[1:], good[0]])
    write_profiles(tmp_path / "accounts.jsonl", {"acct-ok": {"seat_limit": 10}})
    crm = build_crm(config, load_secrets(config))

    async with build_worker(client, config, load_secrets(config), crm):
        result = await sync(client, config)

    assert result.quarantined == {
        "bad_time": 1,
        "impossible_time": 1,
        "missing_account": 1,
        "missing_properties": 1,
        "missing_time": 1,
        "not_an_object": 1,
        "unknown_event": 1,
        "unparseable_json": 1,
    }
    assert result.accepted == len(good)
    assert result.duplicates == 1
    assert result.read == result.accepted + result.duplicates + result.outside_window + sum(
        result.quarantined.values()
    )
    assert result.accounts == 1
    assert result.quarantine_file is not None
    kept = [json.loads(line) for line in Path(result.quarantine_file).read_text().splitlines()]
    assert sorted(k["reason"] for k in kept) == sorted(
        reason for reason, n in result.quarantined.items() for _ in range(n)
    )
    assert {k["raw"] for k in kept} == set(bad)
