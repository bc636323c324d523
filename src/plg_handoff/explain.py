"""`handoff explain`: an account's state in words, from its workflow's `state` query — what
fired with its evidence, what was filtered and why, the score, tier, segment and decision."""

from __future__ import annotations

from temporalio.client import Client

from plg_handoff.activities.contracts import account_workflow_id
from plg_handoff.workflows.account import AccountSummary


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
