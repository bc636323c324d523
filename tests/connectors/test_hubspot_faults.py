"""Under 20 % injected 429/5xx answers every handoff lands exactly once in HubSpot."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from plg_handoff.config import HubSpotConfig
from plg_handoff.connectors.base import OpportunityDraft, TaskSpec
from plg_handoff.connectors.errors import ConnectorError
from plg_handoff.connectors.hubspot import HubSpotCrm
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator

TOKEN = "faults-test-token"  # noqa: S105  # the emulator's token in these tests
ACCOUNTS = 8
EPISODES = 3


@pytest.fixture
def emulator() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(token=TOKEN, rate_limit_per_10s=100_000) as running:
        yield running


def connector(emulator: HubSpotEmulator) -> HubSpotCrm:
    return HubSpotCrm(HubSpotConfig(kind="hubspot", base_url=emulator.url), TOKEN)


def draft(account: int, episode: int) -> OpportunityDraft:
    return OpportunityDraft(
        external_id=f"acct-{account}/e{episode}",
        name=f"Acct {account}: seat growth (PQL)",
        account_id=f"acct-{account}",
        owner_id="1002",
        trigger="seat_growth",
        triggers=("seat_growth",),
        evidence=("4 users added in 7 days",),
        score=81.0,
        tier=1,
        account_name=f"Acct {account}",
        domains=(f"acct-{account}.example",),
    )


def activity(
    workers: list[HubSpotCrm], emulator: HubSpotEmulator, step: Callable[[HubSpotCrm], str]
) -> str:
    """Temporal's activity retry: retryable errors are attempted again, sometimes on another
    worker (a new process: nothing cached)."""
    for attempt in range(40):
        if attempt % 3 == 2:
            workers[0] = connector(emulator)
        try:
            return step(workers[0])
        except ConnectorError as exc:
            if not exc.retryable:
                raise
    raise AssertionError("the activity never succeeded")


def first_owner(crm: HubSpotCrm) -> str:
    return crm.list_owners()[0].id


def test_every_handoff_lands_exactly_once_under_20_percent_failures(
    emulator: HubSpotEmulator,
) -> None:
    connector(emulator).ensure_properties()
    emulator.faults.fail_randomly(0.2, seed=11)
    workers = [connector(emulator)]

    for episode in range(EPISODES):
        for account in range(ACCOUNTS):
            owner = activity(workers, emulator, first_owner)
            opportunity = replace(draft(account, episode), owner_id=owner)

            def upsert(crm: HubSpotCrm, o: OpportunityDraft = opportunity) -> str:
                return crm.upsert_opportunity(o).id

            deal_id = activity(workers, emulator, upsert)

            def task(crm: HubSpotCrm, deal: str = deal_id, who: str = owner) -> str:
                spec = TaskSpec(deal, who, "Reach out", "body", 1_767_225_600_000)
                return crm.find_task(deal, who) or crm.create_task(spec)

            activity(workers, emulator, task)

    emulator.faults.clear()
    assert len(emulator.calls) > ACCOUNTS * EPISODES * 4  # failures were injected and retried
    deals = emulator.objects("deals")
    assert Counter(d["properties"]["plg_handoff_id"] for d in deals) == {
        f"acct-{a}/e{e}": 1 for a in range(ACCOUNTS) for e in range(EPISODES)
    }
    companies = {c["properties"]["plg_account_id"]: c["id"] for c in emulator.objects("companies")}
    assert len(emulator.objects("companies")) == ACCOUNTS == len(companies)
    for deal in deals:
        assert len(emulator.associations("deals", deal["id"], "tasks")) == 1
        account = deal["properties"]["plg_account_id"]
        assert emulator.associations("deals", deal["id"], "companies") == [companies[account]]
    assert len(emulator.objects("tasks")) == ACCOUNTS * EPISODES
