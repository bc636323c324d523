"""A cycle pulls only what can still change: the days no earlier cycle pulled completely and the
late-data horizon; traits only of the accounts that changed; and the change digests stay out
of Temporal payloads, in a file the next cycle reads."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from plg_handoff.activities import change_digests
from plg_handoff.activities.change_digests import DigestStore, pack
from plg_handoff.activities.usage import PullUsageInput, PullUsageResult, UsageActivities
from plg_handoff.config import Config, Secrets, load_secrets
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.sandbox.mixpanel.emulator import MixpanelEmulator
from plg_handoff.sandbox.simulator import event
from plg_handoff.schedules import ensure_schedules, schedule_id
from plg_handoff.worker import build_crm, build_worker
from tests.conftest import TOKEN, make_config
from tests.e2e.test_changed_only import completed
from tests.support import usage_lines, write_usage

pytestmark = pytest.mark.e2e
USER, SECRET = "sa.incremental", "sa-secret-61c0"  # the emulator's test credentials
PROJECT = 5150
TODAY = datetime.now(UTC).date()
EXPORT = "/api/2.0/export"
ENGAGE = "/api/query/engage"


class Usage:
    """Events by day for the Mixpanel emulator; a test adds some between cycles."""

    def __init__(self, accounts: Mapping[str, Iterable[date]]) -> None:
        self.lines: dict[date, list[Mapping[str, Any]]] = {}
        for account, days in accounts.items():
            for day in days:
                self.add(account, day)

    def add(self, account: str, day: date, users: int = 2) -> None:
        lines = usage_lines(account, day, users=users, seats_used=3)[-2 * (users - 1) :]
        self.lines.setdefault(day, []).extend(json.loads(line) for line in lines)

    def __call__(self, day: date) -> list[Mapping[str, Any]]:
        return self.lines.get(day, [])


def profiles(count: int) -> list[dict[str, Any]]:
    return [
        {"$distinct_id": f"acct-{i}", "$properties": {"name": f"Account {i}", "seat_limit": 50}}
        for i in range(count)
    ]


def mixpanel_source(url: str, name: str, **settings: Any) -> dict[str, Any]:
    return {"kind": "mixpanel", "name": name, "project_id": PROJECT, "base_url": url,
            "data_group_id": "1", "sync_interval": "1h", **settings}  # fmt: skip


def export_windows(mixpanel: MixpanelEmulator) -> list[tuple[str, str]]:
    return [(c.query["from_date"], c.query["to_date"]) for c in mixpanel.calls if c.path == EXPORT]


def engage_calls(mixpanel: MixpanelEmulator) -> list[dict[str, str]]:
    return [c.form for c in mixpanel.calls if c.path == ENGAGE]


def iso(day: date) -> str:
    return day.isoformat()


class RecordingClient:
    """Stands in for the Temporal client: records the accounts signalled."""

    def __init__(self) -> None:
        self.signalled: list[str] = []

    async def start_workflow(self, *args: Any, id: str, **kwargs: Any) -> None:
        del args, kwargs
        self.signalled.append(id.removeprefix("account/"))


def pull_activity(
    config: Config, client: RecordingClient, today: date = TODAY, secrets: Secrets | None = None
) -> UsageActivities:
    return UsageActivities(config, secrets or Secrets(), cast(Client, client), today=lambda: today)


@pytest.fixture
def mixpanel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_MIXPANEL_SERVICE_ACCOUNT_USERNAME", USER)
    monkeypatch.setenv("HANDOFF_MIXPANEL_SERVICE_ACCOUNT_SECRET", SECRET)
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)


@pytest.mark.usefixtures("mixpanel_env")
async def test_a_second_scheduled_cycle_pulls_the_late_days_and_reads_changed_traits_by_id(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
) -> None:
    accounts = ["acct-1", "acct-2", "acct-3"]
    usage = Usage({a: [TODAY - timedelta(days=n) for n in range(7)] for a in accounts})
    mixpanel = MixpanelEmulator(
        project_id=PROJECT, username=USER, secret=SECRET, events=usage, profiles=profiles(2_500)
    )
    url = mixpanel.start()
    name = f"incremental-{tmp_path.name[-8:]}".lower()
    config = make_config(tmp_path, hubspot.url, sources=[mixpanel_source(url, name, window_days=7)])
    secrets = load_secrets(config)
    client = dev_env.client
    handle = client.get_schedule_handle(schedule_id(name))
    try:
        async with build_worker(client, config, secrets, build_crm(config, secrets)):
            await ensure_schedules(client, config)  # runs once at once
            first = await completed(client, handle, 1)
            assert export_windows(mixpanel) == [(iso(TODAY - timedelta(days=6)), iso(TODAY))]
            assert [f["page"] for f in engage_calls(mixpanel)] == ["0", "1", "2"]  # count unknown
            assert (first.accounts_signalled, first.profiles_total) == (3, 2_500)

            mixpanel.reset_calls()
            await handle.trigger()
            second = await completed(client, handle, 2)
            assert export_windows(mixpanel) == [(iso(TODAY - timedelta(days=2)), iso(TODAY))]
            assert second.days == [iso(TODAY - timedelta(days=n)) for n in (2, 1, 0)]
            assert (second.accounts_signalled, second.accounts_unchanged) == (0, 3)
            assert engage_calls(mixpanel) == []

            mixpanel.reset_calls()
            usage.add("acct-2", TODAY, users=3)  # one more user today
            await handle.trigger()
            third = await completed(client, handle, 3)
            assert (third.accounts_signalled, third.accounts_unchanged) == (1, 2)
            [by_id] = engage_calls(mixpanel)  # 1 query, not 3 pages
            assert json.loads(by_id["distinct_ids"]) == ["acct-2"]
    finally:
        await handle.delete()
        mixpanel.stop()


@pytest.mark.usefixtures("mixpanel_env")
async def test_after_five_days_off_the_missing_days_are_pulled(tmp_path: Path) -> None:
    before = TODAY - timedelta(days=5)
    usage = Usage(
        {
            "acct-1": [TODAY - timedelta(days=n) for n in range(15)],  # active every day
            "acct-2": [TODAY - timedelta(days=9)],  # pulled completely before the break
            "acct-3": [before - timedelta(days=1)],  # in the horizon before the break
        }
    )
    mixpanel = MixpanelEmulator(
        project_id=PROJECT, username=USER, secret=SECRET, events=usage, profiles=profiles(5)
    )
    url = mixpanel.start()
    config = make_config(
        tmp_path, "http://127.0.0.1:9", sources=[mixpanel_source(url, "demo", window_days=10)]
    )
    secrets = load_secrets(config)
    client = RecordingClient()
    try:
        pull = pull_activity(config, client, today=before, secrets=secrets).pull_usage
        first = await ActivityEnvironment().run(pull, PullUsageInput("demo"))
        assert export_windows(mixpanel) == [(iso(before - timedelta(days=9)), iso(before))]

        mixpanel.reset_calls()
        client.signalled.clear()
        pull = pull_activity(config, client, secrets=secrets).pull_usage
        back = await ActivityEnvironment().run(pull, PullUsageInput("demo", previous=first))
    finally:
        mixpanel.stop()

    assert export_windows(mixpanel) == [(iso(TODAY - timedelta(days=7)), iso(TODAY))]
    assert back.days == [iso(TODAY - timedelta(days=n)) for n in range(7, -1, -1)]
    assert back.complete_days == [iso(TODAY - timedelta(days=n)) for n in range(9, 2, -1)]
    assert client.signalled == ["acct-1"]  # usage on the days missed; acct-3 is unchanged
    assert back.accounts_unchanged == 1


def write_accounts(tmp_path: Path, accounts: int) -> None:
    at = datetime(TODAY.year, TODAY.month, TODAY.day, 1, tzinfo=UTC)
    lines = (
        json.dumps(
            event("Report Viewed", at, distinct_id=f"u{n}", account_id=f"a{n}", insert_id=f"i{n}")
        )
        for n in range(accounts)
    )
    write_usage(tmp_path / "usage", "export.jsonl", lines)


async def test_digests_of_forty_thousand_accounts_stay_out_of_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_accounts(tmp_path, 40_000)
    config = make_config(tmp_path, "http://127.0.0.1:9")
    client = RecordingClient()
    pull = pull_activity(config, client).pull_usage
    logged: list[str] = []
    monkeypatch.setattr(change_digests.log, "warning", lambda event, **_: logged.append(event))

    first = await ActivityEnvironment().run(pull, PullUsageInput("demo"))
    assert first.accounts_signalled == 40_000
    assert first.digests == "" and first.digest_file is not None
    assert first.digest_file.accounts == 40_000
    [payload] = DataConverter.default.payload_converter.to_payloads([first])
    assert payload.ByteSize() < 2_048

    second = await ActivityEnvironment().run(pull, PullUsageInput("demo", previous=first))
    assert (second.accounts_signalled, second.accounts_unchanged) == (0, 40_000)
    assert logged == []

    assert second.digest_file is not None
    (config.data_dir / "digests" / "demo" / second.digest_file.file).unlink()
    client.signalled.clear()
    third = await ActivityEnvironment().run(pull, PullUsageInput("demo", previous=second))
    assert third.accounts_signalled == len(set(client.signalled)) == 40_000
    assert logged == ["usage.digests_missing"]


async def test_inline_digests_of_an_earlier_release_are_honoured_once(tmp_path: Path) -> None:
    write_accounts(tmp_path, 50)
    config = make_config(tmp_path, "http://127.0.0.1:9")  # window and horizon: 3 days
    pull = pull_activity(config, RecordingClient()).pull_usage
    first = await ActivityEnvironment().run(pull, PullUsageInput("demo"))
    assert first.digest_file is not None
    store = DigestStore(config.data_dir / "digests" / "demo")
    digests = store.load(first.digest_file)
    assert digests is not None and digests.days == set(first.days)
    # What an earlier release returned: digests over the window's rollups, inline.
    recorded = PullUsageResult(source="demo", days=first.days, digests=pack(digests.accounts))
    store.directory.joinpath(first.digest_file.file).unlink()

    again = await ActivityEnvironment().run(pull, PullUsageInput("demo", previous=recorded))
    assert (again.accounts_signalled, again.accounts_unchanged) == (0, 50)
    assert again.digests == "" and again.digest_file == first.digest_file
