"""`handoff report` over a simulated population on the dev server: handoff workflows carrying the
`funnel` memo and search attributes of the workflow contract, with known contact, meeting and
win outcomes, give exactly the expected rates, nearest-rank percentiles and calibration."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment

from plg_handoff import search_attributes as sa
from plg_handoff.domain.ruleset import RuleSet
from tests.funnel_fixture import start_handoffs
from tests.support import run_handoff

T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
SINCE = "2026-01-01"


def handoff(
    trigger: str,
    n: int,
    *,
    contact_h: int | None = None,
    meeting: bool = False,
    outcome: str | None = None,
    sla_contact: str = "met",
    signal_at: datetime = T0,
) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    signal_at += timedelta(minutes=n)  # distinct signal times; durations count from here
    contacted = signal_at + timedelta(hours=contact_h) if contact_h is not None else None
    stage = outcome or ("meeting" if meeting else "contacted" if contacted else "assigned")
    return {
        "stage": stage,
        "signal_at": iso(signal_at),
        "assigned_at": iso(signal_at + timedelta(minutes=30)),
        "contacted_at": iso(contacted),
        "meeting_at": iso(signal_at + timedelta(days=2)) if meeting else None,
        "closed_at": iso(signal_at + timedelta(days=9)) if outcome else None,
        "outcome": outcome,
        "tier": 1 if trigger == "limit_reached" else 2,
        "trigger": trigger,
        "segment": "sales_assist",
        "owner_id": f"owner-{n % 2}",
        "sla": {"assign": "met", "contact": sla_contact},
    }


def population() -> list[dict[str, Any]]:
    multi_user = [
        # contacted after 1..16 hours; the first 8 had a meeting: 4 won, 4 lost
        handoff(
            "multi_user",
            h,
            contact_h=h,
            meeting=h <= 8,
            outcome=("won" if h <= 4 else "lost") if h <= 8 else None,
            sla_contact="breached" if h >= 12 else "met",
        )
        for h in range(1, 17)
    ] + [handoff("multi_user", 100 + n, outcome="expired") for n in range(4)]
    limit_reached = [
        handoff(
            "limit_reached",
            200 + h,
            contact_h=h,
            meeting=h in (2, 4),
            outcome={2: "won", 4: "lost"}.get(h),
        )
        for h in (2, 4, 6, 8, 10)
    ] + [handoff("limit_reached", 300 + n) for n in range(5)]
    before_since = [
        handoff("multi_user", 400 + n, outcome="won", signal_at=datetime(2025, 3, 1, tzinfo=UTC))
        for n in range(3)
    ]
    return multi_user + limit_reached + before_since


def write_config(tmp_path: Path, address: str, task_queue: str) -> Path:
    path = tmp_path / "handoff.toml"
    path.write_text(
        f"""
[temporal]
address = "{address}"
task_queue = "{task_queue}"
[[sources]]
kind = "file"
name = "demo"
path = "usage"
[crm]
kind = "hubspot"
[calibration]
enabled = true
min_outcomes = 10
prior_weight = 10
""",
        encoding="utf-8",
    )
    return path


def report(config: Path, *args: str) -> str:
    done = run_handoff(config, "report", "--since", SINCE, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.timeout(120)
async def test_report_over_a_known_population(dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    client = dev_env.client
    task_queue = f"report-{uuid.uuid4().hex[:10]}"
    await start_handoffs(client, task_queue, population())
    config = write_config(tmp_path, client.service_client.config.target_host, task_queue)

    result = json.loads(
        await asyncio.to_thread(report, config, "--by", "trigger", "--format", "json")
    )
    groups = {g["group"]: g for g in result["groups"]}
    assert list(groups) == ["limit_reached", "multi_user", "(all)"]
    multi, reached, everything = groups["multi_user"], groups["limit_reached"], groups["(all)"]
    assert (multi["handoffs"], multi["contacted"], multi["meetings"], multi["won"]) == (
        20,
        16,
        8,
        4,
    )
    assert multi["contact_rate"] == 16 / 20
    assert multi["contact_to_meeting_rate"] == 8 / 16
    assert multi["meeting_to_won_rate"] == 4 / 8
    assert multi["p50_hours_to_contact"] == 8.0  # rank ceil(0.5 * 16) = 8 of 1..16
    assert multi["p90_hours_to_contact"] == 15.0  # rank ceil(0.9 * 16) = 15
    assert multi["sla_breach_rate"] == 5 / 20
    assert (reached["handoffs"], reached["contacted"], reached["meetings"], reached["won"]) == (
        10,
        5,
        2,
        1,
    )
    assert reached["contact_rate"] == 5 / 10
    assert reached["contact_to_meeting_rate"] == 2 / 5
    assert reached["meeting_to_won_rate"] == 1 / 2
    assert (reached["p50_hours_to_contact"], reached["p90_hours_to_contact"]) == (6.0, 10.0)
    assert reached["sla_breach_rate"] == 0.0
    # all 21 contact times: 1..16 and 2, 4, 6, 8, 10; ranks 11 and 19
    assert everything["handoffs"] == 30
    assert everything["contact_rate"] == 21 / 30
    assert everything["contact_to_meeting_rate"] == 10 / 21
    assert everything["meeting_to_won_rate"] == 5 / 10
    assert (everything["p50_hours_to_contact"], everything["p90_hours_to_contact"]) == (8.0, 14.0)
    assert everything["sla_breach_rate"] == 5 / 30

    calibration = {c["trigger"]: c for c in result["calibration"]}
    prior = RuleSet().multi_user.conversion
    # 4 won, 4 lost and 4 expired; the 3 won in March 2025 are outside --since and outside
    # the calibration's lookback (365 days, as long as today is before March 2026 + 1 year)
    multi_cal = calibration["multi_user"]
    assert multi_cal["prior"] == prior
    wins, outcomes = multi_cal["wins"], multi_cal["outcomes"]
    assert (wins, outcomes) == (4, 12)
    assert multi_cal["applied"] is True
    assert multi_cal["measured"] == wins / outcomes
    assert multi_cal["smoothed"] == pytest.approx((wins + prior * 10) / (outcomes + 10))
    assert multi_cal["conversion"] == multi_cal["smoothed"]
    reached_cal = calibration["limit_reached"]
    assert (reached_cal["wins"], reached_cal["outcomes"], reached_cal["applied"]) == (1, 2, False)
    assert reached_cal["conversion"] == RuleSet().limit_reached.conversion

    table = await asyncio.to_thread(report, config, "--by", "tier")
    lines = table.splitlines()
    assert lines[0] == "handoffs signalled since 2026-01-01T00:00:00Z, by tier"
    assert [line.split()[:3] for line in lines[4:7]] == [
        ["1", "10", "5"],
        ["2", "20", "16"],
        ["(all)", "30", "21"],
    ]
    calibrated = [line.split() for line in lines if line.startswith("multi_user ")]
    assert calibrated == [["multi_user", "42.5", "12", "4", "33.3", "37.5", "smoothed"]]
    csv_text = await asyncio.to_thread(report, config, "--format", "csv")
    header, total = csv_text.splitlines()
    assert header.startswith("group,handoffs,contacted,contact_rate")
    assert total.startswith("(all),30,21,0.7,")


@pytest.mark.timeout(60)
async def test_a_handoff_without_the_memo_is_read_from_its_search_attributes(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Handoffs started before the funnel memo existed still count, from their attributes."""
    client = dev_env.client
    task_queue = f"report-{uuid.uuid4().hex[:10]}"
    handle = await client.start_workflow(
        "HandoffWorkflow",
        id=f"handoff/{task_queue}-old/1",
        task_queue=task_queue,  # nobody polls it: it stays as started
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.SIGNAL_AT, T0),
                SearchAttributePair(sa.CONTACTED_AT, T0 + timedelta(hours=5)),
                SearchAttributePair(sa.HANDOFF_STAGE, "won"),
                SearchAttributePair(sa.TRIGGER, "multi_user"),
                SearchAttributePair(sa.TIER, 3),
                SearchAttributePair(sa.MEETING_AT, int((T0 + timedelta(days=1)).timestamp())),
            ]
        ),
    )
    try:
        config = write_config(tmp_path, client.service_client.config.target_host, task_queue)
        for _ in range(50):
            output = await asyncio.to_thread(report, config, "--by", "tier", "--format", "json")
            groups = json.loads(output)["groups"]
            if groups[-1]["handoffs"]:
                break
            await asyncio.sleep(0.2)
        [tier3, total] = groups
        assert tier3["group"] == "3" and total["group"] == "(all)"
        assert (tier3["handoffs"], tier3["contacted"], tier3["meetings"], tier3["won"]) == (
            1,
            1,
            1,
            1,
        )
        assert tier3["p50_hours_to_contact"] == 5.0
        assert tier3["sla_breach_rate"] is None  # unknown without the memo
    finally:
        await handle.terminate()
