"""The custom deal and company properties the daemon writes, and creating the missing ones."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PropertySpec:
    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    unique: bool = False


GROUP = "dealinformation"
COMPANY_GROUP = "companyinformation"
COMPANY_ID_PROPERTY = "plg_account_id"
"""The product's account id on companies: the company's external id (unique)."""

# Fields a refresh rewrites: the usage picture. Name, stage, owner and pipeline belong to the
# rep once the deal exists.
USAGE_FIELDS: tuple[str, ...] = (
    "plg_trigger",
    "plg_triggers",
    "plg_evidence",
    "plg_score",
    "plg_tier",
    "plg_plan",
    "amount",
)
NUMERIC_FIELDS = frozenset({"plg_score", "plg_tier", "amount"})


def deal_properties(external_id_property: str) -> tuple[PropertySpec, ...]:
    return (
        PropertySpec(external_id_property, "PLG handoff id", unique=True),
        PropertySpec("plg_account_id", "PLG account id"),
        PropertySpec("plg_trigger", "PLG trigger"),
        PropertySpec("plg_triggers", "PLG triggers (all)"),
        PropertySpec("plg_evidence", "PLG usage evidence", field_type="textarea"),
        PropertySpec("plg_score", "PLG score", type="number", field_type="number"),
        PropertySpec("plg_tier", "PLG tier", type="number", field_type="number"),
        PropertySpec("plg_plan", "PLG plan"),
    )


def company_properties() -> tuple[PropertySpec, ...]:
    return (PropertySpec(COMPANY_ID_PROPERTY, "PLG account id", unique=True),)
