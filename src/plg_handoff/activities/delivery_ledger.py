"""The CRM deliveries (signed webhook requests) every worker's receiver has taken, kept by one
durable entity (`workflows/delivery_ledger.py`), so a replay is refused whichever worker a load
balancer sends it to. The receiver asks here after its own in-process check."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from temporalio.client import Client

from plg_handoff.activities.entities import ask_entity

DELIVERY_LEDGER_WORKFLOW = "DeliveryLedgerWorkflow"
TAKE_DELIVERY_UPDATE = "take_delivery"


def delivery_ledger_workflow_id(task_queue: str) -> str:
    return f"delivery-ledger/{task_queue}"


@dataclass
class DeliveryLedgerState:
    taken: dict[str, float] = field(default_factory=dict)  # delivery key -> forgotten after
    # (epoch seconds); a key is a digest, never the signature itself


@dataclass
class TakeDelivery:
    key: str
    keep_s: float  # the signature window: a replay older than this fails verification anyway


@dataclass
class DeliveryTaken:
    first: bool  # False: a replay


def delivery_key(source: str, signature: str) -> str:
    return hashlib.sha256(f"{source}\0{signature}".encode()).hexdigest()


async def take_delivery(client: Client, task_queue: str, key: str, keep_s: float) -> bool:
    """Whether this is the first time any receiver takes the delivery `key`."""
    taken = await ask_entity(
        client,
        DELIVERY_LEDGER_WORKFLOW,
        delivery_ledger_workflow_id(task_queue),
        task_queue,
        DeliveryLedgerState(),
        TAKE_DELIVERY_UPDATE,
        TakeDelivery(key, keep_s),
        DeliveryTaken,
    )
    return taken.first
