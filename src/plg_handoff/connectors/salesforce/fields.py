"""The Opportunity and Account custom fields the daemon writes, with what a person needs to
create them (Setup > Object Manager > Opportunity or Account > Fields & Relationships)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldSpec:
    name: str  # API name
    label: str
    type: str  # as Setup names it
    detail: str = ""
    external_id: bool = False

    def definition(self) -> str:
        extra = f", {self.detail}" if self.detail else ""
        return f"{self.name}: {self.type}{extra} (label {self.label!r})"


def opportunity_fields(external_id_field: str) -> tuple[FieldSpec, ...]:
    return (
        FieldSpec(
            external_id_field,
            "PLG Handoff Id",
            "Text(255)",
            "External ID, Unique (case sensitive)",
            external_id=True,
        ),
        FieldSpec("Plg_Account_Id__c", "PLG Account Id", "Text(255)"),
        FieldSpec("Plg_Trigger__c", "PLG Trigger", "Text(80)"),
        FieldSpec("Plg_Triggers__c", "PLG Triggers", "Text(255)"),
        FieldSpec("Plg_Evidence__c", "PLG Evidence", "Long Text Area(32768)"),
        FieldSpec("Plg_Score__c", "PLG Score", "Number(6, 2)"),
        FieldSpec("Plg_Tier__c", "PLG Tier", "Number(2, 0)"),
        FieldSpec("Plg_Plan__c", "PLG Plan", "Text(80)"),
        FieldSpec("Plg_Segment__c", "PLG Segment", "Text(40)"),
        FieldSpec("Plg_Approach__c", "PLG Suggested Approach", "Long Text Area(32768)"),
        *(
            FieldSpec(name, label, "Checkbox" if key == "sla_met" else "Number(14, 1)")
            for key, (name, label) in FUNNEL_FIELDS.items()
        ),
    )


# FunnelFields attribute -> (Opportunity field, label)
FUNNEL_FIELDS: dict[str, tuple[str, str]] = {
    "signal_to_assigned_s": ("Plg_Signal_To_Assigned_S__c", "PLG Signal to Assigned (s)"),
    "signal_to_contact_s": ("Plg_Signal_To_Contact_S__c", "PLG Signal to Contact (s)"),
    "contact_to_meeting_s": ("Plg_Contact_To_Meeting_S__c", "PLG Contact to Meeting (s)"),
    "meeting_to_won_s": ("Plg_Meeting_To_Won_S__c", "PLG Meeting to Won (s)"),
    "sla_met": ("Plg_Sla_Met__c", "PLG SLA Met"),
}


def account_fields(external_id_field: str) -> tuple[FieldSpec, ...]:
    return (
        FieldSpec(
            external_id_field,
            "PLG Account Id",
            "Text(255)",
            "External ID, Unique (case sensitive)",
            external_id=True,
        ),
    )
