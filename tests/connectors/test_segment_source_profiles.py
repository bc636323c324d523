"""The Segment usage source with `[sources.profiles]`: account traits from Segment's Profile API
(the emulator, over real HTTP) merged over the `group` call traits, read only for the accounts
asked, paced, and every failure raised as its typed connector error."""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from plg_handoff.config import (
    ConfigError,
    Secrets,
    SegmentSourceConfig,
    load_secrets,
    parse_config,
)
from plg_handoff.connectors.errors import AuthError, RateLimited, TransientError
from plg_handoff.connectors.segment import SegmentUsageSource
from plg_handoff.connectors.segment.profiles import DEFAULT_BASE_URL
from plg_handoff.connectors.segment.source import PACE_SHARE
from plg_handoff.domain.usage import AccountTraits
from plg_handoff.sandbox.segment import SegmentProfilesEmulator
from tests.connectors.test_segment_source import message, write_archive

SPACE = "spa_source_test"
TOKEN = "profiles-token-3d81c0"  # noqa: S105  # the emulator's token in tests
DAY = date(2026, 11, 20)
GROUPS = {
    "acme": {"name": "Acme (group)", "plan": "team", "seat_limit": 10, "region": "eu"},
    "beta": {"name": "Beta", "plan": "free", "seat_limit": 3},
    "gamma": {"name": "Gamma", "plan": "team", "seat_limit": 5},
}
PROFILES: dict[str, dict[str, Any]] = {
    "acme": {"plan": "business", "seat_limit": 50, "employees": 200, "industry": "Retail"},
    "gamma": {"name": "Gamma Inc"},
    "solo": {"name": "Solo (profile only)", "arr_potential": 1200},  # no group call
}


def path_of(group_id: str) -> str:
    return f"/v1/spaces/{SPACE}/collections/accounts/profiles/group_id:{group_id}/traits"


@pytest.fixture
def emulator() -> Iterator[SegmentProfilesEmulator]:
    emulator = SegmentProfilesEmulator(space_id=SPACE, token=TOKEN, profiles=PROFILES)
    emulator.start()
    yield emulator
    emulator.stop()


def seeded_source(
    tmp_path: Path,
    emulator: SegmentProfilesEmulator | None,
    *,
    token: str = TOKEN,
    groups: dict[str, dict[str, Any]] = GROUPS,
    max_per_second: float = 100,
) -> SegmentUsageSource:
    """A source over an archive holding one `group` call per account, exported once."""
    archive = tmp_path / "archive"
    earlier = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
    write_archive(
        archive,
        str(earlier),
        [
            json.dumps(
                message("group", userId=f"u-{account}", groupId=account, traits=traits,
                        timestamp="2026-11-01T09:00:00Z", messageId=f"g-{account}")
            )
            for account, traits in groups.items()
        ],
    )  # fmt: skip
    profiles = (
        {"space_id": SPACE, "base_url": emulator.url, "max_per_second": max_per_second}
        if emulator is not None
        else None
    )
    config = SegmentSourceConfig.model_validate(
        {"kind": "segment", "name": "seg", "archive_dir": archive, "profiles": profiles}
    )
    source = SegmentUsageSource(config, Secrets(segment_profiles_token=SecretStr(token)))
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    source.export([DAY], work)
    return source


def test_profile_traits_win_over_group_traits(
    tmp_path: Path, emulator: SegmentProfilesEmulator
) -> None:
    traits, bad = seeded_source(tmp_path, emulator).traits(["acme"])
    assert bad == []
    assert traits == {
        "acme": AccountTraits(
            name="Acme (group)",  # only the group call has it
            plan="business",  # both have it: the profile wins
            limits={"seats": 50.0},
            employees=200,
            region="eu",
            industry="Retail",
        )
    }


def test_no_profile_falls_back_to_group_traits(
    tmp_path: Path, emulator: SegmentProfilesEmulator
) -> None:
    traits, _ = seeded_source(tmp_path, emulator).traits(["beta"])
    assert traits == {"beta": AccountTraits(name="Beta", plan="free", limits={"seats": 3.0})}
    assert emulator.calls == [path_of("beta")]  # answered 404


def test_a_profile_without_group_calls_still_gives_traits(
    tmp_path: Path, emulator: SegmentProfilesEmulator
) -> None:
    traits, _ = seeded_source(tmp_path, emulator).traits(["solo", "nobody"])
    assert traits == {"solo": AccountTraits(name="Solo (profile only)", arr_potential=1200.0)}


def test_only_the_accounts_asked_are_read_and_returned(
    tmp_path: Path, emulator: SegmentProfilesEmulator
) -> None:
    source = seeded_source(tmp_path, emulator)
    traits, _ = source.traits(["gamma", "acme", "gamma"])
    assert sorted(emulator.calls) == [path_of("acme"), path_of("gamma")]
    # beta is left out: its group traits alone would replace its profile's in the workflow
    assert sorted(traits) == ["acme", "gamma"]
    assert traits["gamma"].name == "Gamma Inc"
    assert traits["gamma"].limits == {"seats": 5.0}

    emulator.calls.clear()
    assert source.traits([]) == ({}, [])
    assert emulator.calls == []


def test_without_profiles_every_group_account_has_its_group_traits(tmp_path: Path) -> None:
    traits, _ = seeded_source(tmp_path, None).traits(["acme"])
    assert sorted(traits) == ["acme", "beta", "gamma"]
    assert traits["acme"].plan == "team"


def test_a_long_rate_limit_raises_rate_limited_with_its_delay(
    tmp_path: Path, emulator: SegmentProfilesEmulator
) -> None:
    emulator.faults.rate_limit_next(1, retry_after_s=30)
    with pytest.raises(RateLimited) as caught:
        seeded_source(tmp_path, emulator).traits(["acme"])
    assert caught.value.retryable
    assert caught.value.retry_after == 30  # becomes the activity's next retry delay


def test_a_short_rate_limit_is_waited_out(
    tmp_path: Path, emulator: SegmentProfilesEmulator
) -> None:
    emulator.faults.rate_limit_next(1, retry_after_s=0)
    traits, _ = seeded_source(tmp_path, emulator).traits(["acme"])
    assert traits["acme"].plan == "business"
    assert emulator.calls == [path_of("acme"), path_of("acme")]


def test_a_failure_stops_the_other_requests_and_is_raised(
    tmp_path: Path, emulator: SegmentProfilesEmulator
) -> None:
    groups = {f"org-{i}": {"name": f"Org {i}"} for i in range(60)}
    source = seeded_source(tmp_path, emulator, groups=groups)
    emulator.faults.fail_next(1, status=503)
    with pytest.raises(TransientError) as caught:
        source.traits(sorted(groups))
    assert caught.value.status == 503
    assert len(emulator.calls) < len(groups)  # the queued requests were cancelled


def test_a_wrong_token_is_an_auth_error(tmp_path: Path, emulator: SegmentProfilesEmulator) -> None:
    with pytest.raises(AuthError) as caught:
        seeded_source(tmp_path, emulator, token="wrong").traits(["acme"])  # noqa: S106
    assert not caught.value.retryable


def test_many_accounts_are_paced_under_the_limit(tmp_path: Path) -> None:
    profiles = {f"org-{i}": {"name": f"Org {i}"} for i in range(90)}
    emulator = SegmentProfilesEmulator(
        space_id=SPACE, token=TOKEN, profiles=profiles, per_second=40
    )
    emulator.start()
    try:
        source = seeded_source(tmp_path, emulator, groups={}, max_per_second=40)
        started = time.monotonic()
        traits, _ = source.traits([*profiles, "nobody"])
        elapsed = time.monotonic() - started
    finally:
        emulator.stop()
    assert sorted(traits) == sorted(profiles)
    # Starts are spaced at 90% of the limit: 91 requests take at least 90 intervals.
    assert elapsed >= 90 / (40 * PACE_SHARE) * 0.99
    # Requests in flight together can still reach the API bunched up (here: when this machine
    # is loaded, the in-process emulator notes arrivals late); such a 429 is rare, and waited
    # out by the client, never a failure. Unloaded, there is none.
    assert emulator.throttled < 10
    arrivals = sorted(emulator.arrivals)
    busiest = max(bisect.bisect_left(arrivals, t + 1.0) - i for i, t in enumerate(arrivals))
    assert busiest <= 40 + emulator.throttled


def test_the_source_needs_the_token(tmp_path: Path, emulator: SegmentProfilesEmulator) -> None:
    config = SegmentSourceConfig.model_validate(
        {"kind": "segment", "name": "seg", "archive_dir": tmp_path,
         "profiles": {"space_id": SPACE, "base_url": emulator.url}}
    )  # fmt: skip
    with pytest.raises(ConfigError, match="HANDOFF_SEGMENT_PROFILES_TOKEN"):
        SegmentUsageSource(config, Secrets())


def test_config_defaults_and_the_required_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = {
        "sources": [
            {"kind": "segment", "name": "seg", "spool_dir": "spool",
             "profiles": {"space_id": SPACE}}
        ],
        "crm": {"kind": "hubspot"},
    }  # fmt: skip
    config = parse_config(raw, base_dir=tmp_path)
    source = config.sources[0]
    assert isinstance(source, SegmentSourceConfig) and source.profiles is not None
    assert str(source.profiles.base_url).rstrip("/") == DEFAULT_BASE_URL
    assert source.profiles.max_per_second == 100
    monkeypatch.delenv("HANDOFF_SEGMENT_PROFILES_TOKEN", raising=False)
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", "hs-token")
    with pytest.raises(ConfigError, match=r"PROFILES_TOKEN: required by sources\[0\] \(seg\)"):
        load_secrets(config)
    monkeypatch.setenv("HANDOFF_SEGMENT_PROFILES_TOKEN", TOKEN)
    assert load_secrets(config).segment_profiles_token == SecretStr(TOKEN)

    for over in (0, 101):
        raw["sources"][0]["profiles"] = {"space_id": SPACE, "max_per_second": over}  # type: ignore[index]
        with pytest.raises(ConfigError, match="max_per_second"):
            parse_config(raw, base_dir=tmp_path)
