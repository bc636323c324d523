"""The per-account notification cap as a durable entity: one ledger shared by every worker, so
the cap is exact under concurrency and a retried notification is recognised by its key."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

from plg_handoff.workflows.entity import serve_updates

with workflow.unsafe.imports_passed_through():
    from plg_handoff.activities.notify import (
        RESERVE_UPDATE,
        SETTLE_UPDATE,
        LedgerEntry,
        NotificationLedgerState,
        Reservation,
        ReserveRequest,
        SettleRequest,
    )


@workflow.defn
class NotificationLedgerWorkflow:
    @workflow.init
    def __init__(self, state: NotificationLedgerState) -> None:
        # Set here, not in `run`: updates that arrive with the first task run before it.
        self._state = state
        self._updates = 0
        self._longest_window = timedelta(0)

    @workflow.run
    async def run(self, state: NotificationLedgerState) -> None:
        await serve_updates(lambda: self._updates, lambda: self._state)

    @workflow.update(name=RESERVE_UPDATE)
    def reserve(self, request: ReserveRequest) -> Reservation:
        """Granted while the account has fewer than `cap` messages reserved in the window; a
        key already granted is granted again (and says whether it was sent)."""
        now = workflow.now()
        window = timedelta(seconds=request.window_s)
        self._longest_window = max(self._longest_window, window)
        self._forget_before(now - self._longest_window)
        self._updates += 1
        entries = self._state.entries
        in_window = sum(
            1
            for entry in entries.values()
            if entry.account_id == request.account_id
            and datetime.fromisoformat(entry.reserved_at) > now - window
        )
        existing = entries.get(request.key)
        if existing is not None:
            return Reservation(granted=True, already_sent=existing.sent, in_window=in_window)
        if in_window >= request.cap:
            return Reservation(granted=False, in_window=in_window)
        entries[request.key] = LedgerEntry(request.account_id, now.isoformat())
        return Reservation(granted=True, in_window=in_window + 1)

    @reserve.validator
    def _validate_reserve(self, request: ReserveRequest) -> None:
        if request.cap < 1 or request.window_s <= 0:
            raise ValueError("cap must be >= 1 and window_s > 0")

    @workflow.update(name=SETTLE_UPDATE)
    def settle(self, request: SettleRequest) -> None:
        self._updates += 1
        entry = self._state.entries.get(request.key)
        if entry is None:
            return
        if request.sent:
            entry.sent = True
        elif not entry.sent:
            del self._state.entries[request.key]

    def _forget_before(self, cutoff: datetime) -> None:
        self._state.entries = {
            key: entry
            for key, entry in self._state.entries.items()
            if datetime.fromisoformat(entry.reserved_at) > cutoff
        }
