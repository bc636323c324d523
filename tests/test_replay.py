"""Committed workflow histories must replay on the current code: a release that changes
workflow code incompatibly fails here, before it reaches running workflows."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from plg_handoff.workflows import ALL_WORKFLOWS
from tests.support import HISTORIES

RECORDED = sorted(HISTORIES.glob("*.json"))


def test_histories_are_committed() -> None:
    names = {p.stem for p in RECORDED}
    assert {"account_two_syncs", "account_after_handoff", "handoff_expired", "handoff_won"} <= names


@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    result = await Replayer(workflows=list(ALL_WORKFLOWS)).replay_workflow(history)
    assert result.replay_failure is None
