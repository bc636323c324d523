"""Segment motion (DESIGN §4): self-serve, sales-assist or enterprise, by employees and deal."""

from __future__ import annotations

from plg_handoff.domain.rules import RuleModel
from plg_handoff.domain.usage import AccountTraits


class SegmentRule(RuleModel):
    """Where each motion starts."""


def segment_of(traits: AccountTraits, rule: SegmentRule) -> str:
    return "sales_assist"  # to be written
