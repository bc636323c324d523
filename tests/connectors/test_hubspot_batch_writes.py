"""A burst of new handoffs written through HubSpot's batch endpoints: deals a hundred an upsert,
their companies a hundred a create (or a hundred associations), tasks a hundred a create. Each
item keeps its own outcome: a record HubSpot refuses fails alone, and nothing is written twice
when the same burst is written again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests

from plg_handoff.config import HubSpotConfig
from plg_handoff.connectors.base import OpportunityDraft, OpportunityRef, TaskSpec
from plg_handoff.connectors.errors import ConnectorError, InvalidInput
from plg_handoff.connectors.hubspot import HubSpotCrm
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from tests.connectors.test_hubspot_connector import draft as connector_draft

TOKEN = "batch-writes-token"  # noqa: S105  # the emulator's token in these tests
UPSERT = ("POST", "/crm/v3/objects/deals/batch/upsert")
SEARCH = ("POST", "/crm/v3/objects/companies/search")
COMPANIES_CREATE = ("POST", "/crm/v3/objects/companies/batch/create")
COMPANY_CREATE = ("POST", "/crm/v3/objects/companies")
ASSOCIATE = ("POST", "/crm/v4/associations/deals/companies/batch/associate/default")
TASKS_CREATE = ("POST", "/crm/v3/objects/tasks/batch/create")
TASK_CREATE = ("POST", "/crm/v3/objects/tasks")
DUE = 1_767_225_600_000


@pytest.fixture
def emulator() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(token=TOKEN) as running:
        yield running


@pytest.fixture
def crm(emulator: HubSpotEmulator) -> HubSpotCrm:
    made = HubSpotCrm(HubSpotConfig(kind="hubspot", base_url=emulator.url), TOKEN)
    made.ensure_properties()
    made.list_owners()
    emulator.reset_calls()
    return made


def draft(n: int) -> OpportunityDraft:
    return connector_draft(f"acct-{n}")


def looked_up(crm: HubSpotCrm, drafts: list[OpportunityDraft]) -> list[OpportunityDraft]:
    """What assign_owner does first: one batched lookup, its answer on each draft."""
    found = crm.find_accounts([(d.account_id, d.domains) for d in drafts])
    return [
        replace(d, account_ref=ref.id if ref else None)
        for d, ref in zip(drafts, found, strict=True)
    ]


def add_company(emulator: HubSpotEmulator, **properties: str) -> str:
    answer = requests.post(
        f"{emulator.url}/crm/v3/objects/companies",
        json={"properties": properties},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    answer.raise_for_status()
    return str(answer.json()["id"])


def refs(outcomes: list[OpportunityRef | ConnectorError]) -> list[OpportunityRef]:
    assert all(isinstance(o, OpportunityRef) for o in outcomes), outcomes
    return [o for o in outcomes if isinstance(o, OpportunityRef)]


def company_of(emulator: HubSpotEmulator, deal_id: str) -> list[str]:
    return emulator.associations("deals", deal_id, "companies")


def test_new_accounts_deals_and_companies_take_one_call_each(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    drafts = looked_up(crm, [draft(n) for n in range(30)])
    emulator.reset_calls()

    written = refs(crm.upsert_opportunities(drafts))

    assert emulator.calls == [UPSERT, COMPANIES_CREATE]
    assert all(r.created for r in written)
    companies = {c["properties"]["plg_account_id"]: c["id"] for c in emulator.objects("companies")}
    assert len(companies) == 30
    for d, ref in zip(drafts, written, strict=True):
        assert company_of(emulator, ref.id) == [companies[d.account_id]]


def test_known_companies_are_associated_in_one_call(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    known = {
        n: add_company(emulator, name=f"Co {n}", plg_account_id=f"acct-{n}") for n in range(12)
    }
    drafts = looked_up(crm, [draft(n) for n in range(12)])
    emulator.reset_calls()

    written = refs(crm.upsert_opportunities(drafts))

    assert emulator.calls == [UPSERT, ASSOCIATE]
    assert len(emulator.objects("companies")) == 12
    for n, ref in enumerate(written):
        assert company_of(emulator, ref.id) == [known[n]]


def test_more_than_a_hundred_take_a_call_per_hundred(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    drafts = looked_up(crm, [draft(n) for n in range(150)])
    emulator.reset_calls()

    written = refs(crm.upsert_opportunities(drafts))

    assert Counter(emulator.calls) == Counter({UPSERT: 2, COMPANIES_CREATE: 2})
    assert len({r.id for r in written}) == 150
    assert len(emulator.objects("companies")) == 150


def test_a_refused_deal_fails_alone_and_the_others_are_written(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    drafts = looked_up(crm, [draft(n) for n in range(10)])
    emulator.faults.reject_record("deals", drafts[7].external_id, "Deal is locked by an approval")
    emulator.reset_calls()

    outcomes = crm.upsert_opportunities(drafts)

    refused = outcomes[7]
    assert isinstance(refused, InvalidInput)
    assert [r.message for r in refused.records] == ["Deal is locked by an approval"]
    assert all(isinstance(o, OpportunityRef) for i, o in enumerate(outcomes) if i != 7)
    assert len(emulator.objects("deals")) == 9
    assert len(emulator.objects("companies")) == 9
    assert emulator.calls == [UPSERT, COMPANIES_CREATE]


def test_the_same_burst_written_again_makes_nothing_twice(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    drafts = looked_up(crm, [draft(n) for n in range(20)])
    first = refs(crm.upsert_opportunities(drafts))
    emulator.reset_calls()

    again = refs(crm.upsert_opportunities(drafts))

    assert [r.id for r in again] == [r.id for r in first]
    assert not any(r.created for r in again)
    assert emulator.calls == [UPSERT]  # the links are remembered
    assert len(emulator.objects("deals")) == 20
    assert len(emulator.objects("companies")) == 20


def test_a_company_another_worker_created_meanwhile_is_linked_not_duplicated(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    drafts = looked_up(crm, [draft(n) for n in range(5)])  # none has a company yet
    theirs = add_company(emulator, name="Theirs", plg_account_id="acct-3")

    written = refs(crm.upsert_opportunities(drafts))

    assert company_of(emulator, written[3].id) == [theirs]
    assert len(emulator.objects("companies")) == 5
    assert all(len(company_of(emulator, r.id)) == 1 for r in written)


def test_tasks_take_one_call_and_a_refused_one_fails_alone(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    written = refs(crm.upsert_opportunities(looked_up(crm, [draft(n) for n in range(8)])))
    tasks = [
        TaskSpec(r.id, "1001", f"Reach out {i}", "body", 1_767_225_600_000)
        for i, r in enumerate(written)
    ]
    tasks[2] = replace(tasks[2], owner_id="999999")  # no such owner in HubSpot
    emulator.reset_calls()

    outcomes = crm.create_tasks(tasks)

    assert emulator.calls == [TASKS_CREATE]
    assert isinstance(outcomes[2], InvalidInput)
    created = [o for i, o in enumerate(outcomes) if i != 2]
    assert all(isinstance(o, str) for o in created)
    assert len(emulator.objects("tasks")) == 7
    for i, task_id in enumerate(outcomes):
        if i != 2:
            assert emulator.associations("tasks", str(task_id), "deals") == [written[i].id]


def test_a_lone_write_takes_the_single_endpoints(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    [one] = looked_up(crm, [draft(1)])
    emulator.reset_calls()

    [ref] = refs(crm.upsert_opportunities([one]))
    crm.create_tasks([TaskSpec(ref.id, "1001", "Reach out", "body", DUE)])

    assert emulator.calls == [UPSERT, COMPANY_CREATE, TASK_CREATE]
