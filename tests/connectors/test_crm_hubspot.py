"""The CRM conformance suite against the HubSpot emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from plg_handoff.config import HubSpotConfig
from plg_handoff.connectors.base import CrmConnector
from plg_handoff.connectors.hubspot import HubSpotCrm
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from tests.conftest import TOKEN
from tests.crm_conformance import CrmConformance


def connect(emulator: HubSpotEmulator) -> HubSpotCrm:
    config = HubSpotConfig.model_validate({"kind": "hubspot", "base_url": emulator.url})
    return HubSpotCrm(config, TOKEN)


class HubSpotHarness:
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

    def refuse_trigger_field(self, message: str) -> None:
        self.emulator.faults.reject_property("deals", "plg_trigger", message)

    def crm_without_custom_fields(self) -> tuple[CrmConnector, set[str]]:
        bare = HubSpotEmulator(token=TOKEN)
        bare.start()
        self._extra.append(bare)
        return connect(bare), {"plg_handoff_id", "plg_trigger"}

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
