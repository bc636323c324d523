"""False-positive filters (DESIGN §4): accounts never handed to sales, each with its reason."""

from __future__ import annotations

from dataclasses import dataclass

from plg_handoff.domain.rules import RuleModel
from plg_handoff.domain.triggers.registry import FiredTrigger
from plg_handoff.domain.view import AccountView


class FilterRules(RuleModel):
    """Thresholds of every false-positive filter."""


@dataclass
class FilterHit:
    """A filter that caught the account: why (with the numbers), and where it goes instead."""

    filter: str  # one_session_tester, bot, competitor, seasonal, low_value, bulk_export_churn
    reason: str
    route: str  # none, competitive_intel, nurture, customer_success, soften


def apply_filters(
    view: AccountView, fired: list[FiredTrigger], rules: FilterRules
) -> list[FilterHit]:
    return []  # to be written
