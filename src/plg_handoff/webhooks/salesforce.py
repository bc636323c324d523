"""Salesforce outbound messages: the SOAP `notifications` call a workflow rule or flow sends on
an Opportunity (or Task) change, and the `Ack` that stops Salesforce from sending it again."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # the body is checked for DTDs before parsing
from dataclasses import dataclass

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
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


def parse(body: bytes) -> OutboundMessage:
    # Entities and DTDs are what XML bombs and external-entity reads need: refused outright.
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise MessageRejected(400, "DTDs are not accepted")
    try:
        root = ET.fromstring(body)  # noqa: S314  # no DTD (checked above)
    except ET.ParseError as exc:
        raise MessageRejected(400, f"not XML: {exc}") from None
    notifications = root.find(f".//{{{OUTBOUND_NS}}}notifications")
    if notifications is None:
        raise MessageRejected(400, "no outbound-message notifications element")
    organization = notifications.findtext(f"{{{OUTBOUND_NS}}}OrganizationId") or ""
    ids: dict[str, None] = {}
    for notification in notifications.iter(f"{{{OUTBOUND_NS}}}Notification"):
        sobject = notification.find(f"{{{OUTBOUND_NS}}}sObject")
        if sobject is None:
            continue
        for name in ("Id", "WhatId"):
            value = sobject.findtext(f"{{{SOBJECT_NS}}}{name}")
            if value:
                ids[value.strip()] = None
    return OutboundMessage(organization.strip(), list(ids))


def same_org(configured: str, received: str) -> bool:
    """Org ids come as 15 or 18 characters; the first 15 identify the org."""
    return bool(received) and configured[:15] == received[:15]
