"""The stdlib HTTP server the sandbox's vendor API emulators share: threaded, quiet about client
disconnects, and able to close idle keep-alive connections on stop, which would otherwise keep
handler threads and the port busy. Not for production endpoints: those (the webhook receiver,
the Segment collector) run on Uvicorn within limits, see `plg_handoff.asgi`."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class TrackingHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[TrackedRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def track(self, connection: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects are routine; handlers log anything else themselves."""


class TrackedRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TrackingHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    def content_length(self) -> int:
        return int(self.headers.get("Content-Length") or 0)

    def read_body(self) -> bytes:
        """The request's body: Content-Length bytes, none without the header."""
        length = self.content_length()
        return self.rfile.read(length) if length > 0 else b""


class ServerThread:
    """Serves one server in a daemon thread: `start` returns its base URL; `stop` shuts it
    down, closes idle keep-alive connections and waits for the thread. What every local
    endpoint (the emulators) does to start and stop."""

    def __init__(self, name: str, poll_interval: float = 0.05) -> None:
        self._name = name
        self._poll_interval = poll_interval
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError(f"{self._name} has not been started")
        return self._url

    def start(self, server: ThreadingHTTPServer) -> str:
        if self._server is not None:
            server.server_close()
            raise RuntimeError(f"{self._name} already running at {self._url}")
        host, port = server.server_address[:2]
        self._server = server
        self._url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": self._poll_interval},
            name=self._name,
            daemon=True,
        )
        self._thread.start()
        return self._url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        if isinstance(server, TrackingHTTPServer):
            server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)


class ServedEndpoint:
    """Start, stop, URL and `with` for a local endpoint served by a `ServerThread`: a subclass
    sets `_serving` and says how to build its server."""

    _serving: ServerThread

    def _make_server(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        raise NotImplementedError

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        return self._serving.start(self._make_server((host, port)))

    def stop(self) -> None:
        self._serving.stop()

    @property
    def url(self) -> str:
        return self._serving.url

    def __enter__(self) -> Self:
        if not self._serving.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
