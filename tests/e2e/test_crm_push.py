"""CRM pushes through the real webhook receiver: a HubSpot webhook signed with the app's client
secret (signature v3) or a Salesforce outbound message of the configured org makes the handoff
read the CRM at once; a wrongly signed, stale or foreign request changes nothing. The poll
interval is 6 hours, so only the push explains an outcome seen within seconds. Real dev server
(visibility finds the handoff by its OpportunityId), real worker, HubSpot emulator over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hubspot import HubSpot
from hubspot.crm.objects import SimplePublicObjectInput
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from plg_handoff.activities.delivery_ledger import delivery_ledger_workflow_id
from plg_handoff.config import Config, Secrets, load_config, load_secrets
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.webhooks import hubspot as hubspot_webhooks
from plg_handoff.webhooks.receiver import HUBSPOT_PATH, SALESFORCE_PATH, WebhookReceiver
from plg_handoff.worker import build_crm, build_worker
from plg_handoff.workflows.handoff import HandoffStatus
from tests.conftest import TOKEN, make_config
from tests.support import (
    HANDOFF,
    eventually,
    free_port,
    handoff_status,
    record_history,
    start_account_near_its_seat_limit,
)

pytestmark = pytest.mark.e2e
CLIENT_SECRET = "hubspot-app-secret-3c9d"  # noqa: S105  # the test app's
ORG_ID = "00D5g000004ABCDEAA"
ACTION_ID = "04k5g000000ABCDAA0"  # the outbound message's id


@dataclass
class Pushing:
    client: Client
    config: Config
    hubspot: HubSpotEmulator
    receiver: WebhookReceiver


@pytest.fixture
async def pushing(
    dev_env: WorkflowEnvironment,
    hubspot: HubSpotEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Pushing]:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("HANDOFF_HUBSPOT_CLIENT_SECRET", CLIENT_SECRET)
    config = make_config(
        tmp_path,
        hubspot.url,
        handoff={"follow_up_poll_interval": "6h"},
        webhooks={
            "port": 0,
            "salesforce_organization_id": ORG_ID,
            "salesforce_action_id": ACTION_ID,
            "salesforce_instance_url": "https://example.my.salesforce.com",
        },
    )
    secrets = load_secrets(config)
    assert config.webhooks is not None and secrets.hubspot_client_secret is not None
    crm = build_crm(config, secrets)
    crm.ensure_properties()
    receiver = WebhookReceiver(
        dev_env.client,
        config.webhooks,
        secrets.hubspot_client_secret.get_secret_value(),
        task_queue=config.temporal.task_queue,
    )
    async with build_worker(dev_env.client, config, secrets, crm), receiver:
        yield Pushing(dev_env.client, config, hubspot, receiver)


async def open_handoff(run: Pushing, account_id: str) -> HandoffStatus:
    await start_account_near_its_seat_limit(run.client, run.config.temporal.task_queue, account_id)
    status = await eventually(
        lambda: handoff_status(run.client, f"handoff/{account_id}/1"),
        lambda s: s is not None and s.stage == "assigned",
    )
    assert status is not None and status.opportunity_id
    return status


def close_deal(run: Pushing, deal_id: str, stage: str) -> None:
    sdk = HubSpot(access_token=TOKEN, host=run.hubspot.url)
    sdk.crm.deals.basic_api.update(
        deal_id, SimplePublicObjectInput(properties={"dealstage": stage})
    )


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310  # local
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def hubspot_request(
    run: Pushing, deal_id: str, secret: str, age_ms: int = 0
) -> tuple[str, bytes, dict[str, str]]:
    url = run.receiver.url + HUBSPOT_PATH
    body = (
        f'[{{"eventId": 1, "subscriptionType": "deal.propertyChange", "objectId": {deal_id},'
        f' "propertyName": "dealstage", "occurredAt": {int(time.time() * 1000)}}}]'
    ).encode()
    timestamp = str(int(time.time() * 1000) - age_ms)
    signature = hubspot_webhooks.signature_v3(secret, "POST", url, body, timestamp)
    headers = {
        "Content-Type": "application/json",
        hubspot_webhooks.SIGNATURE_HEADER: signature,
        hubspot_webhooks.TIMESTAMP_HEADER: timestamp,
    }
    return url, body, headers


async def post_hubspot(
    run: Pushing, deal_id: str, secret: str, age_ms: int = 0
) -> tuple[int, bytes]:
    return await asyncio.to_thread(post, *hubspot_request(run, deal_id, secret, age_ms))


def outbound_message(
    org_id: str,
    opportunity_id: str,
    action_id: str = ACTION_ID,
    host: str = "example.my.salesforce.com",
) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org_id}</OrganizationId>
   <ActionId>{action_id}</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://{host}/services/Soap/c/59.0/00D5g</EnterpriseUrl>
   <PartnerUrl>https://{host}/services/Soap/u/59.0/00D5g</PartnerUrl>
   <Notification>
    <Id>04l5g00000ABCDEAA1</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>{opportunity_id}</sf:Id>
     <sf:StageName>Closed Lost</sf:StageName>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>""".encode()


async def post_salesforce(
    run: Pushing, org_id: str, opportunity_id: str, **other: str
) -> tuple[int, bytes]:
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
    return await asyncio.to_thread(
        post,
        run.receiver.url + SALESFORCE_PATH,
        outbound_message(org_id, opportunity_id, **other),
        headers,
    )


async def stage_after(run: Pushing, workflow_id: str, seconds: float) -> str | None:
    await asyncio.sleep(seconds)
    status = await handoff_status(run.client, workflow_id)
    return status.stage if status else None


async def replayed_to_another_worker(
    run: Pushing, request: tuple[str, bytes, dict[str, str]]
) -> int:
    """The status another worker's receiver (behind the same public URL, as behind a load
    balancer) answers the same signed request with."""
    assert run.config.webhooks is not None
    settings = run.config.webhooks.model_copy(update={"public_url": run.receiver.url})
    other = WebhookReceiver(
        run.client, settings, CLIENT_SECRET, task_queue=run.config.temporal.task_queue
    )
    url, body, headers = request
    async with other:
        status, _ = await asyncio.to_thread(
            post, url.replace(run.receiver.url, other.url), body, headers
        )
    return status


async def test_signed_hubspot_webhook_makes_the_handoff_read_the_crm_now(
    pushing: Pushing,
) -> None:
    account = f"push-hs-{uuid.uuid4().hex[:6]}"
    workflow_id = f"handoff/{account}/1"
    opened = await open_handoff(pushing, account)
    assert opened.opportunity_id
    close_deal(pushing, opened.opportunity_id, "closedwon")

    status, _ = await post_hubspot(pushing, opened.opportunity_id, "not-the-secret")
    assert status == 401
    status, _ = await post_hubspot(pushing, opened.opportunity_id, CLIENT_SECRET, age_ms=400_000)
    assert status == 401
    assert await stage_after(pushing, workflow_id, 2) == "assigned"

    status, _ = await post_hubspot(pushing, opened.opportunity_id, CLIENT_SECRET, age_ms=-120_000)
    assert status == 401  # signed two minutes ahead: made to be replayed later
    request = hubspot_request(pushing, opened.opportunity_id, CLIENT_SECRET)
    status, _ = await asyncio.to_thread(post, *request)
    assert status == 204
    status, _ = await asyncio.to_thread(post, *request)
    assert status == 409  # the same signed request again: a replay, not processed twice
    assert await replayed_to_another_worker(pushing, request) == 409
    ledger = delivery_ledger_workflow_id(pushing.config.temporal.task_queue)
    await record_history(pushing.client, ledger, "delivery_ledger")
    won = await eventually(
        lambda: handoff_status(pushing.client, workflow_id),
        lambda s: s is not None and s.stage == "won",
        timeout_s=15,
    )
    assert won is not None and won.contacted_at is not None and won.outcome == "won"


async def test_salesforce_outbound_message_of_the_org_is_acknowledged_and_signals(
    pushing: Pushing,
) -> None:
    account = f"push-sf-{uuid.uuid4().hex[:6]}"
    workflow_id = f"handoff/{account}/1"
    opened = await open_handoff(pushing, account)
    assert opened.opportunity_id
    close_deal(pushing, opened.opportunity_id, "closedlost")

    status, _ = await post_salesforce(pushing, "00D000000000999AAA", opened.opportunity_id)
    assert status == 403
    other_action = {"action_id": "04k5g000000ZZZZAA0"}  # the org's, not this outbound message
    status, _ = await post_salesforce(pushing, ORG_ID, opened.opportunity_id, **other_action)
    assert status == 403
    foreign = {"host": "other.my.salesforce.com"}  # naming another instance
    status, _ = await post_salesforce(pushing, ORG_ID, opened.opportunity_id, **foreign)
    assert status == 403
    assert await stage_after(pushing, workflow_id, 2) == "assigned"

    status, body = await post_salesforce(pushing, ORG_ID[:15], opened.opportunity_id)
    assert status == 200
    assert b"<Ack>true</Ack>" in body
    lost = await eventually(
        lambda: handoff_status(pushing.client, workflow_id),
        lambda s: s is not None and s.stage == "lost",
        timeout_s=15,
    )
    assert lost is not None and lost.outcome == "lost"


def run_worker(config: Path, client_secret: str | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["HANDOFF_HUBSPOT_ACCESS_TOKEN"] = TOKEN
    env["HANDOFF_TEMPORAL_API_KEY"] = ""
    if client_secret:
        env["HANDOFF_HUBSPOT_CLIENT_SECRET"] = client_secret
    return subprocess.Popen(
        [str(HANDOFF), "worker", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_handoff_worker_serves_the_configured_receiver(
    dev_env: WorkflowEnvironment, hubspot: HubSpotEmulator, tmp_path: Path
) -> None:
    port = free_port()
    config = tmp_path / "handoff.toml"
    config.write_text(
        f"""
data_dir = "data"
[temporal]
address = "{dev_env.client.service_client.config.target_host}"
task_queue = "push-worker-{uuid.uuid4().hex[:8]}"
[[sources]]
kind = "file"
name = "push-{uuid.uuid4().hex[:8]}"
path = "usage"
sync_interval = "1h"
[crm]
kind = "hubspot"
base_url = "{hubspot.url}"
[webhooks]
port = {port}
salesforce_organization_id = "{ORG_ID}"
""",
        encoding="utf-8",
    )
    build_crm(
        load_config(config), Secrets(hubspot_access_token=SecretStr(TOKEN))
    ).ensure_properties()
    refused = run_worker(config, client_secret=None)
    output, _ = refused.communicate(timeout=30)
    assert refused.returncode == 2
    assert "HANDOFF_HUBSPOT_CLIENT_SECRET" in output

    worker = run_worker(config, CLIENT_SECRET)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _ = await asyncio.to_thread(post, base + HUBSPOT_PATH, b"[]", {})
                break
            except urllib.error.URLError:
                assert worker.poll() is None, worker.communicate()[0]
                assert time.monotonic() < deadline, "the receiver did not start"
                await asyncio.sleep(0.2)
        assert status == 401  # unsigned
        status, _ = await asyncio.to_thread(
            post, base + SALESFORCE_PATH, outbound_message("00D000000000999AAA", "1"), {}
        )
        assert status == 403
        status, body = await asyncio.to_thread(
            post, base + SALESFORCE_PATH, outbound_message(ORG_ID, "1"), {}
        )
        assert status == 200 and b"<Ack>true</Ack>" in body
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
