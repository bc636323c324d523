"""Names and message types shared by activities and the workflows they start or signal.

Activities start workflows by name (never by importing them), so layers keep pointing one way."""

from __future__ import annotations

from dataclasses import dataclass, field

from plg_handoff.domain.engine import Evaluation
from plg_handoff.domain.usage import AccountTraits, DayRollup

ACCOUNT_WORKFLOW = "AccountWorkflow"
USAGE_SIGNAL = "usage"
HANDOFF_CLOSED_SIGNAL = "handoff_closed"
OWNER_POOL_WORKFLOW = "OwnerPoolWorkflow"
NEXT_OWNER_UPDATE = "next_owner"


def account_workflow_id(account_id: str) -> str:
    return f"account/{account_id}"


def handoff_workflow_id(account_id: str, episode: int) -> str:
    return f"handoff/{account_id}/{episode}"


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
    candidates: list[str]


@dataclass
class OwnerPoolInput:
    pool: str
    last_assigned: dict[str, int] = field(default_factory=dict)
    sequence: int = 0
    recent: dict[str, str] = field(default_factory=dict)
