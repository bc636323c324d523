"""Salesforce outbound messages: the SOAP `notifications` call a workflow rule or flow sends on
an Opportunity (or Task) change, and the `Ack` that stops Salesforce from sending it again.

The body is parsed with defusedxml: a DTD or entity declaration is refused whatever the
encoding (a UTF-16 body hides `<!DOCTYPE` from a byte search). Outbound messages carry no
signature; what Salesforce documents to check (API guide, "Considerations for Security") is
what `verify` does: the OrganizationId must be the configured org's, and where configured the
ActionId must be the outbound message's own and the EnterpriseUrl/PartnerUrl must point at the
org's instance (its My Domain host). A TLS client certificate (Salesforce's) is the server's
job (`WebhookSettings.tls_client_ca_file`). At most `MAX_NOTIFICATIONS` notifications a
message, the most Salesforce sends."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
USERINFO_PATH = "/services/oauth2/userinfo"
MAX_NOTIFICATIONS = 100  # the outbound-message WSDL: Notification maxOccurs="100"
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
).encode()


class MessageRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    object_ids: list[str]  # each notification's sObject Id, and a Task's WhatId
    action_id: str = ""
    enterprise_url: str = ""
    partner_url: str = ""
    session_id: str = field(default="", repr=False)  # a live session: never shown or logged


@dataclass(frozen=True)
class Expected:
    """What the configured org's outbound messages must say (`verify`)."""

    organization_id: str
    action_id: str | None = None  # the outbound message's id (04k...), when configured
    instance_host: str | None = None  # e.g. acme.my.salesforce.com, when configured


def parse(body: bytes) -> OutboundMessage:
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise MessageRejected(400, "DTDs and entities are not accepted") from None
    except ET.ParseError as exc:
        raise MessageRejected(400, f"not XML: {exc}") from None
    notifications = root.find(f".//{{{OUTBOUND_NS}}}notifications")
    if notifications is None:
        raise MessageRejected(400, "no outbound-message notifications element")
    found = notifications.findall(f"{{{OUTBOUND_NS}}}Notification")
    if len(found) > MAX_NOTIFICATIONS:
        raise MessageRejected(
            413, f"{len(found)} notifications in one message; Salesforce sends 100 at most"
        )
    ids: dict[str, None] = {}
    for notification in found:
        sobject = notification.find(f"{{{OUTBOUND_NS}}}sObject")
        if sobject is None:
            continue
        for name in ("Id", "WhatId"):
            value = sobject.findtext(f"{{{SOBJECT_NS}}}{name}")
            if value:
                ids[value.strip()] = None

    def text(name: str) -> str:
        return (notifications.findtext(f"{{{OUTBOUND_NS}}}{name}") or "").strip()

    return OutboundMessage(
        organization_id=text("OrganizationId"),
        object_ids=list(ids),
        action_id=text("ActionId"),
        enterprise_url=text("EnterpriseUrl"),
        partner_url=text("PartnerUrl"),
        session_id=text("SessionId"),
    )


def same_org(configured: str, received: str) -> bool:
    """Org ids come as 15 or 18 characters; the first 15 identify the org."""
    return same_id(configured, received)


def same_id(configured: str, received: str) -> bool:
    """Salesforce ids come as 15 (case-sensitive) or 18 characters; the first 15 identify."""
    return bool(received) and configured[:15] == received[:15]


def verify(expected: Expected, message: OutboundMessage) -> None:
    """Raises MessageRejected (403) unless the message is what the configured org sends."""
    if not same_org(expected.organization_id, message.organization_id):
        raise MessageRejected(403, "unknown organization")
    if expected.action_id and not same_id(expected.action_id, message.action_id):
        raise MessageRejected(403, "not the configured outbound message (ActionId)")
    if expected.instance_host:
        for name, url in (("EnterpriseUrl", message.enterprise_url),
                          ("PartnerUrl", message.partner_url)):  # fmt: skip
            parts = urlsplit(url)
            if parts.scheme != "https" or parts.hostname != expected.instance_host.lower():
                raise MessageRejected(403, f"{name} is not on the org's instance")


def verify_session(instance_url: str, message: OutboundMessage, timeout_s: float) -> None:
    """Raises MessageRejected unless Salesforce itself vouches for the message's session:
    UserInfo (`/services/oauth2/userinfo`) on the configured instance, never on a URL the
    message names, must answer for the configured org. 503 when Salesforce cannot say now
    (Salesforce sends the message again)."""
    if not message.session_id:
        raise MessageRejected(403, "no SessionId: set 'Send Session ID' on the outbound message")
    url = instance_url.rstrip("/") + USERINFO_PATH
    headers = {"Authorization": f"Bearer {message.session_id}", "Accept": "application/json"}
    try:
        answer = requests.get(url, headers=headers, timeout=timeout_s)
    except requests.RequestException:
        raise MessageRejected(503, "Salesforce did not answer the session check") from None
    if answer.status_code in (401, 403):
        raise MessageRejected(403, "the message's session is not valid on the org")
    if answer.status_code != 200:
        raise MessageRejected(503, f"the session check answered {answer.status_code}")
    try:
        organization = answer.json().get("organization_id", "")
    except (ValueError, AttributeError):
        raise MessageRejected(503, "the session check answered something else than JSON") from None
    if not same_org(message.organization_id, str(organization)):
        raise MessageRejected(403, "the message's session belongs to another org")
