"""The sObjects the emulator knows: standard fields of User, Account, Opportunity, Task and
Event, and the custom (`__c`) Opportunity fields the daemon writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str = "string"  # string, textarea, boolean, double, int, date, datetime, reference, id
    label: str = ""
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    required: bool = False  # on create
    writable: bool = True
    length: int = 255
    reference_to: tuple[str, ...] = ()

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "label": self.label or self.name.removesuffix("__c").replace("_", " "),
            "type": self.type,
            "custom": self.custom,
            "externalId": self.external_id,
            "unique": self.unique,
            "nillable": not self.required and self.type != "boolean",
            "createable": self.writable,
            "updateable": self.writable,
            "length": self.length if self.type in {"string", "textarea"} else 0,
            "referenceTo": list(self.reference_to),
        }


def _system() -> list[FieldDef]:
    return [
        FieldDef("Id", "id", writable=False, length=18),
        FieldDef("CreatedDate", "datetime", writable=False),
        FieldDef("LastModifiedDate", "datetime", writable=False),
        FieldDef("SystemModstamp", "datetime", writable=False),
    ]


_OWNER = FieldDef("OwnerId", "reference", reference_to=("User",), length=18)
KEY_PREFIXES: Mapping[str, str] = {
    "User": "005",
    "Account": "001",
    "Opportunity": "006",
    "Task": "00T",
    "Event": "00U",
}

STANDARD_FIELDS: Mapping[str, Sequence[FieldDef]] = {
    "User": [
        *_system(),
        FieldDef("Username", required=True),
        FieldDef("Email", required=True),
        FieldDef("FirstName"),
        FieldDef("LastName", required=True),
        FieldDef("Name", writable=False),
        FieldDef("IsActive", "boolean"),
        FieldDef("UserType", "picklist"),
    ],
    "Account": [
        *_system(),
        FieldDef("Name", required=True),
        FieldDef("Website"),
        FieldDef("Industry"),
        _OWNER,
    ],
    "Opportunity": [
        *_system(),
        FieldDef("Name", required=True, length=120),
        FieldDef("AccountId", "reference", reference_to=("Account",), length=18),
        FieldDef("StageName", "picklist", required=True),
        FieldDef("CloseDate", "date", required=True),
        FieldDef("Amount", "currency"),
        FieldDef("Description", "textarea", length=32000),
        FieldDef("IsClosed", "boolean", writable=False),
        FieldDef("IsWon", "boolean", writable=False),
        FieldDef("LastStageChangeDate", "datetime", writable=False),
        _OWNER,
    ],
    "Task": [
        *_system(),
        FieldDef("Subject"),
        FieldDef("Description", "textarea", length=32000),
        FieldDef("Status", "picklist"),
        FieldDef("Priority", "picklist"),
        FieldDef("ActivityDate", "date"),
        FieldDef("IsClosed", "boolean", writable=False),
        FieldDef("CompletedDateTime", "datetime", writable=False),
        FieldDef("TaskSubtype", "picklist"),
        FieldDef("WhatId", "reference", reference_to=("Account", "Opportunity"), length=18),
        _OWNER,
    ],
    "Event": [
        *_system(),
        FieldDef("Subject"),
        FieldDef("Description", "textarea", length=32000),
        FieldDef("StartDateTime", "datetime"),
        FieldDef("EndDateTime", "datetime"),
        FieldDef("ActivityDate", "date"),
        FieldDef("WhatId", "reference", reference_to=("Account", "Opportunity"), length=18),
        _OWNER,
    ],
}

# The daemon's Opportunity fields (see connectors/salesforce/fields.py), present by default.
DEFAULT_CUSTOM_FIELDS: Sequence[FieldDef] = (
    FieldDef("Plg_Handoff_Id__c", custom=True, external_id=True, unique=True),
    FieldDef("Plg_Account_Id__c", custom=True),
    FieldDef("Plg_Trigger__c", custom=True, length=80),
    FieldDef("Plg_Triggers__c", custom=True),
    FieldDef("Plg_Evidence__c", "textarea", custom=True, length=32768),
    FieldDef("Plg_Score__c", "double", custom=True),
    FieldDef("Plg_Tier__c", "double", custom=True),
    FieldDef("Plg_Plan__c", custom=True, length=80),
    FieldDef("Plg_Segment__c", custom=True, length=40),
    FieldDef("Plg_Approach__c", "textarea", custom=True, length=32768),
    FieldDef("Plg_Signal_To_Assigned_S__c", "double", custom=True),
    FieldDef("Plg_Signal_To_Contact_S__c", "double", custom=True),
    FieldDef("Plg_Contact_To_Meeting_S__c", "double", custom=True),
    FieldDef("Plg_Meeting_To_Won_S__c", "double", custom=True),
    FieldDef("Plg_Sla_Met__c", "boolean", custom=True),
)

# The daemon's Account field: the product's account id, External ID and unique.
DEFAULT_ACCOUNT_FIELDS: Sequence[FieldDef] = (
    FieldDef("Plg_Account_Id__c", custom=True, external_id=True, unique=True),
)

WON_STAGES = frozenset({"Closed Won"})
LOST_STAGES = frozenset({"Closed Lost"})
