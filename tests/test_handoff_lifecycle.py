"""The handoff lifecycle over weeks of simulated time (time-skipping test server), with the real
activities talking to the HubSpot emulator: SLA breach, escalation and reassignment, contact
seen by polling, operator updates (snooze, adjust SLA, disqualify, mark contacted, reassign)
and the `funnel` memo the report reads."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.objects import SimplePublicObjectInput
from hubspot.crm.objects.meetings import (
    AssociationSpec,
    PublicAssociationsForObject,
    PublicObjectId,
)
from hubspot.crm.objects.meetings import SimplePublicObjectInputForCreate as MeetingInput
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from plg_handoff import search_attributes as sa
from plg_handoff.activities.contracts import USAGE_SIGNAL, AccountInput, UsageUpdate
from plg_handoff.config import Config, load_secrets
from plg_handoff.connectors.base import Owner
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.sandbox.slack.emulator import SlackWebhookEmulator
from plg_handoff.worker import build_crm, build_worker
from plg_handoff.workflows.account import AccountWorkflow
from plg_handoff.workflows.handoff import (
    FUNNEL_MEMO,
    AdjustSla,
    DisqualifyHandoff,
    HandoffStatus,
    HandoffWorkflow,
    MarkContacted,
    ReassignHandoff,
    SnoozeHandoff,
)
from tests.conftest import TOKEN, make_config
from tests.support import (
    TODAY,
    eventually,
    handoff_status,
    record_history,
    start_account_near_its_seat_limit,
)

CONTACT_SLA = timedelta(hours=4)
SLA = {"assign_within": "1h", "contact_within": "4h"}
POLL = timedelta(hours=6)


@dataclass
class Running:
    env: WorkflowEnvironment
    config: Config
    hubspot: HubSpotEmulator
    slack: SlackWebhookEmulator

    @property
    def client(self) -> Client:
        return self.env.client

    def hubspot_owners(self) -> list[Owner]:
        return [
            o for o in build_crm(self.config, load_secrets(self.config)).list_owners() if o.active
        ]


@pytest.fixture
async def running(
    skipping_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Running]:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    slack = SlackWebhookEmulator()
    slack.start()
    monkeypatch.setenv("HANDOFF_SLACK_WEBHOOK_URL", slack.add_webhook("#sales-alerts"))
    monkeypatch.setenv("HANDOFF_SLACK_ESCALATION_WEBHOOK_URL", slack.add_webhook("#sales-leads"))
    config = make_config(
        tmp_path,
        hubspot.url,
        handoff={
            "follow_up_poll_interval": "6h",
            "expire_after": "14d",
            "max_reassignments": 2,
            # Whatever tier the seat-limit trigger gets, it is held to 1h / 4h here.
            "sla": {tier: SLA for tier in ("tier1", "tier2", "tier3")},
        },
        notifications={
            "enabled": True,
            "channel": "#sales-alerts",
            "escalation_channel": "#sales-leads",
            "digest": False,
        },
        # Tiers must not depend on the month the tests run in (year-end evaluation season).
        rules={"filters": {"disabled": ["seasonal"]}},
    )
    crm = build_crm(config, load_secrets(config))
    crm.ensure_properties()
    run = Running(skipping_env, config, hubspot, slack)
    try:
        async with build_worker(skipping_env.client, config, load_secrets(config), crm):
            yield run
    finally:
        slack.stop()


async def open_handoff(
    run: Running, account_id: str, arr_potential: float | None = None
) -> HandoffStatus:
    """Usage at 90 % of the seat limit; returns once the handoff is assigned and followed up
    (a high ARR potential makes it tier 1)."""
    await start_account_near_its_seat_limit(
        run.client, run.config.temporal.task_queue, account_id, arr_potential
    )
    status = await eventually(  # assigned, notified, announced: following up
        lambda: handoff_status(run.client, f"handoff/{account_id}/1"),
        lambda s: s is not None and s.stage == "assigned" and s.next_timer is not None,
    )
    assert status is not None
    return status


def handle(run: Running, account_id: str) -> WorkflowHandle[HandoffWorkflow, HandoffStatus]:
    return run.client.get_workflow_handle_for(HandoffWorkflow.run, f"handoff/{account_id}/1")


async def current(run: Running, account_id: str) -> HandoffStatus:
    status = await handoff_status(run.client, f"handoff/{account_id}/1")
    assert status is not None
    return status


async def funnel(run: Running, account_id: str) -> dict[str, Any]:
    memo = await (await handle(run, account_id).describe()).memo()
    value: dict[str, Any] = memo[FUNNEL_MEMO]
    return value


def deal_owner(run: Running, deal_id: str) -> str:
    [deal] = [d for d in run.hubspot.objects("deals") if d["id"] == deal_id]
    owner: str = deal["properties"]["hubspot_owner_id"]
    return owner


def complete_task(run: Running, task_id: str) -> None:
    sdk = HubSpot(access_token=TOKEN, host=run.hubspot.url)
    sdk.crm.objects.tasks.basic_api.update(
        task_id, SimplePublicObjectInput(properties={"hs_task_status": "COMPLETED"})
    )


async def test_missed_contact_sla_escalates_and_moves_the_deal_to_the_next_owner(
    running: Running,
) -> None:
    opened = await open_handoff(running, "acct-slow")
    first = opened.owner_id
    assert first is not None and opened.opportunity_id and opened.task_id
    assert opened.sla_assign == "met"
    assert opened.contact_due_at == opened.signal_at + CONTACT_SLA
    assert opened.next_timer == "contact SLA"
    assert deal_owner(running, opened.opportunity_id) == first

    await running.env.sleep(CONTACT_SLA + timedelta(minutes=1))
    breached = await current(running, "acct-slow")
    assert breached.sla_contact == "breached"
    assert breached.breaches == [f"first contact within 4h (owner {first})"]
    assert breached.previous_owners == [first]
    second = breached.owner_id
    assert second not in (None, first)
    assert deal_owner(running, opened.opportunity_id) == second
    task_owners = {
        t["id"]: t["properties"]["hubspot_owner_id"] for t in running.hubspot.objects("tasks")
    }
    assert breached.task_id not in (None, opened.task_id), "the new owner gets a task of their own"
    assert (task_owners[opened.task_id], task_owners[breached.task_id]) == (first, second)
    due = {
        t["id"]: datetime.fromisoformat(t["properties"]["hs_timestamp"])
        for t in running.hubspot.objects("tasks")
    }
    assert due[opened.task_id] == opened.signal_at + CONTACT_SLA, "due by the tier's contact SLA"
    assert breached.contact_due_at is not None
    assert abs(due[breached.task_id] - breached.contact_due_at) < timedelta(seconds=1)
    assert "sla_breached: #sales-leads" in breached.notified, breached.notified
    [escalation, *_] = running.slack.messages_in("#sales-leads")
    assert "first contact within 4h" in escalation.all_text()
    assert "acct-slow Inc" in escalation.all_text()
    assert breached.contact_due_at is not None
    assert breached.contact_due_at - opened.signal_at >= 2 * CONTACT_SLA
    described = await handle(running, "acct-slow").describe()
    assert described.typed_search_attributes.get(sa.SLA_BREACHED) is True
    assert described.typed_search_attributes.get(sa.OWNER_ID) == second
    memo = await funnel(running, "acct-slow")
    assert memo["sla"] == {"assign": "met", "contact": "breached"}
    assert memo["owner_id"] == second and memo["stage"] == "assigned"

    # The second owner misses it too; the third is the last the policy allows.
    await running.env.sleep(CONTACT_SLA)
    again = await current(running, "acct-slow")
    assert again.previous_owners == [first, second]
    assert again.owner_id not in (first, second)
    await running.env.sleep(CONTACT_SLA)
    last = await current(running, "acct-slow")
    assert last.previous_owners == [first, second]
    assert last.contact_due_at is None
    assert len(last.breaches) == 3
    assert last.next_timer == "poll"
    await record_history(running.client, "handoff/acct-slow/1", "handoff_sla_breached")


async def test_contact_in_time_is_seen_by_polling_and_meets_the_sla(running: Running) -> None:
    opened = await open_handoff(running, "acct-fast")
    assert opened.task_id
    complete_task(running, opened.task_id)

    await running.env.sleep(CONTACT_SLA - timedelta(minutes=5))
    assert (await current(running, "acct-fast")).stage == "assigned"  # not polled yet
    # The 4h deadline comes before the 6h poll: the CRM is read before anyone is escalated.
    await running.env.sleep(timedelta(minutes=10))
    contacted = await current(running, "acct-fast")
    assert contacted.stage == "contacted"
    assert contacted.sla_contact == "met"
    assert contacted.breaches == [] and contacted.previous_owners == []
    assert contacted.contacted_at is not None
    assert contacted.contacted_at - opened.signal_at <= CONTACT_SLA
    assert contacted.next_timer == "poll" and contacted.contact_due_at is None
    described = await handle(running, "acct-fast").describe()
    assert described.typed_search_attributes.get(sa.CONTACTED_AT) is not None
    memo = await funnel(running, "acct-fast")
    assert memo["stage"] == "contacted" and memo["contacted_at"] is not None


async def test_operator_marks_contact_and_the_outcome_closes_it(running: Running) -> None:
    opened = await open_handoff(running, "acct-called")
    assert opened.opportunity_id
    h = handle(running, "acct-called")
    with pytest.raises(WorkflowUpdateFailedError):
        await h.execute_update(HandoffWorkflow.mark_contacted, MarkContacted("  "))
    await running.env.sleep(timedelta(hours=1))
    marked = await h.execute_update(
        HandoffWorkflow.mark_contacted, MarkContacted("called the CTO", "ops")
    )
    assert marked.stage == "contacted" and marked.sla_contact == "met"
    assert marked.contacted_at is not None
    assert marked.contacted_at - opened.signal_at >= timedelta(hours=1)
    assert marked.notes == ["contact marked by ops: called the CTO"]
    with pytest.raises(WorkflowUpdateFailedError):
        await h.execute_update(HandoffWorkflow.mark_contacted, MarkContacted("again"))

    sdk = HubSpot(access_token=TOKEN, host=running.hubspot.url)
    sdk.crm.deals.basic_api.update(
        opened.opportunity_id, SimplePublicObjectInput(properties={"dealstage": "closedwon"})
    )
    await running.env.sleep(POLL)
    won = await h.result()
    assert won.stage == "won" and won.outcome == "won"
    memo = await funnel(running, "acct-called")
    assert memo["outcome"] == "won" and memo["closed_at"] is not None
    assert memo["sla"] == {"assign": "met", "contact": "met"}
    # The durations are written back on the deal.
    [deal] = [d for d in running.hubspot.objects("deals") if d["id"] == opened.opportunity_id]
    assert won.assigned_at is not None and won.contacted_at is not None
    written = deal["properties"]
    assert float(written["plg_signal_to_assigned_s"]) == pytest.approx(
        (won.assigned_at - won.signal_at).total_seconds(), abs=0.1
    )
    assert float(written["plg_signal_to_contact_s"]) == pytest.approx(
        (won.contacted_at - won.signal_at).total_seconds(), abs=0.1
    )
    assert written["plg_sla_met"] == "true"


async def test_snooze_and_adjusted_sla_move_the_deadline(running: Running) -> None:
    opened = await open_handoff(running, "acct-snoozed")
    h = handle(running, "acct-snoozed")
    with pytest.raises(WorkflowUpdateFailedError):
        await h.execute_update(HandoffWorkflow.snooze, SnoozeHandoff(0, "nothing"))
    with pytest.raises(WorkflowUpdateFailedError):
        await h.execute_update(HandoffWorkflow.snooze, SnoozeHandoff(2, " "))
    with pytest.raises(WorkflowUpdateFailedError):
        await h.execute_update(HandoffWorkflow.adjust_sla, AdjustSla("no values"))

    snoozed = await h.execute_update(
        HandoffWorkflow.snooze, SnoozeHandoff(10, "customer on holiday", "ops")
    )
    assert snoozed.contact_due_at == opened.signal_at + CONTACT_SLA + timedelta(hours=10)
    assert snoozed.expires_at is not None and opened.assigned_at is not None
    assert snoozed.expires_at == opened.assigned_at + timedelta(days=14, hours=10)
    await running.env.sleep(CONTACT_SLA + timedelta(hours=1))
    assert (await current(running, "acct-snoozed")).sla_contact == "pending"

    adjusted = await h.execute_update(
        HandoffWorkflow.adjust_sla, AdjustSla("tier 1 account", contact_within_s=3600, by="ops")
    )
    # 1h from the signal plus the 10h snooze: due at 11h, now is about 5h in.
    assert adjusted.contact_due_at == opened.signal_at + timedelta(hours=11)
    await running.env.sleep(timedelta(hours=5))
    assert (await current(running, "acct-snoozed")).sla_contact == "pending"
    await running.env.sleep(timedelta(hours=2))
    late = await current(running, "acct-snoozed")
    assert late.sla_contact == "breached"
    assert late.breaches[0].startswith("first contact within 1h")


async def test_disqualify_closes_and_reassign_picks_an_owner(running: Running) -> None:
    opened = await open_handoff(running, "acct-dq")
    assert opened.opportunity_id
    h = handle(running, "acct-dq")
    moved = await h.execute_update(
        HandoffWorkflow.reassign, ReassignHandoff("territory change", by="ops")
    )
    assert moved.previous_owners == [opened.owner_id]
    assert moved.owner_id not in (None, opened.owner_id)
    assert deal_owner(running, opened.opportunity_id) == moved.owner_id
    with pytest.raises(WorkflowUpdateFailedError):
        await h.execute_update(HandoffWorkflow.reassign, ReassignHandoff("x", moved.owner_id))
    with pytest.raises(WorkflowUpdateFailedError) as unknown:
        await h.execute_update(HandoffWorkflow.reassign, ReassignHandoff("typo", "9999"))
    assert "'9999' is unknown in the CRM" in str(unknown.value.cause)
    named = next(
        o for o in running.hubspot_owners() if o.id not in (opened.owner_id, moved.owner_id)
    )
    chosen = await h.execute_update(
        HandoffWorkflow.reassign, ReassignHandoff("the account asked for them", named.id, "ops")
    )
    assert (chosen.owner_id, chosen.owner_name) == (named.id, named.name)
    assert deal_owner(running, opened.opportunity_id) == named.id
    with pytest.raises(WorkflowUpdateFailedError):
        await h.execute_update(HandoffWorkflow.disqualify, DisqualifyHandoff(""))

    closed = await h.execute_update(
        HandoffWorkflow.disqualify, DisqualifyHandoff("existing customer", "ops")
    )
    assert closed.stage == "disqualified" and closed.closed_at is not None
    result = await h.result()
    assert result.outcome == "disqualified"
    assert result.sla_contact is None  # never reached, never due
    with pytest.raises(RPCError):  # the workflow is over: no update reaches it
        await h.execute_update(HandoffWorkflow.disqualify, DisqualifyHandoff("again"))
    account = running.client.get_workflow_handle("account/acct-dq")
    summary = await eventually(
        lambda: account.query(AccountWorkflow.state), lambda s: s.open_handoff is None
    )
    assert summary.cooldown_until is not None
    memo = await funnel(running, "acct-dq")
    assert memo["outcome"] == "disqualified" and memo["stage"] == "disqualified"


async def test_a_booked_meeting_is_contact_and_meeting_with_the_crm_times(
    running: Running,
) -> None:
    opened = await open_handoff(running, "acct-demo", arr_potential=250_000)
    assert opened.opportunity_id and opened.assigned_at
    # Tier 1: the alert went out right after assignment.
    assert opened.tier == 1
    assert opened.notified == ["handoff_opened: #sales-alerts"]
    [alert] = running.slack.messages_in("#sales-alerts")
    assert "acct-demo Inc" in alert.all_text()
    assert (await handle(running, "acct-demo").describe()).typed_search_attributes.get(sa.TIER) == 1
    start = datetime.now(UTC) + timedelta(hours=1)
    stamp = start.isoformat().replace("+00:00", "Z")
    sdk = HubSpot(access_token=TOKEN, host=running.hubspot.url)
    sdk.crm.objects.meetings.basic_api.create(
        MeetingInput(
            properties={
                "hs_meeting_title": "Demo",
                "hs_meeting_start_time": stamp,
                "hs_timestamp": stamp,
            },
            associations=[
                PublicAssociationsForObject(
                    to=PublicObjectId(id=opened.opportunity_id),
                    types=[
                        AssociationSpec(
                            association_category="HUBSPOT_DEFINED", association_type_id=212
                        )
                    ],
                )
            ],
        )
    )

    await running.env.sleep(CONTACT_SLA + timedelta(minutes=1))  # the deadline reads the CRM
    met = await current(running, "acct-demo")
    assert met.stage == "meeting"
    assert met.sla_contact == "met"
    assert met.contacted_at is not None and met.meeting_at is not None
    assert opened.assigned_at <= met.contacted_at <= met.meeting_at
    assert met.expires_at == met.meeting_at + timedelta(days=14)
    described = await handle(running, "acct-demo").describe()
    assert described.typed_search_attributes.get(sa.MEETING_AT) == int(met.meeting_at.timestamp())
    assert described.typed_search_attributes.get(sa.HANDOFF_STAGE) == "meeting"
    memo = await funnel(running, "acct-demo")
    assert memo["stage"] == "meeting"
    assert memo["meeting_at"] == met.meeting_at.isoformat()


async def test_an_assignment_that_cannot_happen_breaches_the_assignment_sla(
    skipping_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pool names an owner the CRM does not have: assignment keeps being retried, and the
    assignment SLA's timer, running beside it, records the breach after 1h."""
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    config = make_config(
        tmp_path,
        hubspot.url,
        crm={"owner_pool": ["9999"]},
        handoff={"sla": {tier: SLA for tier in ("tier1", "tier2", "tier3")}},
    )
    crm = build_crm(config, load_secrets(config))
    crm.ensure_properties()
    client = skipping_env.client
    async with build_worker(client, config, load_secrets(config), crm):
        await client.start_workflow(
            AccountWorkflow.run,
            AccountInput("acct-nobody"),
            id="account/acct-nobody",
            task_queue=config.temporal.task_queue,
            start_signal=USAGE_SIGNAL,
            start_signal_args=[
                UsageUpdate(
                    "acct-nobody",
                    [DayRollup(TODAY, {"Report Viewed": 30}, 9, {"seats": 9})],
                    AccountTraits(name="Nobody Inc", plan="team", limits={"seats": 10}),
                )
            ],
        )
        waiting = await eventually(
            lambda: handoff_status(client, "handoff/acct-nobody/1"),
            lambda s: s is not None and s.next_timer == "assignment SLA",
        )
        assert waiting is not None and waiting.stage == "opened"
        assert waiting.assign_due_at == waiting.signal_at + timedelta(hours=1)
        try:
            await skipping_env.sleep(timedelta(hours=1, minutes=1))
            late = await eventually(
                lambda: handoff_status(client, "handoff/acct-nobody/1"),
                lambda s: s is not None and s.sla_assign == "breached",
            )
            assert late is not None
            assert late.stage == "opened" and late.owner_id is None
            assert late.breaches == ["assigned within 1h (owner none)"]
            assert late.notified and late.notified[0].startswith("sla_breached: ")
            assert late.next_timer is None  # nothing more to time until someone is assigned
        finally:
            for workflow_id in ("handoff/acct-nobody/1", "account/acct-nobody"):
                with contextlib.suppress(RPCError):
                    await client.get_workflow_handle(workflow_id).terminate()
