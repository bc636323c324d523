"""What the trigger tests share: a fixed today, days counted back from it, and one trigger
checked against an account's rollups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from plg_handoff.domain.engine import TRIGGERS
from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.triggers.registry import Signal
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.domain.view import AccountView

TODAY = date(2024, 5, 10)


def ago(days: int, today: date = TODAY) -> str:
    return (today - timedelta(days=days)).isoformat()


def fired_on(signal: Signal | None) -> str | None:
    return signal.fired_on if signal is not None else None


def check_trigger(
    name: str,
    days: Sequence[DayRollup],
    rule: TriggerRule | None,
    traits: AccountTraits,
    today: date = TODAY,
) -> Signal | None:
    """The trigger `name` on these days, with `rule` or the default rule of its name."""
    view = AccountView.of("acme", traits, days, today)
    return TRIGGERS[name].check(view, getattr(RuleSet(), name) if rule is None else rule)
