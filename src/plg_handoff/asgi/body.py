"""A request body read within the endpoint's limits: refused (413) as soon as it is known to be
too large, by its Content-Length or by the bytes streamed so far, never buffered past the
limit; cut off (408) when it has not all arrived within the read timeout."""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect, Request


class BodyRefused(Exception):
    """The body was not read; `status` is the HTTP answer (the connection is closed after it)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def declared_length(request: Request) -> int | None:
    """The Content-Length header; None when absent (a chunked body) or not a number."""
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """Raises BodyRefused: 413 past `limit` bytes, 408 after `timeout_s`, 400 if the client
    went away mid-body."""
    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise BodyRefused(413, f"body of {declared} bytes; at most {limit} are taken")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyRefused(413, f"body over {limit} bytes; at most {limit} are taken")
                chunks.append(chunk)
    except TimeoutError:
        raise BodyRefused(408, f"body not received within {timeout_s:g} s") from None
    except ClientDisconnect:
        raise BodyRefused(400, "the client went away mid-body") from None
    return b"".join(chunks)


async def discard_body(request: Request, limit: int, timeout_s: float) -> bool:
    """Reads and drops up to `limit` bytes of body so that an answer sent before it is not lost
    to a connection reset; False when more was coming or it took longer than `timeout_s`."""
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    return False
    except (TimeoutError, ClientDisconnect):
        return False
    return True
