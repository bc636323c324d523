"""What the CRM shows of a handoff since it opened, and the funnel timings written back to its
opportunity: vendor-neutral records the CRM connectors produce and the handoff workflow reads."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FollowUp:
    """What the CRM shows since the handoff: contact made, and the outcome if any."""

    contacted: bool
    stage: str | None = None
    outcome: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    meeting: bool = False
    """A meeting (HubSpot meeting, Salesforce Event) on the deal or its account since then."""
    contacted_at_ms: int | None = None
    """First contact as the CRM records it: the task's completion, a call, an email."""
    meeting_at_ms: int | None = None
    """Start of the first meeting since the handoff."""
    closed_at_ms: int | None = None
    """When the CRM closed the deal (won or lost)."""


@dataclass(frozen=True)
class FunnelFields:
    """The handoff's funnel timings, written back on the opportunity (None: not reached yet)."""

    signal_to_assigned_s: float | None = None
    signal_to_contact_s: float | None = None
    contact_to_meeting_s: float | None = None
    meeting_to_won_s: float | None = None
    sla_met: bool | None = None
