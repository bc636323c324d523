"""The HTTP receiver of CRM pushes: verifies each request, finds the running handoffs whose
opportunity it names (the OpportunityId search attribute) and signals them to read the CRM now.

It runs in a thread beside the worker's event loop; the Temporal calls run on that loop."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import ThreadingHTTPServer

from temporalio.client import Client
from temporalio.service import RPCError

from plg_handoff.activities.contracts import CRM_CHANGED_SIGNAL, CrmChanged
from plg_handoff.config import Secrets, WebhookSettings
from plg_handoff.http_server import (
    ServedEndpoint,
    ServerThread,
    TrackedRequestHandler,
    TrackingHTTPServer,
)
from plg_handoff.logs import get_logger
from plg_handoff.webhooks import hubspot, salesforce

log = get_logger(__name__)
HUBSPOT_PATH = "/webhooks/hubspot"
SALESFORCE_PATH = "/webhooks/salesforce"
MAX_BODY = 1024 * 1024
SIGNAL_TIMEOUT_S = 15.0
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # quoted into a visibility query


async def signal_handoffs(client: Client, source: str, object_ids: Sequence[str]) -> list[str]:
    """Signals every running handoff whose OpportunityId is one of `object_ids`; returns their
    workflow ids. Ids that are not opportunities (tasks, companies) simply match nothing."""
    ids = [i for i in object_ids if _SAFE_ID.match(i)]
    if not ids:
        return []
    listed = ", ".join(f'"{i}"' for i in ids)
    query = (
        f'WorkflowType = "HandoffWorkflow" AND ExecutionStatus = "Running" '
        f"AND OpportunityId IN ({listed})"
    )
    signalled: list[str] = []
    async for execution in client.list_workflows(query):
        await client.get_workflow_handle(execution.id).signal(
            CRM_CHANGED_SIGNAL, CrmChanged(source, ",".join(ids))
        )
        signalled.append(execution.id)
    return signalled


class WebhookReceiver(ServedEndpoint):
    def __init__(
        self,
        client: Client,
        loop: asyncio.AbstractEventLoop,
        settings: WebhookSettings,
        hubspot_secret: str | None,
    ) -> None:
        if settings.hubspot and not hubspot_secret:
            raise ValueError("HubSpot webhooks need the app's client secret")
        self.client = client
        self.loop = loop
        self.settings = settings
        self.hubspot_secret = hubspot_secret
        self.replays = hubspot.ReplayGuard()
        self._serving = ServerThread("webhook-receiver")

    def start(self, host: str | None = None, port: int | None = None) -> str:
        return super().start(
            self.settings.host if host is None else host,
            self.settings.port if port is None else port,
        )

    def _make_server(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        return _Server(address, self)

    def deliver(self, source: str, object_ids: Sequence[str]) -> list[str]:
        """Called from a handler thread: signals on the worker's loop and waits for it."""
        future = asyncio.run_coroutine_threadsafe(
            signal_handoffs(self.client, source, object_ids), self.loop
        )
        return future.result(timeout=SIGNAL_TIMEOUT_S)


class _Server(TrackingHTTPServer):
    def __init__(self, address: tuple[str, int], receiver: WebhookReceiver) -> None:
        self.receiver = receiver
        super().__init__(address, _Handler)


class _Handler(TrackedRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if self.content_length() > MAX_BODY:
            self._answer(413, b"too large")
            return
        body = self.read_body()
        receiver = self.server.receiver
        if path == HUBSPOT_PATH and receiver.settings.hubspot:
            self._hubspot(receiver, body)
        elif path == SALESFORCE_PATH and receiver.settings.salesforce_organization_id:
            self._salesforce(receiver, receiver.settings.salesforce_organization_id, body)
        else:
            self._answer(404, b"not found")

    def _hubspot(self, receiver: WebhookReceiver, body: bytes) -> None:
        base = receiver.settings.public_url or f"http://{self.headers.get('Host', '')}"
        headers = {k.lower(): v for k, v in self.headers.items()}
        now_ms = int(time.time() * 1000)
        try:
            hubspot.verify(
                receiver.hubspot_secret or "", "POST", base.rstrip("/") + self.path, body,
                headers, now_ms,
            )  # fmt: skip
            ids = hubspot.object_ids(body)
            receiver.replays.check(headers, now_ms)
        except hubspot.WebhookRejected as exc:
            log.warning("webhooks.rejected", source="hubspot", status=exc.status, reason=str(exc))
            self._answer(exc.status, str(exc).encode())
            return
        if self._deliver(receiver, "hubspot", ids):
            self._answer(204, b"")

    def _salesforce(self, receiver: WebhookReceiver, organization: str, body: bytes) -> None:
        try:
            message = salesforce.parse(body)
        except salesforce.MessageRejected as exc:
            log.warning(
                "webhooks.rejected", source="salesforce", status=exc.status, reason=str(exc)
            )
            self._answer(exc.status, str(exc).encode())
            return
        if not salesforce.same_org(organization, message.organization_id):
            log.warning(
                "webhooks.rejected", source="salesforce", organization=message.organization_id
            )
            self._answer(403, b"unknown organization")
            return
        if self._deliver(receiver, "salesforce", message.object_ids):
            self._answer(200, salesforce.ACK, "text/xml; charset=utf-8")

    def _deliver(self, receiver: WebhookReceiver, source: str, ids: list[str]) -> bool:
        """False (and 503, so the CRM sends it again) when Temporal could not be reached."""
        try:
            signalled = receiver.deliver(source, ids)
        except (RPCError, FutureTimeout) as exc:
            log.warning("webhooks.signal_failed", source=source, error=str(exc))
            self._answer(503, b"try again")
            return False
        log.info("webhooks.received", source=source, objects=ids, handoffs=signalled)
        return True

    def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Requests are logged as structured events above."""


def build_receiver(
    client: Client,
    settings: WebhookSettings | None,
    secrets: Secrets,
    loop: asyncio.AbstractEventLoop,
) -> WebhookReceiver | None:
    """The configured receiver ([webhooks]), not started; None when not configured."""
    if settings is None:
        return None
    secret = secrets.hubspot_client_secret
    return WebhookReceiver(client, loop, settings, secret.get_secret_value() if secret else None)
