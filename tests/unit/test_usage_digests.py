"""Which accounts a pull reads traits for and signals: traits only where the rollups changed
since the last completed pull, and a signal where the rollups changed or the traits read did."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from pydantic import SecretStr
from temporalio.client import Client

from plg_handoff.activities.usage import (
    PullProgress,
    PullUsageResult,
    UsageActivities,
    _current_digests,
    _Digests,
    _pack,
    _Pulled,
    _unpack,
    _usage_digest,
)
from plg_handoff.config import Secrets
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.sandbox.segment import SegmentProfilesEmulator
from tests.conftest import make_config
from tests.connectors.test_segment_source import message, write_archive

SPACE = "spa_digests"
TOKEN = "profiles-token-51aa0e"  # noqa: S105  # the emulator's token in tests


def rollup(day: str, events: int) -> DayRollup:
    return DayRollup(day=day, events={"Report Viewed": events}, active_users=1)


def pulled(rollups: dict[str, int], traits: dict[str, AccountTraits]) -> _Pulled:
    days = {a: [rollup("2026-11-20", n)] for a, n in rollups.items()}
    return _Pulled(
        result=PullUsageResult(source="s", days=["2026-11-20"]),
        rollups=days,
        traits=traits,
        usage_digests={a: _usage_digest(d) for a, d in days.items()},
    )


def changed(now: dict[str, _Digests], previous: dict[str, _Digests]) -> list[str]:
    return sorted(a for a, digest in now.items() if previous.get(a) != digest)


def test_digests_round_trip_and_stay_small() -> None:
    first = _current_digests(pulled({"a=b:c": 1, "z": 2}, {"z": AccountTraits(plan="x")}), {})
    packed = _pack(first)
    assert _unpack(packed) == first
    assert first["a=b:c"].traits == ""  # traits not read yet
    z = first["z"]
    assert packed.splitlines() == [f"a=b:c={first['a=b:c'].usage}:", f"z={z.usage}:{z.traits}"]
    assert len(z.usage) == len(z.traits) == 8  # 18 characters an account besides its id


def test_an_older_one_digest_entry_counts_as_changed() -> None:
    assert _unpack("acme=0123456789abcdef\nbeta=AAAAAAAA:BBBBBBBB") == {
        "beta": _Digests("AAAAAAAA", "BBBBBBBB")
    }


def test_traits_not_read_keep_their_digest_and_do_not_signal() -> None:
    before = _current_digests(pulled({"a": 1, "b": 1}, {"a": AccountTraits(plan="team")}), {})
    now = _current_digests(pulled({"a": 1, "b": 1}, {}), before)
    assert now == before
    assert changed(now, before) == []


def test_traits_read_and_changed_signal_even_with_the_same_rollups() -> None:
    before = _current_digests(pulled({"a": 1, "b": 1}, {"a": AccountTraits(plan="team")}), {})
    now = _current_digests(pulled({"a": 1, "b": 1}, {"a": AccountTraits(plan="business")}), before)
    same = _current_digests(pulled({"a": 1, "b": 1}, {"a": AccountTraits(plan="team")}), before)
    assert changed(now, before) == ["a"]
    assert changed(same, before) == []


def test_changed_rollups_signal_whatever_the_traits() -> None:
    before = _current_digests(pulled({"a": 1, "b": 1}, {"a": AccountTraits(plan="team")}), {})
    now = _current_digests(pulled({"a": 1, "b": 2}, {}), before)
    assert changed(now, before) == ["b"]


@pytest.fixture
def emulator() -> Iterator[SegmentProfilesEmulator]:
    emulator = SegmentProfilesEmulator(
        space_id=SPACE,
        token=TOKEN,
        profiles={"acme": {"plan": "business"}, "beta": {"plan": "team"}},
    )
    emulator.start()
    yield emulator
    emulator.stop()


def test_traits_are_read_only_for_accounts_whose_usage_changed(
    tmp_path: Path, emulator: SegmentProfilesEmulator
) -> None:
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    days = [now.date(), now.date() - timedelta(days=1)]
    at = now.isoformat()

    def track(account: str, n: int) -> str:
        return json.dumps(message("track", userId=f"u-{account}", event="Report Viewed",
                                  timestamp=at, messageId=f"t-{account}-{n}"))  # fmt: skip

    archive = tmp_path / "archive"
    groups = [
        json.dumps(message("group", userId=f"u-{a}", groupId=a, traits={"name": a.title()},
                           timestamp=at, messageId=f"g-{a}"))
        for a in ("acme", "beta")
    ]  # fmt: skip
    write_archive(archive, str(days[0]), [*groups, track("acme", 1), track("beta", 1)])
    config = make_config(
        tmp_path,
        "http://127.0.0.1:9",
        sources=[{"kind": "segment", "name": "seg", "archive_dir": str(archive),
                  "profiles": {"space_id": SPACE, "base_url": emulator.url}}],
    )  # fmt: skip
    activities = UsageActivities(
        config, Secrets(segment_profiles_token=SecretStr(TOKEN)), cast(Client, None)
    )
    source = config.source("seg")
    progress = PullProgress(sorted(d.isoformat() for d in days))

    def pull(previous: str) -> tuple[_Pulled, str, list[str]]:
        emulator.calls.clear()
        before = _unpack(previous)
        result = activities._read_and_roll_up(source, days, progress, before)
        digests = _current_digests(result, before)
        return result, _pack(digests), changed(digests, before)

    first, packed, signalled = pull("")
    assert len(emulator.calls) == 2 and signalled == ["acme", "beta"]
    assert first.traits["acme"] == AccountTraits(name="Acme", plan="business")

    again, packed, signalled = pull(packed)
    assert emulator.calls == [] and again.traits == {} and signalled == []

    write_archive(archive, f"{days[0]}/h01", [track("beta", 2)])
    third, packed, signalled = pull(packed)
    assert emulator.calls == [
        f"/v1/spaces/{SPACE}/collections/accounts/profiles/group_id:beta/traits"
    ]
    assert signalled == ["beta"]
    assert third.traits == {"beta": AccountTraits(name="Beta", plan="team")}
