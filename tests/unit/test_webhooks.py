"""What the webhook receiver accepts: HubSpot signature v3 and its 5-minute window, the events'
object ids; Salesforce outbound messages, their org id and no DTDs."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from plg_handoff.webhooks import hubspot, salesforce

SECRET = "app-secret"  # noqa: S105  # a test value
URL = "https://handoff.example.com/webhooks/hubspot"
NOW_MS = 1_764_000_000_000


def signed(body: bytes, timestamp: int = NOW_MS, url: str = URL) -> dict[str, str]:
    message = b"POST" + url.encode() + body + str(timestamp).encode()
    digest = hmac.new(SECRET.encode(), message, hashlib.sha256).digest()
    return {
        "x-hubspot-signature-v3": base64.b64encode(digest).decode(),
        "x-hubspot-request-timestamp": str(timestamp),
    }


def test_a_request_signed_with_the_client_secret_is_accepted() -> None:
    body = b'[{"objectId": 42, "subscriptionType": "deal.propertyChange"}]'
    hubspot.verify(SECRET, "POST", URL, body, signed(body), NOW_MS + 1000)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("body", "does not match"),
        ("secret", "does not match"),
        ("old", "older than 5 minutes"),
        ("missing", "missing"),
    ],
)
def test_a_changed_stale_or_unsigned_request_is_refused(change: str, reason: str) -> None:
    body = b'[{"objectId": 42}]'
    headers = signed(body, NOW_MS - 301_000 if change == "old" else NOW_MS)
    if change == "missing":
        headers = {}
    sent = body + b" " if change == "body" else body
    secret = "other" if change == "secret" else SECRET
    with pytest.raises(hubspot.WebhookRejected, match=reason) as refused:
        hubspot.verify(secret, "POST", URL, sent, headers, NOW_MS)
    assert refused.value.status == 401


def test_the_uri_is_signed_with_the_characters_hubspot_decodes() -> None:
    body = b"[]"
    decoded = "https://handoff.example.com/webhooks/hubspot?at=10:00"
    headers = signed(body, url=decoded)
    hubspot.verify(SECRET, "POST", decoded.replace(":00", "%3A00"), body, headers, NOW_MS)


def test_object_ids_once_each_in_order() -> None:
    body = b'[{"objectId": 7}, {"objectId": 5}, {"objectId": 7}, {"eventId": 1}]'
    assert hubspot.object_ids(body) == ["7", "5"]
    with pytest.raises(hubspot.WebhookRejected):
        hubspot.object_ids(b'{"objectId": 7}')
    with pytest.raises(hubspot.WebhookRejected):
        hubspot.object_ids(b"not json")


MESSAGE = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D5g000004ABCDEAA</OrganizationId>
   <Notification><Id>04l1</Id>
    <sObject xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>0065g00000AAAAAAA1</sf:Id>
    </sObject></Notification>
   <Notification><Id>04l2</Id>
    <sObject xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>00T5g00000BBBBBBB2</sf:Id>
     <sf:WhatId>0065g00000CCCCCCC3</sf:WhatId></sObject></Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"""


def test_an_outbound_message_names_its_org_and_objects() -> None:
    message = salesforce.parse(MESSAGE)
    assert message.organization_id == "00D5g000004ABCDEAA"
    assert message.object_ids == ["0065g00000AAAAAAA1", "00T5g00000BBBBBBB2", "0065g00000CCCCCCC3"]
    assert salesforce.same_org("00D5g000004ABCD", message.organization_id)
    assert not salesforce.same_org("00D5g000004ZZZZ", message.organization_id)
    assert b"<Ack>true</Ack>" in salesforce.ACK


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        b"not xml",
        b"<x/>",
    ],
)
def test_dtds_garbage_and_other_xml_are_refused(body: bytes) -> None:
    with pytest.raises(salesforce.MessageRejected) as refused:
        salesforce.parse(body)
    assert refused.value.status == 400


def test_a_timestamp_ahead_beyond_the_skew_is_refused_and_within_it_taken() -> None:
    body = b'[{"objectId": 42}]'
    hubspot.verify(SECRET, "POST", URL, body, signed(body, NOW_MS + 20_000), NOW_MS)
    with pytest.raises(hubspot.WebhookRejected, match="in the future") as refused:
        hubspot.verify(SECRET, "POST", URL, body, signed(body, NOW_MS + 240_000), NOW_MS)
    assert refused.value.status == 401


def test_a_replay_within_the_window_is_refused_and_forgotten_after() -> None:
    guard = hubspot.ReplayGuard()
    headers = signed(b"[]")
    guard.check(headers, NOW_MS)
    with pytest.raises(hubspot.WebhookRejected, match="replay") as refused:
        guard.check(headers, NOW_MS + 1_000)
    assert refused.value.status == 409
    guard.check(signed(b"[1]"), NOW_MS + 2_000)  # another request is no replay
    guard.check(headers, NOW_MS + hubspot.MAX_AGE_MS + 1)  # verify refuses it as old by now


def test_more_objects_than_hubspot_batches_are_refused() -> None:
    body = ("[" + ",".join(f'{{"objectId": {n}}}' for n in range(101)) + "]").encode()
    with pytest.raises(hubspot.WebhookRejected, match="101 objects") as refused:
        hubspot.object_ids(body)
    assert refused.value.status == 413
    assert len(hubspot.object_ids(body.replace(b',{"objectId": 100}', b""))) == 100


def test_a_dtd_is_refused_in_any_encoding() -> None:
    with_dtd = MESSAGE.replace(
        b"<soapenv:Envelope", b'<!DOCTYPE e [<!ENTITY org "00D5g000004ABCDEAA">]><soapenv:Envelope'
    ).replace(b">00D5g000004ABCDEAA<", b">&org;<")
    utf16 = with_dtd.replace(b'encoding="UTF-8"', b'encoding="UTF-16"').decode().encode("utf-16")
    assert b"<!DOCTYPE" not in utf16.upper()  # what a byte search looked for
    for body in (with_dtd, utf16):
        with pytest.raises(salesforce.MessageRejected, match="DTD") as refused:
            salesforce.parse(body)
        assert refused.value.status == 400
    utf16_plain = MESSAGE.replace(b'encoding="UTF-8"', b'encoding="UTF-16"').decode()
    assert salesforce.parse(utf16_plain.encode("utf-16")).organization_id == "00D5g000004ABCDEAA"


SF_EXPECTED = salesforce.Expected("00D5g000004ABCDEAA", "04k5g000000ABCD", "acme.my.salesforce.com")


def outbound(**changes: str) -> salesforce.OutboundMessage:
    values = {
        "organization_id": "00D5g000004ABCD",
        "action_id": "04k5g000000ABCDAA0",
        "enterprise_url": "https://acme.my.salesforce.com/services/Soap/c/59.0/00D5g",
        "partner_url": "https://acme.my.salesforce.com/services/Soap/u/59.0/00D5g",
        **changes,
    }
    return salesforce.OutboundMessage(object_ids=["0065g00000AAAAAAA1"], **values)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"organization_id": "00D5g000004ZZZZ"}, "organization"),
        ({"action_id": "04k5g000000ZZZZAA0"}, "ActionId"),
        ({"action_id": ""}, "ActionId"),
        ({"enterprise_url": "https://evil.my.salesforce.com/services/Soap/c/59.0"}, "Enterprise"),
        ({"partner_url": "http://acme.my.salesforce.com/services/Soap/u/59.0"}, "PartnerUrl"),
        ({"partner_url": ""}, "PartnerUrl"),
    ],
)
def test_a_message_of_the_org_but_not_its_outbound_message_or_instance_is_refused(
    change: dict[str, str], reason: str
) -> None:
    salesforce.verify(SF_EXPECTED, outbound())
    with pytest.raises(salesforce.MessageRejected, match=reason) as refused:
        salesforce.verify(SF_EXPECTED, outbound(**change))
    assert refused.value.status == 403
    if "organization_id" not in change:  # without ActionId and instance configured: taken
        salesforce.verify(salesforce.Expected("00D5g000004ABCDEAA"), outbound(**change))


def test_the_parsed_message_names_its_action_and_urls() -> None:
    message = salesforce.parse(MESSAGE.replace(b"<Notification>", b"<ActionId>04k1</ActionId>"
                                               b"<Notification>", 1))  # fmt: skip
    assert message.action_id == "04k1"
    assert message.enterprise_url == ""


def test_more_notifications_than_salesforce_sends_are_refused() -> None:
    one = MESSAGE[MESSAGE.index(b"<Notification>") : MESSAGE.index(b"</Notification>") + 15]
    body = MESSAGE.replace(one, one * 100, 1)  # and the second one
    with pytest.raises(salesforce.MessageRejected, match="101 notifications") as refused:
        salesforce.parse(body)
    assert refused.value.status == 413
    assert salesforce.parse(MESSAGE.replace(one, one * 99, 1)).object_ids
