"""Score = value points x conversion points x urgency (DESIGN section 4)."""

from __future__ import annotations

import itertools

import pytest

from plg_handoff.domain.rules import ScoringRule, ValueBand
from plg_handoff.domain.scoring import conversion_points, score, urgency, value_points

DEFAULT = ScoringRule()


@pytest.mark.parametrize(
    ("arr_potential", "points"),
    [
        pytest.param(None, 1, id="none"),
        pytest.param(0, 1, id="0"),
        pytest.param(9_999.99, 1, id="just-under-10k"),
        pytest.param(10_000, 2, id="10k-edge"),
        pytest.param(19_999, 2, id="19999"),
        pytest.param(20_000, 3, id="20k-edge"),
        pytest.param(34_999.5, 3, id="just-under-35k"),
        pytest.param(35_000, 4, id="35k-edge"),
        pytest.param(49_999.99, 4, id="just-under-50k"),
        pytest.param(50_000, 5, id="50k-edge"),
        pytest.param(99_999, 5, id="99999"),
        pytest.param(100_000, 7, id="100k-edge"),
        pytest.param(249_999.99, 7, id="just-under-250k"),
        pytest.param(250_000, 10, id="250k-edge"),
        pytest.param(10_000_000, 10, id="10M"),
        pytest.param(-500, 1, id="negative"),
    ],
)
def test_value_points_default_bands(arr_potential: float | None, points: float) -> None:
    assert value_points(arr_potential, DEFAULT) == points


def test_value_points_custom_bands() -> None:
    rule = ScoringRule(
        value_bands=(
            ValueBand(min_arr=0, points=2),
            ValueBand(min_arr=1_000, points=5),
            ValueBand(min_arr=5_000, points=9),
        )
    )
    assert [value_points(v, rule) for v in (None, 999, 1_000, 4_999, 5_000)] == [2, 2, 5, 5, 9]


@pytest.mark.parametrize(
    "arr_potential",
    [
        pytest.param(None, id="none"),
        pytest.param(-5.0, id="negative"),
        pytest.param(500.0, id="below-lowest-band"),
        pytest.param(1_000.0, id="lowest-band-edge"),
        pytest.param(7_000.0, id="top-band"),
    ],
)
def test_value_points_do_not_depend_on_band_declaration_order(arr_potential: float | None) -> None:
    """The bands are sorted before use, so an operator may list them in any order; an amount
    below every band must get the same points whichever band is written first."""
    bands = (ValueBand(min_arr=1_000, points=5), ValueBand(min_arr=5_000, points=9))
    ascending = ScoringRule(value_bands=bands)
    descending = ScoringRule(value_bands=tuple(reversed(bands)))
    assert value_points(arr_potential, descending) == value_points(arr_potential, ascending)


@pytest.mark.parametrize(
    ("conversion", "points"),
    [(0.4, 4.0), (0.375, 3.75), (1.0, 10.0), (0.05, 0.5)],
)
def test_conversion_points(conversion: float, points: float) -> None:
    assert conversion_points(conversion) == pytest.approx(points, abs=1e-12)


@pytest.mark.parametrize(
    ("days", "factor"),
    [
        pytest.param(0, 1.0, id="today"),
        pytest.param(1, 0.8, id="yesterday"),
        pytest.param(2, 0.64, id="2-days"),
        pytest.param(3, 0.512, id="3-days"),
        pytest.param(10, 0.8**10, id="10-days"),
        pytest.param(-1, 1.0, id="future-counts-as-today"),
        pytest.param(-30, 1.0, id="far-future"),
    ],
)
def test_urgency_default_decay(days: int, factor: float) -> None:
    assert urgency(days, DEFAULT) == pytest.approx(factor, rel=1e-12)
    assert isinstance(urgency(days, DEFAULT), float)


def test_urgency_custom_decay() -> None:
    assert urgency(3, ScoringRule(urgency_decay_per_day=0.5)) == 0.125
    assert urgency(30, ScoringRule(urgency_decay_per_day=1)) == 1.0


def test_urgency_is_strictly_decreasing() -> None:
    factors = [urgency(d, DEFAULT) for d in range(15)]
    assert all(a > b for a, b in itertools.pairwise(factors))


def test_design_example() -> None:
    """$50K ARR potential = 5 points, 40 % conversion = 4 points, fired yesterday = 0.8."""
    assert score(50_000, 0.4, 1, DEFAULT) == 16.0


@pytest.mark.parametrize(
    ("arr_potential", "conversion", "days", "expected"),
    [
        pytest.param(50_000, 0.4, 0, 20.0, id="design-example-today"),
        pytest.param(60_000, 0.375, 2, 12.0, id="5x3.75x0.64"),
        pytest.param(None, 0.375, 0, 3.75, id="no-arr"),
        pytest.param(300_000, 0.375, 3, 19.2, id="10x3.75x0.512"),
        pytest.param(10_000, 0.333, 0, 6.66, id="rounded-to-2-decimals"),
        pytest.param(20_000, 0.1, 4, 1.23, id="3x1x0.4096-rounded"),
    ],
)
def test_score(arr_potential: float | None, conversion: float, days: int, expected: float) -> None:
    assert score(arr_potential, conversion, days, DEFAULT) == expected
