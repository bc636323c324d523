"""A deal the rep has moved on keeps the rep's stage, close date, name and amount when the open
handoff writes newer evidence to it; a deal deleted in the CRM is brought back, with a task, and
the handoff follows the new one. Real dev server, real worker, HubSpot emulator over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.contracts import ACCOUNT_STATE_QUERY, AccountSummary
from plg_handoff.config import load_secrets
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.worker import build_crm, build_worker
from tests.conftest import TOKEN, make_config
from tests.support import eventually, handoff_status, sync, usage_lines, write_profiles, write_usage

pytestmark = pytest.mark.e2e
ACCOUNT = "kept-co"


@pytest.fixture(autouse=True)
def hubspot_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)


def seats(tmp_path: Path, yesterday: int, today: int) -> None:
    day = datetime.now(UTC).date()
    write_usage(
        tmp_path / "usage",
        "export.jsonl",
        [
            *usage_lines(ACCOUNT, day - timedelta(days=1), users=2, seats_used=yesterday),
            *usage_lines(ACCOUNT, day, users=2, seats_used=today),
        ],
    )
    write_profiles(
        tmp_path / "accounts.jsonl",
        {ACCOUNT: {"name": "Kept Co", "seat_limit": 10, "arr_potential": 60_000}},
    )


def rep_moves_the_deal(hubspot: HubSpotEmulator, deal_id: str) -> None:
    with requests.Session() as http:
        http.trust_env = False
        http.patch(
            f"{hubspot.url}/crm/v3/objects/deals/{deal_id}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={
                "properties": {
                    "dealstage": "presentationscheduled",
                    "closedate": "2031-03-31",
                    "dealname": "Kept Co: 50 seats (rep)",
                    "amount": "75000",
                }
            },
        ).raise_for_status()


async def test_newer_evidence_keeps_what_the_rep_changed_on_the_deal(
    dev_env: WorkflowEnvironment, hubspot: HubSpotEmulator, tmp_path: Path
) -> None:
    client = dev_env.client
    config = make_config(
        tmp_path,
        hubspot.url,
        handoff={"follow_up_poll_interval": "1s"},
        crm={"stage_by_trigger": {"limit_approaching": "qualifiedtobuy"}, "close_in_days": 14},
    )
    crm = build_crm(config, load_secrets(config))
    crm.ensure_properties()
    seats(tmp_path, yesterday=8, today=8)
    async with build_worker(client, config, load_secrets(config), crm):
        await sync(client, config)
        await eventually(
            lambda: handoff_status(client, f"handoff/{ACCOUNT}/1"),
            lambda s: s is not None and s.stage == "assigned",
        )
        [deal] = hubspot.objects("deals")
        created = deal["properties"]
        evaluation = (
            await client.get_workflow_handle(f"account/{ACCOUNT}").query(
                ACCOUNT_STATE_QUERY, result_type=AccountSummary
            )
        ).last_evaluation
        assert evaluation is not None and evaluation.playbook is not None
        assert created["plg_trigger"] == "limit_approaching"
        assert created["dealstage"] == "qualifiedtobuy"
        close = datetime.now(UTC).date() + timedelta(days=14)
        assert created["closedate"][:10] in {close.isoformat(), (close - timedelta(1)).isoformat()}
        assert created["amount"] == "60000.00"
        assert created["plg_segment"] == evaluation.segment != ""
        assert created["plg_approach"] == evaluation.playbook.approach != ""

        rep_moves_the_deal(hubspot, str(deal["id"]))
        seats(tmp_path, yesterday=8, today=9)
        await sync(client, config)
        await eventually(
            lambda: handoff_status(client, f"handoff/{ACCOUNT}/1"),
            lambda s: s is not None and s.evidence_updates >= 1,
        )
        [after] = hubspot.objects("deals")
        kept = after["properties"]
        assert after["id"] == deal["id"]
        assert "9 of 10 seats in use (90%)" in kept["plg_evidence"]
        assert kept["dealstage"] == "presentationscheduled"
        assert kept["closedate"].startswith("2031-03-31")
        assert kept["dealname"] == "Kept Co: 50 seats (rep)"
        assert float(kept["amount"]) == 75_000

        # Someone deletes the deal in HubSpot: the next follow-up read misses it, the handoff
        # brings it back by its external id, gives the owner a task on it, and follows it.
        before = await handoff_status(client, f"handoff/{ACCOUNT}/1")
        assert before is not None
        with requests.Session() as http:
            http.trust_env = False
            http.delete(
                f"{hubspot.url}/crm/v3/objects/deals/{deal['id']}",
                headers={"Authorization": f"Bearer {TOKEN}"},
            ).raise_for_status()
        restored = await eventually(
            lambda: handoff_status(client, f"handoff/{ACCOUNT}/1"),
            # the deal comes back first, its new task after: wait for both
            lambda s: (
                s is not None
                and s.opportunity_id not in (None, before.opportunity_id)
                and s.task_id not in (None, before.task_id)
            ),
        )
        assert restored is not None and restored.stage == "assigned"
        [again] = hubspot.objects("deals")
        assert str(again["id"]) == restored.opportunity_id
        assert again["properties"]["plg_handoff_id"] == f"handoff/{ACCOUNT}/1"
        assert hubspot.associations("deals", str(again["id"]), "tasks") == [restored.task_id]
        assert any("restored in the CRM" in note for note in restored.notes)
