"""What a command reports when Temporal cannot serve it: unreachable, or refusing a call."""

from __future__ import annotations


class TemporalUnreachableError(Exception):
    """The configured Temporal did not accept a connection (its address and the cause)."""


def refusal(exc: BaseException) -> str | None:
    """One line for an error Temporal's service returned (status, message, and what to do for
    the refusals an operator can fix); None for any other error."""
    from temporalio.service import RPCError, RPCStatusCode

    if not isinstance(exc, RPCError):
        return None
    line = f"{exc.status.name}: {exc.message}"
    if exc.status == RPCStatusCode.INVALID_ARGUMENT and "search attribute" in exc.message:
        line += " (register the daemon's search attributes on this namespace: deploy/README.md)"
    return line
