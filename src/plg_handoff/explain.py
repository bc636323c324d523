"""`handoff explain`: an account's state in words, from its workflow's `state` query — what
fired with its evidence, what was filtered and why, the score, tier, segment and decision;
`handoff handoff explain`: a handoff's stage, owner, SLAs and next timer."""

from __future__ import annotations

from datetime import datetime

from temporalio.client import Client

from plg_handoff.activities.contracts import AccountSummary, account_workflow_id
from plg_handoff.workflows.handoff import HandoffStatus


async def account_summary(client: Client, account_id: str) -> AccountSummary:
    handle = client.get_workflow_handle(account_workflow_id(account_id))
    summary: AccountSummary = await handle.query("state", result_type=AccountSummary)
    return summary


def render(summary: AccountSummary) -> str:
    lines = [f"account {summary.account_id}"]
    lines.append(
        f"  usage: {summary.days_tracked} day(s) tracked, latest {summary.latest_day or 'none'}"
    )
    if summary.held:
        lines.append(f"  held: {summary.held}")
    if summary.open_handoff:
        lines.append(f"  open handoff: {summary.open_handoff}")
    if summary.cooldown_until:
        lines.append(f"  cooling down until {summary.cooldown_until}")
    if summary.handoffs:
        lines.append(f"  handoffs: {', '.join(summary.handoffs)}")
    evaluation = summary.last_evaluation
    if evaluation is None:
        lines.append("  not evaluated yet")
        return "\n".join(lines)
    lines.append(f"  evaluated on {evaluation.evaluated_on}")
    if evaluation.route:
        tier = f", tier {evaluation.tier}" if evaluation.tier else ""
        lines.append(
            f"  decision: {evaluation.route}{tier}, segment {evaluation.segment or 'unknown'}"
        )
    if evaluation.reason:
        lines.append(f"    {evaluation.reason}")
    if not evaluation.fired:
        lines.append("  fired: nothing")
    for fired in evaluation.fired:
        lines.append(
            f"  fired: {fired.trigger} ({fired.category}, {fired.kind}) score {fired.score:g}, "
            f"tier {fired.tier}, since {fired.fired_on}"
        )
        lines.extend(f"    - {line}" for line in fired.evidence)
    for hit in evaluation.filtered:
        lines.append(f"  filtered: {hit.filter} -> {hit.route}: {hit.reason}")
    if evaluation.playbook and evaluation.playbook.approach:
        lines.append(f"  suggested approach: {evaluation.playbook.approach}")
    return "\n".join(lines)


async def handoff_status(client: Client, workflow_id: str) -> HandoffStatus:
    handle = client.get_workflow_handle(workflow_id)
    status: HandoffStatus = await handle.query("status", result_type=HandoffStatus)
    return status


def _at(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "-"


def render_handoff(status: HandoffStatus) -> str:
    """A handoff's stage, owner, SLAs and next timer, from its `status` query."""
    lines = [f"handoff {status.handoff_key}: {status.stage}"]
    if status.tier:
        lines[0] += f" (tier {status.tier})"
    if status.owner_id:
        owner = status.owner_name if status.owner_name not in (None, status.owner_id) else None
        lines.append(f"  owner: {status.owner_id}" + (f" ({owner})" if owner else ""))
    if status.previous_owners:
        lines.append(f"  previous owners: {', '.join(status.previous_owners)}")
    if status.opportunity_id:
        lines.append(f"  opportunity: {status.opportunity_id}, task {status.task_id or '-'}")
    steps = [
        ("signal", status.signal_at),
        ("assigned", status.assigned_at),
        ("contacted", status.contacted_at),
        ("meeting", status.meeting_at),
        ("closed", status.closed_at),
    ]
    lines.extend(f"  {name + ':':<11}{_at(at)}" for name, at in steps if at)
    if status.outcome:
        lines.append(f"  outcome: {status.outcome}")
    if status.sla_assign or status.sla_contact:
        lines.append(
            f"  SLA: assignment {status.sla_assign or '-'}"
            + (f" (due {_at(status.assign_due_at)})" if status.assign_due_at else "")
            + f", first contact {status.sla_contact or '-'}"
            + (f" (due {_at(status.contact_due_at)})" if status.contact_due_at else "")
        )
    lines.extend(f"  breached: {breach}" for breach in status.breaches)
    if status.blocked_reason:
        lines.append(f"  blocked: {status.blocked_reason}")
        lines.extend(f"    - {detail}" for detail in status.blocked_details)
    if status.snoozed_until:
        lines.append(f"  snoozed until {_at(status.snoozed_until)}")
    if status.expires_at:
        lines.append(f"  expires {_at(status.expires_at)} without progress")
    if status.next_check_at:
        lines.append(f"  next timer: {status.next_timer or 'check'} at {_at(status.next_check_at)}")
    lines.extend(f"  notified: {line}" for line in status.notified)
    lines.extend(f"  note: {note}" for note in status.notes)
    if status.writeback_error:
        lines.append(f"  write-back failed: {status.writeback_error}")
    return "\n".join(lines)
