"""The scale benchmark (bench/scale.py), short: 150 accounts through the real `handoff worker`,
a Temporal dev server on SQLite and the Mixpanel and HubSpot emulators with their published
limits. One run (about a minute on two cores) serves every test of this module."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.scale import ScaleReport, run_scale

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
ACCOUNTS = 150


@pytest.fixture(scope="module")
async def scale(tmp_path_factory: pytest.TempPathFactory) -> ScaleReport:
    workdir: Path = tmp_path_factory.mktemp("scale")
    report = await run_scale(ACCOUNTS, workdir, timeout_s=120, total_timeout_s=200, progress=print)
    print("\n".join(report.lines()))
    print(report.summary_line())
    return report


def test_every_account_is_evaluated(scale: ScaleReport) -> None:
    assert scale.pull.get("accounts") == ACCOUNTS, scale.pull
    assert scale.listed_accounts == ACCOUNTS
    assert scale.evaluated == ACCOUNTS, scale.notes
    assert scale.complete, f"timed out: {scale.summary_line()}"


def test_every_account_handed_to_sales_has_one_assigned_deal(scale: ScaleReport) -> None:
    assert scale.engine_hand_off > 0, "the population must give the engine PQLs to hand off"
    assert scale.missing == [], "handed to sales without an assigned handoff and its deal"
    assert scale.handoffs_assigned == scale.engine_hand_off
    assert scale.duplicate_deals == []
    assert scale.orphan_deals == 0
    assert scale.deals == scale.engine_hand_off


def test_every_account_answers_its_state_query_with_its_evaluation(scale: ScaleReport) -> None:
    assert scale.failed_reads == 0, scale.read_errors
    assert scale.queries == ACCOUNTS
    assert scale.failed_queries == 0, scale.query_errors
    assert scale.query_mismatches == 0


def test_no_nondeterminism_in_the_worker(scale: ScaleReport) -> None:
    assert scale.nondeterminism == 0, scale.log_problems
    assert scale.workflow_task_failures == 0


def test_every_account_and_handoff_history_replays(scale: ScaleReport) -> None:
    assert scale.replayed == scale.listed_accounts + scale.handoffs
    assert scale.replay_failures == 0, scale.first_replay_error


def test_hubspot_never_answers_429(scale: ScaleReport) -> None:
    """The daemon paces itself under HubSpot's limits (190 requests / 10 s, 4 searches / s)
    instead of meeting them."""
    assert scale.crm_429 == 0, scale.crm_calls_by_route
