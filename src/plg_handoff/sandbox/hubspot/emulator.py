"""A local emulator of HubSpot's CRM REST API for end-to-end tests and the demo.

The real `hubspot-api-client` SDK talks to it over HTTP:
`HubSpot(access_token=emulator_token, host=emulator.url)`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from plg_handoff.http_server import (
    ServedEndpoint,
    ServerThread,
    TrackedRequestHandler,
    TrackingHTTPServer,
)

from .control import ControlRoutes
from .errors import ApiError
from .faults import FaultPlan
from .gateway import Gateway
from .owners import DEFAULT_OWNERS, OwnerSeed
from .page import OverviewPage
from .ratelimit import SEARCH_PER_SECOND, RateLimiter, SearchLimiter
from .records import Records
from .routes_objects import ObjectRoutes, render
from .routes_portal import PortalRoutes
from .routing import Request, Response, Router, error_response, parse_json_body, resolve_object_type
from .schema import PropertySeed
from .store import CrmStore

__all__ = ["DEFAULT_OWNERS", "FaultPlan", "HubSpotEmulator", "OwnerSeed", "PropertySeed"]

HTML_CONTENT_TYPE = "text/html; charset=utf-8"
DEFAULT_TOKEN = "sandbox-token"  # noqa: S105  # the well-known token of the local demo portal


class HubSpotEmulator(ServedEndpoint):
    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        owners: Sequence[OwnerSeed] | None = None,
        state_path: Path | None = None,
        custom_properties: Mapping[str, Sequence[PropertySeed]] | None = None,
        rate_limit_per_10s: int = 190,
        search_per_second: int = SEARCH_PER_SECOND,
        daily_limit: int = 500_000,
    ) -> None:
        self.token = token
        self.faults = FaultPlan()
        self._store = CrmStore(
            owners=DEFAULT_OWNERS if owners is None else owners,
            custom_properties=custom_properties,
            state_path=state_path,
        )
        self._limiter = RateLimiter(rate_limit_per_10s, daily_limit)
        self._search_limiter = SearchLimiter(search_per_second)
        api = Router()
        ObjectRoutes(self._store, Records(self._store, self.faults)).register(api)
        PortalRoutes(self._store).register(api)
        self._gateway = Gateway(
            token=token,
            store=self._store,
            faults=self.faults,
            limiter=self._limiter,
            search_limiter=self._search_limiter,
            router=api,
        )
        self._control = Router()
        ControlRoutes(
            store=self._store,
            faults=self.faults,
            gateway=self._gateway,
            limiters=(self._limiter, self._search_limiter),
        ).register(self._control)
        self._page = OverviewPage(self._store)
        self._serving = ServerThread("hubspot-emulator")

    def _make_server(self, address: tuple[str, int]) -> _Server:
        return _Server(address, self)

    def deactivate_owner(self, owner_id: str) -> None:
        """A portal admin deactivates a user: the owner is archived, records keep pointing
        at it."""
        self._store.owners = tuple(
            dataclasses.replace(o, archived=True) if o.id == owner_id else o
            for o in self._store.owners
        )

    def objects(self, object_type: str) -> list[dict[str, Any]]:
        resolved = resolve_object_type(object_type)
        with self._store.lock:
            return [render(resolved, obj) for obj in self._store.objects(resolved)]

    def associations(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        with self._store.lock:
            return list(
                self._store.associations_of(
                    resolve_object_type(from_type), from_id, resolve_object_type(to_type)
                )
            )

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(METHOD, path) of every vendor API request received, oldest first (a snapshot)."""
        return self._gateway.calls()

    @property
    def refusals(self) -> dict[str, int]:
        """429 answers so far by HubSpot's policyName: TEN_SECONDLY_ROLLING, SECONDLY (the
        search endpoints), DAILY; reset with the calls."""
        return self._gateway.refusals()

    def reset_calls(self) -> None:
        self._gateway.reset_calls()

    def respond(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        raw_body: bytes,
        authorization: str | None,
    ) -> Response:
        if path.startswith("/_sandbox"):
            return self._respond_control(method, path, raw_body)
        if method == "GET" and path in ("/", "/index.html"):
            return Response(200, self._page.render(), content_type=HTML_CONTENT_TYPE)
        if path == "/favicon.ico":
            return Response(404, "", content_type=HTML_CONTENT_TYPE)
        return self._gateway.handle(method, path, query, raw_body, authorization)

    def _respond_control(self, method: str, path: str, raw_body: bytes) -> Response:
        try:
            route, params = self._control.resolve(method, path)
            response = route.handler(Request(method, path, {}, parse_json_body(raw_body), params))
        except ApiError as error:
            response = error_response(error)
        return response


class _Server(TrackingHTTPServer):
    def __init__(self, address: tuple[str, int], emulator: HubSpotEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class _Handler(TrackedRequestHandler):
    server_version = "HubSpotSandbox/1.0"
    timeout = 120

    @property
    def _sandbox(self) -> _Server:
        return cast(_Server, self.server)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        raw_body = self.read_body()
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        response = self._sandbox.emulator.respond(
            self.command, url.path, query, raw_body, self.headers.get("Authorization")
        )
        payload = response.payload()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request logging."""
