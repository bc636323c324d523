"""Names and message types shared by activities and the workflows they start or signal.

Activities start workflows by name (never by importing them), so layers keep pointing one way."""

from __future__ import annotations

from dataclasses import dataclass, field

from plg_handoff.domain.engine import Evaluation
from plg_handoff.domain.usage import AccountTraits, DayRollup

ACCOUNT_WORKFLOW = "AccountWorkflow"
HANDOFF_WORKFLOW = "HandoffWorkflow"
ACCOUNT_STATE_QUERY = "state"
USAGE_SIGNAL = "usage"
HANDOFF_CLOSED_SIGNAL = "handoff_closed"
EVIDENCE_SIGNAL = "evidence_updated"
CRM_CHANGED_SIGNAL = "crm_changed"  # HandoffWorkflow: the CRM pushed a change, read it now
SNOOZE_UPDATE = "snooze"
DISQUALIFY_UPDATE = "disqualify"
REQUALIFY_UPDATE = "requalify"
OWNER_POOL_WORKFLOW = "OwnerPoolWorkflow"
NEXT_OWNER_UPDATE = "next_owner"  # one ask an update: kept for callers of earlier releases
NEXT_OWNERS_UPDATE = "next_owners"


def account_workflow_id(account_id: str) -> str:
    return f"account/{account_id}"


def handoff_workflow_id(account_id: str, episode: int) -> str:
    return f"handoff/{account_id}/{episode}"


HANDOFF_QUEUE_SUFFIX = "-handoffs"


def handoff_task_queue(task_queue: str) -> str:
    """Handoffs and owner pools run on a task queue of their own, derived from the
    deployment's: their workflow tasks never wait behind a sync's thousands of account
    evaluations."""
    return task_queue + HANDOFF_QUEUE_SUFFIX


def deployment_queues(task_queue: str) -> str:
    """A visibility condition for this deployment's workflows, on either of its queues."""
    return f'TaskQueue IN ("{task_queue}", "{handoff_task_queue(task_queue)}")'


def owner_pool_workflow_id(task_queue: str, pool: str) -> str:
    """Per task queue: deployments sharing a namespace keep their own rotations."""
    return f"owner-pool/{task_queue}/{pool}"


@dataclass
class AccountInput:
    account_id: str
    state: AccountState | None = None


@dataclass
class AccountState:
    """Everything an AccountWorkflow carries across continue-as-new; compact and bounded."""

    traits: AccountTraits = field(default_factory=AccountTraits)
    days: dict[str, DayRollup] = field(default_factory=dict)
    episode: int = 0
    open_handoff: str | None = None
    cooldown_until: str | None = None
    cooldown_s: float = 0.0
    needs_evaluation: bool = False
    last_evaluation: Evaluation | None = None
    snoozed_until: str | None = None  # ISO datetime: no handoff opens before
    disqualified: bool = False  # no handoff opens until requalified
    hold_reason: str | None = None  # the operator's reason for the snooze or disqualification
    evidence_sent: list[str] = field(default_factory=list)  # what the open handoff was last told


@dataclass
class AccountSummary:
    """What the `state` query answers: enough for ops to see why an account is where it is."""

    account_id: str
    episode: int
    open_handoff: str | None
    cooldown_until: str | None
    days_tracked: int
    latest_day: str | None
    last_evaluation: Evaluation | None = None
    handoffs: list[str] = field(default_factory=list)
    traits: AccountTraits | None = None
    held: str | None = None  # why no handoff can open now (snoozed, disqualified), if so


@dataclass
class SnoozeRequest:
    """No handoff for this account for `days` days; evaluations go on and stay visible."""

    days: int
    reason: str
    by: str = "operator"


@dataclass
class DisqualifyRequest:
    """No handoff for this account until it is requalified."""

    reason: str
    by: str = "operator"


@dataclass
class RequalifyRequest:
    """Lifts a snooze or a disqualification; the account is evaluated again at once."""

    reason: str
    by: str = "operator"


@dataclass
class EvidenceUpdate:
    """The open handoff's account fired again: the opportunity gets the new evidence."""

    evaluation: Evaluation


@dataclass
class UsageUpdate:
    """Absolute rollups of the days a sync re-pulled; replaces those days in the account."""

    account_id: str
    days: list[DayRollup]
    traits: AccountTraits | None = None


@dataclass
class HandoffClosed:
    episode: int
    stage: str


@dataclass
class NextOwnerRequest:
    handoff_key: str
    """Stable per ask: the handoff key, with `#<round>` for a reassignment."""
    candidates: list[str]
    max_open_per_owner: int | None = None
    open_handoffs: dict[str, list[str]] = field(default_factory=dict)
    """Per candidate, the open handoffs Temporal visibility lists; the pool adds the ones it
    assigned too recently to be listed."""


@dataclass
class NextOwnersRequest:
    """Asks of one pool that share their candidates, answered in one update: a burst of
    handoffs costs the pool an update a batch, not one each (a workflow takes at most 10
    updates in flight)."""

    asks: list[str]
    """Rotation keys, each stable per ask: the handoff key, with `#<round>` for a
    reassignment."""
    candidates: list[str]
    max_open_per_owner: int | None = None
    open_counts: dict[str, int] = field(default_factory=dict)
    """Per candidate, the running handoffs Temporal visibility lists."""
    listed_recent: list[str] = field(default_factory=list)
    """The listed handoffs started or assigned within the visibility lag: the pool does not
    count them again among its own recent assignments."""


@dataclass
class OwnerPoolInput:
    pool: str
    last_assigned: dict[str, int] = field(default_factory=dict)
    sequence: int = 0
    recent: dict[str, str] = field(default_factory=dict)
    assigned_at: dict[str, float] = field(default_factory=dict)
    """Handoff key -> when (epoch seconds) it was assigned, for keys still in `recent`."""


@dataclass
class CrmChanged:
    """A CRM webhook or outbound message about a handoff's opportunity or task."""

    source: str  # "hubspot" or "salesforce"
    object_id: str = ""


@dataclass
class HandoffPolicy:
    """Settings a new handoff runs with, fixed when it opens (recorded in history)."""

    task_due_after_s: float
    follow_up_poll_interval_s: float
    expire_after_s: float
    cooldown_s: float
    # Added with the SLA timers: policies recorded before decode with these defaults.
    assign_within_s: float = 3600.0
    contact_within_s: float = 4 * 3600.0
    max_reassignments: int = 2


@dataclass
class HandoffInput:
    account_id: str
    episode: int
    traits: AccountTraits
    evaluation: Evaluation
    policy: HandoffPolicy
    task_queue: str = ""
    """The deployment's task queue (the handoff runs on its handoff queue); "" before."""
