"""The weekly digest on the dev server: DigestWorkflow's activity lists the week's tier-3
handoffs from visibility and posts one Slack message, once; the Schedule runs it on the
configured weekday and time, and is removed when notifications are turned off."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from plg_handoff.activities.errors import ConnectorErrorInterceptor
from plg_handoff.config import load_secrets
from plg_handoff.sandbox.slack import SlackWebhookEmulator
from plg_handoff.schedules import DIGEST_SCHEDULE, ensure_digest_schedule
from plg_handoff.worker import build_notifier
from plg_handoff.workflows.digest import DigestInput, DigestWorkflow
from plg_handoff.workflows.notification_ledger import NotificationLedgerWorkflow
from tests.conftest import make_config
from tests.funnel_fixture import start_handoffs

UNTIL = datetime(2026, 3, 9, 9, tzinfo=UTC)  # a Monday, 09:00


def funnel(signal_at: datetime, tier: int, trigger: str) -> dict[str, Any]:
    return {
        "stage": "assigned",
        "signal_at": signal_at.isoformat(),
        "contacted_at": None,
        "outcome": None,
        "tier": tier,
        "trigger": trigger,
        "segment": "sales_assist",
        "owner_id": "o-1",
        "sla": {"assign": "met", "contact": "pending"},
    }


@pytest.mark.timeout(120)
async def test_the_digest_lists_the_weeks_tier_3_handoffs_once(
    dev_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = dev_env.client
    task_queue = f"digest-{uuid.uuid4().hex[:10]}"
    ids = await start_handoffs(
        client,
        task_queue,
        [
            funnel(UNTIL - timedelta(days=6), 3, "feature_ritual"),
            funnel(UNTIL - timedelta(days=3), 3, "long_term_free"),
            funnel(UNTIL - timedelta(days=8), 3, "scheduled_exports"),  # the week before
            funnel(UNTIL - timedelta(days=5), 1, "limit_reached"),  # tier 1: alerted at once
            funnel(UNTIL + timedelta(hours=1), 3, "feature_vote"),  # after the digest's week
        ],
    )
    accounts = [workflow_id.split("/")[1] for workflow_id in ids]
    with SlackWebhookEmulator() as slack:
        monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", "unused")
        monkeypatch.setenv("HANDOFF_SLACK_WEBHOOK_URL", slack.add_webhook("pql-digest"))
        config = make_config(
            tmp_path,
            "http://127.0.0.1:1",
            temporal={"task_queue": task_queue, "address": "unused"},
            notifications={"enabled": True},
        )
        notifier = build_notifier(client, config, load_secrets(config))
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[DigestWorkflow, NotificationLedgerWorkflow],
            activities=[notifier.notify, notifier.post_digest],
            interceptors=[ConnectorErrorInterceptor()],
        ):
            first = await client.execute_workflow(
                DigestWorkflow.run,
                DigestInput(UNTIL.isoformat()),
                id=f"digest/{task_queue}/1",
                task_queue=task_queue,
            )
            again = await client.execute_workflow(
                DigestWorkflow.run,
                DigestInput(UNTIL.isoformat()),
                id=f"digest/{task_queue}/2",
                task_queue=task_queue,
            )
        assert (first.sent, first.handoffs) == (True, 2)
        assert (again.sent, again.reason) == (True, "already sent")
        [message] = slack.messages_in("pql-digest")
    assert "2 tier-3 handoff(s), 2026-03-02 to 2026-03-09" in message.text
    lines = [line for line in message.text.splitlines() if line.startswith("• ")]
    details = "sales_assist, owner o-1, assigned"
    assert lines == [
        f"• {accounts[0]}: feature_ritual, {details} (signalled 2026-03-03)",
        f"• {accounts[1]}: long_term_free, {details} (signalled 2026-03-06)",
    ]


@pytest.mark.timeout(60)
async def test_the_schedule_follows_the_configured_day_and_time(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_env.client
    on = make_config(
        tmp_path,
        "http://127.0.0.1:1",
        notifications={"enabled": True, "digest_day": "friday", "digest_time": "16:30"},
    )
    assert await ensure_digest_schedule(client, on)
    assert await ensure_digest_schedule(client, on)  # idempotent: updated in place
    handle = client.get_schedule_handle(DIGEST_SCHEDULE)
    described = await handle.describe()
    upcoming = described.info.next_action_times[:3]
    assert upcoming
    assert all((t.weekday(), t.hour, t.minute) == (4, 16, 30) for t in upcoming), upcoming
    assert described.info.recent_actions == []  # not run at creation
    off = make_config(tmp_path, "http://127.0.0.1:1", notifications={"enabled": False})
    assert not await ensure_digest_schedule(client, off)
    with pytest.raises(RPCError) as gone:
        await handle.describe()
    assert gone.value.status == RPCStatusCode.NOT_FOUND
    assert not await ensure_digest_schedule(client, off)  # already gone: fine
