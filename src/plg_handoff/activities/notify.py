"""Notifications to people (Slack incoming webhooks): what the handoff workflow sends.

`Notification` and `NotificationResult` travel in workflow histories: fields may be added with
defaults, never renamed.

Routing by tier: a tier-1 "handoff_opened" goes to Slack at once; tier 2 reaches its owner as
the CRM task only; tier 3 waits for the weekly digest (`post_digest`). "sla_breached" goes to
the escalation webhook (or the main one). Every Slack message about an account counts toward
its cap (`[notifications] cap_per_account` per `cap_window`), kept exactly in one entity
workflow (NotificationLedgerWorkflow) shared by all workers: a message is reserved there before
it is posted and confirmed after, so a retried activity never posts twice once it got through,
and concurrent workers never exceed the cap."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import activity
from temporalio.client import Client

from plg_handoff.activities.entities import ask_entity
from plg_handoff.config import NotificationSettings
from plg_handoff.connectors.errors import ConnectorError
from plg_handoff.connectors.slack import SlackWebhook
from plg_handoff.domain.funnel import FunnelRecord
from plg_handoff.logs import get_logger

log = get_logger(__name__)
NOTIFY_ACTIVITY = "notify"
POST_DIGEST_ACTIVITY = "post_digest"
NOTIFICATION_LEDGER_WORKFLOW = "NotificationLedgerWorkflow"
RESERVE_UPDATE = "reserve"
SETTLE_UPDATE = "settle"
DIGEST_ACCOUNT = "(digest)"
DIGEST_MAX_LINES = 50


@dataclass
class Notification:
    """One message about one handoff. `kind` is "handoff_opened" (tier 1 alert) or
    "sla_breached" (escalation to the owner's manager or channel)."""

    kind: str
    handoff_key: str
    account_id: str
    account_name: str
    tier: int
    trigger: str
    plan: str | None = None
    usage: list[str] = field(default_factory=list)  # the evidence lines
    top_features: list[str] = field(default_factory=list)
    approach: str | None = None  # the playbook's suggested approach
    owner_id: str | None = None
    owner_name: str | None = None
    territory: str | None = None
    opportunity_id: str | None = None
    breach: str | None = None  # for "sla_breached": which SLA, e.g. "first contact within 4h"
    previous_owner_id: str | None = None  # for "sla_breached" with a reassignment


@dataclass
class NotificationResult:
    sent: bool
    channel: str | None = None
    capped: bool = False  # not sent: the account's notification cap was reached
    reason: str | None = None


@dataclass
class DigestRequest:
    """The tier-3 handoffs signalled in [since, until) (ISO-8601 UTC), in one message."""

    since: str
    until: str


@dataclass
class DigestResult:
    sent: bool
    handoffs: int = 0
    reason: str | None = None


@dataclass
class LedgerEntry:
    account_id: str
    reserved_at: str  # ISO-8601 UTC, the ledger workflow's time
    sent: bool = False


@dataclass
class NotificationLedgerState:
    """Every message reserved within the longest cap window, by message key."""

    entries: dict[str, LedgerEntry] = field(default_factory=dict)


@dataclass
class ReserveRequest:
    key: str  # one message: "<handoff key>/<kind>[/<breach>]"
    account_id: str
    cap: int
    window_s: float


@dataclass
class Reservation:
    granted: bool
    already_sent: bool = False
    in_window: int = 0  # messages about the account in the window, this one included if granted


@dataclass
class SettleRequest:
    key: str
    sent: bool  # True: posted (later reservations answer already_sent); False: released


def notification_ledger_workflow_id(task_queue: str) -> str:
    return f"notification-ledger/{task_queue}"


def message_key(request: Notification) -> str:
    parts = [request.handoff_key, request.kind]
    if request.kind == "sla_breached":
        parts.append(request.breach or "")
    return "/".join(parts)


class NotifyActivities:
    def __init__(
        self,
        settings: NotificationSettings,
        client: Client,
        task_queue: str,
        webhook: SlackWebhook | None,
        escalation_webhook: SlackWebhook | None = None,
        read_handoffs: Callable[[datetime], Awaitable[list[FunnelRecord]]] | None = None,
    ) -> None:
        self._settings = settings
        self._client = client
        self._task_queue = task_queue
        self._webhook = webhook
        self._escalation = escalation_webhook or webhook
        self._read_handoffs = read_handoffs

    @activity.defn(name=NOTIFY_ACTIVITY)
    async def notify(self, request: Notification) -> NotificationResult:
        channel = self._settings.channel
        if not self._settings.enabled or self._webhook is None:
            return NotificationResult(sent=False, reason="notifications are off")
        webhook = self._webhook
        if request.kind == "sla_breached":
            webhook = self._escalation or self._webhook
            if self._escalation is not self._webhook:
                channel = self._settings.escalation_channel
        elif request.kind != "handoff_opened":
            return NotificationResult(sent=False, reason=f"unknown kind {request.kind!r}")
        elif request.tier == 2:
            return NotificationResult(sent=False, reason="tier 2: the owner's CRM task")
        elif request.tier != 1:
            return NotificationResult(sent=False, reason="tier 3: the weekly digest")
        key = message_key(request)
        reservation = await self._reserve(key, request.account_id, self._settings.cap_per_account)
        if not reservation.granted:
            log.info(
                "handoff.notification_capped",
                handoff=request.handoff_key,
                kind=request.kind,
                account_id=request.account_id,
                cap=self._settings.cap_per_account,
            )
            reason = (
                f"cap of {self._settings.cap_per_account} message(s) per account per "
                f"{self._settings.cap_window} reached"
            )
            return NotificationResult(sent=False, channel=channel, capped=True, reason=reason)
        if reservation.already_sent:
            return NotificationResult(sent=True, channel=channel, reason="already sent")
        await self._post(webhook, key, slack_message(request))
        log.info(
            "handoff.notified", handoff=request.handoff_key, kind=request.kind, channel=channel
        )
        return NotificationResult(sent=True, channel=channel)

    @activity.defn(name=POST_DIGEST_ACTIVITY)
    async def post_digest(self, request: DigestRequest) -> DigestResult:
        if not self._settings.enabled or self._webhook is None or self._read_handoffs is None:
            return DigestResult(sent=False, reason="notifications are off")
        since, until = datetime.fromisoformat(request.since), datetime.fromisoformat(request.until)
        records = await self._read_handoffs(since)
        week = sorted(
            (r for r in records if r.tier == 3 and r.signal_at < until),
            key=lambda r: r.signal_at,
        )
        if not week:
            return DigestResult(sent=False, reason="no tier-3 handoffs this week")
        key = f"digest/{request.until}"
        reservation = await self._reserve(key, DIGEST_ACCOUNT, cap=1_000_000)
        if reservation.already_sent:
            return DigestResult(sent=True, handoffs=len(week), reason="already sent")
        await self._post(self._webhook, key, digest_message(week, since, until))
        log.info("handoff.digest_posted", handoffs=len(week), since=request.since)
        return DigestResult(sent=True, handoffs=len(week))

    async def _post(self, webhook: SlackWebhook, key: str, message: dict[str, Any]) -> None:
        try:
            await asyncio.to_thread(webhook.post, message)
        except ConnectorError as exc:
            if not exc.retryable:  # never sent and never will be: the cap slot is freed
                await self._settle(key, sent=False)
            raise
        await self._settle(key, sent=True)

    async def _reserve(self, key: str, account_id: str, cap: int) -> Reservation:
        window_s = self._settings.cap_window.total_seconds()
        return await ask_entity(
            self._client,
            NOTIFICATION_LEDGER_WORKFLOW,
            notification_ledger_workflow_id(self._task_queue),
            self._task_queue,
            NotificationLedgerState(),
            RESERVE_UPDATE,
            ReserveRequest(key, account_id, cap, window_s),
            Reservation,
        )

    async def _settle(self, key: str, *, sent: bool) -> None:
        handle = self._client.get_workflow_handle(notification_ledger_workflow_id(self._task_queue))
        await handle.execute_update(SETTLE_UPDATE, SettleRequest(key, sent))


def slack_message(request: Notification) -> dict[str, Any]:
    """The alert as Slack Block Kit, with a plain `text` fallback for notifications."""
    if request.kind == "sla_breached":
        title = f":rotating_light: SLA missed: {request.account_name}"
        lines = [
            f"*Missed:* {request.breach or 'an SLA'}",
            f"*By:* {_person(request.previous_owner_id or request.owner_id, None)}",
            f"*New owner:* {_person(request.owner_id, request.owner_name)}"
            if request.previous_owner_id
            else "*New owner:* not reassigned",
            f"*Trigger:* {request.trigger} (tier {request.tier})",
        ]
    else:
        title = f":fire: PQL: {request.account_name} ({request.trigger}, tier {request.tier})"
        lines = [
            f"*Account:* {request.account_name} (`{request.account_id}`)",
            f"*Trigger:* {request.trigger}",
            f"*Plan:* {request.plan or 'unknown'}",
            "*Usage:*\n" + _bullets(request.usage),
            "*Top features:* " + (", ".join(request.top_features) or "-"),
            f"*Suggested approach:* {request.approach or '-'}",
            f"*Owner:* {_person(request.owner_id, request.owner_name)}"
            f"  *Territory:* {request.territory or '-'}",
        ]
    if request.opportunity_id:
        lines.append(f"*Opportunity:* {request.opportunity_id}  *Handoff:* {request.handoff_key}")
    else:
        lines.append(f"*Handoff:* {request.handoff_key}")
    body = "\n".join(lines)
    return {
        "text": f"{title}\n{body}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}},
        ],
    }


def digest_message(
    week: Sequence[FunnelRecord], since: datetime, until: datetime
) -> dict[str, Any]:
    title = (
        f":calendar: Weekly digest: {len(week)} tier-3 handoff(s), "
        f"{since:%Y-%m-%d} to {until:%Y-%m-%d}"
    )
    shown = [
        f"• {_account(r.handoff_key)}: {r.trigger or '-'}, {r.segment or '-'}, "
        f"owner {r.owner_id or '-'}, {r.stage} (signalled {r.signal_at:%Y-%m-%d})"
        for r in week[:DIGEST_MAX_LINES]
    ]
    if len(week) > DIGEST_MAX_LINES:
        shown.append(f"... and {len(week) - DIGEST_MAX_LINES} more (see `handoff report`)")
    body = "\n".join(shown)
    return {
        "text": f"{title}\n{body}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}},
        ],
    }


def _account(handoff_key: str) -> str:
    parts = handoff_key.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "handoff" else handoff_key


def _person(owner_id: str | None, name: str | None) -> str:
    if owner_id is None:
        return "unassigned"
    return f"{name} ({owner_id})" if name else owner_id


def _bullets(lines: Sequence[str]) -> str:
    return "\n".join(f"• {line}" for line in lines) if lines else "• -"
