"""A local emulator of the Salesforce REST API (OAuth, sObjects, SOQL, sObject Collections)."""

from plg_handoff.sandbox.salesforce.emulator import Call, FaultPlan, SalesforceEmulator
from plg_handoff.sandbox.salesforce.schema import (
    DEFAULT_ACCOUNT_FIELDS,
    DEFAULT_CUSTOM_FIELDS,
    FieldDef,
)
from plg_handoff.sandbox.salesforce.store import DEFAULT_USERS, UserSeed

__all__ = [
    "DEFAULT_ACCOUNT_FIELDS",
    "DEFAULT_CUSTOM_FIELDS",
    "DEFAULT_USERS",
    "Call",
    "FaultPlan",
    "FieldDef",
    "SalesforceEmulator",
    "UserSeed",
]
