"""HubSpot deals, owners and tasks for handoffs, through the official SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import tenacity
import urllib3
from hubspot import HubSpot
from hubspot.crm.deals import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
)
from hubspot.crm.objects.tasks import (
    AssociationSpec,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.properties import PropertyCreate

from plg_handoff.config import HubSpotConfig
from plg_handoff.connectors.base import (
    FollowUp,
    OpportunityDraft,
    OpportunityRef,
    Owner,
    TaskSpec,
)
from plg_handoff.connectors.errors import (
    ConnectorError,
    InvalidInput,
    RateLimited,
    TransientError,
)
from plg_handoff.connectors.hubspot.errors import (
    VENDOR,
    is_hubspot_api_error,
    map_error,
    record_errors,
)
from plg_handoff.connectors.hubspot.properties import GROUP, PropertySpec, deal_properties
from plg_handoff.connectors.registry import register

T = TypeVar("T")
TASK_TO_DEAL = 216  # HubSpot-defined association type id, task -> deal
SHORT_WAIT_S = 2.0  # longer waits belong to Temporal's retry policy, not to this process


def _short_retry(exc: BaseException) -> bool:
    if isinstance(exc, RateLimited):
        return (exc.retry_after or 0) <= SHORT_WAIT_S
    return isinstance(exc, TransientError)


def _wait(state: tenacity.RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, ConnectorError) and exc.retry_after is not None:
        return exc.retry_after
    return float(min(0.2 * 2 ** (state.attempt_number - 1), SHORT_WAIT_S))


@register("crm", "hubspot")
class HubSpotCrm:
    """One instance per worker: the SDK's API objects are built once and reused."""

    def __init__(self, config: HubSpotConfig, access_token: str) -> None:
        self._config = config
        client = HubSpot(access_token=access_token, host=str(config.base_url).rstrip("/"))
        self._deals_batch = client.crm.deals.batch_api
        self._deals = client.crm.deals.basic_api
        self._tasks = client.crm.objects.tasks.basic_api
        self._owners = client.crm.owners.owners_api
        self._associations = client.crm.associations.v4.basic_api
        self._properties = client.crm.properties.core_api
        self._timeout = config.timeout.total_seconds()
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_short_retry),
            wait=_wait,
            stop=tenacity.stop_after_attempt(3),
            reraise=True,
        )

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        result: T = self._retrying(
            self._mapped, fn, *args, _request_timeout=self._timeout, **kwargs
        )
        return result

    @staticmethod
    def _mapped(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except ConnectorError:
            raise
        except Exception as exc:  # the SDK raises a different class per sub-package
            if is_hubspot_api_error(exc) or _is_transport_error(exc):
                raise map_error(exc) from exc
            raise

    def list_owners(self) -> list[Owner]:
        owners: list[Owner] = []
        after: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": 100, "archived": False}
            if after:
                kwargs["after"] = after
            page = self._call(self._owners.get_page, **kwargs)
            owners.extend(
                Owner(
                    id=str(o.id),
                    email=o.email or "",
                    name=" ".join(p for p in (o.first_name, o.last_name) if p) or str(o.email),
                    active=not o.archived,
                )
                for o in page.results
            )
            after = page.paging.next.after if page.paging and page.paging.next else None
            if not after:
                return owners

    def upsert_opportunity(self, draft: OpportunityDraft) -> OpportunityRef:
        batch = BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id_property=self._config.external_id_property,
                    id=draft.external_id,
                    properties=self._deal_properties(draft),
                )
            ]
        )
        answer = self._call(self._deals_batch.upsert, batch)
        if getattr(answer, "errors", None):
            raise InvalidInput(
                VENDOR, "deal refused", status=207, records=record_errors(answer.errors)
            )
        result = answer.results[0]
        return OpportunityRef(id=str(result.id), created=bool(result.new))

    def _deal_properties(self, draft: OpportunityDraft) -> dict[str, str]:
        properties = {
            "dealname": draft.name,
            "pipeline": self._config.pipeline,
            "dealstage": self._config.deal_stage,
            "hubspot_owner_id": draft.owner_id,
            "plg_account_id": draft.account_id,
            "plg_trigger": draft.trigger,
            "plg_triggers": ";".join(draft.triggers),
            "plg_evidence": "\n".join(draft.evidence),
            "plg_score": f"{draft.score:g}",
            "plg_tier": str(draft.tier),
            "plg_plan": draft.plan or "",
        }
        if draft.amount is not None:
            properties["amount"] = f"{draft.amount:.2f}"
        return properties

    def find_task(self, opportunity_id: str) -> str | None:
        page = self._call(self._associations.get_page, "deals", opportunity_id, "tasks", limit=1)
        return str(page.results[0].to_object_id) if page.results else None

    def create_task(self, task: TaskSpec) -> str:
        body = SimplePublicObjectInputForCreate(
            properties={
                "hs_task_subject": task.subject,
                "hs_task_body": task.body,
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": "HIGH",
                "hs_task_type": "TODO",
                "hs_timestamp": str(task.due_at_ms),
                "hubspot_owner_id": task.owner_id,
            },
            associations=[
                PublicAssociationsForObject(
                    to=PublicObjectId(id=task.opportunity_id),
                    types=[
                        AssociationSpec(
                            association_category="HUBSPOT_DEFINED",
                            association_type_id=TASK_TO_DEAL,
                        )
                    ],
                )
            ],
        )
        created = self._call(self._tasks.create, body)
        return str(created.id)

    def read_follow_up(self, opportunity_id: str, task_id: str | None) -> FollowUp:
        deal = self._call(self._deals.get_by_id, opportunity_id, properties=["dealstage"])
        stage = (deal.properties or {}).get("dealstage")
        outcome = (
            "won"
            if stage in self._config.won_stages
            else "lost"
            if stage in self._config.lost_stages
            else None
        )
        contacted = False
        if task_id:
            task = self._call(self._tasks.get_by_id, task_id, properties=["hs_task_status"])
            contacted = (task.properties or {}).get("hs_task_status") == "COMPLETED"
        return FollowUp(contacted=contacted or outcome is not None, stage=stage, outcome=outcome)

    def missing_properties(self) -> list[str]:
        return [spec.name for spec in self._missing_specs()]

    def _missing_specs(self) -> list[PropertySpec]:
        existing = {p.name for p in self._call(self._properties.get_all, "deals").results}
        wanted = deal_properties(self._config.external_id_property)
        return [spec for spec in wanted if spec.name not in existing]

    def ensure_properties(self) -> list[str]:
        missing = self._missing_specs()
        for spec in missing:
            self._call(
                self._properties.create,
                "deals",
                PropertyCreate(
                    name=spec.name,
                    label=spec.label,
                    type=spec.type,
                    field_type=spec.field_type,
                    group_name=GROUP,
                    has_unique_value=spec.unique,
                ),
            )
        return [spec.name for spec in missing]


def _is_transport_error(exc: BaseException) -> bool:
    return isinstance(exc, urllib3.exceptions.HTTPError)
