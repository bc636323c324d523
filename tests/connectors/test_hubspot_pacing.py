"""The HubSpot connector paces itself: concurrent handoffs in one worker wait for room under
the search endpoints' 4 requests/s instead of taking 429s (the ten-second limit: e2e)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from plg_handoff.config import HubSpotConfig
from plg_handoff.connectors.hubspot import HubSpotCrm
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator

TOKEN = "pacing-test-token"  # noqa: S105  # the emulator's token in these tests
LOOKUPS = 12


def test_concurrent_company_searches_wait_for_room_instead_of_taking_429s() -> None:
    with HubSpotEmulator(token=TOKEN, search_per_second=4) as hubspot:
        crm = HubSpotCrm(
            HubSpotConfig(kind="hubspot", base_url=hubspot.url, search_requests_per_s=4), TOKEN
        )
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=LOOKUPS) as pool:
            found = list(pool.map(lambda n: crm.find_account(f"acct-{n}", ()), range(LOOKUPS)))
        elapsed = time.monotonic() - started

        assert found == [None] * LOOKUPS
        assert hubspot.refusals == {}
        assert len(hubspot.calls) == LOOKUPS
    assert elapsed >= 2  # three rounds of 4 searches, a second apart
