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
    options: tuple[tuple[str, str], ...] = ()  # (label, value)


GROUP = "dealinformation"
COMPANY_GROUP = "companyinformation"
COMPANY_ID_PROPERTY = "plg_account_id"
"""The product's account id on companies: the company's external id (unique)."""

# Fields kept current (on every update and by the refresh): the usage picture. Name, stage,
# pipeline, close date and amount belong to the rep once the deal exists.
USAGE_FIELDS: tuple[str, ...] = (
    "plg_trigger",
    "plg_triggers",
    "plg_evidence",
    "plg_score",
    "plg_tier",
    "plg_plan",
    "plg_segment",
    "plg_approach",
)
NUMERIC_FIELDS = frozenset({"plg_score", "plg_tier"})


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
        PropertySpec("plg_segment", "PLG segment"),
        PropertySpec("plg_approach", "PLG suggested approach", field_type="textarea"),
        *(
            PropertySpec(name, label, type="bool", field_type="booleancheckbox", options=YES_NO)
            if key == "sla_met"
            else PropertySpec(name, label, type="number", field_type="number")
            for key, (name, label) in FUNNEL_PROPERTIES.items()
        ),
    )


YES_NO = (("Yes", "true"), ("No", "false"))
# FunnelFields attribute -> (deal property, label)
FUNNEL_PROPERTIES: dict[str, tuple[str, str]] = {
    "signal_to_assigned_s": ("plg_signal_to_assigned_s", "PLG signal to assigned (s)"),
    "signal_to_contact_s": ("plg_signal_to_contact_s", "PLG signal to contact (s)"),
    "contact_to_meeting_s": ("plg_contact_to_meeting_s", "PLG contact to meeting (s)"),
    "meeting_to_won_s": ("plg_meeting_to_won_s", "PLG meeting to won (s)"),
    "sla_met": ("plg_sla_met", "PLG SLA met"),
}


def company_properties() -> tuple[PropertySpec, ...]:
    return (PropertySpec(COMPANY_ID_PROPERTY, "PLG account id", unique=True),)
