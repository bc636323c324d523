"""Custom search attributes: how ops filter workflows in Temporal UI."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

ACCOUNT_ID = SearchAttributeKey.for_keyword("AccountId")
TRIGGER = SearchAttributeKey.for_keyword("Trigger")
HANDOFF_STAGE = SearchAttributeKey.for_keyword("HandoffStage")
OWNER_ID = SearchAttributeKey.for_keyword("OwnerId")
SEGMENT = SearchAttributeKey.for_keyword("Segment")
PQL_SCORE = SearchAttributeKey.for_float("PqlScore")
# The embedded dev server (SQLite visibility) holds at most 3 custom Datetime attributes:
# the funnel's start, first contact and close. Assignment and meeting times are Int attributes
# holding epoch seconds. SignalAt on an AccountWorkflow is its latest evaluation while a handoff
# is open (what the sync's bulk refresh reads).
SIGNAL_AT = SearchAttributeKey.for_datetime("SignalAt")
CONTACTED_AT = SearchAttributeKey.for_datetime("ContactedAt")
CLOSED_AT = SearchAttributeKey.for_datetime("ClosedAt")
ASSIGNED_AT = SearchAttributeKey.for_int("AssignedAt")
MEETING_AT = SearchAttributeKey.for_int("MeetingAt")
TIER = SearchAttributeKey.for_int("Tier")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")
OPPORTUNITY_ID = SearchAttributeKey.for_keyword("OpportunityId")

ALL: tuple[SearchAttributeKey, ...] = (  # type: ignore[type-arg]  # keys of mixed value types
    ACCOUNT_ID,
    TRIGGER,
    HANDOFF_STAGE,
    OWNER_ID,
    SEGMENT,
    PQL_SCORE,
    SIGNAL_AT,
    CONTACTED_AT,
    CLOSED_AT,
    ASSIGNED_AT,
    MEETING_AT,
    TIER,
    SLA_BREACHED,
    OPPORTUNITY_ID,
)

_CLI_TYPES = {
    "KEYWORD": "Keyword",
    "DOUBLE": "Double",
    "DATETIME": "Datetime",
    "INT": "Int",
    "BOOL": "Bool",
}


def dev_server_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_TYPES[key.indexed_value_type.name]}"]
    return flags


async def register(client: Client, namespace: str) -> list[str]:
    """Registers the attributes missing on a server that has the operator service (self-hosted
    clusters and the test servers; Temporal Cloud registers them in its own console)."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as exc:  # the time-skipping test server cannot list, only add
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {
        key.name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{key.indexed_value_type.name}")
        for key in ALL
        if key.name not in existing
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
