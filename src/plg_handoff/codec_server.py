"""`handoff codec-server`: Temporal's remote codec protocol over HTTP, so Temporal UI and the
`temporal` CLI (`--codec-endpoint`) show encrypted payloads decrypted.

POST <any path>/encode and <any path>/decode take and return `{"payloads": [...]}`, the proto JSON
of `temporal.api.common.v1.Payloads`. Callers need `Authorization: Bearer <token>` (unless
configured off), may name their namespace in `X-Namespace` (another than the deployment's is
refused), and a browser at one of the configured UI origins gets the CORS answers it needs (a
browser at any other origin is refused)."""

from __future__ import annotations

import hmac
from http.server import ThreadingHTTPServer

from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from plg_handoff.codec import EncryptionCodec, PayloadDecryptionError
from plg_handoff.config import CodecServerSettings, ConfigError, Secrets, codec_keys
from plg_handoff.http_server import (
    ServedEndpoint,
    ServerThread,
    TrackedRequestHandler,
    TrackingHTTPServer,
)
from plg_handoff.logs import get_logger

log = get_logger(__name__)
AUTH_VARIABLE = "HANDOFF_CODEC_SERVER_TOKEN"  # the name of the variable holding it
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"
PREFLIGHT_MAX_AGE_S = 600


class CodecServer(ServedEndpoint):
    def __init__(
        self,
        codec: EncryptionCodec,
        settings: CodecServerSettings,
        namespace: str,
        token: str | None,
    ) -> None:
        if settings.require_token and not token:
            raise ValueError(f"the codec server needs {AUTH_VARIABLE} (require_token = true)")
        self.codec = codec
        self.settings = settings
        self.namespace = namespace
        self._token = token.encode() if settings.require_token and token else None
        self._serving = ServerThread("codec-server")

    def start(self, host: str | None = None, port: int | None = None) -> str:
        return super().start(
            self.settings.host if host is None else host,
            self.settings.port if port is None else port,
        )

    def _make_server(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        return _Server(address, self)

    def authorized(self, header: str | None) -> bool:
        """`Authorization: Bearer <token>`, compared in constant time; anything goes when the
        token is configured off."""
        if self._token is None:
            return True
        scheme, _, presented = (header or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(presented.strip().encode(), self._token)

    def allowed_origin(self, origin: str | None) -> str | None:
        return origin if origin and origin in self.settings.ui_origins else None


class _Server(TrackingHTTPServer):
    def __init__(self, address: tuple[str, int], codec_server: CodecServer) -> None:
        self.codec_server = codec_server
        super().__init__(address, _Handler)


class _Handler(TrackedRequestHandler):
    server: _Server

    def do_OPTIONS(self) -> None:
        """The browser's CORS preflight: never authenticated (browsers send no credentials
        with it), answered for the configured UI origins only."""
        if self.server.codec_server.allowed_origin(self.headers.get("Origin")) is None:
            self._answer(403, b"origin not allowed", "text/plain")
            return
        self._answer(204, b"", "text/plain")

    def do_POST(self) -> None:
        server = self.server.codec_server
        operation = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if operation not in {"encode", "decode"}:
            self._answer(404, b"not found", "text/plain")
            return
        origin = self.headers.get("Origin")
        if origin and server.allowed_origin(origin) is None:  # a page of another site
            log.warning("codec.rejected", operation=operation, status=403, origin=origin)
            self._answer(403, b"origin not allowed", "text/plain")
            return
        if not server.authorized(self.headers.get("Authorization")):
            log.warning("codec.rejected", operation=operation, status=401, reason="token")
            self._answer(401, b"unauthorized", "text/plain")
            return
        namespace = self.headers.get("X-Namespace")
        if namespace and namespace != server.namespace:
            log.warning("codec.rejected", operation=operation, status=403, namespace=namespace)
            self._answer(403, f"this codec serves {server.namespace}".encode(), "text/plain")
            return
        if self.content_length() > server.settings.max_body_bytes:
            self._answer(413, b"too large", "text/plain")
            return
        try:
            payloads = json_format.Parse(self.read_body(), Payloads())
            coded = [
                server.codec.encrypt(p) if operation == "encode" else server.codec.decrypt(p)
                for p in payloads.payloads
            ]
        except json_format.ParseError as exc:
            self._answer(400, f"not Payloads as proto JSON: {exc}".encode(), "text/plain")
            return
        except PayloadDecryptionError as exc:
            log.warning("codec.rejected", operation=operation, status=400, reason=exc.message)
            self._answer(400, exc.message.encode(), "text/plain")
            return
        body = json_format.MessageToJson(Payloads(payloads=coded)).encode()
        log.debug("codec.served", operation=operation, payloads=len(coded))
        self._answer(200, body, "application/json")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        if status >= 400:
            self.close_connection = True  # a refused request's body may be left unread
        self.send_response(status)
        origin = self.server.codec_server.allowed_origin(self.headers.get("Origin"))
        if origin is not None:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE_S))
        self.send_header("Vary", "Origin")
        if status == 401:
            self.send_header("WWW-Authenticate", "Bearer")
        self.send_header("Cache-Control", "no-store")  # decrypted data stays out of caches
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Requests are logged as structured events above."""


def build_codec_server(
    settings: CodecServerSettings, namespace: str, secrets: Secrets
) -> CodecServer:
    """The configured server, not started; a ConfigError names a missing or malformed
    variable (never its value)."""
    keys = codec_keys(secrets)
    token = secrets.codec_server_token
    if settings.require_token and (token is None or not token.get_secret_value().strip()):
        raise ConfigError(
            f"environment: missing secret(s)\n  {AUTH_VARIABLE}: required by"
            " [codec_server] require_token = true (the default)"
        )
    value = token.get_secret_value().strip() if token is not None else None
    return CodecServer(EncryptionCodec(keys), settings, namespace, value)
