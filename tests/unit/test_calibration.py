"""Self-calibration: Beta-binomial smoothing toward the configured conversion, applied only
with enough outcomes, and a trigger's score moving once it is applied."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plg_handoff.domain.calibration import (
    calibrate,
    calibrated_conversions,
    priors,
    smoothed_rate,
    with_conversions,
)
from plg_handoff.domain.funnel import FunnelRecord
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.scoring import score

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def closed(n: int, trigger: str, outcome: str | None) -> FunnelRecord:
    return FunnelRecord(f"handoff/a{n}/1", T0, trigger=trigger, outcome=outcome)


def population(trigger: str, won: int, lost: int, expired: int = 0) -> list[FunnelRecord]:
    outcomes = ["won"] * won + ["lost"] * lost + ["expired"] * expired
    return [closed(n, trigger, outcome) for n, outcome in enumerate(outcomes)]


def test_smoothed_rate_is_the_posterior_mean() -> None:
    assert smoothed_rate(0, 0, 0.4, 10) == pytest.approx(0.4)
    assert smoothed_rate(8, 10, 0.4, 10) == pytest.approx((8 + 4) / 20)
    assert smoothed_rate(1, 90, 0.4, 10) == pytest.approx(5 / 100)
    with pytest.raises(ValueError, match="wins"):
        smoothed_rate(3, 2, 0.4, 10)
    with pytest.raises(ValueError, match="prior_weight"):
        smoothed_rate(0, 0, 0.4, 0)


def test_only_won_lost_and_expired_count_and_the_minimum_gates_application() -> None:
    rows = [
        *population("multi_user", won=3, lost=5, expired=2),
        closed(100, "multi_user", "disqualified"),
        closed(101, "multi_user", None),  # still open
        closed(102, "not_a_trigger", "won"),
    ]
    result = calibrate(
        rows, {"multi_user": 0.4, "limit_reached": 0.2}, min_outcomes=10, prior_weight=10
    )
    multi = result["multi_user"]
    assert (multi.outcomes, multi.wins, multi.measured) == (10, 3, 0.3)
    assert multi.smoothed == pytest.approx((3 + 4) / 20)
    assert multi.applied and multi.conversion == multi.smoothed
    reached = result["limit_reached"]
    assert (reached.outcomes, reached.measured, reached.applied) == (0, None, False)
    assert reached.conversion == 0.2
    assert calibrated_conversions(result) == {"multi_user": pytest.approx(0.35)}
    short = calibrate(rows, {"multi_user": 0.4}, min_outcomes=11, prior_weight=10)
    assert not short["multi_user"].applied
    assert calibrated_conversions(short) == {}


def test_a_triggers_score_moves_once_enough_outcomes_exist() -> None:
    rules = RuleSet()
    prior = rules.multi_user.conversion
    before = score(50_000, prior, 0, rules.scoring)
    few = calibrate(population("multi_user", 0, 9), priors(rules), min_outcomes=10, prior_weight=10)
    unchanged = with_conversions(rules, calibrated_conversions(few))
    assert score(50_000, unchanged.multi_user.conversion, 0, rules.scoring) == before
    many = calibrate(
        population("multi_user", 1, 29), priors(rules), min_outcomes=10, prior_weight=10
    )
    calibrated = with_conversions(rules, calibrated_conversions(many))
    expected = (1 + prior * 10) / 40
    assert calibrated.multi_user.conversion == pytest.approx(expected)
    assert calibrated.limit_reached == rules.limit_reached
    after = score(50_000, calibrated.multi_user.conversion, 0, rules.scoring)
    assert after == round(5 * expected * 10, 2)
    assert after < before
