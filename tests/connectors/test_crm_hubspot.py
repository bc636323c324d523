"""The CRM conformance suite against the HubSpot emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from plg_handoff.config import HubSpotConfig
from plg_handoff.connectors.base import CrmConnector
from plg_handoff.connectors.hubspot import HubSpotCrm
from plg_handoff.connectors.hubspot.properties import FUNNEL_PROPERTIES
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from tests.conftest import TOKEN
from tests.crm_conformance import CrmConformance, draft

CALL_TO_DEAL = 206  # HubSpot-defined association type id, call -> deal


def connect(emulator: HubSpotEmulator, **settings: Any) -> HubSpotCrm:
    config = HubSpotConfig.model_validate({"kind": "hubspot", "base_url": emulator.url, **settings})
    return HubSpotCrm(config, TOKEN)


class HubSpotHarness:
    default_stage = "appointmentscheduled"
    later_stage = "qualifiedtobuy"

    def __init__(self, emulator: HubSpotEmulator) -> None:
        self.emulator = emulator
        crm = connect(emulator)
        crm.ensure_properties()
        self.crm: CrmConnector = crm
        self._extra: list[HubSpotEmulator] = []
        self._http = requests.Session()
        self._http.trust_env = False
        self._http.headers["Authorization"] = f"Bearer {TOKEN}"

    def api_calls(self) -> int:
        return len(self.emulator.calls)

    def reset_calls(self) -> None:
        self.emulator.reset_calls()

    def inactive_owner_ids(self) -> set[str]:
        page = self._http.get(f"{self.emulator.url}/crm/v3/owners/", params={"archived": "true"})
        page.raise_for_status()
        return {str(o["id"]) for o in page.json()["results"]}

    def opportunities(self, external_id: str) -> list[str]:
        return [
            str(d["id"])
            for d in self.emulator.objects("deals")
            if d["properties"].get("plg_handoff_id") == external_id
        ]

    def tasks_on(self, opportunity_id: str) -> list[str]:
        return self.emulator.associations("deals", opportunity_id, "tasks")

    def _patch(self, object_type: str, object_id: str, properties: dict[str, str]) -> None:
        url = f"{self.emulator.url}/crm/v3/objects/{object_type}/{object_id}"
        self._http.patch(url, json={"properties": properties}).raise_for_status()

    def complete_task(self, task_id: str) -> None:
        self._patch("tasks", task_id, {"hs_task_status": "COMPLETED"})

    def close_won(self, opportunity_id: str) -> None:
        self._patch("deals", opportunity_id, {"dealstage": "closedwon"})

    def rate_limit_next(self, n: int) -> None:
        self.emulator.faults.rate_limit_next(n, retry_after_s=1)

    def clear_faults(self) -> None:
        self.emulator.faults.clear()

    def worker_crm(self) -> CrmConnector:
        return connect(self.emulator)

    def random_faults(self, rate: float, seed: int) -> None:
        self.emulator.faults.fail_randomly(rate, seed=seed)

    def faults_injected(self) -> int:
        return self.emulator.faults.injected

    def refuse_trigger_field(self, message: str) -> None:
        self.emulator.faults.reject_property("deals", "plg_trigger", message)

    def crm_without_custom_fields(self) -> tuple[CrmConnector, set[str]]:
        bare = HubSpotEmulator(token=TOKEN)
        bare.start()
        self._extra.append(bare)
        return connect(bare), {"plg_handoff_id", "plg_trigger"}

    def add_account(
        self, name: str, *, external_id: str | None, domain: str | None, owner_id: str | None
    ) -> str:
        properties = {"name": name}
        if external_id:
            properties["plg_account_id"] = external_id
        if domain:
            properties["domain"] = domain
        if owner_id:
            properties["hubspot_owner_id"] = owner_id
        answer = self._http.post(
            f"{self.emulator.url}/crm/v3/objects/companies", json={"properties": properties}
        )
        answer.raise_for_status()
        return str(answer.json()["id"])

    def accounts_with(self, external_id: str) -> list[str]:
        return [
            str(c["id"])
            for c in self.emulator.objects("companies")
            if c["properties"].get("plg_account_id") == external_id
        ]

    def account_owner(self, account: str) -> str | None:
        company = next(c for c in self.emulator.objects("companies") if str(c["id"]) == account)
        owner = company["properties"].get("hubspot_owner_id")
        return str(owner) if owner else None

    def account_of(self, opportunity_id: str) -> str | None:
        companies = self.emulator.associations("deals", opportunity_id, "companies")
        return companies[0] if companies else None

    def book_meeting(self, opportunity_id: str, start_ms: int) -> str:
        start = datetime.fromtimestamp(start_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
        answer = self._http.post(
            f"{self.emulator.url}/crm/v3/objects/meetings",
            json={
                "properties": {
                    "hs_meeting_title": "Demo",
                    "hs_meeting_start_time": start,
                    "hs_timestamp": start,
                },
                "associations": [
                    {
                        "to": {"id": opportunity_id},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 212}
                        ],
                    }
                ],
            },
        )
        answer.raise_for_status()
        return str(answer.json()["id"])

    def log_engagement(
        self, kind: str, opportunity_id: str, type_id: int, properties: dict[str, str]
    ) -> str:
        answer = self._http.post(
            f"{self.emulator.url}/crm/v3/objects/{kind}",
            json={
                "properties": properties,
                "associations": [
                    {
                        "to": {"id": opportunity_id},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
                        ],
                    }
                ],
            },
        )
        answer.raise_for_status()
        return str(answer.json()["id"])

    def funnel_of(self, opportunity_id: str) -> dict[str, Any]:
        deal = next(d for d in self.emulator.objects("deals") if str(d["id"]) == opportunity_id)
        values: dict[str, Any] = {}
        for key, (name, _) in FUNNEL_PROPERTIES.items():
            raw = deal["properties"].get(name)
            if raw in (None, ""):
                values[key] = None
            elif key == "sla_met":
                values[key] = raw == "true"
            else:
                values[key] = float(raw)
        return values

    def crm_with(self, **config: Any) -> CrmConnector:
        return connect(self.emulator, **config)

    def record(self, opportunity_id: str) -> dict[str, Any]:
        deal = next(d for d in self.emulator.objects("deals") if str(d["id"]) == opportunity_id)
        values = deal["properties"]
        return {
            "name": values.get("dealname"),
            "stage": values.get("dealstage"),
            "close_date": (values.get("closedate") or "")[:10] or None,
            "amount": float(values["amount"]) if values.get("amount") else None,
            "owner_id": values.get("hubspot_owner_id"),
            "trigger": values.get("plg_trigger"),
            "evidence": values.get("plg_evidence"),
            "score": float(values["plg_score"]) if values.get("plg_score") else None,
            "segment": values.get("plg_segment"),
            "approach": values.get("plg_approach"),
        }

    def sales_edit(
        self, opportunity_id: str, *, name: str, stage: str, close_date: str, amount: float
    ) -> None:
        self._patch(
            "deals",
            opportunity_id,
            {"dealname": name, "dealstage": stage, "closedate": close_date, "amount": str(amount)},
        )

    def delete_opportunity(self, opportunity_id: str) -> None:
        url = f"{self.emulator.url}/crm/v3/objects/deals/{opportunity_id}"
        self._http.delete(url).raise_for_status()

    def close(self) -> None:
        self._http.close()
        for emulator in self._extra:
            emulator.stop()


class TestHubSpotConformance(CrmConformance):
    @pytest.fixture
    def harness(self, hubspot: HubSpotEmulator) -> Iterator[HubSpotHarness]:
        harness = HubSpotHarness(hubspot)
        try:
            yield harness
        finally:
            harness.close()


def test_a_logged_call_is_contact_and_a_cancelled_meeting_is_no_meeting(
    hubspot: HubSpotEmulator,
) -> None:
    harness = HubSpotHarness(hubspot)
    try:
        owner = harness.crm.list_owners()[0].id
        deal = harness.crm.upsert_opportunity(draft("handoff/acct-call/1", owner)).id
        called_at = int(time.time() * 1000) + 60_000
        harness.log_engagement("calls", deal, CALL_TO_DEAL, {"hs_timestamp": str(called_at)})
        meeting = harness.book_meeting(deal, called_at + 3_600_000)
        harness._patch("meetings", meeting, {"hs_meeting_outcome": "CANCELED"})
        follow_up = harness.crm.read_follow_up(deal, None)
        assert follow_up.contacted is True
        assert follow_up.contacted_at_ms == called_at
        assert follow_up.meeting is False
        assert follow_up.meeting_at_ms is None
    finally:
        harness.close()
