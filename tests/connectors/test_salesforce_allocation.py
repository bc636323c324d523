"""The Salesforce connector keeps a reserve of the org's daily API allocation, read from the
`Sforce-Limit-Info` header, for the org's other integrations: it stops with a typed
RateLimited before Salesforce itself refuses."""

from __future__ import annotations

import pytest

from plg_handoff.connectors.errors import RateLimited
from plg_handoff.sandbox.salesforce import SalesforceEmulator
from tests.connectors.test_crm_salesforce import connect

DAILY_LIMIT = 40
RESERVE = 0.25  # the last 10 calls of the 40 stay for other integrations
CEILING = 30
HOUR_S = 3600.0


def lookups_until_stopped(crm: object, most: int) -> RateLimited:
    find_account = crm.find_account  # type: ignore[attr-defined]
    with pytest.raises(RateLimited) as stopped:
        for n in range(most):
            find_account(f"acct-{n}", ())
    return stopped.value


def test_the_connector_stops_at_the_reserve_before_salesforce_refuses() -> None:
    with SalesforceEmulator(daily_limit=DAILY_LIMIT) as salesforce:
        crm = connect(salesforce, daily_api_reserve=RESERVE)

        stopped = lookups_until_stopped(crm, DAILY_LIMIT)

        assert salesforce.api_usage == CEILING
        assert [c for c in salesforce.api_calls() if c.status >= 400] == []
        assert stopped.retry_after is not None and 0 < stopped.retry_after <= HOUR_S
        assert f"{CEILING} of {DAILY_LIMIT}" in stopped.message
        assert "reserve" in stopped.message


def test_other_integrations_usage_counts_against_the_ceiling() -> None:
    """The header is Salesforce's count for the whole org, not this process's own."""
    with SalesforceEmulator(daily_limit=DAILY_LIMIT) as salesforce:
        other_integration = connect(salesforce, daily_api_reserve=0)
        for n in range(25):
            other_integration.find_account(f"other-{n}", ())
        crm = connect(salesforce, daily_api_reserve=RESERVE)

        lookups_until_stopped(crm, DAILY_LIMIT)

        assert salesforce.api_usage == CEILING
