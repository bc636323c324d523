"""Serving an ASGI application with Uvicorn within `ServerLimits`.

`AsgiServer` serves on the running event loop (the webhook receiver shares the worker's);
`AsgiThread` runs one in a thread of its own with its own loop, for a caller without one (the
Segment collector). Either way the listening socket is ours, bound before serving (a busy port is
an OSError to the caller, not uvicorn's sys.exit), and signals stay with the host process:
uvicorn's own SIGINT/SIGTERM handling would replace the worker's. `stop` is graceful: no new
connections, idle ones closed, requests in flight get `graceful_timeout_s` to finish."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Generator
from concurrent.futures import Future

import uvicorn
from starlette.types import ASGIApp

from plg_handoff.asgi.limits import ServerLimits
from plg_handoff.asgi.protocol import protocol_class

STOP_TIMEOUT_S = 5.0  # beyond the graceful timeout, for the thread to end


class _Uvicorn(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """The host process owns SIGINT/SIGTERM and calls `stop`."""
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


def listen(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=backlog)


def uvicorn_config(app: ASGIApp, limits: ServerLimits, endpoint: str) -> uvicorn.Config:
    tls = limits.tls
    return uvicorn.Config(
        app,
        http=protocol_class(limits, endpoint),
        ws="none",
        lifespan="off",
        log_config=None,  # our logging is configured already; requests are logged by the app
        access_log=False,
        server_header=False,
        proxy_headers=False,  # the client address is the socket's
        limit_concurrency=limits.max_connections,
        backlog=limits.backlog,
        timeout_keep_alive=limits.idle_timeout_s,
        timeout_graceful_shutdown=max(1, round(limits.graceful_timeout_s)),
        ssl_certfile=tls.cert_file if tls else None,
        ssl_keyfile=tls.key_file if tls else None,
        ssl_ca_certs=str(tls.client_ca_file) if tls and tls.client_ca_file else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if tls and tls.client_ca_file else ssl.CERT_NONE,
    )


class AsgiServer:
    """One endpoint served on the running loop: `await start()` returns its base URL once it
    listens; `await stop()` shuts it down gracefully."""

    def __init__(self, name: str, app: ASGIApp, limits: ServerLimits) -> None:
        self.name = name
        self.limits = limits
        self._app = app
        self._server: _Uvicorn | None = None
        self._serving: asyncio.Task[None] | None = None
        self._url: str | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError(f"{self.name} has not been started")
        return self._url

    async def start(self, host: str, port: int) -> str:
        if self._server is not None:
            raise RuntimeError(f"{self.name} already running at {self._url}")
        sock = listen(host, port, self.limits.backlog)
        server = _Uvicorn(uvicorn_config(self._app, self.limits, self.name))
        serving = asyncio.create_task(server.serve([sock]), name=self.name)
        ready = asyncio.create_task(server.ready.wait())
        await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if not server.ready.is_set():
            sock.close()
            serving.result()  # raises what stopped it
            raise RuntimeError(f"{self.name} stopped while starting")
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self._server, self._serving = server, serving
        self._url = f"{'https' if self.limits.tls else 'http'}://{shown}:{bound_port}"
        return self._url

    async def stop(self) -> None:
        server, serving = self._server, self._serving
        self._server = self._serving = None
        if server is None or serving is None:
            return
        server.should_exit = True
        await serving


class AsgiThread:
    """An `AsgiServer` in a daemon thread with its own event loop, for synchronous callers."""

    def __init__(self, name: str, app: ASGIApp, limits: ServerLimits) -> None:
        self._server = AsgiServer(name, app, limits)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def url(self) -> str:
        return self._server.url

    def start(self, host: str, port: int) -> str:
        if self._thread is not None:
            raise RuntimeError(f"{self._server.name} already running at {self._server.url}")
        started: Future[str] = Future()
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._serve(host, port, started),),
            name=self._server.name,
            daemon=True,
        )
        self._thread.start()
        try:
            return started.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            raise

    def stop(self) -> None:
        thread, loop, stopped = self._thread, self._loop, self._stopped
        self._thread = None
        if thread is None or loop is None or stopped is None:
            return
        loop.call_soon_threadsafe(stopped.set)
        thread.join(timeout=self._server.limits.graceful_timeout_s + STOP_TIMEOUT_S)

    async def _serve(self, host: str, port: int, started: Future[str]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            url = await self._server.start(host, port)
        except (OSError, RuntimeError, ValueError) as exc:  # a busy port, unreadable TLS files
            started.set_exception(exc)
            return
        except BaseException:
            started.set_exception(RuntimeError(f"{self._server.name} did not start"))
            raise
        started.set_result(url)
        await self._stopped.wait()
        await self._server.stop()
