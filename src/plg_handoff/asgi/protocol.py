"""Uvicorn's h11 protocol with the socket timeouts it lacks.

Uvicorn closes a keep-alive connection idle after a response, but not a new connection that
never sends a byte, nor one that trickles its request line and headers. Here the idle timer also
runs from the moment a connection is made, and once a request's first byte arrives its headers
must be complete within the read timeout, or the client is answered 408 and the connection
closed. (The body's timeout is the application's: see `body.read_body`.)"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from plg_handoff.asgi.limits import ServerLimits
from plg_handoff.logs import get_logger

log = get_logger(__name__)
_TIMEOUT_BODY = b"request timeout"
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\nconnection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


class LimitedH11Protocol(H11Protocol):
    """A subclass per server sets `limits` (`protocol_class`)."""

    limits: ClassVar[ServerLimits]
    endpoint: ClassVar[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's own signature narrows BaseTransport the same way
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self.conn.their_state is h11.IDLE:
            self._head_timer = self.loop.call_later(
                self.limits.read_timeout_s, self._head_timed_out
            )
        super().data_received(data)
        self._cancel_head_timer_once_headed()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request buffered already
        self._cancel_head_timer_once_headed()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _cancel_head_timer_once_headed(self) -> None:
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        log.info("http.request_timeout", endpoint=self.endpoint, part="headers")
        self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


def protocol_class(limits: ServerLimits, endpoint: str) -> type[LimitedH11Protocol]:
    """The protocol uvicorn builds for each connection of one server, with its limits."""
    return type(
        "LimitedH11Protocol", (LimitedH11Protocol,), {"limits": limits, "endpoint": endpoint}
    )
