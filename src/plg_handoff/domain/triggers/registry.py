"""What a trigger is: a pure check over an account's usage, registered under its name with its
category and kind, returning the evidence a rep reads when it fires."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from plg_handoff.domain.view import AccountView

Category = Literal["volume", "feature", "team", "integration", "time"]
# usage: what the account does with the product; intent: what it shows of wanting to buy
Kind = Literal["usage", "intent"]


@dataclass
class Signal:
    """What a check returns when its trigger fires."""

    evidence: list[str]  # sentences a rep reads: "87 % of storage in use, full in 9 days"
    figures: dict[str, float]  # the numbers behind them, for the CRM fields and the report
    fired_on: str  # ISO day the condition first held in its current run (urgency counts from it)


@dataclass
class FiredTrigger:
    """A trigger that fired, with the numbers a rep reads."""

    trigger: str
    category: str
    evidence: list[str]
    figures: dict[str, float]
    conversion: float
    tier: int
    score: float
    fired_on: str
    kind: str = "usage"


Check = Callable[[AccountView, Any], Signal | None]


@dataclass(frozen=True)
class TriggerSpec:
    name: str
    category: Category
    kind: Kind
    check: Check = field(compare=False)


TRIGGERS: dict[str, TriggerSpec] = {}


def trigger(name: str, category: Category, kind: Kind = "usage") -> Callable[[Check], Check]:
    """Registers a check as the trigger `name`; its rule is `RuleSet.<name>`."""

    def register(check: Check) -> Check:
        if name in TRIGGERS:
            raise ValueError(f"trigger {name!r} registered twice")
        TRIGGERS[name] = TriggerSpec(name, category, kind, check)
        return check

    return register
