"""The HTTP receiver of CRM pushes: verifies each request, finds the running handoffs whose
opportunity it names (the OpportunityId search attribute) and signals them to read the CRM now.

It is a Starlette application served by Uvicorn on the worker's own event loop (`AsgiServer`):
the Temporal calls it makes need the worker's client, which lives on that loop, so they are
plain awaits with no hop between threads, and the endpoint costs no thread of its own. What it
does besides awaiting is small and bounded: bodies are at most `max_body_bytes`, and the one
parse that could take a while (a Salesforce message's XML) runs in a thread. The server's
limits come from `[webhooks]`: idle and read timeouts, body size, connections served at once
(503 beyond), backlog, TLS (optionally requiring a client certificate)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from datetime import timedelta
from types import TracebackType
from typing import Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from plg_handoff.activities.contracts import CRM_CHANGED_SIGNAL, CrmChanged
from plg_handoff.activities.delivery_ledger import delivery_key, take_delivery
from plg_handoff.asgi.body import BodyRefused, read_body
from plg_handoff.asgi.limits import ServerLimits, TlsFiles
from plg_handoff.asgi.server import AsgiServer
from plg_handoff.config import Secrets, WebhookSettings
from plg_handoff.logs import get_logger
from plg_handoff.webhooks import hubspot, salesforce

log = get_logger(__name__)
HUBSPOT_PATH = "/webhooks/hubspot"
SALESFORCE_PATH = "/webhooks/salesforce"
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


def server_limits(settings: WebhookSettings) -> ServerLimits:
    tls = None
    if settings.tls_cert_file is not None:
        tls = TlsFiles(settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file)
    return ServerLimits(
        idle_timeout_s=_whole_seconds(settings.idle_timeout),
        read_timeout_s=settings.read_timeout.total_seconds(),
        max_body_bytes=settings.max_body_bytes,
        max_connections=settings.max_connections,
        backlog=settings.backlog,
        graceful_timeout_s=SIGNAL_TIMEOUT_S,
        tls=tls,
    )


def _whole_seconds(duration: timedelta) -> int:
    return max(1, round(duration.total_seconds()))


class WebhookReceiver:
    """`await start()` / `await stop()` (or `async with`) on the worker's running loop."""

    def __init__(
        self,
        client: Client,
        settings: WebhookSettings,
        hubspot_secret: str | None,
        *,
        task_queue: str | None = None,
    ) -> None:
        """`task_queue`: the deployment's; with it a replay is refused whichever worker's
        receiver it reaches (`activities/delivery_ledger.py`), without it by this one only."""
        if settings.hubspot and not hubspot_secret:
            raise ValueError("HubSpot webhooks need the app's client secret")
        self.client = client
        self.task_queue = task_queue
        self.settings = settings
        self.hubspot_secret = hubspot_secret
        self.replays = hubspot.ReplayGuard()
        self.limits = server_limits(settings)
        self.salesforce = (
            salesforce.Expected(
                settings.salesforce_organization_id,
                settings.salesforce_action_id,
                settings.salesforce_instance_host(),
            )
            if settings.salesforce_organization_id
            else None
        )
        self._server = AsgiServer("webhook-receiver", self._app(), self.limits)

    async def start(self, host: str | None = None, port: int | None = None) -> str:
        return await self._server.start(
            self.settings.host if host is None else host,
            self.settings.port if port is None else port,
        )

    async def stop(self) -> None:
        await self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    async def __aenter__(self) -> Self:
        if not self._server.running:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _app(self) -> Starlette:
        routes = []
        if self.settings.hubspot:
            routes.append(Route(HUBSPOT_PATH, self._hubspot, methods=["POST"]))
        if self.salesforce is not None:
            routes.append(Route(SALESFORCE_PATH, self._salesforce, methods=["POST"]))
        return Starlette(routes=routes)

    async def _hubspot(self, request: Request) -> Response:
        try:
            body = await read_body(request, self.limits.max_body_bytes, self.limits.read_timeout_s)
        except BodyRefused as exc:
            return _refused("hubspot", exc.status, str(exc), close=True)
        host = request.headers.get("host", "")
        base = self.settings.public_url or f"{request.url.scheme}://{host}"
        target = request.scope["raw_path"].decode("latin-1")
        if query := request.scope["query_string"]:
            target += "?" + query.decode("latin-1")
        headers = {k.lower(): v for k, v in request.headers.items()}
        now_ms = int(time.time() * 1000)
        try:
            hubspot.verify(
                self.hubspot_secret or "", "POST", base.rstrip("/") + target, body, headers,
                now_ms,
            )  # fmt: skip
            ids = hubspot.object_ids(body)
            self.replays.check(headers, now_ms)
        except hubspot.WebhookRejected as exc:
            return _refused("hubspot", exc.status, str(exc))
        if not await self._first_delivery(headers):
            return _refused("hubspot", 409, "HubSpot request already taken by another worker")
        if (answer := await self._deliver("hubspot", ids)) is not None:
            return answer
        return Response(status_code=204)

    async def _salesforce(self, request: Request) -> Response:
        expected = self.salesforce
        if expected is None:  # the route exists only when configured
            return Response(b"not found", status_code=404, media_type="text/plain")
        try:
            body = await read_body(request, self.limits.max_body_bytes, self.limits.read_timeout_s)
        except BodyRefused as exc:
            return _refused("salesforce", exc.status, str(exc), close=True)
        try:
            message = await asyncio.to_thread(salesforce.parse, body)
            salesforce.verify(expected, message)
            instance = self.settings.salesforce_instance_url
            if self.settings.salesforce_verify_session and instance is not None:
                await asyncio.to_thread(
                    salesforce.verify_session, str(instance), message, SIGNAL_TIMEOUT_S
                )
        except salesforce.MessageRejected as exc:
            return _refused("salesforce", exc.status, str(exc))
        if (answer := await self._deliver("salesforce", message.object_ids)) is not None:
            return answer
        return Response(salesforce.ACK, media_type="text/xml; charset=utf-8")

    async def _first_delivery(self, headers: dict[str, str]) -> bool:
        """Whether no worker's receiver took this signed request before (True when the ledger
        is not asked, or cannot be: this receiver's own check stands then)."""
        if self.task_queue is None:
            return True
        signature = headers.get(hubspot.SIGNATURE_HEADER.lower(), "")
        key = delivery_key("hubspot", signature)
        try:
            async with asyncio.timeout(SIGNAL_TIMEOUT_S):
                return await take_delivery(
                    self.client, self.task_queue, key, hubspot.MAX_AGE_MS / 1000
                )
        except (RPCError, WorkflowUpdateFailedError, TimeoutError) as exc:
            log.warning("webhooks.ledger_unreachable", source="hubspot", error=str(exc)[:200])
            return True

    async def _deliver(self, source: str, ids: list[str]) -> Response | None:
        """None once signalled; a 503 (the CRM sends it again) when Temporal is unreachable."""
        try:
            async with asyncio.timeout(SIGNAL_TIMEOUT_S):
                signalled = await signal_handoffs(self.client, source, ids)
        except (RPCError, TimeoutError) as exc:
            log.warning("webhooks.signal_failed", source=source, error=str(exc))
            return Response(b"try again", status_code=503, media_type="text/plain")
        log.info("webhooks.received", source=source, objects=ids, handoffs=signalled)
        return None


def _refused(source: str, status: int, reason: str, *, close: bool = False) -> Response:
    """`close`: the body was not read to its end, so the connection cannot carry another."""
    log.warning("webhooks.rejected", source=source, status=status, reason=reason)
    headers = {"Connection": "close"} if close else None
    return Response(reason.encode(), status_code=status, media_type="text/plain", headers=headers)


def build_receiver(
    client: Client, settings: WebhookSettings | None, secrets: Secrets, task_queue: str
) -> WebhookReceiver | None:
    """The configured receiver ([webhooks]), not started; None when not configured."""
    if settings is None:
        return None
    secret = secrets.hubspot_client_secret
    return WebhookReceiver(
        client, settings, secret.get_secret_value() if secret else None, task_queue=task_queue
    )
