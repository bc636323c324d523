"""HubSpot webhooks: signature v3 and the object ids a batch of events is about.

https://developers.hubspot.com/docs/api/webhooks/validating-requests: the signature is
base64(HMAC-SHA256(client secret, method + uri + body + timestamp)) in X-HubSpot-Signature-v3,
the timestamp (epoch ms) in X-HubSpot-Request-Timestamp; older than 5 minutes is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import unquote

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE_MS = 5 * 60 * 1000
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
    if abs(now_ms - int(timestamp)) > MAX_AGE_MS:
        raise WebhookRejected(401, "HubSpot request timestamp older than 5 minutes")
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
    return list(ids)
