"""The HubSpot connector against the emulator, through the real SDK: retries, companies,
multi-status answers and the calls a new handoff costs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from plg_handoff.config import HubSpotConfig
from plg_handoff.connectors.base import OpportunityDraft, TaskSpec
from plg_handoff.connectors.errors import InvalidInput, RateLimited
from plg_handoff.connectors.hubspot import HubSpotCrm
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator

TOKEN = "connector-test-token"  # noqa: S105  # the emulator's token in these tests
UPSERT = ("POST", "/crm/v3/objects/deals/batch/upsert")
COMPANY_SEARCH = ("POST", "/crm/v3/objects/companies/search")
COMPANY_CREATE = ("POST", "/crm/v3/objects/companies")
ASSOCIATE = ("POST", "/crm/v4/associations/deals/companies/batch/associate/default")
OWNERS = ("GET", "/crm/v3/owners/")
TASK_CREATE = ("POST", "/crm/v3/objects/tasks")


@pytest.fixture
def emulator() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(token=TOKEN) as running:
        yield running


def connector(emulator: HubSpotEmulator) -> HubSpotCrm:
    return HubSpotCrm(HubSpotConfig(kind="hubspot", base_url=emulator.url), TOKEN)


@pytest.fixture
def crm(emulator: HubSpotEmulator) -> HubSpotCrm:
    made = connector(emulator)
    made.ensure_properties()
    emulator.reset_calls()
    return made


def draft(account: str = "acct-1", episode: str = "e1", **changes: Any) -> OpportunityDraft:
    base = OpportunityDraft(
        external_id=f"{account}/{episode}",
        name=f"{account}: limit approaching (PQL)",
        account_id=account,
        owner_id="1001",
        trigger="limit_approaching",
        triggers=("limit_approaching",),
        evidence=("87 % of storage",),
        score=72.0,
        tier=2,
        plan="team",
        amount=12000.0,
        account_name=f"{account.title()} Inc",
        domains=(f"{account}.example",),
    )
    return replace(base, **changes)


def new_handoff(crm: HubSpotCrm, opportunity: OpportunityDraft) -> str:
    """What the handoff workflow's CRM activities do for a new handoff."""
    owners = [o for o in crm.list_owners() if o.active]
    assert owners
    ref = crm.upsert_opportunity(opportunity)
    if crm.find_task(ref.id, opportunity.owner_id) is None:
        crm.create_task(
            TaskSpec(ref.id, opportunity.owner_id, "Reach out", "body", 1_767_225_600_000)
        )
    return ref.id


# --- retries --------------------------------------------------------------------------------


def test_a_429_with_retry_after_10_reaches_us_after_exactly_one_http_call(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    """The SDK's default urllib3 retry would have retried this GET three times by itself."""
    emulator.faults.rate_limit_next(4, retry_after_s=10)

    with pytest.raises(RateLimited) as caught:
        crm.list_owners()

    assert caught.value.retry_after == 10
    assert caught.value.retryable
    assert emulator.calls == [OWNERS]


def test_a_429_on_a_batch_upsert_is_also_one_call(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    emulator.faults.rate_limit_next(4, retry_after_s=10)

    with pytest.raises(RateLimited) as caught:
        crm.upsert_opportunity(draft())

    assert caught.value.retry_after == 10
    assert emulator.calls == [UPSERT]


def test_short_waits_are_retried_here_a_bounded_number_of_times(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    emulator.faults.rate_limit_next(10, retry_after_s=0)

    with pytest.raises(RateLimited):
        crm.list_owners()

    assert emulator.calls == [OWNERS] * 3
    emulator.faults.clear()
    emulator.reset_calls()
    emulator.faults.fail_next(1, status=503)
    assert crm.list_owners()
    assert emulator.calls == [OWNERS] * 2


def test_a_task_create_is_not_retried_after_a_5xx(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    """HubSpot may have created it: the activity's next attempt looks before creating."""
    ref = crm.upsert_opportunity(draft())
    emulator.reset_calls()
    emulator.faults.fail_next(1, status=502)

    with pytest.raises(Exception, match="502"):
        crm.create_task(TaskSpec(ref.id, "1001", "Reach out", "body", 1_767_225_600_000))

    assert emulator.calls == [TASK_CREATE]
    emulator.reset_calls()
    assert crm.find_task(ref.id, "1001") is None
    assert len(emulator.calls) == 1  # no longer "fresh": it looked


# --- companies ------------------------------------------------------------------------------


def test_a_new_account_gets_a_company_with_its_external_id_and_domain(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    ref = crm.upsert_opportunity(draft())

    [company] = emulator.objects("companies")
    assert company["properties"]["plg_account_id"] == "acct-1"
    assert company["properties"]["domain"] == "acct-1.example"
    assert company["properties"]["name"] == "Acct-1 Inc"
    assert emulator.associations("deals", ref.id, "companies") == [company["id"]]
    assert emulator.calls == [UPSERT, COMPANY_SEARCH, COMPANY_CREATE]


def test_the_company_is_found_by_external_id_before_domain(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    by_domain = create_company(crm, name="Domain Co", domain="acct-1.example")
    by_id = create_company(crm, name="Ours", plg_account_id="acct-1")
    emulator.reset_calls()

    ref = crm.upsert_opportunity(draft())

    assert emulator.associations("deals", ref.id, "companies") == [by_id]
    assert by_domain != by_id
    assert len(emulator.objects("companies")) == 2
    assert emulator.calls == [UPSERT, COMPANY_SEARCH, ASSOCIATE]


def test_the_company_is_found_by_domain_case_insensitively(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    existing = create_company(crm, name="Acme", domain="acme.io")
    ref = crm.upsert_opportunity(draft(domains=("ACME.io", "other.example")))

    assert emulator.associations("deals", ref.id, "companies") == [existing]
    assert len(emulator.objects("companies")) == 1


def test_an_accounts_next_handoff_skips_the_search_and_a_deleted_company_is_looked_up_again(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    crm.upsert_opportunity(draft(episode="e1"))
    [company] = emulator.objects("companies")
    emulator.reset_calls()

    second = crm.upsert_opportunity(draft(episode="e2"))
    assert emulator.calls == [UPSERT, ASSOCIATE]
    assert emulator.associations("deals", second.id, "companies") == [company["id"]]

    crm._companies._call(  # deleted (or merged away) in HubSpot meanwhile
        crm._companies._basic.archive, company["id"]
    )
    emulator.reset_calls()
    third = crm.upsert_opportunity(draft(episode="e3"))
    assert emulator.calls == [UPSERT, ASSOCIATE, COMPANY_SEARCH, COMPANY_CREATE]
    [recreated] = emulator.objects("companies")
    assert emulator.associations("deals", third.id, "companies") == [recreated["id"]]


def test_a_retried_upsert_links_the_company_once(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    first = crm.upsert_opportunity(draft())
    emulator.reset_calls()
    again = crm.upsert_opportunity(draft(score=80.0))

    assert again.id == first.id and not again.created
    assert emulator.calls == [UPSERT]
    fresh = connector(emulator)  # another worker: no cache, links idempotently
    emulator.reset_calls()
    assert fresh.upsert_opportunity(draft()).id == first.id
    assert emulator.calls == [UPSERT, COMPANY_SEARCH, ASSOCIATE]
    assert len(emulator.objects("companies")) == 1


def test_a_company_search_has_not_indexed_yet_is_caught_by_the_unique_external_id(
    crm: HubSpotCrm, emulator: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HubSpot's search lags writes by seconds: a company created by an earlier attempt may be
    missed, and the create is then refused (409) naming the existing record."""
    existing = create_company(crm, name="Earlier attempt", plg_account_id="acct-1")
    monkeypatch.setattr(crm._companies, "_search_for", lambda _account, _domains: None)
    emulator.reset_calls()

    ref = crm.upsert_opportunity(draft())

    assert emulator.calls == [UPSERT, COMPANY_CREATE, ASSOCIATE]
    assert emulator.associations("deals", ref.id, "companies") == [existing]
    assert len(emulator.objects("companies")) == 1


def create_company(crm: HubSpotCrm, **properties: str) -> str:
    from hubspot.crm.companies import SimplePublicObjectInputForCreate

    created = crm._companies._call(
        crm._companies._basic.create, SimplePublicObjectInputForCreate(properties=properties)
    )
    return str(created.id)


# --- multi-status ---------------------------------------------------------------------------


def test_a_record_refused_inside_a_207_upsert_is_invalid_input_with_its_message(
    crm: HubSpotCrm, emulator: HubSpotEmulator
) -> None:
    emulator.faults.reject_record("deals", "acct-1/e1", "Deal is locked by an approval")

    with pytest.raises(InvalidInput) as caught:
        crm.upsert_opportunity(draft())

    error = caught.value
    assert not error.retryable
    assert error.status == 207
    assert [(r.record, r.message) for r in error.records] == [
        ("acct-1/e1", "Deal is locked by an approval")
    ]
    assert "Deal is locked by an approval" in str(error)
    assert emulator.objects("deals") == []
    assert emulator.calls == [UPSERT]  # non-retryable: not retried here either


def test_a_refused_deal_drops_the_cached_owners(crm: HubSpotCrm, emulator: HubSpotEmulator) -> None:
    crm.list_owners()
    emulator.faults.reject_record("deals", "acct-1/e1", "INVALID_OWNER_ID")
    with pytest.raises(InvalidInput):
        crm.upsert_opportunity(draft())
    emulator.reset_calls()
    crm.list_owners()
    assert emulator.calls == [OWNERS]


# --- call counts ----------------------------------------------------------------------------


def test_calls_of_a_new_handoff(emulator: HubSpotEmulator) -> None:
    crm = connector(emulator)
    crm.ensure_properties()
    crm.list_owners()  # as `handoff worker` does at start; reloads then run in the background
    emulator.reset_calls()

    new_handoff(crm, draft("acct-1"))
    assert emulator.calls == [UPSERT, COMPANY_SEARCH, COMPANY_CREATE, TASK_CREATE]

    create_company(crm, name="Known", domain="acct-3.example")
    emulator.reset_calls()
    new_handoff(crm, draft("acct-3"))
    assert emulator.calls == [UPSERT, COMPANY_SEARCH, ASSOCIATE, TASK_CREATE]

    emulator.reset_calls()
    new_handoff(crm, draft("acct-1", episode="e2"))  # the account's next episode
    assert emulator.calls == [UPSERT, ASSOCIATE, TASK_CREATE]

    tasks = emulator.objects("tasks")
    assert len(tasks) == 3
    assert len(emulator.objects("deals")) == 3


def test_owners_are_cached_for_their_ttl_then_reloaded_behind_the_callers_back(
    emulator: HubSpotEmulator,
) -> None:
    now = [0.0]
    crm = HubSpotCrm(
        HubSpotConfig(kind="hubspot", base_url=emulator.url),
        TOKEN,
        owners_ttl_s=60,
        clock=lambda: now[0],
    )
    assert {o.id for o in crm.list_owners()} == {"1001", "1002", "1003"}
    now[0] = 59
    crm.list_owners()
    assert emulator.calls == [OWNERS]

    emulator.deactivate_owner("1003")
    now[0] = 60
    stale = crm.list_owners()  # answered from the cache: the reload runs in the background
    assert {o.id for o in stale if o.active} == {"1001", "1002", "1003"}
    deadline = time.monotonic() + 5
    while emulator.calls != [OWNERS, OWNERS] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emulator.calls == [OWNERS, OWNERS]
    deadline = time.monotonic() + 5
    while "1003" in {o.id for o in crm.list_owners() if o.active}:
        assert time.monotonic() < deadline, "the reloaded owners never replaced the stale ones"
        time.sleep(0.01)
    assert emulator.calls == [OWNERS, OWNERS]  # one reload, however many callers


def test_properties_include_the_companys_external_id(emulator: HubSpotEmulator) -> None:
    crm = connector(emulator)
    assert "companies.plg_account_id" in crm.missing_properties()
    assert "companies.plg_account_id" in crm.ensure_properties()
    assert crm.missing_properties() == []
