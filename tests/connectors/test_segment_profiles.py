"""The Segment Profile API client against the Profile API emulator, over real HTTP."""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator

import pytest

from plg_handoff.connectors.errors import AuthError, RateLimited, TransientError
from plg_handoff.connectors.segment.profiles import SegmentProfilesClient
from plg_handoff.sandbox.segment import SegmentProfilesEmulator

SPACE = "spa_test"
TOKEN = "profiles-token-9b2e77"  # noqa: S105  # the emulator's token in tests
PROFILES = {
    "acme": {"name": "Acme", "plan": "team", "seats": 12},
    **{f"org-{i}": {"name": f"Org {i}", "rank": i} for i in range(250)},
}


def _emulator(per_second: int = 100) -> SegmentProfilesEmulator:
    emulator = SegmentProfilesEmulator(
        space_id=SPACE, token=TOKEN, profiles=PROFILES, per_second=per_second
    )
    emulator.start()
    return emulator


@pytest.fixture
def emulator() -> Iterator[SegmentProfilesEmulator]:
    emulator = _emulator()
    yield emulator
    emulator.stop()


def _client(emulator: SegmentProfilesEmulator, token: str = TOKEN) -> SegmentProfilesClient:
    return SegmentProfilesClient(SPACE, token, base_url=emulator.url, timeout_s=5)


def _busiest_window(arrivals: list[float]) -> int:
    times = sorted(arrivals)
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


def test_traits_returned(emulator: SegmentProfilesEmulator) -> None:
    traits = _client(emulator).account_traits("acme")
    assert traits == {"name": "Acme", "plan": "team", "seats": 12}
    assert emulator.calls == [
        f"/v1/spaces/{SPACE}/collections/accounts/profiles/group_id:acme/traits"
    ]


def test_traits_paged_past_one_page() -> None:
    many_traits = {f"t{i:03d}": i for i in range(450)}
    emulator = SegmentProfilesEmulator(space_id=SPACE, token=TOKEN, profiles={"big": many_traits})
    emulator.start()
    try:
        assert _client(emulator).account_traits("big") == many_traits
        assert len(emulator.calls) == 3
    finally:
        emulator.stop()


def test_missing_profile_is_none(emulator: SegmentProfilesEmulator) -> None:
    assert _client(emulator).account_traits("nobody") is None


def test_wrong_token_is_auth_error(emulator: SegmentProfilesEmulator) -> None:
    with pytest.raises(AuthError) as caught:
        _client(emulator, token="wrong").account_traits("acme")  # noqa: S106
    assert caught.value.status == 401
    assert not caught.value.retryable


def test_short_rate_limit_is_waited_out(emulator: SegmentProfilesEmulator) -> None:
    emulator.faults.rate_limit_next(1, retry_after_s=1)
    started = time.monotonic()
    assert _client(emulator).account_traits("acme") is not None
    assert time.monotonic() - started >= 0.9
    assert len(emulator.calls) == 2


def test_short_rate_limit_retried_at_most_three_times(emulator: SegmentProfilesEmulator) -> None:
    emulator.faults.rate_limit_next(4, retry_after_s=0)
    with pytest.raises(RateLimited):
        _client(emulator).account_traits("acme")
    assert len(emulator.calls) == 4


def test_long_rate_limit_raises(emulator: SegmentProfilesEmulator) -> None:
    emulator.faults.rate_limit_next(1, retry_after_s=30)
    with pytest.raises(RateLimited) as caught:
        _client(emulator).account_traits("acme")
    assert caught.value.retry_after == 30
    assert caught.value.retryable
    assert len(emulator.calls) == 1


def test_server_error_is_transient(emulator: SegmentProfilesEmulator) -> None:
    emulator.faults.fail_next(1, status=503)
    with pytest.raises(TransientError) as caught:
        _client(emulator).account_traits("acme")
    assert caught.value.status == 503


def test_connection_refused_is_transient() -> None:
    emulator = _emulator()
    url = emulator.url
    emulator.stop()
    client = SegmentProfilesClient(SPACE, TOKEN, base_url=url, timeout_s=2)
    with pytest.raises(TransientError):
        client.account_traits("acme")


def test_many_stays_under_the_rate_limit() -> None:
    emulator = _emulator(per_second=50)
    try:
        client = SegmentProfilesClient(SPACE, TOKEN, base_url=emulator.url, max_per_second=50)
        ids = [f"org-{i}" for i in range(250)]
        found = client.many([*ids, "nobody"])
    finally:
        emulator.stop()
    assert set(found) == set(ids)
    assert found["org-7"] == {"name": "Org 7", "rank": 7}
    assert emulator.throttled == 0
    assert _busiest_window(emulator.arrivals) <= 50


def test_token_never_in_repr(emulator: SegmentProfilesEmulator) -> None:
    client = _client(emulator)
    assert TOKEN not in repr(client)
    assert SPACE in repr(client)
    assert TOKEN not in repr(emulator)


def test_emulator_throttles_a_burst_and_client_waits_it_out() -> None:
    emulator = _emulator(per_second=5)
    try:
        client = SegmentProfilesClient(SPACE, TOKEN, base_url=emulator.url, max_per_second=1000)
        found = client.many([f"org-{i}" for i in range(8)])
    finally:
        emulator.stop()
    assert len(found) == 8
    assert emulator.throttled > 0
