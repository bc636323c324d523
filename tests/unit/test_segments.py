"""Segment motion: each dimension's boundaries, how the two combine, and unknown values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from plg_handoff.domain.segments import SEGMENTS, SegmentRule, describe, money, segment_of
from plg_handoff.domain.usage import AccountTraits

RULE = SegmentRule()
NAN = float("nan")


@pytest.mark.parametrize(
    ("employees", "arr", "segment"),
    [
        # employees alone
        pytest.param(1, None, "self_serve", id="1-employee"),
        pytest.param(99, None, "self_serve", id="99-employees"),
        pytest.param(100, None, "sales_assist", id="100-employees"),
        pytest.param(999, None, "sales_assist", id="999-employees"),
        pytest.param(1_000, None, "enterprise", id="1000-employees"),
        pytest.param(250_000, None, "enterprise", id="250k-employees"),
        pytest.param(0, None, "self_serve", id="0-employees"),
        # ARR potential alone
        pytest.param(None, 0.0, "self_serve", id="arr-0"),
        pytest.param(None, 14_999.99, "self_serve", id="arr-just-under-15k"),
        pytest.param(None, 15_000.0, "sales_assist", id="arr-15k"),
        pytest.param(None, 100_000.0, "sales_assist", id="arr-100k-still-sales-assist"),
        pytest.param(None, 100_000.01, "enterprise", id="arr-just-over-100k"),
        pytest.param(None, float("inf"), "enterprise", id="arr-infinite"),
        # both: the higher-touch motion wins
        pytest.param(50, 8_000.0, "self_serve", id="both-self-serve"),
        pytest.param(50, 40_000.0, "sales_assist", id="small-company-mid-deal"),
        pytest.param(250, 5_000.0, "sales_assist", id="mid-company-small-deal"),
        pytest.param(40, 150_000.0, "enterprise", id="small-company-big-deal"),
        pytest.param(5_000, 5_000.0, "enterprise", id="big-company-small-deal"),
        pytest.param(250, 40_000.0, "sales_assist", id="both-sales-assist"),
        # unknown values carry no information
        pytest.param(None, None, "sales_assist", id="both-unknown-default"),
        pytest.param(-5, None, "sales_assist", id="negative-employees-unknown"),
        pytest.param(None, NAN, "sales_assist", id="nan-arr-unknown"),
        pytest.param(None, -1.0, "sales_assist", id="negative-arr-unknown"),
        pytest.param(20, NAN, "self_serve", id="nan-arr-employees-decide"),
        pytest.param(-1, 200_000.0, "enterprise", id="bad-employees-arr-decides"),
    ],
)
def test_segment_of(employees: int | None, arr: float | None, segment: str) -> None:
    assert segment_of(AccountTraits(employees=employees, arr_potential=arr), RULE) == segment


def test_unknown_accounts_take_the_configured_motion() -> None:
    rule = SegmentRule(unknown="self_serve")
    assert segment_of(AccountTraits(), rule) == "self_serve"
    assert segment_of(AccountTraits(employees=300), rule) == "sales_assist"


def test_boundaries_are_configurable() -> None:
    rule = SegmentRule(
        sales_assist_min_employees=50,
        enterprise_min_employees=500,
        sales_assist_min_arr=5_000,
        enterprise_above_arr=50_000,
    )
    assert segment_of(AccountTraits(employees=49), rule) == "self_serve"
    assert segment_of(AccountTraits(employees=50), rule) == "sales_assist"
    assert segment_of(AccountTraits(employees=500), rule) == "enterprise"
    assert segment_of(AccountTraits(arr_potential=4_999), rule) == "self_serve"
    assert segment_of(AccountTraits(arr_potential=50_000), rule) == "sales_assist"
    assert segment_of(AccountTraits(arr_potential=50_001), rule) == "enterprise"


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"sales_assist_min_employees": 2_000}, "enterprise_min_employees must be >="),
        ({"enterprise_above_arr": 10_000}, "enterprise_above_arr must be >="),
        ({"unknown": "vip"}, "Input should be"),
        ({"sales_assist_min_employees": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_segment_rules_are_refused(settings_: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SegmentRule.model_validate(settings_)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "$0"),
        (500, "$500"),
        (999.4, "$999"),
        (1_000, "$1K"),
        (15_500, "$15.5K"),
        (40_000, "$40K"),
        (999_949, "$999.9K"),
        (999_950, "$1M"),
        (1_250_000, "$1.2M"),
        (-2_000, "-$2K"),
        (float("inf"), "$?"),
        (NAN, "$?"),
    ],
)
def test_money(amount: float, text: str) -> None:
    assert money(amount) == text


def test_describe_names_the_sizes() -> None:
    traits = AccountTraits(employees=250, arr_potential=40_000)
    assert describe("sales_assist", traits) == "sales-assist (250 employees, $40K ARR potential)"
    assert describe("enterprise", AccountTraits(employees=1_200)) == (
        "enterprise (1,200 employees, ARR potential unknown)"
    )
    assert describe("sales_assist", AccountTraits()) == (
        "sales-assist (employees and ARR potential unknown)"
    )


@settings(max_examples=200, deadline=None)
@given(
    employees=st.none() | st.integers(min_value=-10, max_value=10**7),
    arr=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    more_employees=st.integers(min_value=0, max_value=10**6),
)
def test_segment_is_valid_and_monotone_in_company_size(
    employees: int | None, arr: float | None, more_employees: int
) -> None:
    before = segment_of(AccountTraits(employees=employees, arr_potential=arr), RULE)
    assert before in SEGMENTS
    if employees is not None and employees >= 0:
        bigger = AccountTraits(employees=employees + more_employees, arr_potential=arr)
        assert SEGMENTS.index(segment_of(bigger, RULE)) >= SEGMENTS.index(before)
