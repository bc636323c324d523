"""Self-calibration: each trigger's measured win rate, smoothed toward its configured
conversion rate (the prior, DESIGN section 4), replaces that conversion in scoring once the
trigger has enough closed handoffs.

Smoothing is the Beta-binomial posterior mean with the prior counted as `prior_weight`
handoffs: smoothed = (wins + prior * prior_weight) / (outcomes + prior_weight). An outcome is
a handoff closed as won, lost or expired; a disqualified one was never a fair try and is left
out of both counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from plg_handoff.domain.engine import TRIGGERS
from plg_handoff.domain.funnel import FunnelRecord
from plg_handoff.domain.ruleset import RuleSet

COUNTED_OUTCOMES = ("won", "lost", "expired")


@dataclass(frozen=True)
class TriggerCalibration:
    trigger: str
    prior: float
    outcomes: int
    wins: int
    measured: float | None  # wins / outcomes
    smoothed: float
    applied: bool  # enough outcomes: scoring uses `smoothed` instead of `prior`

    @property
    def conversion(self) -> float:
        """What scoring uses for this trigger."""
        return self.smoothed if self.applied else self.prior


def smoothed_rate(wins: int, outcomes: int, prior: float, prior_weight: float) -> float:
    if not 0 <= wins <= outcomes:
        raise ValueError(f"wins must be between 0 and outcomes, got {wins} of {outcomes}")
    if prior_weight <= 0:
        raise ValueError(f"prior_weight must be > 0, got {prior_weight}")
    return (wins + prior * prior_weight) / (outcomes + prior_weight)


def priors(rules: RuleSet) -> dict[str, float]:
    """Every trigger's configured conversion rate."""
    return {name: float(getattr(rules, name).conversion) for name in TRIGGERS}


def calibrate(
    records: Iterable[FunnelRecord],
    prior_rates: Mapping[str, float],
    *,
    min_outcomes: int,
    prior_weight: float,
) -> dict[str, TriggerCalibration]:
    """One calibration per trigger of `prior_rates`; handoffs of other triggers are ignored."""
    outcomes = dict.fromkeys(prior_rates, 0)
    wins = dict.fromkeys(prior_rates, 0)
    for record in records:
        trigger = record.trigger
        if trigger is None or trigger not in prior_rates or record.outcome not in COUNTED_OUTCOMES:
            continue
        outcomes[trigger] += 1
        wins[trigger] += record.outcome == "won"
    return {
        trigger: TriggerCalibration(
            trigger=trigger,
            prior=prior,
            outcomes=outcomes[trigger],
            wins=wins[trigger],
            measured=wins[trigger] / outcomes[trigger] if outcomes[trigger] else None,
            smoothed=smoothed_rate(wins[trigger], outcomes[trigger], prior, prior_weight),
            applied=outcomes[trigger] >= min_outcomes,
        )
        for trigger, prior in prior_rates.items()
    }


def calibrated_conversions(calibrations: Mapping[str, TriggerCalibration]) -> dict[str, float]:
    """Only the triggers whose measured figure is applied."""
    return {c.trigger: c.smoothed for c in calibrations.values() if c.applied}


def with_conversions(rules: RuleSet, conversions: Mapping[str, float]) -> RuleSet:
    """The rules with these triggers' conversion rates replaced (a rate is kept in (0, 1])."""
    updates = {}
    for trigger, conversion in conversions.items():
        if trigger not in TRIGGERS:
            continue
        rule = getattr(rules, trigger)
        bounded = min(max(conversion, 1e-6), 1.0)
        updates[trigger] = rule.model_copy(update={"conversion": bounded})
    return rules.model_copy(update=updates) if updates else rules
