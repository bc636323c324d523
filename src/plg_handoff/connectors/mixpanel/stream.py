"""Incremental gzip decoding and line splitting of a streamed export body.

Memory stays bounded by the chunk size whatever the size of the export. `isal` or `zlib-ng`
decode gzip faster than the standard library when installed; `zlib` is the fallback."""

from __future__ import annotations

import functools
import importlib
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, cast

CHUNK_BYTES = 64 * 1024
MAX_INFLATE_BYTES = 1024 * 1024  # decoded bytes per step, however well a chunk compresses
GZIP_WBITS = 16 + zlib.MAX_WBITS


class Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def unconsumed_tail(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...
    def flush(self) -> bytes: ...


class TruncatedStream(EOFError):
    """The body ended inside a gzip member: the connection was cut short."""


def _gzip_factory() -> Callable[[], Decompressor]:
    for name in ("isal.isal_zlib", "zlib_ng.zlib_ng"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        return cast(Callable[[], Decompressor], functools.partial(module.decompressobj, GZIP_WBITS))
    return lambda: zlib.decompressobj(GZIP_WBITS)


new_gzip_decompressor = _gzip_factory()


def gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decodes a gzip stream of one or more members, chunk by chunk."""
    decoder = new_gzip_decompressor()
    inside_member = False
    for chunk in chunks:
        data = chunk
        while data:
            inside_member = True
            out = decoder.decompress(data, MAX_INFLATE_BYTES)
            if out:
                yield out
            if decoder.eof:
                data = decoder.unused_data
                decoder = new_gzip_decompressor()
                inside_member = False
            else:
                data = decoder.unconsumed_tail
    if inside_member:
        tail = decoder.flush()
        if tail:
            yield tail
        if not decoder.eof:
            raise TruncatedStream("the gzip body ended before its trailer")


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Every line of the decoded body, without its line ending, blank ones included (so line
    numbers match the export); undecodable bytes become U+FFFD."""
    pending = b""
    for chunk in chunks:
        if not chunk:
            continue
        *complete, pending = (pending + chunk).split(b"\n")
        for line in complete:
            yield line.decode("utf-8", "replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", "replace").rstrip("\r")
