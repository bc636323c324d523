"""The custom deal properties the daemon writes, and creating the missing ones."""

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
