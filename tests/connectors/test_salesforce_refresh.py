"""Bulk refresh of open opportunities' usage fields through sObject Collections: few calls,
no writes when nothing changed, closed and deleted ones reported, refusals per record."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from plg_handoff.connectors.base import OpportunityDraft, SupportsRefresh
from plg_handoff.connectors.errors import InvalidInput
from plg_handoff.sandbox.salesforce import SalesforceEmulator
from tests.connectors.test_crm_salesforce import connect
from tests.crm_conformance import draft


@pytest.fixture
def salesforce() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator() as emulator:
        yield emulator


def seed(emulator: SalesforceEmulator, n: int) -> list[OpportunityDraft]:
    owner = emulator.users(active=True)[0]["Id"]
    drafts = [draft(f"handoff/acct-{i}/1", owner, score=0.5) for i in range(n)]
    for d in drafts:
        emulator.insert(
            "Opportunity",
            {
                "Name": d.name,
                "StageName": "Prospecting",
                "CloseDate": "2030-01-31",
                "OwnerId": owner,
                "Plg_Handoff_Id__c": d.external_id,
                "Plg_Trigger__c": d.trigger,
                "Plg_Triggers__c": ";".join(d.triggers),
                "Plg_Evidence__c": "\n".join(d.evidence),
                "Plg_Score__c": d.score,
                "Plg_Tier__c": d.tier,
                "Plg_Plan__c": d.plan,
                "Amount": d.amount,
            },
        )
    return drafts


def test_refreshing_1000_open_opportunities_costs_at_most_6_calls(
    salesforce: SalesforceEmulator,
) -> None:
    drafts = seed(salesforce, 1000)
    crm = connect(salesforce)
    refresher: SupportsRefresh = crm
    salesforce.reset_calls()
    unchanged = refresher.refresh_opportunities(drafts)
    assert unchanged.unchanged == 1000
    assert unchanged.updated == ()
    assert len(salesforce.api_calls()) == 1  # one query, no writes

    salesforce.reset_calls()
    changed = [replace(d, score=0.75) for d in drafts]
    result = refresher.refresh_opportunities(changed)
    assert len(result.updated) == 1000
    calls = salesforce.route_counts()
    assert calls["PATCH /composite/sobjects"] == 5
    assert len(salesforce.api_calls()) <= 6
    assert {o["Plg_Score__c"] for o in salesforce.records("Opportunity")} == {0.75}


def test_closed_and_deleted_opportunities_are_left_alone_and_reported(
    salesforce: SalesforceEmulator,
) -> None:
    drafts = seed(salesforce, 3)
    won = next(
        o for o in salesforce.records("Opportunity") if o["Plg_Handoff_Id__c"].endswith("0/1")
    )
    salesforce.update("Opportunity", won["Id"], {"StageName": "Closed Won"})
    gone = replace(drafts[0], external_id="handoff/acct-gone/1")
    result = connect(salesforce).refresh_opportunities(
        [replace(d, score=0.9) for d in drafts] + [gone]
    )
    assert result.closed == (drafts[0].external_id,)
    assert result.missing == (gone.external_id,)
    assert sorted(result.updated) == sorted(d.external_id for d in drafts[1:])
    assert salesforce.store.get("Opportunity", won["Id"])["Plg_Score__c"] == 0.5


def test_a_refused_record_is_reported_after_the_others_are_written(
    salesforce: SalesforceEmulator,
) -> None:
    drafts = seed(salesforce, 3)
    salesforce.faults.reject_field("Opportunity", "Plg_Plan__c", "Plan must be a known plan")
    changes = [replace(drafts[0], plan="bogus"), *(replace(d, score=0.9) for d in drafts[1:])]
    with pytest.raises(InvalidInput) as caught:
        connect(salesforce).refresh_opportunities(changes)
    assert [r.record for r in caught.value.records] == [drafts[0].external_id]
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION: Plan must be a known plan" in str(caught.value)
    scores = {o["Plg_Handoff_Id__c"]: o["Plg_Score__c"] for o in salesforce.records("Opportunity")}
    assert scores[drafts[1].external_id] == 0.9
