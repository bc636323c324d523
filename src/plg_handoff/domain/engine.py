"""The trigger engine: every trigger of DESIGN §4 over an account's daily usage, the
false-positive filters, the score, the segment motion, and what to do. Pure and deterministic:
it runs in an activity, so a changed rule never changes a running workflow's history."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from plg_handoff.domain.decision import decide
from plg_handoff.domain.filters import FilterHit, apply_filters, blocking, hold_without_return
from plg_handoff.domain.playbooks import Playbook, playbook_for
from plg_handoff.domain.scoring import score
from plg_handoff.domain.segments import segment_of
from plg_handoff.domain.triggers import (  # noqa: F401  # importing registers their triggers
    feature,
    integration,
    team,
    time_based,
    volume,
)
from plg_handoff.domain.triggers.registry import TRIGGERS, FiredTrigger, Signal, TriggerSpec
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.domain.view import AccountView

if TYPE_CHECKING:
    from collections.abc import Iterable

    from plg_handoff.domain.ruleset import RuleSet

__all__ = ["TRIGGERS", "Evaluation", "FiredTrigger", "Signal", "TriggerSpec", "evaluate"]


@dataclass
class Evaluation:
    """What the engine found for an account on a day, and what it decided. New fields always
    get defaults: evaluations are in recorded workflow histories."""

    account_id: str
    evaluated_on: str
    fired: list[FiredTrigger] = field(default_factory=list)  # highest score first
    filtered: list[FilterHit] = field(default_factory=list)
    segment: str = ""  # self_serve, sales_assist, enterprise
    route: str = ""  # sales, nurture, customer_success, competitive_intel, none
    tier: int = 0  # for route "sales": 1 immediate, 2 same day, 3 weekly digest
    reason: str = ""  # the decision in words
    playbook: Playbook | None = None

    @property
    def lead(self) -> FiredTrigger | None:
        """The highest-scoring trigger leads the opportunity."""
        return max(self.fired, key=lambda f: (f.score, -f.tier), default=None)

    @property
    def hand_off(self) -> bool:
        return self.route == "sales"


def evaluate(
    account_id: str,
    traits: AccountTraits,
    days: Iterable[DayRollup],
    rules: RuleSet,
    today: date,
) -> Evaluation:
    view = AccountView.of(account_id, traits, days, today)
    fired: list[FiredTrigger] = []
    for spec in TRIGGERS.values():
        rule = getattr(rules, spec.name)
        if not rule.enabled:
            continue
        signal = spec.check(view, rule)
        if signal is None:
            continue
        days_since = (today - date.fromisoformat(signal.fired_on)).days
        fired.append(
            FiredTrigger(
                trigger=spec.name,
                category=spec.category,
                evidence=signal.evidence,
                figures=signal.figures,
                conversion=rule.conversion,
                tier=rule.tier,
                score=score(traits.arr_potential, rule.conversion, days_since, rules.scoring),
                fired_on=signal.fired_on,
                kind=spec.kind,
            )
        )
    fired.sort(key=lambda f: (-f.score, f.tier, f.trigger))
    filtered = apply_filters(view, fired, rules.filters)
    if not blocking(filtered):
        fired, held = hold_without_return(view, fired, rules.filters)
        if held is not None:
            filtered.append(held)
    segment = segment_of(traits, rules.segments)
    decision = decide(fired, filtered, segment, traits, rules.pql)
    evaluation = Evaluation(
        account_id=account_id,
        evaluated_on=today.isoformat(),
        fired=fired,
        filtered=filtered,
        segment=segment,
        route=decision.route,
        tier=decision.tier,
        reason=decision.reason,
    )
    lead = evaluation.lead
    if lead is not None and evaluation.hand_off:
        evaluation.playbook = playbook_for(lead, view, rules.playbooks)
    return evaluation
