"""Every log line written inside an activity carries the workflow/activity identity."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from plg_handoff.logs import configure_logging, get_logger


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@activity.defn(name="noisy")
def noisy() -> None:
    get_logger("test").info("thing.done", count=3)
    activity.logger.info("from temporal's logger")


def test_activity_log_lines_carry_temporal_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info, workflow_id="account/acme", activity_type="noisy", attempt=2
    )
    environment.run(noisy)

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines] == ["thing.done", "from temporal's logger"]
    for line in lines:
        assert line["workflow_id"] == "account/acme"
        assert line["activity"] == "noisy"
        assert line["attempt"] == 2
    assert lines[0]["count"] == 3
