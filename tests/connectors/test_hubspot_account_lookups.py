"""Many accounts' companies in a few searches: each account gets the company `find_account`
would give it (its external id first, else the oldest on one of its domains), a hundred
accounts a search, and the deal's link that follows needs no search of its own."""

from __future__ import annotations

import requests

from plg_handoff.config import HubSpotConfig
from plg_handoff.connectors.hubspot import HubSpotCrm
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator

TOKEN = "lookup-test-token"  # noqa: S105  # the emulator's token in these tests
SEARCH = ("POST", "/crm/v3/objects/companies/search")


def company(hubspot: HubSpotEmulator, **properties: str) -> str:
    answer = requests.post(
        f"{hubspot.url}/crm/v3/objects/companies",
        json={"properties": properties},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    answer.raise_for_status()
    return str(answer.json()["id"])


def test_each_account_gets_its_own_company_from_one_search() -> None:
    with HubSpotEmulator(token=TOKEN) as hubspot:
        crm = HubSpotCrm(HubSpotConfig(kind="hubspot", base_url=hubspot.url), TOKEN)
        crm.ensure_properties()
        by_id = company(hubspot, name="By Id", plg_account_id="Acct-Mixed-Case", domain="a.io")
        older = company(hubspot, name="Older", domain="shared.io", hubspot_owner_id="1001")
        company(hubspot, name="Newer", domain="shared.io")
        hubspot.reset_calls()

        found = crm.find_accounts(
            [
                ("Acct-Mixed-Case", ["shared.io"]),  # its id wins over a domain match
                ("acct-domain", ["  SHARED.io "]),
                ("acct-none", ["nowhere.io"]),
                ("acct-no-domains", []),
            ]
        )

        assert [f.id if f else None for f in found] == [by_id, older, None, None]
        assert found[1] is not None and found[1].owner_id == "1001"
        assert hubspot.calls == [SEARCH]


def test_more_than_a_hundred_accounts_take_a_search_per_hundred() -> None:
    with HubSpotEmulator(token=TOKEN) as hubspot:
        crm = HubSpotCrm(HubSpotConfig(kind="hubspot", base_url=hubspot.url), TOKEN)
        crm.ensure_properties()
        ids = {n: company(hubspot, name=f"Co {n}", plg_account_id=f"acct-{n}") for n in (0, 149)}
        hubspot.reset_calls()

        found = crm.find_accounts([(f"acct-{n}", [f"acct-{n}.io"]) for n in range(150)])

        assert found[0] is not None and found[0].id == ids[0]
        assert found[149] is not None and found[149].id == ids[149]
        assert sum(1 for f in found if f is not None) == 2
        assert hubspot.calls == [SEARCH, SEARCH]
