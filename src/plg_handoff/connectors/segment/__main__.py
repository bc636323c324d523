"""`python -m plg_handoff.connectors.segment --spool DIR --port N`: the collector on its own.

Write keys come from an environment variable (comma-separated), never from the command line,
which other users of the machine can read. The first stdout line is `{"url": ...}` once the
socket listens; SIGTERM / SIGINT stop it and close the open spool segment. The server's limits
(idle and read timeouts, connections served at once, backlog) have options; bad values stop it
before it listens.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from types import FrameType

from plg_handoff.asgi.limits import ServerLimits
from plg_handoff.connectors.segment.collector import DEFAULT_LIMITS, SegmentCollector
from plg_handoff.connectors.segment.spool import Spool
from plg_handoff.logs import configure_logging

DEFAULT_KEYS_ENV = "SEGMENT_WRITE_KEYS"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m plg_handoff.connectors.segment",
        description="Segment-compatible HTTP collector writing a durable spool.",
    )
    parser.add_argument("--spool", type=Path, required=True, help="spool folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088, help="0 picks a free port")
    parser.add_argument(
        "--write-key-env",
        default=DEFAULT_KEYS_ENV,
        help="environment variable holding the accepted write keys, comma-separated",
    )
    parser.add_argument(
        "--idle-timeout",
        type=int,
        default=DEFAULT_LIMITS.idle_timeout_s,
        help="seconds before a connection without a request in progress is closed",
    )
    parser.add_argument(
        "--read-timeout",
        type=float,
        default=DEFAULT_LIMITS.read_timeout_s,
        help="seconds for a request's headers, then its body, to arrive (408 after)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_LIMITS.max_connections,
        help="requests beyond this many connections are answered 503",
    )
    parser.add_argument("--backlog", type=int, default=DEFAULT_LIMITS.backlog)
    parser.add_argument("--rotate-mb", type=float, default=64.0)
    parser.add_argument("--rotate-seconds", type=float, default=60.0)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--log-format", choices=("auto", "console", "json"), default="auto")
    return parser.parse_args(argv)


def limits_from(args: argparse.Namespace) -> ServerLimits:
    return replace(
        DEFAULT_LIMITS,
        idle_timeout_s=args.idle_timeout,
        read_timeout_s=args.read_timeout,
        max_connections=args.max_connections,
        backlog=args.backlog,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        limits = limits_from(args)
    except ValueError as exc:
        sys.exit(f"bad server limits: {exc}")
    keys = [k.strip() for k in os.environ.get(args.write_key_env, "").split(",") if k.strip()]
    if not keys:
        sys.exit(f"no write keys: set {args.write_key_env} (comma-separated)")
    configure_logging(args.log_level, args.log_format, secrets=keys)
    spool = Spool(
        args.spool,
        rotate_bytes=int(args.rotate_mb * 1024 * 1024),
        rotate_seconds=args.rotate_seconds,
    )
    collector = SegmentCollector(spool, keys, limits)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    url = collector.start(args.host, args.port)
    print(json.dumps({"url": url}), flush=True)
    try:
        stop.wait()
    finally:
        collector.stop()
        spool.close()


if __name__ == "__main__":
    main()
