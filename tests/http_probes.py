"""Raw-socket clients that misbehave the way the issue's probes did: a connection left idle,
a request whose headers or body trickle in, many connections at once, a body larger than the
endpoint takes. Each returns what the server did and when, bounded by a deadline, so a server
that never acts fails the test instead of hanging it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    answer: bytes  # what the server sent before closing (or before the deadline)
    closed: bool  # the server closed the connection (EOF or reset)
    seconds: float


def status_of(answer: bytes) -> int | None:
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and answer.startswith(b"HTTP/") else None


async def _read_until_closed(reader: asyncio.StreamReader, deadline: float) -> tuple[bytes, bool]:
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        try:
            chunk = await asyncio.wait_for(reader.read(65536), left)
        except TimeoutError:
            return data, False
        except ConnectionError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


async def idle(host: str, port: int, first: bytes, wait_s: float) -> Outcome:
    """Sends `first` (b"" for nothing, or a whole request) and then nothing more."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        if first:
            writer.write(first)
            await writer.drain()
        answer, closed = await _read_until_closed(reader, started + wait_s)
        return Outcome(answer, closed, time.monotonic() - started)
    finally:
        writer.close()


async def trickle(
    host: str, port: int, head: bytes, drip: bytes, every_s: float, wait_s: float
) -> Outcome:
    """Sends `head`, then `drip` one byte every `every_s` until the server answers or closes."""
    started = time.monotonic()
    deadline = started + wait_s
    reader, writer = await asyncio.open_connection(host, port)
    reading = asyncio.ensure_future(_read_until_closed(reader, deadline))
    try:
        writer.write(head)
        for byte in drip:
            await asyncio.wait({reading}, timeout=every_s)
            if reading.done() or time.monotonic() > deadline:
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                break
        answer, closed = await reading
        return Outcome(answer, closed, time.monotonic() - started)
    finally:
        reading.cancel()
        writer.close()


async def stream_chunked(
    host: str, port: int, head: bytes, chunk: bytes, count: int, wait_s: float
) -> Outcome:
    """Sends `head` (with Transfer-Encoding: chunked), then `count` chunks, never the last one;
    then waits for the answer."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(head)
        for _ in range(count):
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        answer, closed = await _read_until_closed(reader, started + wait_s)
        return Outcome(answer, closed, time.monotonic() - started)
    finally:
        writer.close()


async def at_once(
    host: str, port: int, request: bytes, connections: int, wait_s: float
) -> list[str]:
    """Opens `connections` connections, then sends `request` on each; the status each got, or
    "reset" / "closed" / "no answer"."""
    deadline = time.monotonic() + wait_s
    opened = await asyncio.gather(
        *(asyncio.open_connection(host, port) for _ in range(connections)),
        return_exceptions=True,
    )

    async def ask(pair: tuple[asyncio.StreamReader, asyncio.StreamWriter] | BaseException) -> str:
        if isinstance(pair, BaseException):
            return "reset" if isinstance(pair, ConnectionError) else f"failed: {pair!r}"
        reader, writer = pair
        try:
            writer.write(request)
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), deadline - time.monotonic())
        except ConnectionError:
            return "reset"
        except TimeoutError:
            return "no answer"
        finally:
            writer.close()
        status = status_of(line)
        return str(status) if status else "closed"

    return list(await asyncio.gather(*(ask(pair) for pair in opened)))
