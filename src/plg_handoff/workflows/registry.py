"""Every workflow a worker registers (and a replayer knows)."""

from plg_handoff.workflows.account import AccountWorkflow
from plg_handoff.workflows.delivery_ledger import DeliveryLedgerWorkflow
from plg_handoff.workflows.digest import DigestWorkflow
from plg_handoff.workflows.handoff import HandoffWorkflow
from plg_handoff.workflows.notification_ledger import NotificationLedgerWorkflow
from plg_handoff.workflows.owner_pool import OwnerPoolWorkflow
from plg_handoff.workflows.query_budget import QueryBudgetWorkflow
from plg_handoff.workflows.usage_sync import UsageSyncWorkflow

ALL_WORKFLOWS = (
    UsageSyncWorkflow,
    AccountWorkflow,
    HandoffWorkflow,
    OwnerPoolWorkflow,
    NotificationLedgerWorkflow,
    DigestWorkflow,
    QueryBudgetWorkflow,
    DeliveryLedgerWorkflow,
)
