"""What every connector of a role provides. Activities depend on these, never on a vendor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Protocol, runtime_checkable

from plg_handoff.connectors.errors import ConnectorError
from plg_handoff.domain.follow_up import FollowUp as FollowUp
from plg_handoff.domain.follow_up import FunnelFields as FunnelFields
from plg_handoff.domain.usage import AccountTraits, UsageEvent


@dataclass(frozen=True)
class Quarantined:
    """A line that could not become a usage event, kept with the reason."""

    reason: str
    raw: str
    location: str
    detail: str = ""


@dataclass(frozen=True)
class ParsedLine:
    events: tuple[UsageEvent, ...] = ()
    quarantined: Quarantined | None = None


class UsageSource(Protocol):
    def export(self, days: Sequence[date], workdir: Path) -> list[Path]:
        """Local files (JSONL in the Mixpanel export shape, gzip or plain) holding at least
        every event of these UTC days. A remote source streams its export into `workdir`
        (deleted after the pull); a local one returns its own files."""
        ...

    def traits(self, accounts: Sequence[str]) -> tuple[dict[str, AccountTraits], list[Quarantined]]:
        """Account traits by account id for at least these accounts (a source may return more),
        and the profiles that could not be read. Called after `export`. An account's traits
        are returned whole or not at all: they replace what its workflow had."""
        ...


@dataclass(frozen=True)
class TraitsRead:
    traits: dict[str, AccountTraits]
    bad: list[Quarantined]
    profiles_total: int | None = None
    """How many profiles there are, when the source read them all."""


@runtime_checkable
class SupportsTraitsById(Protocol):
    """An optional usage-source capability, for a profile API that answers either some profiles
    by id or every profile page by page: told how many profiles the last full read counted
    (None: unknown), the source reads the accounts' traits whichever way costs fewer queries."""

    def read_traits(self, accounts: Sequence[str], profiles_total: int | None) -> TraitsRead: ...


@dataclass(frozen=True)
class Owner:
    id: str
    email: str
    name: str
    active: bool = True


@dataclass(frozen=True)
class OpportunityRef:
    id: str
    created: bool


@dataclass(frozen=True)
class OpportunityDraft:
    """A vendor-neutral opportunity; each CRM connector maps it to its own fields."""

    external_id: str
    name: str
    account_id: str
    owner_id: str
    trigger: str
    triggers: tuple[str, ...]
    evidence: tuple[str, ...]
    score: float
    tier: int
    plan: str | None = None
    amount: float | None = None
    # The account's company/Account: found by account_id, then by these domains; named so.
    account_name: str | None = None
    domains: tuple[str, ...] = ()
    account_ref: str | None = None
    """The CRM's id of that account/company when a lookup already found it."""
    segment: str | None = None
    approach: str | None = None
    """The playbook's suggested approach for the rep."""
    existing_id: str | None = None
    """The CRM's id of the opportunity this handoff already has: only its owner, account id
    and usage fields are written then; stage, close date, name and amount stay as sales set
    them. Recreated by external id when the CRM no longer has it."""


@dataclass(frozen=True)
class AccountRef:
    """The account/company in the CRM a handoff's opportunity belongs to, as found."""

    id: str
    owner_id: str | None = None
    owner_active: bool | None = None
    """None: the CRM did not say; check `owner_id` against `list_owners`."""


@dataclass(frozen=True)
class TaskSpec:
    opportunity_id: str
    owner_id: str
    subject: str
    body: str
    due_at_ms: int


class CrmConnector(Protocol):
    def list_owners(self) -> list[Owner]: ...

    def upsert_opportunity(self, draft: OpportunityDraft) -> OpportunityRef:
        """With `draft.existing_id`: one update of that record (owner, account id, usage
        fields), else, or when the CRM no longer has it, the upsert by external id with every
        field (name, stage by trigger, close date, amount too)."""
        ...

    def find_task(self, opportunity_id: str, owner_id: str) -> str | None:
        """The opportunity's task for this owner, if one was created already."""
        ...

    def create_task(self, task: TaskSpec) -> str: ...

    def read_follow_up(self, opportunity_id: str, task_id: str | None) -> FollowUp: ...

    def find_account(self, account_id: str, domains: Sequence[str]) -> AccountRef | None:
        """The account/company by external id, then by domain; None when there is none. The
        connector remembers the answer, so the opportunity upsert that follows reuses this
        lookup (and creates the account when there was none) instead of looking again."""
        ...

    def write_funnel(self, opportunity_id: str, funnel: FunnelFields) -> None:
        """Writes the funnel timings that are set (not None) to the opportunity's fields."""
        ...

    def missing_properties(self) -> list[str]:
        """Custom fields the daemon writes that the CRM does not have yet."""
        ...

    def ensure_properties(self) -> list[str]:
        """Creates the missing custom fields; returns their names."""
        ...

    def setup_help(self) -> list[tuple[str, str]]:
        """The missing custom fields, each with how to create it."""
        ...


@dataclass(frozen=True)
class RefreshResult:
    """What a bulk refresh of open opportunities' usage fields did."""

    read: int
    updated: tuple[str, ...] = ()
    """External ids whose usage fields changed and were written."""
    unchanged: int = 0
    missing: tuple[str, ...] = ()
    """External ids with no opportunity in the CRM (deleted or merged there)."""
    closed: tuple[str, ...] = ()
    """External ids whose opportunity is closed in the CRM: left alone."""


class SupportsRefresh(Protocol):
    """An optional CRM capability: refresh the usage fields of many open opportunities with the
    vendor's batch APIs, writing only the records whose fields changed. A refused record raises
    `InvalidInput` carrying each record's message after the others were written."""

    def refresh_opportunities(self, drafts: list[OpportunityDraft]) -> RefreshResult: ...


@runtime_checkable
class SupportsSharedPace(Protocol):
    """A CRM connector that paces its requests in-process: told how many worker processes
    send with the same credentials, it keeps to its part of the vendor's limit."""

    def share_pace(self, processes: int) -> None: ...


@runtime_checkable
class SupportsAccountLookups(Protocol):
    """An optional CRM capability: the accounts/companies of many accounts (id and domains
    each) in as few calls as the vendor allows, each answered and remembered as `find_account`
    answers one."""

    def find_accounts(
        self, wanted: Sequence[tuple[str, Sequence[str]]]
    ) -> list[AccountRef | None]: ...


@runtime_checkable
class SupportsBatchWrites(Protocol):
    """An optional CRM capability: many opportunities, or many tasks, in as few calls as the
    vendor's batch endpoints allow. One outcome per item, in order: what `upsert_opportunity`
    or `create_task` returns for it, or the error that item alone met (the others are
    written). A call the vendor refuses as a whole (rate limit, outage, credentials) raises."""

    def upsert_opportunities(
        self, drafts: Sequence[OpportunityDraft]
    ) -> list[OpportunityRef | ConnectorError]: ...

    def create_tasks(self, tasks: Sequence[TaskSpec]) -> list[str | ConnectorError]: ...
