"""Static HubSpot portal schema: object types, standard properties, association types."""

from __future__ import annotations

from dataclasses import dataclass

OBJECT_TYPE_IDS: dict[str, str] = {
    "contacts": "0-1",
    "companies": "0-2",
    "deals": "0-3",
    "tasks": "0-27",
    "notes": "0-46",
    "meetings": "0-47",
    "calls": "0-48",
    "emails": "0-49",
}
OBJECT_TYPES: tuple[str, ...] = tuple(OBJECT_TYPE_IDS)
ENGAGEMENT_TYPES: frozenset[str] = frozenset({"tasks", "notes", "meetings", "calls", "emails"})

_SINGULAR: dict[str, str] = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "tasks": "task",
    "notes": "note",
    "meetings": "meeting",
    "calls": "call",
    "emails": "email",
}
_ALIASES: dict[str, str] = {
    **{name: name for name in OBJECT_TYPES},
    **{type_id: name for name, type_id in OBJECT_TYPE_IDS.items()},
    **{singular: name for name, singular in _SINGULAR.items()},
}


def canonical_object_type(name: str) -> str | None:
    return _ALIASES.get(name.lower())


def singular(object_type: str) -> str:
    return _SINGULAR[object_type]


def create_date_property(object_type: str) -> str:
    return "hs_createdate" if object_type in ENGAGEMENT_TYPES else "createdate"


def system_properties(object_type: str) -> tuple[str, ...]:
    """Properties HubSpot always returns, even when a `properties` subset is requested."""
    return ("hs_object_id", create_date_property(object_type), "hs_lastmodifieddate")


@dataclass(frozen=True)
class PropertySeed:
    """A property definition to pre-create in the sandbox portal."""

    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    has_unique_value: bool = False
    options: tuple[str, ...] = ()
    group_name: str = ""
    description: str = ""


@dataclass(frozen=True)
class StandardProperty:
    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    options: tuple[str, ...] = ()
    read_only: bool = False
    has_unique_value: bool = False
    owner_reference: bool = False


DEAL_STAGES: tuple[str, ...] = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)
CLOSED_STAGES: frozenset[str] = frozenset({"closedwon", "closedlost"})
TASK_STATUSES: tuple[str, ...] = ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")
TASK_PRIORITIES: tuple[str, ...] = ("NONE", "LOW", "MEDIUM", "HIGH")
TASK_TYPES: tuple[str, ...] = ("TODO", "CALL", "EMAIL", "LINKED_IN", "MEETING")

_OWNER = StandardProperty(
    "hubspot_owner_id", "Owner", "enumeration", "select", owner_reference=True
)
_TIMESTAMP = StandardProperty("hs_timestamp", "Activity date", "datetime", "date")


def _system(object_type: str) -> tuple[StandardProperty, ...]:
    created = create_date_property(object_type)
    return (
        StandardProperty(
            "hs_object_id", "Record ID", "number", "number", read_only=True, has_unique_value=True
        ),
        StandardProperty(created, "Create Date", "datetime", "date"),
        StandardProperty(
            "hs_lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True
        ),
    )


_STANDARD: dict[str, tuple[StandardProperty, ...]] = {
    "deals": (
        StandardProperty("dealname", "Deal Name"),
        StandardProperty("amount", "Amount", "number", "number"),
        StandardProperty("dealstage", "Deal Stage", "enumeration", "radio", DEAL_STAGES),
        StandardProperty("pipeline", "Pipeline", "enumeration", "select", ("default",)),
        StandardProperty("closedate", "Close Date", "datetime", "date"),
        StandardProperty("description", "Deal Description", field_type="textarea"),
        _OWNER,
    ),
    "companies": (
        StandardProperty("name", "Company name"),
        StandardProperty("domain", "Company Domain Name"),
        StandardProperty("industry", "Industry"),
        StandardProperty("city", "City"),
        StandardProperty("country", "Country/Region"),
        StandardProperty("phone", "Phone Number", field_type="phonenumber"),
        StandardProperty("description", "Description", field_type="textarea"),
        _OWNER,
    ),
    "contacts": (
        StandardProperty("email", "Email", has_unique_value=True),
        StandardProperty("firstname", "First Name"),
        StandardProperty("lastname", "Last Name"),
        StandardProperty("phone", "Phone Number", field_type="phonenumber"),
        StandardProperty("company", "Company Name"),
        StandardProperty("jobtitle", "Job Title"),
        StandardProperty(
            "lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True
        ),
        _OWNER,
    ),
    "tasks": (
        StandardProperty("hs_task_subject", "Task Title"),
        StandardProperty("hs_task_body", "Notes", field_type="textarea"),
        StandardProperty("hs_task_status", "Task Status", "enumeration", "select", TASK_STATUSES),
        StandardProperty("hs_task_priority", "Priority", "enumeration", "select", TASK_PRIORITIES),
        StandardProperty("hs_task_type", "Task Type", "enumeration", "select", TASK_TYPES),
        StandardProperty(
            "hs_task_completion_date", "Completed at", "datetime", "date", read_only=True
        ),
        _TIMESTAMP,
        _OWNER,
    ),
    "notes": (StandardProperty("hs_note_body", "Note body", field_type="html"), _TIMESTAMP, _OWNER),
    "calls": (
        StandardProperty("hs_call_title", "Call Title"),
        StandardProperty("hs_call_body", "Call notes", field_type="html"),
        StandardProperty(
            "hs_call_direction", "Call direction", "enumeration", "select", ("INBOUND", "OUTBOUND")
        ),
        StandardProperty("hs_call_duration", "Call duration", "number", "number"),
        StandardProperty("hs_call_status", "Call status"),
        _TIMESTAMP,
        _OWNER,
    ),
    "emails": (
        StandardProperty("hs_email_subject", "Email subject"),
        StandardProperty("hs_email_text", "Email body", field_type="textarea"),
        StandardProperty(
            "hs_email_direction",
            "Email direction",
            "enumeration",
            "select",
            ("EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"),
        ),
        StandardProperty("hs_email_status", "Email send status"),
        _TIMESTAMP,
        _OWNER,
    ),
    "meetings": (
        StandardProperty("hs_meeting_title", "Meeting name"),
        StandardProperty("hs_meeting_body", "Meeting description", field_type="html"),
        StandardProperty("hs_meeting_start_time", "Start Time", "datetime", "date"),
        StandardProperty("hs_meeting_end_time", "End Time", "datetime", "date"),
        StandardProperty("hs_meeting_outcome", "Meeting outcome"),
        _TIMESTAMP,
        _OWNER,
    ),
}


def standard_properties(object_type: str) -> tuple[StandardProperty, ...]:
    return _system(object_type) + _STANDARD[object_type]


def property_group(object_type: str) -> str:
    return f"{singular(object_type)}information"


@dataclass(frozen=True)
class AssociationType:
    from_type: str
    to_type: str
    type_id: int
    label: str | None = None


def _pair(
    a: str, b: str, a_to_b: int, b_to_a: int, label: str | None = None
) -> tuple[AssociationType, ...]:
    return AssociationType(a, b, a_to_b, label), AssociationType(b, a, b_to_a, label)


_DEFAULT_PAIRS: tuple[tuple[str, str, int, int], ...] = (
    ("contacts", "companies", 279, 280),
    ("deals", "contacts", 3, 4),
    ("deals", "companies", 341, 342),
    ("tasks", "deals", 216, 215),
    ("tasks", "contacts", 204, 203),
    ("tasks", "companies", 192, 191),
    ("notes", "deals", 214, 213),
    ("notes", "contacts", 202, 201),
    ("notes", "companies", 190, 189),
    ("calls", "deals", 206, 205),
    ("calls", "contacts", 194, 193),
    ("calls", "companies", 182, 181),
    ("emails", "deals", 210, 209),
    ("emails", "contacts", 198, 197),
    ("emails", "companies", 186, 185),
    ("meetings", "deals", 212, 211),
    ("meetings", "contacts", 200, 199),
    ("meetings", "companies", 188, 187),
)
_LABELLED_PAIRS: tuple[tuple[str, str, int, int, str], ...] = (
    ("contacts", "companies", 1, 2, "Primary"),
    ("deals", "companies", 5, 6, "Primary"),
)

DEFAULT_ASSOCIATIONS: dict[tuple[str, str], AssociationType] = {
    (t.from_type, t.to_type): t for row in _DEFAULT_PAIRS for t in _pair(*row)
}
ASSOCIATION_TYPES: dict[int, AssociationType] = {
    t.type_id: t
    for t in (
        *DEFAULT_ASSOCIATIONS.values(),
        *(t for row in _LABELLED_PAIRS for t in _pair(*row)),
    )
}
_INVERSE: dict[int, int] = {
    t.type_id: other.type_id
    for t in ASSOCIATION_TYPES.values()
    for other in ASSOCIATION_TYPES.values()
    if (other.from_type, other.to_type) == (t.to_type, t.from_type) and other.label == t.label
}


def inverse_type_id(type_id: int) -> int:
    """User-defined labels are stored with the same id in both directions."""
    return _INVERSE.get(type_id, type_id)
