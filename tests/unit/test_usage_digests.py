"""Which accounts a pull reads traits for and signals: traits only where the rollups changed
since the last completed pull, and a signal where the rollups changed or the traits read did;
the digests that tell, and the files that keep them."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import SecretStr
from temporalio.client import Client

from plg_handoff.activities import change_digests
from plg_handoff.activities.change_digests import (
    AccountDigest,
    Digests,
    DigestStore,
    pack,
    unpack,
    usage_digest,
)
from plg_handoff.activities.usage import (
    PullProgress,
    PullUsageResult,
    UsageActivities,
    _changed_accounts,
    _current_digests,
    _Pulled,
)
from plg_handoff.config import Secrets
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.sandbox.segment import SegmentProfilesEmulator
from tests.conftest import make_config
from tests.connectors.test_segment_source import message, write_archive

SPACE = "spa_digests"
TOKEN = "profiles-token-51aa0e"  # noqa: S105  # the emulator's token in tests
DAY = "2026-11-20"
HORIZON = [date(2026, 11, 20)]


def rollup(day: str, events: int) -> DayRollup:
    return DayRollup(day=day, events={"Report Viewed": events}, active_users=1)


def pulled(
    rollups: dict[str, int],
    traits: dict[str, AccountTraits],
    previous: Digests | None = None,
    day: str = DAY,
) -> _Pulled:
    """A pull of one day whose accounts have `rollups[account]` events."""
    days = {a: [rollup(day, n)] for a, n in rollups.items()}
    return _Pulled(
        result=PullUsageResult(source="s", days=[day]),
        rollups=days,
        traits=traits,
        usage_changed={
            a for a, r in days.items() if previous is None or previous.usage_changed(a, r)
        },
    )


def cycle(
    rollups: dict[str, int], traits: dict[str, AccountTraits], previous: Digests | None = None
) -> tuple[Digests, list[str]]:
    """The digests a pull leaves and the accounts it signals."""
    now = pulled(rollups, traits, previous)
    return _current_digests(now, previous, HORIZON), _changed_accounts(now, previous)


def test_digests_round_trip_and_stay_small() -> None:
    first, _ = cycle({"a=b:c": 1, "z": 2}, {"z": AccountTraits(plan="x")})
    packed = pack(first.accounts)
    assert unpack(packed) == first.accounts
    assert first.accounts["a=b:c"].traits == ""  # traits not read yet
    z = first.accounts["z"]
    assert packed.splitlines() == [
        f"a=b:c={first.accounts['a=b:c'].usage}:",
        f"z={z.usage}:{z.traits}",
    ]
    assert len(z.usage) == len(z.traits) == 8  # 18 characters an account besides its id


def test_an_older_one_digest_entry_counts_as_changed() -> None:
    assert unpack("acme=0123456789abcdef\nbeta=AAAAAAAA:BBBBBBBB") == {
        "beta": AccountDigest("AAAAAAAA", "BBBBBBBB")
    }


def test_traits_not_read_keep_their_digest_and_do_not_signal() -> None:
    before, _ = cycle({"a": 1, "b": 1}, {"a": AccountTraits(plan="team")})
    now, signalled = cycle({"a": 1, "b": 1}, {}, before)
    assert now == before
    assert signalled == []


def test_traits_read_and_changed_signal_even_with_the_same_rollups() -> None:
    before, _ = cycle({"a": 1, "b": 1}, {"a": AccountTraits(plan="team")})
    assert cycle({"a": 1, "b": 1}, {"a": AccountTraits(plan="business")}, before)[1] == ["a"]
    assert cycle({"a": 1, "b": 1}, {"a": AccountTraits(plan="team")}, before)[1] == []


def test_changed_rollups_signal_whatever_the_traits() -> None:
    before, _ = cycle({"a": 1, "b": 1}, {"a": AccountTraits(plan="team")})
    assert cycle({"a": 1, "b": 2}, {}, before)[1] == ["b"]


def test_digests_cover_the_horizon_and_compare_like_with_like() -> None:
    """Digests cover the days the next cycle pulls again; usage on another day (a new day, or an
    older one pulled again after a gap) is a change of its own."""
    recent, old = rollup("2026-11-20", 3), rollup("2026-11-12", 5)
    before = Digests(
        days=frozenset({"2026-11-20"}),
        accounts={
            "a": AccountDigest(usage_digest([recent])),
            "b": AccountDigest(usage_digest([recent])),
        },
    )
    assert not before.usage_changed("a", [recent])
    assert before.usage_changed("a", [rollup("2026-11-20", 4)])
    assert before.usage_changed("b", [recent, old])  # a backfilled day
    assert before.usage_changed("c", [recent])  # no usage on those days before

    now = pulled({"a": 3, "old": 5}, {}, before)
    now.rollups["old"] = [old]
    digests = _current_digests(now, before, HORIZON)
    assert set(digests.accounts) == {"a"}  # "old" has no usage the next cycle pulls again
    assert digests.days == frozenset({"2026-11-20"})


def test_a_digest_file_round_trips_by_content(tmp_path: Path) -> None:
    store = DigestStore(tmp_path / "digests" / "s")
    digests, _ = cycle({"a": 1, "b": 2}, {"a": AccountTraits(plan="team")})
    ref = store.save(digests)
    assert (ref.accounts, len(ref.sha256)) == (2, 64)
    assert ref.file.startswith(ref.sha256[:32])
    assert store.load(ref) == digests
    assert store.save(digests) == ref  # same content, same file
    assert len(list(store.directory.iterdir())) == 1


def test_a_missing_or_corrupt_digest_file_is_logged_and_read_as_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(change_digests, "log", Recorder(logged))
    store = DigestStore(tmp_path)
    ref = store.save(cycle({"a": 1}, {})[0])
    path = tmp_path / ref.file
    path.write_bytes(path.read_bytes()[:-3] + b"xyz")
    assert store.load(ref) is None
    path.unlink()
    assert store.load(ref) is None
    assert store.load(dataclasses.replace(ref, file="../elsewhere.digests.gz")) is None
    assert [event for event, _ in logged] == ["usage.digests_missing"] * 3
    assert logged[0][1]["reason"] == "checksum mismatch"


def test_old_digest_files_are_deleted_but_the_newest_few(tmp_path: Path) -> None:
    store = DigestStore(tmp_path)
    refs = []
    for n in range(6):
        refs.append(store.save(cycle({"a": n}, {})[0]))
        os.utime(tmp_path / refs[-1].file, (1_000_000 + n, 1_000_000 + n))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(r.file for r in refs[-3:])


class Recorder:
    def __init__(self, into: list[tuple[str, dict[str, Any]]]) -> None:
        self._into = into

    def warning(self, event: str, **data: Any) -> None:
        self._into.append((event, data))


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

    def pull(previous: Digests | None) -> tuple[_Pulled, Digests, list[str]]:
        emulator.calls.clear()
        workdir = tmp_path / "work"
        workdir.mkdir(exist_ok=True)
        result = activities._read_and_roll_up(source, workdir, days, progress, previous, None)
        digests = _current_digests(result, previous, days)
        return result, digests, _changed_accounts(result, previous)

    first, digests, signalled = pull(None)
    assert len(emulator.calls) == 2 and signalled == ["acme", "beta"]
    assert first.traits["acme"] == AccountTraits(name="Acme", plan="business")

    again, digests, signalled = pull(digests)
    assert emulator.calls == [] and again.traits == {} and signalled == []

    write_archive(archive, f"{days[0]}/h01", [track("beta", 2)])
    third, digests, signalled = pull(digests)
    assert emulator.calls == [
        f"/v1/spaces/{SPACE}/collections/accounts/profiles/group_id:beta/traits"
    ]
    assert signalled == ["beta"]
    assert third.traits == {"beta": AccountTraits(name="Beta", plan="team")}
