"""A local emulator of Slack incoming webhooks, over real HTTP.

`POST /services/<team>/<bot>/<secret>` as Slack documents it: a JSON body (or a form field
`payload` holding JSON) with `text` and/or `blocks`; answers `200 ok` (text/plain) or an error
in plain text: 400 `invalid_payload` (not JSON, or no object), 400 `no_text` (neither text nor
blocks), 403 `action_prohibited` (an admin restricted the webhook), 404 `no_service` (unknown or
revoked webhook), 410 `channel_is_archived`, and 429 with `Retry-After` when more than
`per_second` messages reach one webhook within a second (Slack allows about one a second, with
bursts). Messages are recorded per channel; `GET /` is a read-only HTML page of them. Tests can
plan answers for the next requests (`faults`)."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from html import escape
from typing import Any, cast
from urllib.parse import parse_qs

from plg_handoff.http_server import (
    ServedEndpoint,
    ServerThread,
    TrackedRequestHandler,
    TrackingHTTPServer,
)
from plg_handoff.sandbox.planned import PlannedReplies

__all__ = ["SlackFaults", "SlackMessage", "SlackWebhookEmulator"]

MAX_BODY = 1_000_000
WINDOW_S = 1.0


@dataclass(frozen=True)
class SlackMessage:
    channel: str
    payload: dict[str, Any]
    received_at: float

    @property
    def text(self) -> str:
        return str(self.payload.get("text") or "")

    def all_text(self) -> str:
        """The text and every text of the blocks, as one string to search in."""
        return "\n".join([self.text, *_block_texts(self.payload.get("blocks") or [])])


@dataclass(frozen=True)
class _Reply:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Webhook:
    channel: str
    archived: bool = False
    prohibited: bool = False
    revoked: bool = False
    accepted: deque[float] = field(default_factory=deque)


class SlackFaults(PlannedReplies[_Reply]):
    """Answers planned for the next POSTs, in order, before any other check."""

    def rate_limit_next(self, n: int, retry_after_s: int = 1) -> None:
        self._plan(n, _Reply(429, "rate_limited", {"Retry-After": str(retry_after_s)}))

    def fail_next(self, n: int, status: int = 500) -> None:
        if not 500 <= status <= 599:
            raise ValueError(f"fail_next needs a 5xx status, got {status}")
        self._plan(n, _Reply(status, "rollup_error"))


class SlackWebhookEmulator(ServedEndpoint):
    def __init__(self, *, per_second: int = 5) -> None:
        self._per_second = per_second
        self._lock = threading.Lock()
        self._hooks: dict[str, _Webhook] = {}
        self.messages: list[SlackMessage] = []
        self.requests = 0
        self.faults = SlackFaults()
        self._serving = ServerThread("slack-webhook-emulator")

    def __repr__(self) -> str:
        url = self._serving.url if self._serving.running else None
        return f"SlackWebhookEmulator(url={url!r}, channels={self.channels()!r})"

    def _make_server(self, address: tuple[str, int]) -> _Server:
        return _Server(address, self)

    def add_webhook(self, channel: str) -> str:
        """A new webhook posting to `channel`; its URL (the secret) is returned."""
        path = f"/services/T{_token(8)}/B{_token(8)}/{_token(24)}"
        with self._lock:
            self._hooks[path] = _Webhook(channel)
        return self.url + path

    def archive(self, channel: str) -> None:
        self._set(channel, archived=True)

    def unarchive(self, channel: str) -> None:
        self._set(channel, archived=False)

    def prohibit(self, channel: str) -> None:
        self._set(channel, prohibited=True)

    def revoke(self, channel: str) -> None:
        self._set(channel, revoked=True)

    def channels(self) -> list[str]:
        with self._lock:
            return sorted({hook.channel for hook in self._hooks.values()})

    def messages_in(self, channel: str) -> list[SlackMessage]:
        with self._lock:
            return [m for m in self.messages if m.channel == channel]

    def _set(self, channel: str, **flags: bool) -> None:
        with self._lock:
            for hook in self._hooks.values():
                if hook.channel == channel:
                    for name, value in flags.items():
                        setattr(hook, name, value)

    def handle_post(self, path: str, content_type: str, body: bytes) -> _Reply:
        with self._lock:
            self.requests += 1
            hook = self._hooks.get(path)
        if hook is None or hook.revoked:
            return _Reply(404, "no_service")
        planned = self.faults.take()
        if planned is not None:
            return planned
        payload = _payload(content_type, body)
        if payload is None:
            return _Reply(400, "invalid_payload")
        if not payload.get("text") and not payload.get("blocks"):
            return _Reply(400, "no_text")
        if hook.prohibited:
            return _Reply(403, "action_prohibited")
        if hook.archived:
            return _Reply(410, "channel_is_archived")
        now = time.monotonic()
        with self._lock:
            while hook.accepted and now - hook.accepted[0] >= WINDOW_S:
                hook.accepted.popleft()
            if len(hook.accepted) >= self._per_second:
                return _Reply(429, "rate_limited", {"Retry-After": "1"})
            hook.accepted.append(now)
            self.messages.append(SlackMessage(hook.channel, payload, time.time()))
        return _Reply(200, "ok")

    def page(self) -> str:
        with self._lock:
            messages = list(self.messages)
        rows = "".join(
            "<tr>"
            f"<td>{escape(time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(m.received_at)))}</td>"
            f"<td>#{escape(m.channel)}</td>"
            f"<td><pre>{escape(m.all_text())}</pre></td>"
            "</tr>"
            for m in reversed(messages)
        )
        table = (
            f"<table><thead><tr><th>received (UTC)</th><th>channel</th><th>message</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>"
            if rows
            else '<p class="muted">No messages yet.</p>'
        )
        return (
            '<!doctype html><html><head><meta charset="utf-8">'
            '<meta http-equiv="refresh" content="5"><title>Slack sandbox</title>'
            "<style>body{font-family:system-ui,sans-serif;margin:2rem}"
            "table{border-collapse:collapse;width:100%}"
            "td,th{border:1px solid #d9e2ec;padding:.3rem .5rem;text-align:left;vertical-align:top}"
            "pre{margin:0;white-space:pre-wrap}.muted{color:#7b8794}</style></head>"
            "<body><h1>Slack sandbox</h1>"
            '<p class="muted">Read-only: messages the daemon posted to incoming webhooks.</p>'
            f"{table}</body></html>"
        )


def _payload(content_type: str, body: bytes) -> dict[str, Any] | None:
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/x-www-form-urlencoded"):
            text = parse_qs(text).get("payload", [""])[-1]
        parsed = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _block_texts(blocks: object) -> list[str]:
    """Every `text` string anywhere inside the blocks."""
    found: list[str] = []
    if isinstance(blocks, dict):
        for key, value in blocks.items():
            if key == "text" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_block_texts(value))
    elif isinstance(blocks, list):
        for item in blocks:
            found.extend(_block_texts(item))
    return found


def _token(length: int) -> str:
    return secrets.token_hex(length)[:length].upper()


class _Server(TrackingHTTPServer):
    def __init__(self, address: tuple[str, int], emulator: SlackWebhookEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class _Handler(TrackedRequestHandler):
    server_version = "SlackSandbox/1.0"
    timeout = 30
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        emulator = cast(_Server, self.server).emulator
        if self.content_length() > MAX_BODY:
            self._write(_Reply(400, "invalid_payload"))
            return
        body = self.read_body()
        content_type = self.headers.get("Content-Type") or "application/json"
        self._write(emulator.handle_post(self.path, content_type, body))

    def do_GET(self) -> None:
        emulator = cast(_Server, self.server).emulator
        if self.path in ("/", "/index.html"):
            self._write(_Reply(200, emulator.page()), "text/html; charset=utf-8")
        else:
            self._write(_Reply(404, "not_found"))

    def _write(self, reply: _Reply, content_type: str = "text/plain; charset=utf-8") -> None:
        body = reply.body.encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request logging: the URL path is the webhook's secret."""
