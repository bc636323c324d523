"""Connector errors become Temporal application errors in one place, an interceptor, so the
retry decision (retryable, delay) and the per-record details show in Temporal UI."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from plg_handoff.connectors.errors import ConnectorError


def as_application_error(exc: ConnectorError) -> ApplicationError:
    details = [{"record": r.record, "message": r.message} for r in exc.records]
    return ApplicationError(
        str(exc),
        *details,
        type=type(exc).__name__,
        non_retryable=not exc.retryable,
        next_retry_delay=timedelta(seconds=exc.retry_after) if exc.retry_after else None,
    )


class _ConnectorErrorsInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except ConnectorError as exc:
            raise as_application_error(exc) from exc


class ConnectorErrorInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ConnectorErrorsInbound(next)
