"""HubSpot webhooks: signature v3 and the object ids a batch of events is about.

https://developers.hubspot.com/docs/api/webhooks/validating-requests: the signature is
base64(HMAC-SHA256(client secret, method + uri + body + timestamp)) in X-HubSpot-Signature-v3,
the timestamp (epoch ms) in X-HubSpot-Request-Timestamp; older than 5 minutes is refused, and
so is one more than `MAX_SKEW_MS` in the future (a signed request kept for later). Within the
window, a request whose signature was already taken is a replay (`ReplayGuard`), and a body
naming more objects than HubSpot batches (`MAX_OBJECTS`) is refused before any CRM call."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from urllib.parse import unquote

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE_MS = 5 * 60 * 1000
MAX_SKEW_MS = 30 * 1000  # clocks drift; a signature minutes ahead was made to be replayed
MAX_OBJECTS = 100  # HubSpot sends at most 100 events in one request
# What HubSpot decodes back in the URI before signing (its documented list).
_DECODED = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")


class WebhookRejected(Exception):
    """The request is not a valid HubSpot webhook; `status` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    for encoded in _DECODED:
        uri = uri.replace(encoded, unquote(encoded)).replace(encoded.lower(), unquote(encoded))
    message = method.encode() + uri.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(
    secret: str,
    method: str,
    uri: str,
    body: bytes,
    headers: dict[str, str],
    now_ms: int,
) -> None:
    """Raises WebhookRejected unless the request is signed with `secret` in the last 5 min."""
    timestamp = headers.get(TIMESTAMP_HEADER.lower(), "")
    signature = headers.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isdigit() or not signature:
        raise WebhookRejected(401, "missing HubSpot signature v3 headers")
    if now_ms - int(timestamp) > MAX_AGE_MS:
        raise WebhookRejected(401, "HubSpot request timestamp older than 5 minutes")
    if int(timestamp) - now_ms > MAX_SKEW_MS:
        raise WebhookRejected(401, "HubSpot request timestamp in the future")
    expected = signature_v3(secret, method, uri, body, timestamp)
    if not hmac.compare_digest(expected, signature):
        raise WebhookRejected(401, "HubSpot signature v3 does not match")


def object_ids(body: bytes) -> list[str]:
    """The objects (deals, tasks...) the events are about, in order, once each."""
    try:
        events = json.loads(body)
    except ValueError as exc:
        raise WebhookRejected(400, f"not JSON: {exc}") from None
    if not isinstance(events, list):
        raise WebhookRejected(400, "a HubSpot webhook body is a list of events")
    ids: dict[str, None] = {}
    for event in events:
        if isinstance(event, dict) and isinstance(event.get("objectId"), int | str):
            ids[str(event["objectId"])] = None
    if len(ids) > MAX_OBJECTS:
        raise WebhookRejected(413, f"{len(ids)} objects in one request; HubSpot sends 100 at most")
    return list(ids)


class ReplayGuard:
    """The signatures taken within the signature window: the same signed request sent again
    is a replay. Shared by the receiver's handler threads."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}  # signature -> its timestamp (epoch ms)
        self._lock = threading.Lock()

    def check(self, headers: dict[str, str], now_ms: int) -> None:
        """Raises WebhookRejected for a signature already taken; call after `verify`."""
        signature = headers.get(SIGNATURE_HEADER.lower(), "")
        timestamp = int(headers.get(TIMESTAMP_HEADER.lower(), "0"))
        with self._lock:
            for seen, at in list(self._seen.items()):
                if now_ms - at > MAX_AGE_MS:
                    del self._seen[seen]
            if signature in self._seen:
                raise WebhookRejected(409, "HubSpot request already taken (a replay)")
            self._seen[signature] = timestamp
