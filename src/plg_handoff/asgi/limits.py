"""What an endpoint allows a client: how long a connection may sit idle, how long a request may
take to arrive, how large its body may be, how many connections are served at once, and TLS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsFiles:
    """The server's certificate chain and key (PEM); with `client_ca_file`, a client must
    present a certificate that CA signed (mutual TLS), or the handshake fails."""

    cert_file: Path
    key_file: Path | None = None  # None: the key is in cert_file
    client_ca_file: Path | None = None


@dataclass(frozen=True)
class ServerLimits:
    idle_timeout_s: int = 5  # a connection without a request in progress, closed after this
    read_timeout_s: float = 10.0  # a request's headers, then its body, each within this (408)
    max_body_bytes: int = 1024 * 1024  # refused while streaming, never buffered past it (413)
    max_connections: int = 100  # requests beyond it answered 503 at once
    backlog: int = 1024  # connections the kernel queues before they are accepted
    graceful_timeout_s: float = 15.0  # on stop, requests in flight get this long to finish
    tls: TlsFiles | None = None

    def __post_init__(self) -> None:
        if self.idle_timeout_s < 1 or self.read_timeout_s <= 0 or self.graceful_timeout_s < 0:
            raise ValueError("timeouts must be positive (the idle timeout at least 1 s)")
        if self.max_body_bytes < 1 or self.max_connections < 1 or self.backlog < 1:
            raise ValueError("max_body_bytes, max_connections and backlog must be positive")
