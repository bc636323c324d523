"""HubSpot error mapping cases beyond tests/unit/test_vendor_errors.py."""

from __future__ import annotations

import pytest
from hubspot.crm.deals.exceptions import ApiException

from plg_handoff.config import HubSpotConfig
from plg_handoff.connectors.errors import RateLimited, TransientError
from plg_handoff.connectors.hubspot import HubSpotCrm
from plg_handoff.connectors.hubspot.client import no_retry
from plg_handoff.connectors.hubspot.errors import DAILY_WAIT_CAP_S, is_hubspot_api_error, map_error
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator

TOKEN = "errors-test-token"  # noqa: S105  # the emulator's token in these tests


def test_the_sdks_status_0_for_a_tls_failure_is_transient() -> None:
    """The SDK wraps urllib3's SSLError/ProxyError as ApiException(status=0) before any answer."""
    exc = ApiException(status=0, reason="SSLError: EOF occurred in violation of protocol")

    assert is_hubspot_api_error(exc)
    error = map_error(exc)
    assert type(error) is TransientError
    assert error.retryable


def test_urllib3_retries_nothing() -> None:
    retry = no_retry()

    assert retry.total == 0
    assert not retry.is_retry("GET", 429, has_retry_after=True)
    assert not retry.is_retry("POST", 503, has_retry_after=True)
    assert retry.raise_on_status is False


def test_the_daily_limit_waits_for_midnight_at_most_an_hour() -> None:
    with HubSpotEmulator(token=TOKEN, daily_limit=1) as emulator:
        crm = HubSpotCrm(HubSpotConfig(kind="hubspot", base_url=emulator.url), TOKEN)
        crm.list_owners()  # the day's allowance

        with pytest.raises(RateLimited) as caught:
            crm.missing_properties()

        error = caught.value
        assert "daily limit" in error.message
        assert error.retry_after is not None
        assert 0 < error.retry_after <= DAILY_WAIT_CAP_S
        assert len(emulator.calls) == 2  # far beyond a short wait: not retried here
