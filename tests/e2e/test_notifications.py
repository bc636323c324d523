"""Slack notifications by tier, over real HTTP to the webhook emulator, with the per-account
cap kept by the NotificationLedgerWorkflow on the time-skipping test server: exact under
concurrency, across the cap window, and never posting twice for one message."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from plg_handoff.activities.notify import (
    Notification,
    NotifyActivities,
    notification_ledger_workflow_id,
)
from plg_handoff.config import Config, load_secrets
from plg_handoff.connectors.errors import NotFound, RateLimited
from plg_handoff.sandbox.slack import SlackWebhookEmulator
from plg_handoff.worker import build_notifier
from plg_handoff.workflows.notification_ledger import NotificationLedgerWorkflow
from tests.conftest import make_config

ALERTS, ESCALATIONS = "pql-alerts", "sales-managers"


@dataclass
class Running:
    env: WorkflowEnvironment
    config: Config
    slack: SlackWebhookEmulator
    notifier: NotifyActivities
    webhook_url: str


async def running_notifier(
    env: WorkflowEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    **notifications: Any,
) -> AsyncIterator[Running]:
    with SlackWebhookEmulator(per_second=100) as slack:
        url = slack.add_webhook(ALERTS)
        monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", "unused")
        monkeypatch.setenv("HANDOFF_SLACK_WEBHOOK_URL", url)
        monkeypatch.setenv("HANDOFF_SLACK_ESCALATION_WEBHOOK_URL", slack.add_webhook(ESCALATIONS))
        settings = {"enabled": True, "channel": ALERTS, "cap_per_account": 2, **notifications}
        config = make_config(tmp_path, "http://127.0.0.1:1", notifications=settings)
        notifier = build_notifier(env.client, config, load_secrets(config))
        async with Worker(
            env.client,
            task_queue=config.temporal.task_queue,
            workflows=[NotificationLedgerWorkflow],
        ):
            yield Running(env, config, slack, notifier, url)


@pytest.fixture
async def running(
    skipping_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Running]:
    async for run in running_notifier(skipping_env, tmp_path, monkeypatch):
        yield run


def opened(account: str, episode: int = 1, tier: int = 1) -> Notification:
    return Notification(
        kind="handoff_opened",
        handoff_key=f"handoff/{account}/{episode}",
        account_id=account,
        account_name=f"{account.title()} Inc",
        tier=tier,
        trigger="limit_reached",
        plan="team",
        usage=["10 of 10 seats in use (100%)", "4 users added in 7 days"],
        top_features=["dashboards", "exports"],
        approach="Offer the Business plan before the wall stops new seats.",
        owner_id="o-7",
        owner_name="Dana Rep",
        territory="EMEA",
        opportunity_id="deal-42",
    )


async def test_tier_1_goes_to_slack_with_the_alert_content(running: Running) -> None:
    result = await running.notifier.notify(opened("acme"))
    assert (result.sent, result.channel, result.capped) == (True, ALERTS, False)
    [message] = running.slack.messages_in(ALERTS)
    text = message.all_text()
    for expected in (
        "Acme Inc",
        "`acme`",
        "*Trigger:* limit_reached",
        "*Plan:* team",
        "• 10 of 10 seats in use (100%)",
        "• 4 users added in 7 days",
        "*Top features:* dashboards, exports",
        "*Suggested approach:* Offer the Business plan",
        "*Owner:* Dana Rep (o-7)",
        "*Territory:* EMEA",
        "deal-42",
    ):
        assert expected in message.text, expected
    assert message.payload["blocks"][0]["type"] == "header"
    assert "Acme Inc" in text


async def test_tier_2_and_3_never_reach_slack(running: Running) -> None:
    tier2 = await running.notifier.notify(opened("beta", tier=2))
    tier3 = await running.notifier.notify(opened("gamma", tier=3))
    assert (tier2.sent, tier2.reason) == (False, "tier 2: the owner's CRM task")
    assert (tier3.sent, tier3.reason) == (False, "tier 3: the weekly digest")
    assert running.slack.messages == []


async def test_an_sla_breach_goes_to_the_escalation_channel(running: Running) -> None:
    breach = replace(
        opened("delta", tier=2),
        kind="sla_breached",
        breach="first contact within 4h",
        previous_owner_id="o-7",
        owner_id="o-9",
        owner_name="Sam Next",
    )
    assert (await running.notifier.notify(breach)).sent
    assert running.slack.messages_in(ALERTS) == []
    [message] = running.slack.messages_in(ESCALATIONS)
    assert "SLA missed: Delta Inc" in message.text
    assert "*Missed:* first contact within 4h" in message.text
    assert "*By:* o-7" in message.text
    assert "*New owner:* Sam Next (o-9)" in message.text
    # a second, different breach of the same handoff is its own message
    contact = replace(breach, breach="assigned within 1h")
    assert (await running.notifier.notify(contact)).sent
    assert len(running.slack.messages_in(ESCALATIONS)) == 2


async def test_the_cap_is_exact_under_concurrency_and_per_window(running: Running) -> None:
    results = await asyncio.gather(
        *(running.notifier.notify(opened("acme", episode)) for episode in range(1, 6))
    )
    assert sorted(r.sent for r in results) == [False, False, False, True, True]
    assert all(r.capped for r in results if not r.sent)
    assert len(running.slack.messages_in(ALERTS)) == 2
    assert (await running.notifier.notify(opened("other"))).sent  # the cap is per account
    await running.env.sleep(timedelta(days=6))
    assert (await running.notifier.notify(opened("acme", 6))).capped
    await running.env.sleep(timedelta(days=1, seconds=1))  # the first two left the window
    assert (await running.notifier.notify(opened("acme", 7))).sent
    assert len(running.slack.messages_in(ALERTS)) == 4


async def test_a_retry_never_posts_twice(running: Running) -> None:
    first = await running.notifier.notify(opened("acme"))
    again = await running.notifier.notify(opened("acme"))  # completion lost, activity retried
    assert (first.sent, again.sent, again.reason) == (True, True, "already sent")
    assert len(running.slack.messages) == 1
    running.slack.faults.rate_limit_next(1, retry_after_s=3)
    with pytest.raises(RateLimited) as caught:
        await running.notifier.notify(opened("acme", 2))
    assert caught.value.retry_after == 3
    assert (await running.notifier.notify(opened("acme", 2))).sent  # Temporal's retry
    assert len(running.slack.messages) == 2
    # the failed try held the reservation: the cap (2) is reached, not exceeded
    assert (await running.notifier.notify(opened("acme", 3))).capped


async def test_a_refused_message_frees_its_place_under_the_cap(running: Running) -> None:
    running.slack.archive(ALERTS)
    with pytest.raises(NotFound):
        await running.notifier.notify(opened("acme", 1))
    running.slack.unarchive(ALERTS)
    assert (await running.notifier.notify(opened("acme", 2))).sent
    assert (await running.notifier.notify(opened("acme", 3))).sent
    assert (await running.notifier.notify(opened("acme", 4))).capped


def decoded_payloads(node: object) -> str:
    """Every payload's data in a history (JSON), decoded, as one string."""
    if isinstance(node, dict):
        found = [decoded_payloads(v) for k, v in node.items() if k != "data"]
        if isinstance(node.get("data"), str):
            found.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
        return "\n".join(found)
    if isinstance(node, list):
        return "\n".join(decoded_payloads(item) for item in node)
    return ""


async def test_the_webhook_url_is_in_no_history(running: Running) -> None:
    assert (await running.notifier.notify(opened("acme"))).sent
    ledger = running.env.client.get_workflow_handle(
        notification_ledger_workflow_id(running.config.temporal.task_queue)
    )
    history = decoded_payloads(json.loads((await ledger.fetch_history()).to_json()))
    assert "handoff/acme/1/handoff_opened" in history
    assert running.webhook_url.rsplit("/", 1)[1] not in history
    assert "/services/" not in history


async def test_nothing_is_sent_while_notifications_are_off(
    skipping_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async for run in running_notifier(skipping_env, tmp_path, monkeypatch, enabled=False):
        result = await run.notifier.notify(opened("acme"))
        assert (result.sent, result.reason) == (False, "notifications are off")
        assert run.slack.requests == 0
