"""What to do with an account's evaluation: hand it to sales (and at which tier), nurture it,
route it elsewhere, or wait — with the reason in words."""

from __future__ import annotations

from dataclasses import dataclass

from plg_handoff.domain.filters import FilterHit
from plg_handoff.domain.rules import RuleModel
from plg_handoff.domain.triggers.registry import FiredTrigger
from plg_handoff.domain.usage import AccountTraits


class PqlRule(RuleModel):
    """When fired triggers add up to a product-qualified lead (the multiple-signal rule)."""


@dataclass
class Decision:
    route: str  # sales, nurture, customer_success, competitive_intel, none
    tier: int  # 1, 2, 3 for sales; 0 otherwise
    reason: str


def decide(
    fired: list[FiredTrigger],
    filters: list[FilterHit],
    segment: str,
    traits: AccountTraits,
    rule: PqlRule,
) -> Decision:
    if fired:  # to be written: the multiple-signal rule, filters, segment motion, tiers
        return Decision("sales", min(f.tier for f in fired), "a trigger fired")
    return Decision("none", 0, "no trigger fired")
