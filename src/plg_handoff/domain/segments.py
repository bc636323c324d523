"""Segment motion (DESIGN §4): self-serve, sales-assist or enterprise, by employees and deal.

Each of the two dimensions the account's traits give, company size (`employees`) and deal size
(`arr_potential`), places the account in a motion on its own:

| motion       | employees                   | ARR potential                 |
|--------------|-----------------------------|-------------------------------|
| self_serve   | < 100                       | < $15K                        |
| sales_assist | 100 to 999                  | $15K to $100K (both included) |
| enterprise   | 1,000 or more               | more than $100K               |

The two combine to the **higher-touch** of the motions they give: a 40-person company with a
$150K deal is enterprise, a 5,000-person company with a $5K deal is enterprise too (the company
can grow into a bigger deal; the rep decides). So an account is self-serve only when every
known dimension says self-serve.

Unknown values (None, negative, NaN) carry no information: the known dimension decides alone,
and when neither is known the account gets `unknown` (sales-assist by default: a rep can qualify
an account nobody has sized; set it to self_serve to keep unsized accounts away from reps)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from plg_handoff.domain.rules import RuleModel
from plg_handoff.domain.usage import AccountTraits

Segment = Literal["self_serve", "sales_assist", "enterprise"]
SEGMENTS: tuple[Segment, ...] = ("self_serve", "sales_assist", "enterprise")  # low to high touch
LABELS = {"self_serve": "self-serve", "sales_assist": "sales-assist", "enterprise": "enterprise"}


class SegmentRule(RuleModel):
    """Where each motion starts. An account takes the higher-touch motion of its two dimensions;
    unknown dimensions are ignored."""

    sales_assist_min_employees: int = Field(
        100,
        ge=1,
        description="Employees from which an account is sales-assist (below: self-serve).",
    )
    enterprise_min_employees: int = Field(
        1_000, ge=1, description="Employees from which an account is enterprise."
    )
    sales_assist_min_arr: float = Field(
        15_000,
        ge=0,
        description="ARR potential (USD) from which an account is sales-assist (below: "
        "self-serve).",
    )
    enterprise_above_arr: float = Field(
        100_000,
        ge=0,
        description="ARR potential (USD) above which (strictly) an account is enterprise.",
    )
    unknown: Segment = Field(
        "sales_assist",
        description="The motion of an account whose employees and ARR potential are both unknown.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> SegmentRule:
        if self.enterprise_min_employees < self.sales_assist_min_employees:
            raise ValueError("enterprise_min_employees must be >= sales_assist_min_employees")
        if self.enterprise_above_arr < self.sales_assist_min_arr:
            raise ValueError("enterprise_above_arr must be >= sales_assist_min_arr")
        return self


def known_employees(traits: AccountTraits) -> int | None:
    employees = traits.employees
    return employees if employees is not None and employees >= 0 else None


def known_arr(traits: AccountTraits) -> float | None:
    arr = traits.arr_potential
    return arr if arr is not None and not math.isnan(arr) and arr >= 0 else None


def segment_of(traits: AccountTraits, rule: SegmentRule) -> str:
    motions: list[Segment] = []
    employees = known_employees(traits)
    if employees is not None:
        if employees >= rule.enterprise_min_employees:
            motions.append("enterprise")
        elif employees >= rule.sales_assist_min_employees:
            motions.append("sales_assist")
        else:
            motions.append("self_serve")
    arr = known_arr(traits)
    if arr is not None:
        if arr > rule.enterprise_above_arr:
            motions.append("enterprise")
        elif arr >= rule.sales_assist_min_arr:
            motions.append("sales_assist")
        else:
            motions.append("self_serve")
    if not motions:
        return rule.unknown
    return max(motions, key=SEGMENTS.index)


def money(amount: float) -> str:
    """$500, $40K, $1.2M: how a rep reads an amount."""
    if not math.isfinite(amount):
        return "$?"
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount >= 1e12:
        return f"{sign}${amount:.3g}"
    if amount >= 999_950:
        return f"{sign}${_one_decimal(amount / 1_000_000)}M"
    if amount >= 1_000:
        return f"{sign}${_one_decimal(amount / 1_000)}K"
    return f"{sign}${amount:,.0f}"


def _one_decimal(value: float) -> str:
    return f"{value:,.1f}".removesuffix(".0")


def describe(segment: str, traits: AccountTraits) -> str:
    """'sales-assist (250 employees, $40K ARR potential)'."""
    employees = known_employees(traits)
    arr = known_arr(traits)
    if employees is None and arr is None:
        sizes = "employees and ARR potential unknown"
    else:
        sizes = ", ".join(
            [
                f"{employees:,} employees" if employees is not None else "employees unknown",
                f"{money(arr)} ARR potential" if arr is not None else "ARR potential unknown",
            ]
        )
    return f"{LABELS.get(segment, segment or 'no segment')} ({sizes})"
