"""Trigger evaluation as a (local) activity: rule code never runs inside workflow code, so a
changed rule or threshold cannot break the replay of a running workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from temporalio import activity

from plg_handoff.config import Config
from plg_handoff.domain.engine import Evaluation, evaluate
from plg_handoff.domain.usage import AccountTraits, DayRollup


@dataclass
class EvaluateInput:
    account_id: str
    traits: AccountTraits
    days: list[DayRollup]
    today: str


@dataclass
class HandoffPolicy:
    """Settings a new handoff runs with, fixed when it opens (recorded in history)."""

    task_due_after_s: float
    follow_up_poll_interval_s: float
    expire_after_s: float
    cooldown_s: float


@dataclass
class EvaluateResult:
    evaluation: Evaluation
    policy: HandoffPolicy


class EvaluateActivities:
    def __init__(self, config: Config) -> None:
        self._config = config

    @activity.defn(name="evaluate_account")
    def evaluate_account(self, request: EvaluateInput) -> EvaluateResult:
        evaluation = evaluate(
            request.account_id,
            request.traits,
            request.days,
            self._config.rules,
            date.fromisoformat(request.today),
        )
        handoff = self._config.handoff
        return EvaluateResult(
            evaluation=evaluation,
            policy=HandoffPolicy(
                task_due_after_s=handoff.task_due_after.total_seconds(),
                follow_up_poll_interval_s=handoff.follow_up_poll_interval.total_seconds(),
                expire_after_s=handoff.expire_after.total_seconds(),
                cooldown_s=handoff.cooldown.total_seconds(),
            ),
        )
