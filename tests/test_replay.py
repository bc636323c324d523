"""Committed workflow histories must replay on the current code: a release that changes
workflow code incompatibly fails here, before it reaches running workflows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer

from plg_handoff.activities.contracts import UsageUpdate
from plg_handoff.domain.engine import evaluate
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.payloads import DATA_CONVERTER
from plg_handoff.workflows.registry import ALL_WORKFLOWS
from tests.support import HISTORIES

RECORDED = sorted(HISTORIES.glob("*.json"))


def test_histories_are_committed() -> None:
    names = {p.stem for p in RECORDED}
    assert {
        "account_two_syncs",
        "usage_sync",
        "account_after_handoff",
        "account_pql_decision",  # the decision patch taken after the evaluation (pre-fix)
        "account_slow_evaluation",  # taken in the run's first task, evaluations outliving it
        "account_threshold_0_5",
        "account_marked_for_refresh",  # SignalAt set by evaluations while a handoff is open
        "handoff_expired",
        "handoff_sla_breached",
        "handoff_won",
        "query_budget",  # the Mixpanel export budget every worker shares
        "delivery_ledger",  # the webhook deliveries every worker's receiver has taken
    } <= names


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    replayer = Replayer(workflows=list(ALL_WORKFLOWS), data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None


async def test_a_rule_change_never_breaks_a_running_account() -> None:
    """The account handed off at 60 % of its seats under a 50 % threshold. With today's
    default (80 %) the same usage fires nothing, yet the history replays: rules run in a
    (local) activity whose recorded result replay reuses, never inline in workflow code."""
    path = HISTORIES / "account_threshold_0_5.json"
    history = WorkflowHistory.from_json("account/rule-change", path.read_text(encoding="utf-8"))
    events = list(history.events)
    started_children = [
        e for e in events if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]
    assert len(started_children) == 1
    [usage] = [
        DataConverter.default.payload_converter.from_payloads(
            e.workflow_execution_signaled_event_attributes.input.payloads, [UsageUpdate]
        )[0]
        for e in events
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert usage.traits is not None
    today = date.fromisoformat(max(d.day for d in usage.days))
    now = evaluate(usage.account_id, usage.traits, usage.days, RuleSet(), today)
    assert "limit_approaching" not in {f.trigger for f in now.fired}

    replayer = Replayer(workflows=list(ALL_WORKFLOWS), data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None
