"""The Opportunity custom fields the daemon writes, with what a person needs to create them
(Setup > Object Manager > Opportunity > Fields & Relationships)."""

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
    )
