"""What the trigger tests share: a fixed today, days counted back from it, and one trigger
checked against an account's rollups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from plg_handoff.domain.engine import TRIGGERS, evaluate
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


def assert_engine_fires_it_and_disabling_stops_it(
    name: str, category: str, traits: AccountTraits, days: Sequence[DayRollup]
) -> None:
    """Through the whole engine: these days fire `name` once, today, in its category; with its
    rule disabled they do not."""
    fired = evaluate("acme", traits, days, RuleSet(), TODAY).fired
    mine = [f for f in fired if f.trigger == name]
    assert len(mine) == 1
    assert mine[0].category == category
    assert mine[0].fired_on == ago(0)
    off = RuleSet.model_validate({name: {"enabled": False}})
    assert name not in {f.trigger for f in evaluate("acme", traits, days, off, TODAY).fired}


def assert_thresholds_described(name: str) -> None:
    """Every setting of the rule beyond enabled, conversion and tier says what it means."""
    rule_class = type(getattr(RuleSet(), name))
    own = set(rule_class.model_fields) - {"enabled", "conversion", "tier"}
    assert own
    for field in own:
        assert rule_class.model_fields[field].description, field
