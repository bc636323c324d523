"""Trigger evaluation as a (local) activity: rule code never runs inside workflow code, so a
changed rule or threshold cannot break the replay of a running workflow."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

from temporalio import activity
from temporalio.service import RPCError

from plg_handoff.activities.contracts import HandoffPolicy
from plg_handoff.config import Config
from plg_handoff.domain.calibration import with_conversions
from plg_handoff.domain.engine import Evaluation, evaluate
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.usage import AccountTraits, DayRollup
from plg_handoff.logs import get_logger

log = get_logger(__name__)
FIRST_READ_TIMEOUT_S = 10


@dataclass
class EvaluateInput:
    account_id: str
    traits: AccountTraits
    days: list[DayRollup]
    today: str


@dataclass
class EvaluateResult:
    evaluation: Evaluation
    policy: HandoffPolicy


class CalibrationCache:
    """The measured conversions per trigger (self-calibration), read from Temporal visibility
    on the worker's event loop and handed to the evaluation threads. Stale figures are
    refreshed in the background; only the very first read is waited for (bounded). A failed
    read keeps the last figures, or the configured ones."""

    def __init__(
        self,
        read: Callable[[], Awaitable[dict[str, float]]],
        refresh_interval_s: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._read = read
        self._refresh_interval_s = refresh_interval_s
        self._loop = loop
        self._lock = threading.Lock()
        self._conversions: dict[str, float] = {}
        self._read_at: float | None = None
        self._pending: concurrent.futures.Future[None] | None = None

    def conversions(self) -> dict[str, float]:
        """Called from the evaluation threads, never from the event loop."""
        with self._lock:
            stale = self._read_at is None or (
                time.monotonic() - self._read_at >= self._refresh_interval_s
            )
            first = self._read_at is None
            if stale and (self._pending is None or self._pending.done()):
                self._pending = asyncio.run_coroutine_threadsafe(self.refresh(), self._loop)
            pending = self._pending
        if first and pending is not None:
            try:
                pending.result(timeout=FIRST_READ_TIMEOUT_S)
            except concurrent.futures.TimeoutError:
                log.warning("calibration.first_read_slow", timeout_s=FIRST_READ_TIMEOUT_S)
        with self._lock:
            return dict(self._conversions)

    async def refresh(self) -> None:
        try:
            conversions = await self._read()
        except RPCError as exc:
            log.warning("calibration.read_failed", error=str(exc))
            conversions = None
        with self._lock:
            self._read_at = time.monotonic()
            if conversions is not None:
                if conversions != self._conversions:
                    log.info("calibration.updated", conversions=conversions)
                self._conversions = conversions


class EvaluateActivities:
    def __init__(self, config: Config, calibration: CalibrationCache | None = None) -> None:
        self._config = config
        self._calibration = calibration
        self._calibrated: tuple[dict[str, float], RuleSet] = ({}, config.rules)

    def _rules(self) -> RuleSet:
        """The configured rules, with the calibrated conversions once there are any."""
        if self._calibration is None:
            return self._config.rules
        conversions = self._calibration.conversions()
        known, rules = self._calibrated
        if conversions != known:
            rules = with_conversions(self._config.rules, conversions)
            self._calibrated = (conversions, rules)
        return rules

    @activity.defn(name="evaluate_account")
    def evaluate_account(self, request: EvaluateInput) -> EvaluateResult:
        evaluation = evaluate(
            request.account_id,
            request.traits,
            request.days,
            self._rules(),
            date.fromisoformat(request.today),
        )
        handoff = self._config.handoff
        sla = handoff.sla_for(evaluation.tier or (evaluation.lead.tier if evaluation.lead else 1))
        return EvaluateResult(
            evaluation=evaluation,
            policy=HandoffPolicy(
                task_due_after_s=(handoff.task_due_after or sla.contact_within).total_seconds(),
                follow_up_poll_interval_s=handoff.follow_up_poll_interval.total_seconds(),
                expire_after_s=handoff.expire_after.total_seconds(),
                cooldown_s=handoff.cooldown.total_seconds(),
                assign_within_s=sla.assign_within.total_seconds(),
                contact_within_s=sla.contact_within.total_seconds(),
                max_reassignments=handoff.max_reassignments,
            ),
        )
