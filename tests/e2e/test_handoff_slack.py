"""The real HandoffWorkflow with Slack notifications on (time-skipping server, HubSpot and Slack
emulators over HTTP): a tier-2 handoff posts nothing when it opens (its owner gets the CRM
task); a missed contact SLA posts one escalation naming the breach, who missed it and the new
owner."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.contracts import USAGE_SIGNAL, AccountInput, UsageUpdate
from plg_handoff.config import load_secrets
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.sandbox.slack import SlackWebhookEmulator
from plg_handoff.worker import build_crm, build_worker
from plg_handoff.workflows.account import AccountWorkflow
from tests.conftest import TOKEN, make_config
from tests.support import TODAY, eventually, handoff_status

ACCOUNT = "acct-slack"
CONTACT_SLA = timedelta(hours=4)
SLA = {"assign_within": "1h", "contact_within": "4h"}


async def test_tier_2_is_quiet_and_a_missed_sla_is_escalated(
    skipping_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = skipping_env.client
    with SlackWebhookEmulator() as slack:
        monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("HANDOFF_SLACK_WEBHOOK_URL", slack.add_webhook("pql-alerts"))
        monkeypatch.setenv(
            "HANDOFF_SLACK_ESCALATION_WEBHOOK_URL", slack.add_webhook("sales-managers")
        )
        config = make_config(
            tmp_path,
            hubspot.url,
            handoff={"sla": {tier: SLA for tier in ("tier1", "tier2", "tier3")}},
            notifications={
                "enabled": True,
                "channel": "pql-alerts",
                "escalation_channel": "sales-managers",
            },
        )
        crm = build_crm(config, load_secrets(config))
        crm.ensure_properties()
        async with build_worker(client, config, load_secrets(config), crm):
            try:
                await client.start_workflow(
                    AccountWorkflow.run,
                    AccountInput(ACCOUNT),
                    id=f"account/{ACCOUNT}",
                    task_queue=config.temporal.task_queue,
                    start_signal=USAGE_SIGNAL,
                    start_signal_args=[
                        UsageUpdate(
                            ACCOUNT,
                            [DayRollup(TODAY, {"Report Viewed": 30}, 10, {"seats": 10})],
                            AccountTraits(
                                name="Slacky Inc", plan="team", limits={"seats": 10}, region="EMEA"
                            ),
                        )
                    ],
                )
                opened = await eventually(
                    lambda: handoff_status(client, f"handoff/{ACCOUNT}/1"),
                    lambda s: s is not None and s.stage == "assigned" and s.next_timer is not None,
                )
                assert opened is not None and opened.tier == 2
                assert slack.messages == []
                await skipping_env.sleep(CONTACT_SLA + timedelta(minutes=1))
                breached = await eventually(
                    lambda: handoff_status(client, f"handoff/{ACCOUNT}/1"),
                    lambda s: (
                        s is not None and any(n.startswith("sla_breached") for n in s.notified)
                    ),
                )
                assert breached is not None
                assert breached.notified == ["sla_breached: sales-managers"]
            finally:
                for workflow_id in (f"handoff/{ACCOUNT}/1", f"account/{ACCOUNT}"):
                    with contextlib.suppress(RPCError):
                        await client.get_workflow_handle(workflow_id).terminate()
        assert slack.messages_in("pql-alerts") == []
        [escalation] = slack.messages_in("sales-managers")
    assert "SLA missed: Slacky Inc" in escalation.text
    assert "*Missed:* first contact within 4h" in escalation.text
    assert f"*By:* {opened.owner_id}" in escalation.text
    assert f"*New owner:* {breached.owner_name} ({breached.owner_id})" in escalation.text
    assert breached.owner_id != opened.owner_id
