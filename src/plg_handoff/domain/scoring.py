"""Score = account value points x trigger conversion points x urgency (DESIGN section 4)."""

from __future__ import annotations

from plg_handoff.domain.rules import ScoringRule


def value_points(arr_potential: float | None, rule: ScoringRule) -> float:
    bands = sorted(rule.value_bands, key=lambda b: b.min_arr)
    points = bands[0].points
    for band in bands:
        if (arr_potential or 0) >= band.min_arr:
            points = band.points
    return points


def conversion_points(conversion: float) -> float:
    """A 40 % conversion rate is worth 4 points."""
    return conversion * 10


def urgency(days_since_signal: int, rule: ScoringRule) -> float:
    """Fired today counts fully; each day of delay multiplies by the decay."""
    return float(rule.urgency_decay_per_day ** max(days_since_signal, 0))


def score(
    arr_potential: float | None, conversion: float, days_since_signal: int, rule: ScoringRule
) -> float:
    raw = (
        value_points(arr_potential, rule)
        * conversion_points(conversion)
        * urgency(days_since_signal, rule)
    )
    return round(raw, 2)
