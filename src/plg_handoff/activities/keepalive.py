"""Heartbeats for activities that do not heartbeat themselves, so a dead worker is noticed in
seconds (issue 15, defect 5).

Without a heartbeat, Temporal learns that the worker running an activity died only when the
attempt's start-to-close timeout runs out (minutes for a CRM call that may queue behind the
vendor's limits). With this interceptor an activity scheduled with a `heartbeat_timeout`
heartbeats a few times per timeout for as long as its worker's event loop runs it, and a
killed worker's attempt is retried after one heartbeat timeout. Activities that heartbeat
themselves, with details to resume from, are left alone (`SELF_HEARTBEATING`)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

SELF_HEARTBEATING = frozenset({"pull_usage"})
BEATS_PER_TIMEOUT = 4


class _KeepAliveInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        timeout = info.heartbeat_timeout
        if timeout is None or info.is_local or info.activity_type in SELF_HEARTBEATING:
            return await super().execute_activity(input)
        beats = asyncio.create_task(_beat(timeout.total_seconds() / BEATS_PER_TIMEOUT))
        try:
            return await super().execute_activity(input)
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats


async def _beat(every_s: float) -> None:
    """A heartbeat every `every_s` from the start: a call quicker than that sends none."""
    while True:
        await asyncio.sleep(every_s)
        activity.heartbeat()


class KeepAliveInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _KeepAliveInbound(next)
