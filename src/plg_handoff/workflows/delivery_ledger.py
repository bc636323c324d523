"""The deliveries every worker's webhook receiver has taken, as a durable entity: a signed
request replayed to another worker is recognised (`activities/delivery_ledger.py` asks)."""

from __future__ import annotations

from temporalio import workflow

from plg_handoff.workflows.entity import serve_updates

with workflow.unsafe.imports_passed_through():
    from plg_handoff.activities.delivery_ledger import (
        TAKE_DELIVERY_UPDATE,
        DeliveryLedgerState,
        DeliveryTaken,
        TakeDelivery,
    )


@workflow.defn
class DeliveryLedgerWorkflow:
    @workflow.init
    def __init__(self, state: DeliveryLedgerState) -> None:
        self._state = state
        self._updates = 0

    @workflow.run
    async def run(self, state: DeliveryLedgerState) -> None:
        await serve_updates(lambda: self._updates, lambda: self._state)

    @workflow.update(name=TAKE_DELIVERY_UPDATE)
    def take(self, request: TakeDelivery) -> DeliveryTaken:
        self._updates += 1
        now = workflow.now().timestamp()
        taken = {key: until for key, until in self._state.taken.items() if until > now}
        self._state.taken = taken
        if request.key in taken:
            return DeliveryTaken(first=False)
        taken[request.key] = now + request.keep_s
        return DeliveryTaken(first=True)

    @take.validator
    def _validate_take(self, request: TakeDelivery) -> None:
        if not request.key or request.keep_s <= 0:
            raise ValueError("a delivery needs a key and a positive keep_s")
