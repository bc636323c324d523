"""Under 20 % injected faults (403 REQUEST_LIMIT_EXCEEDED, 503, answers slower than the client
waits) every handoff lands exactly once in Salesforce: one Account per product account, one
Opportunity per handoff key (slashes included), one Task per Opportunity."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from plg_handoff.config import SalesforceConfig
from plg_handoff.connectors.base import OpportunityDraft, TaskSpec
from plg_handoff.connectors.errors import ConnectorError
from plg_handoff.connectors.salesforce import SalesforceCredentials, SalesforceCrm
from plg_handoff.sandbox.salesforce import SalesforceEmulator

ACCOUNTS = 6
EPISODES = 3


@pytest.fixture
def emulator() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator() as running:
        yield running


def connector(emulator: SalesforceEmulator) -> SalesforceCrm:
    config = SalesforceConfig.model_validate(
        {"kind": "salesforce", "login_url": emulator.url, "timeout": "0.25s"}
    )
    credentials = SalesforceCredentials(
        username=emulator.username,
        password=emulator.password,
        security_token=emulator.security_token,
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
    )
    return SalesforceCrm(config, credentials)


def draft(account: int, episode: int, owner: str) -> OpportunityDraft:
    return OpportunityDraft(
        external_id=f"handoff/acct-{account}/{episode}",
        name=f"Acct {account}: seat growth (PQL)",
        account_id=f"acct-{account}",
        owner_id=owner,
        trigger="seat_growth",
        triggers=("seat_growth",),
        evidence=("4 users added in 7 days",),
        score=81.0,
        tier=1,
        account_name=f"Acct {account}",
        domains=(f"acct-{account}.example",),
    )


def activity(
    workers: list[SalesforceCrm],
    emulator: SalesforceEmulator,
    step: Callable[[SalesforceCrm], str],
) -> str:
    """Temporal's activity retry: retryable errors are attempted again, sometimes on another
    worker (a new process: nothing cached)."""
    for attempt in range(60):
        if attempt % 3 == 2:
            workers[0] = connector(emulator)
        try:
            return step(workers[0])
        except ConnectorError as exc:
            if not exc.retryable:
                raise
    raise AssertionError("the activity never succeeded")


def test_every_handoff_lands_exactly_once_under_20_percent_faults(
    emulator: SalesforceEmulator,
) -> None:
    workers = [connector(emulator)]
    emulator.faults.random_faults(0.2, seed=7, slow_s=0.4)

    for episode in range(1, EPISODES + 1):
        for account in range(ACCOUNTS):

            def assign(crm: SalesforceCrm, n: int = account) -> str:
                crm.find_account(f"acct-{n}", (f"acct-{n}.example",))
                return crm.list_owners()[0].id

            owner = activity(workers, emulator, assign)

            handoff = draft(account, episode, owner)

            def upsert(crm: SalesforceCrm, o: OpportunityDraft = handoff) -> str:
                return crm.upsert_opportunity(o).id

            opportunity = activity(workers, emulator, upsert)

            def task(crm: SalesforceCrm, what: str = opportunity, who: str = owner) -> str:
                spec = TaskSpec(what, who, "Reach out", "body", 1_767_225_600_000)
                return crm.find_task(what, who) or crm.create_task(spec)

            activity(workers, emulator, task)

    emulator.faults.clear()
    calls = Counter(call.status for call in emulator.api_calls())
    assert calls[403] and calls[503]  # faults were injected and retried
    opportunities = emulator.records("Opportunity")
    assert Counter(o["Plg_Handoff_Id__c"] for o in opportunities) == {
        f"handoff/acct-{a}/{e}": 1 for a in range(ACCOUNTS) for e in range(1, EPISODES + 1)
    }
    accounts = {a["Plg_Account_Id__c"]: a["Id"] for a in emulator.records("Account")}
    assert len(emulator.records("Account")) == ACCOUNTS == len(accounts)
    tasks = Counter(t["WhatId"] for t in emulator.records("Task"))
    for record in opportunities:
        assert record["AccountId"] == accounts[record["Plg_Account_Id__c"]]
        assert tasks[record["Id"]] == 1
    assert len(emulator.records("Task")) == ACCOUNTS * EPISODES
