"""Self-calibration end to end on the dev server: handoffs with known outcomes in visibility
move a trigger's score in the evaluate activity once the trigger has enough outcomes, and
leave it at the configured conversion before that."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.evaluate import EvaluateActivities, EvaluateInput
from plg_handoff.config import Config
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.scoring import score
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.worker import build_calibration
from tests.conftest import make_config
from tests.funnel_fixture import start_handoffs

TRAITS = AccountTraits(name="A", plan="team", limits={"seats": 10}, arr_potential=50_000)
NINE_OF_TEN = EvaluateInput(
    "a", TRAITS, [DayRollup("2026-11-20", {"Report Viewed": 30}, 9, {"seats": 9})], "2026-11-20"
)


def closed(outcome: str, days_ago: int) -> dict[str, Any]:
    signal_at = datetime.now(UTC) - timedelta(days=days_ago)
    return {
        "stage": outcome,
        "signal_at": signal_at.isoformat(),
        "closed_at": (signal_at + timedelta(days=5)).isoformat(),
        "outcome": outcome,
        "tier": 2,
        "trigger": "limit_approaching",
        "segment": "sales_assist",
        "owner_id": "o-1",
    }


def config_for(tmp_path: Path, task_queue: str, min_outcomes: int) -> Config:
    return make_config(
        tmp_path,
        "http://127.0.0.1:1",
        temporal={"task_queue": task_queue},
        calibration={"enabled": True, "min_outcomes": min_outcomes, "prior_weight": 10},
    )


async def lead_score(client: Client, config: Config) -> tuple[float, float]:
    calibration = build_calibration(client, config)
    assert calibration is not None
    activities = EvaluateActivities(config, calibration)
    # the activity runs in a worker thread; the calibration is read on this event loop
    result = await asyncio.to_thread(activities.evaluate_account, NINE_OF_TEN)
    lead = result.evaluation.lead
    assert lead is not None and lead.trigger == "limit_approaching"
    return lead.conversion, lead.score


@pytest.mark.timeout(120)
async def test_a_triggers_score_moves_once_enough_outcomes_exist(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_env.client
    task_queue = f"calibration-{uuid.uuid4().hex[:10]}"
    # 2 won, 10 lost, 3 expired in the last months; 1 disqualified (not counted); 5 won
    # before the lookback (400 days ago, not counted)
    population = (
        [closed("won", 10 + n) for n in range(2)]
        + [closed("lost", 20 + n) for n in range(10)]
        + [closed("expired", 40 + n) for n in range(3)]
        + [closed("disqualified", 50)]
        + [closed("won", 400) for _ in range(5)]
    )
    await start_handoffs(client, task_queue, population)
    prior = RuleSet().limit_approaching.conversion
    configured = (prior, score(50_000, prior, 0, RuleSet().scoring))

    assert await lead_score(client, config_for(tmp_path, task_queue, min_outcomes=16)) == configured
    smoothed = (2 + prior * 10) / (15 + 10)
    conversion, calibrated = await lead_score(
        client, config_for(tmp_path, task_queue, min_outcomes=15)
    )
    assert conversion == pytest.approx(smoothed)
    assert calibrated == score(50_000, conversion, 0, RuleSet().scoring)
    assert calibrated < configured[1]
    # a task queue with no handoffs measures nothing: the configured conversion stays
    empty = config_for(tmp_path, f"calibration-{uuid.uuid4().hex[:10]}", min_outcomes=1)
    assert await lead_score(client, empty) == configured
