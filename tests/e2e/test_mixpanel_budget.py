"""Mixpanel's export budget (60 queries an hour per project) is one budget for every worker and
every restart, and a retried pull never downloads again what an earlier attempt already has
(issue 15, defect 4): pulls through the real activity, the Mixpanel emulator over HTTP, and the
budget entity on the Temporal dev server."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from plg_handoff.activities.query_budget import query_budget_workflow_id
from plg_handoff.activities.usage import PullUsageInput, UsageActivities
from plg_handoff.config import Config, load_secrets
from plg_handoff.connectors.errors import RateLimited, TransientError
from plg_handoff.connectors.mixpanel import limits
from plg_handoff.sandbox.mixpanel.emulator import Call, MixpanelEmulator
from plg_handoff.sandbox.mixpanel.protocol import Reply
from plg_handoff.workflows.query_budget import QueryBudgetWorkflow
from tests.conftest import TOKEN, make_config
from tests.support import record_history, usage_lines

pytestmark = pytest.mark.e2e
USER, SECRET = "sa.handoff", "sa-secret-9d2f"
PROJECT = 5151
TODAY = datetime.now(UTC).date()


def export_of(day: date) -> Iterable[Mapping[str, Any] | str]:
    if day != TODAY:
        return []
    return [json.loads(line) for line in usage_lines("mp-acme", day, users=4, seats_used=4)]


def exports(mixpanel: MixpanelEmulator) -> list[Call]:
    return [c for c in mixpanel.calls if c.path == "/api/2.0/export"]


@pytest.fixture
def mixpanel() -> Iterable[MixpanelEmulator]:
    # Mixpanel's own limit is lowered to the budget: a query past it would be a 429.
    emulator = MixpanelEmulator(
        project_id=PROJECT,
        username=USER,
        secret=SECRET,
        events=export_of,
        profiles=[{"$distinct_id": "mp-acme", "$properties": {"name": "Acme"}}],
        per_hour=2,
    )
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def config(tmp_path: Path, mixpanel: MixpanelEmulator, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("HANDOFF_MIXPANEL_SERVICE_ACCOUNT_USERNAME", USER)
    monkeypatch.setenv("HANDOFF_MIXPANEL_SERVICE_ACCOUNT_SECRET", SECRET)
    source = {
        "kind": "mixpanel",
        "name": "mp",
        "project_id": PROJECT,
        "base_url": mixpanel.url,
        "data_group_id": "1",
        "exports_per_hour": 2,
    }
    return make_config(tmp_path, "http://127.0.0.1:9", sources=[source])


@pytest.fixture
async def budget_entity(dev_env: WorkflowEnvironment, config: Config) -> AsyncIterator[None]:
    async with Worker(
        dev_env.client, task_queue=config.temporal.task_queue, workflows=[QueryBudgetWorkflow]
    ):
        yield


def a_pull(run: int, attempt: int = 1) -> ActivityEnvironment:
    """The activity context of attempt `attempt` of the pull of scheduled run `run`."""
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info, workflow_id=f"usage-sync/mp-{run}", attempt=attempt
    )
    return environment


def restart() -> None:
    """What a worker process forgets when it restarts (or what a second process never knew)."""
    limits._shared.clear()  # the per-process pacers a restart loses


@pytest.mark.usefixtures("budget_entity")
async def test_restarts_and_other_workers_spend_one_hourly_budget(
    dev_env: WorkflowEnvironment, config: Config, mixpanel: MixpanelEmulator
) -> None:
    restart()
    secrets = load_secrets(config)
    first = UsageActivities(config, secrets, dev_env.client, share_budgets=True)
    await a_pull(1).run(first.pull_usage, PullUsageInput("mp", window_days=1))
    restart()
    after_restart = UsageActivities(config, secrets, dev_env.client, share_budgets=True)
    await a_pull(2).run(after_restart.pull_usage, PullUsageInput("mp", window_days=1))
    restart()
    other_worker = UsageActivities(config, secrets, dev_env.client, share_budgets=True)

    with pytest.raises(RateLimited) as refused:
        await a_pull(3).run(other_worker.pull_usage, PullUsageInput("mp", window_days=1))

    assert [c.status for c in exports(mixpanel)] == [200, 200]  # never a query past the budget
    assert refused.value.retry_after is not None
    assert 3500 < refused.value.retry_after <= 3600  # when the first query leaves the hour
    entity = query_budget_workflow_id(f"mixpanel-export:{mixpanel.url}/api/2.0/export:{PROJECT}")
    await record_history(dev_env.client, entity, "query_budget")


def fail_first_profiles_query(mixpanel: MixpanelEmulator) -> None:
    """The first Engage query (after the export was downloaded) answers 503."""
    handle, failed = mixpanel.handle, False

    def handle_once_failing(
        method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        nonlocal failed
        if target.startswith("/api/query/engage") and not failed:
            failed = True
            mixpanel.faults.fail_next(1, status=503)  # taken by this very request
        return handle(method, target, headers, body)

    mixpanel.handle = handle_once_failing  # type: ignore[method-assign]  # the test's fault


@pytest.mark.usefixtures("budget_entity")
async def test_a_retried_pull_reads_the_export_its_failed_attempt_downloaded(
    dev_env: WorkflowEnvironment, config: Config, mixpanel: MixpanelEmulator, tmp_path: Path
) -> None:
    restart()
    pull = UsageActivities(config, load_secrets(config), dev_env.client, share_budgets=True)
    request = PullUsageInput("mp", window_days=1)
    fail_first_profiles_query(mixpanel)
    with pytest.raises(TransientError):
        await a_pull(1).run(pull.pull_usage, request)
    assert [c.status for c in exports(mixpanel)] == [200]
    work = tmp_path / "data" / "work"
    kept = [p.name for d in work.iterdir() for p in d.iterdir()]
    assert any(name.startswith("export-") and name.endswith(".done") for name in kept)

    result = await a_pull(1, attempt=2).run(pull.pull_usage, request)

    assert result.accounts == 1
    assert len(exports(mixpanel)) == 1  # the retry asked for no export
    assert list(work.iterdir()) == []  # the pull is done: its raw export is gone
