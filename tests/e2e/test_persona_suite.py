"""Decisions on data this project did not write (issue 14): the independent persona population
(`tests/personas`, 16 personas x 10 accounts of a product instrumented by another team, mapped
through `[sources.metrics]`/`[sources.traits]` only) end to end: the Mixpanel emulator's export
and Engage profiles -> the real worker on the dev server -> the HubSpot emulator.

Clear buyers reach a rep; no false-positive persona does. `handoff preview` over the same
source, run first, reads it once, writes nothing, and decides as the worker then does."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.contracts import AccountSummary, account_workflow_id
from plg_handoff.config import Config, load_secrets
from plg_handoff.preview import run_preview
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.sandbox.mixpanel.emulator import MixpanelEmulator
from plg_handoff.worker import build_crm, build_worker
from plg_handoff.workflows.account import AccountWorkflow
from plg_handoff.workflows.usage_sync import UsageSyncInput, UsageSyncWorkflow
from tests.conftest import TOKEN, make_config
from tests.personas.population import MAPPING, RULES, Population, build_population
from tests.support import eventually, gather_limited

pytestmark = pytest.mark.e2e
T = TypeVar("T")
USER, SECRET = "sa.handoff", "sa-secret-9d2f"  # the emulator's test credentials
ROUTES = ("sales", "nurture", "customer_success", "competitive_intel", "none")
WINDOW_DAYS = 130  # one manual sync over the population's whole history (118 days at most)


def confusion(expected: Mapping[str, str], got: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """Expected route x product route, accounts counted."""
    counts = Counter((expected[a], got[a]) for a in expected)
    return {e: {g: counts[(e, g)] for g in ROUTES} for e in ROUTES}


def render(matrix: Mapping[str, Mapping[str, int]]) -> str:
    width = max(map(len, ROUTES)) + 2
    lines = ["expected \\ product".ljust(width + 4) + "".join(r.rjust(width) for r in ROUTES)]
    for e in ROUTES:
        lines.append(e.ljust(width + 4) + "".join(str(matrix[e][g]).rjust(width) for g in ROUTES))
    return "\n".join(lines)


def renamed(population: Population, prefix: str) -> tuple[dict[date, list[Any]], list[Any]]:
    """The population's export by UTC day and its profiles, account ids prefixed (workflow ids
    are namespace-wide)."""
    key = str(MAPPING["account_property"])
    by_day: dict[date, list[Any]] = defaultdict(list)
    for line in population.events:
        properties = dict(line["properties"])
        if key in properties:
            properties[key] = prefix + str(properties[key])
        by_day[datetime.fromtimestamp(properties["time"], UTC).date()].append(
            {"event": line["event"], "properties": properties}
        )
    profiles = [{**p, "$distinct_id": prefix + str(p["$distinct_id"])} for p in population.profiles]
    return by_day, profiles


async def evaluated_route(client: Client, account: str) -> str | None:
    try:
        state: AccountSummary = await client.get_workflow_handle(
            account_workflow_id(account)
        ).query(AccountWorkflow.state)
    except RPCError:
        return None
    return state.last_evaluation.route if state.last_evaluation is not None else None


async def test_the_persona_population_end_to_end(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = dev_env.client
    now = datetime.now(UTC) - timedelta(minutes=2)
    population = build_population(now.date(), now=now)
    prefix = f"p{uuid.uuid4().hex[:6]}-"
    by_day, profiles = renamed(population, prefix)
    expected = {prefix + a: e.route for a, e in population.expected.items()}
    mixpanel = MixpanelEmulator(
        project_id=4242,
        username=USER,
        secret=SECRET,
        events=lambda day: by_day.get(day, []),
        profiles=profiles,
    )
    url = mixpanel.start()
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("HANDOFF_MIXPANEL_SERVICE_ACCOUNT_USERNAME", USER)
    monkeypatch.setenv("HANDOFF_MIXPANEL_SERVICE_ACCOUNT_SECRET", SECRET)
    source = {"kind": "mixpanel", "name": "demo", "project_id": 4242, "base_url": url,
              "data_group_id": "1", "window_days": 90, **MAPPING}  # fmt: skip
    config: Config = make_config(
        tmp_path,
        hubspot.url,
        sources=[source],
        rules=RULES,
        handoff={"follow_up_poll_interval": "1h"},
    )
    secrets = load_secrets(config)
    try:
        # Before going live: the preview reads the export once and writes nothing.
        preview = await asyncio.to_thread(
            run_preview, config, secrets, source_name="demo", days=WINDOW_DAYS
        )
        exports = [c for c in mixpanel.calls if c.path == "/api/2.0/export"]
        assert len(exports) == 1
        assert hubspot.calls == []
        assert (
            await client.count_workflows(f'TaskQueue="{config.temporal.task_queue}"')
        ).count == 0
        previewed = {d.account_id: d.route for d in preview.decisions}
        assert previewed.keys() == expected.keys()
        assert preview.strict_failures() == [], preview.coverage.warnings

        crm = build_crm(config, secrets)
        crm.ensure_properties()
        async with build_worker(client, config, secrets, crm):
            await client.execute_workflow(
                UsageSyncWorkflow.run,
                UsageSyncInput("demo", window_days=WINDOW_DAYS),
                id=f"usage-sync/demo/{config.temporal.task_queue}",
                task_queue=config.temporal.task_queue,
            )
            accounts = sorted(expected)

            async def routes() -> list[str | None]:
                return await gather_limited(
                    (evaluated_route(client, a) for a in accounts), limit=40
                )

            decided = await eventually(routes, lambda r: None not in r, timeout_s=180)
            got = dict(zip(accounts, (r or "" for r in decided), strict=True))
            to_sales = {a for a, r in got.items() if r == "sales"}

            async def deals() -> int:
                return len(hubspot.objects("deals"))

            await eventually(deals, lambda n: n >= len(to_sales), timeout_s=240)
    finally:
        mixpanel.stop()

    matrix = confusion(expected, got)
    print(f"\npersona suite, {len(expected)} accounts:\n{render(matrix)}")
    # The worker decides what the preview said it would.
    assert got == previewed
    # Every deal is an account routed to sales, one each; no false-positive persona has one.
    deal_ids = [d["properties"]["plg_handoff_id"] for d in hubspot.objects("deals")]
    assert sorted(deal_ids) == sorted(f"handoff/{a}/1" for a in to_sales)
    kept_away = sum(n for e in ROUTES if e != "sales" for n in [matrix[e]["sales"]])
    assert kept_away == 0, render(matrix)
    buyers = sum(matrix["sales"].values())
    recall = matrix["sales"]["sales"] / buyers
    accuracy = sum(matrix[r][r] for r in ROUTES) / len(expected)
    assert recall >= 0.95, render(matrix)
    assert accuracy >= 0.95, render(matrix)
