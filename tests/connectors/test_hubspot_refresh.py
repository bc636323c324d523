"""Bulk refresh of open deals' usage fields: batch read and batch update, 100 a call, writing
only what changed (calls counted on the emulator)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.deals import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
)

from plg_handoff.config import HubSpotConfig
from plg_handoff.connectors.base import OpportunityDraft, SupportsRefresh
from plg_handoff.connectors.errors import InvalidInput
from plg_handoff.connectors.hubspot import HubSpotCrm
from plg_handoff.connectors.hubspot.client import _usage_properties
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator

TOKEN = "refresh-test-token"  # noqa: S105  # the emulator's token in these tests
READ = ("POST", "/crm/v3/objects/deals/batch/read")
UPDATE = ("POST", "/crm/v3/objects/deals/batch/update")
OPEN_DEALS = 1_000


@pytest.fixture(scope="module")
def emulator() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(token=TOKEN, rate_limit_per_10s=100_000) as running:
        yield running


@pytest.fixture(scope="module")
def crm(emulator: HubSpotEmulator) -> HubSpotCrm:
    made = HubSpotCrm(HubSpotConfig(kind="hubspot", base_url=emulator.url), TOKEN)
    made.ensure_properties()
    return made


def draft(n: int, **changes: Any) -> OpportunityDraft:
    base = OpportunityDraft(
        external_id=f"acct-{n:04d}/e1",
        name=f"acct-{n:04d}: limit approaching (PQL)",
        account_id=f"acct-{n:04d}",
        owner_id="1001",
        trigger="limit_approaching",
        triggers=("limit_approaching", "seat_growth"),
        evidence=(f"{50 + n % 50} % of storage", "4 users added in 7 days"),
        score=60.0 + n % 40,
        tier=1 + n % 3,
        plan="team",
        amount=1000.0 * (n % 7) if n % 5 else None,
    )
    return replace(base, **changes)


@pytest.fixture(scope="module")
def drafts(emulator: HubSpotEmulator, crm: HubSpotCrm) -> list[OpportunityDraft]:
    """1,000 open deals, written as the handoffs wrote them (seeded with 10 batch upserts)."""
    client = HubSpot(access_token=TOKEN, host=emulator.url)
    made = [draft(n) for n in range(OPEN_DEALS)]
    for start in range(0, OPEN_DEALS, 100):
        client.crm.deals.batch_api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    SimplePublicObjectBatchInputUpsert(
                        id_property="plg_handoff_id",
                        id=d.external_id,
                        properties={
                            "dealname": d.name,
                            "dealstage": "appointmentscheduled",
                            **_usage_properties(d),
                        },
                    )
                    for d in made[start : start + 100]
                ]
            )
        )
    return made


def test_refreshing_1000_unchanged_open_deals_is_10_reads_and_no_write(
    crm: HubSpotCrm, emulator: HubSpotEmulator, drafts: list[OpportunityDraft]
) -> None:
    refresher: SupportsRefresh = crm
    emulator.reset_calls()

    result = refresher.refresh_opportunities(drafts)

    assert emulator.calls == [READ] * 10
    assert result.read == OPEN_DEALS
    assert result.unchanged == OPEN_DEALS
    assert result.updated == ()
    assert result.missing == () and result.closed == ()


def test_only_changed_deals_are_written_in_one_batch_of_their_changed_fields(
    crm: HubSpotCrm, emulator: HubSpotEmulator, drafts: list[OpportunityDraft]
) -> None:
    changed = list(drafts)
    for n in range(0, OPEN_DEALS, 20):  # 50 deals: a new score and one more line of evidence
        changed[n] = replace(drafts[n], score=99.0, evidence=(*drafts[n].evidence, "SSO set up"))
    emulator.reset_calls()

    result = crm.refresh_opportunities(changed)

    assert emulator.calls == [READ] * 10 + [UPDATE]
    assert len(emulator.calls) <= 11
    assert sorted(result.updated) == sorted(changed[n].external_id for n in range(0, 1000, 20))
    assert result.unchanged == OPEN_DEALS - 50
    deals = {d["properties"]["plg_handoff_id"]: d["properties"] for d in emulator.objects("deals")}
    assert deals["acct-0020/e1"]["plg_score"] == "99"
    assert deals["acct-0020/e1"]["plg_evidence"].endswith("SSO set up")
    assert deals["acct-0021/e1"]["plg_score"] == f"{drafts[21].score:g}"

    emulator.reset_calls()
    again = crm.refresh_opportunities(changed)
    assert emulator.calls == [READ] * 10
    assert again.updated == ()


def test_numbers_compare_as_numbers_amount_never_and_closed_or_deleted_deals_are_left_alone(
    crm: HubSpotCrm, emulator: HubSpotEmulator, drafts: list[OpportunityDraft]
) -> None:
    client = HubSpot(access_token=TOKEN, host=emulator.url)
    won, same = drafts[1], drafts[2]
    client.crm.deals.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id_property="plg_handoff_id", id=deal.external_id, properties=properties
                )
                for deal, properties in (
                    (won, {"dealstage": "closedwon"}),
                    # "62.00" where "62" is wanted; the amount is the rep's, never compared
                    (same, {"plg_score": f"{same.score:.2f}", "amount": "7"}),
                )
            ]
        )
    )
    gone = draft(5_000)
    emulator.reset_calls()

    result = crm.refresh_opportunities([won, replace(won, score=1.0), same, gone])

    assert emulator.calls == [READ]
    assert result.closed == (won.external_id,)
    assert result.missing == (gone.external_id,)
    assert result.unchanged == 1 and result.read == 2


def test_a_refused_record_is_invalid_input_naming_it_after_the_others_were_written(
    crm: HubSpotCrm, emulator: HubSpotEmulator, drafts: list[OpportunityDraft]
) -> None:
    targets = [replace(drafts[n], plan="enterprise") for n in (3, 4, 6)]
    deals = {d["properties"]["plg_handoff_id"]: d["id"] for d in emulator.objects("deals")}
    emulator.faults.reject_record("deals", deals[targets[1].external_id], "plan is frozen")
    emulator.reset_calls()
    try:
        with pytest.raises(InvalidInput) as caught:
            crm.refresh_opportunities(targets)
    finally:
        emulator.faults.clear()

    error = caught.value
    assert not error.retryable
    assert [(r.record, r.message) for r in error.records] == [
        (targets[1].external_id, "plan is frozen")
    ]
    assert "1 of 3 changed deals refused (2 updated)" in str(error)
    assert emulator.calls == [READ, UPDATE]
    after = {d["properties"]["plg_handoff_id"]: d["properties"] for d in emulator.objects("deals")}
    assert after[targets[0].external_id]["plg_plan"] == "enterprise"
    assert after[targets[1].external_id]["plg_plan"] == "team"
    # retried on the next refresh, and written once the CRM accepts it
    assert crm.refresh_opportunities(targets).updated == (targets[1].external_id,)
