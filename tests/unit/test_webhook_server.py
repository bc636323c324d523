"""The webhook receiver's server over real sockets (loopback), with the issue's probes: idle and
keep-alive connections are closed, trickled headers and bodies cut off (408), 200 connections at
once all answered (503 beyond the cap, none reset), a body over the limit refused while it
streams; Salesforce messages that are not the configured outbound message refused; and TLS that
requires Salesforce's client certificate. No request here gets as far as Temporal."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError
from temporalio.client import Client

from plg_handoff.config import WebhookSettings
from plg_handoff.sandbox.salesforce.emulator import ORG_ID as SANDBOX_ORG_ID
from plg_handoff.sandbox.salesforce.emulator import SalesforceEmulator
from plg_handoff.webhooks import salesforce
from plg_handoff.webhooks.receiver import HUBSPOT_PATH, SALESFORCE_PATH, WebhookReceiver
from tests import http_probes
from tests.http_probes import status_of

SECRET = "app-secret"  # noqa: S105  # a test value
ORG_ID = "00D5g000004ABCDEAA"
ACTION_ID = "04k5g000000ABCDAA0"
INSTANCE = "https://acme.my.salesforce.com"
MAX_BODY = 64 * 1024
MAX_CONNECTIONS = 50
NO_TEMPORAL = cast("Client", None)  # every request here is refused before a Temporal call


def settings(**changes: object) -> WebhookSettings:
    values: dict[str, object] = {
        "port": 0,
        "idle_timeout": "1s",
        "read_timeout": "1s",
        "max_body_bytes": MAX_BODY,
        "max_connections": MAX_CONNECTIONS,
        "salesforce_organization_id": ORG_ID,
        "salesforce_action_id": ACTION_ID,
        "salesforce_instance_url": INSTANCE,
        **changes,
    }
    return WebhookSettings.model_validate(values)


@pytest.fixture
async def address() -> AsyncIterator[tuple[str, int]]:
    async with WebhookReceiver(NO_TEMPORAL, settings(), SECRET) as receiver:
        parts = urlsplit(receiver.url)
        yield parts.hostname or "", parts.port or 0


def request(path: str, body: bytes, *extra: bytes) -> bytes:
    head = [b"POST " + path.encode() + b" HTTP/1.1", b"Host: handoff.test", *extra]
    head.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(head) + b"\r\n\r\n" + body


UNSIGNED = request(HUBSPOT_PATH, b"[]")


async def test_an_idle_connection_is_closed_after_the_idle_timeout(
    address: tuple[str, int],
) -> None:
    never_asked = await http_probes.idle(*address, b"", wait_s=4)
    assert never_asked.closed and never_asked.seconds < 2.5
    kept_alive = await http_probes.idle(*address, UNSIGNED, wait_s=4)
    assert status_of(kept_alive.answer) == 401
    assert kept_alive.closed and kept_alive.seconds < 2.5


async def test_headers_trickled_in_are_cut_off(address: tuple[str, int]) -> None:
    head = b"POST " + HUBSPOT_PATH.encode() + b" HTTP/1.1\r\nHost: handoff.test\r\n"
    cut = await http_probes.trickle(*address, head, b"X-Slow: " + b"a" * 200, 0.1, wait_s=4)
    assert status_of(cut.answer) == 408
    assert cut.closed and cut.seconds < 2.5


async def test_a_trickled_body_is_cut_off(address: tuple[str, int]) -> None:
    head = request(HUBSPOT_PATH, b"x" * 200)[:-200]
    cut = await http_probes.trickle(*address, head, b"x" * 200, 0.1, wait_s=4)
    assert status_of(cut.answer) == 408
    assert cut.closed and cut.seconds < 2.5


async def test_a_body_over_the_limit_is_refused_as_it_streams(address: tuple[str, int]) -> None:
    declared = b"Content-Length: 50000000"
    head = b"POST " + HUBSPOT_PATH.encode() + b" HTTP/1.1\r\nHost: h\r\n" + declared + b"\r\n\r\n"
    refused = await http_probes.idle(*address, head, wait_s=3)  # not one byte of it sent
    assert status_of(refused.answer) == 413 and refused.closed
    chunked = b"POST " + HUBSPOT_PATH.encode() + b" HTTP/1.1\r\nHost: h\r\n"
    chunked += b"Transfer-Encoding: chunked\r\n\r\n"
    # One byte over the limit and the body not ended: the answer cannot wait for its end.
    refused = await http_probes.stream_chunked(*address, chunked, b"x" * (MAX_BODY + 1), 1, 3)
    assert status_of(refused.answer) == 413 and refused.closed


async def test_two_hundred_connections_at_once_are_all_answered() -> None:
    async with WebhookReceiver(NO_TEMPORAL, settings(idle_timeout="5s"), SECRET) as receiver:
        parts = urlsplit(receiver.url)
        address = parts.hostname or "", parts.port or 0
        statuses = await http_probes.at_once(*address, UNSIGNED, connections=200, wait_s=4)
        assert len(statuses) == 200
        # Over the cap a request is told to come back (503), never reset nor left unanswered.
        assert set(statuses) <= {"401", "503"}, sorted(set(statuses))
        assert "503" in statuses
        within = await http_probes.at_once(*address, UNSIGNED, MAX_CONNECTIONS - 10, wait_s=4)
        assert set(within) == {"401"}


def outbound_message(
    action_id: str = ACTION_ID, host: str = "acme.my.salesforce.com", notifications: int = 1
) -> bytes:
    one = (
        "<Notification><Id>04l5g00000ABCDEAA1</Id>"
        '<sObject xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        "<sf:Id>0065g00000AAAAAAA1</sf:Id></sObject></Notification>"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{ORG_ID}</OrganizationId><ActionId>{action_id}</ActionId>"
        f"<EnterpriseUrl>https://{host}/services/Soap/c/59.0/00D5g</EnterpriseUrl>"
        f"<PartnerUrl>https://{host}/services/Soap/u/59.0/00D5g</PartnerUrl>"
        f"{one * notifications}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (outbound_message(action_id="04k5g000000ZZZZAA0"), 403),
        (outbound_message(host="evil.my.salesforce.com"), 403),
        (outbound_message(notifications=101), 413),
        (
            outbound_message()
            .replace(
                b"<soapenv:Envelope",
                b'<!DOCTYPE e [<!ENTITY o "00D5g000004ABCD">]><soapenv:Envelope',
            )
            .replace(ORG_ID.encode(), b"&o;")
            .replace(b'encoding="UTF-8"', b'encoding="UTF-16"')
            .decode()
            .encode("utf-16"),
            400,
        ),
    ],
    ids=["other-action", "foreign-instance", "101-notifications", "utf16-dtd"],
)
async def test_salesforce_messages_not_from_the_configured_outbound_message_are_refused(
    address: tuple[str, int], body: bytes, status: int
) -> None:
    answer = await http_probes.idle(*address, request(SALESFORCE_PATH, body), wait_s=3)
    assert status_of(answer.answer) == status


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, signer = issuer or (subject, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is not None:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write_pem(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


async def test_tls_requires_a_client_certificate_from_the_configured_ca(tmp_path: Path) -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("test CA", ca_key, None)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_key, client_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    server = _write_pem(
        tmp_path / "server.pem",
        _certificate("127.0.0.1", server_key, (ca.subject, ca_key)),
        server_key,
    )
    client = _write_pem(
        tmp_path / "client.pem",
        _certificate("salesforce", client_key, (ca.subject, ca_key)),
        client_key,
    )
    tls = settings(tls_cert_file=server, tls_client_ca_file=tmp_path / "ca.pem")
    async with WebhookReceiver(NO_TEMPORAL, tls, SECRET) as receiver:
        assert receiver.url.startswith("https://")
        port = urlsplit(receiver.url).port
        context = ssl.create_default_context(cafile=tmp_path / "ca.pem")

        async def ask() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
            try:
                writer.write(UNSIGNED)
                await writer.drain()
                return await asyncio.wait_for(reader.readline(), 3)
            finally:
                writer.close()

        try:
            refused = await ask()
        except (ssl.SSLError, ConnectionError):
            refused = b""  # TLS 1.3 tells the client on its first read
        assert status_of(refused) is None  # no client certificate: no HTTP at all
        context.load_cert_chain(client)
        assert status_of(await ask()) == 401


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("idle_timeout", "0s"),
        ("read_timeout", "0s"),
        ("max_body_bytes", 10),
        ("max_connections", 0),
        ("backlog", 0),
        ("salesforce_action_id", "04k-not-an-id"),
        ("salesforce_instance_url", "not a url"),
        ("tls_client_ca_file", "ca.pem"),  # without tls_cert_file
    ],
)
def test_bad_limits_fail_at_start_up_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        settings(**{field: value})


async def test_a_busy_port_fails_the_start_with_an_os_error() -> None:
    async with WebhookReceiver(NO_TEMPORAL, settings(), SECRET) as first:
        busy = urlsplit(first.url).port
        second = WebhookReceiver(NO_TEMPORAL, settings(), SECRET)
        with pytest.raises(OSError, match="in use"):
            await second.start(port=busy)
        assert not second._server.running


def message_with_session(org_id: str, host: str, session: str) -> bytes:
    body = outbound_message(host=host).replace(ORG_ID.encode(), org_id.encode())
    return body.replace(b"<ActionId>", f"<SessionId>{session}</SessionId><ActionId>".encode())


async def test_salesforce_sessions_are_checked_with_salesforce_when_configured() -> None:
    """With `salesforce_verify_session`, a message whose SessionId Salesforce does not vouch
    for (UserInfo on the configured instance) is refused, however well it names the org."""
    emulator = SalesforceEmulator()
    instance = emulator.start()
    host = urlsplit(instance).hostname or ""
    checked = settings(
        salesforce_organization_id=SANDBOX_ORG_ID,
        salesforce_instance_url=instance,
        salesforce_verify_session=True,
    )
    try:
        async with WebhookReceiver(NO_TEMPORAL, checked, SECRET) as receiver:
            parts = urlsplit(receiver.url)
            at = parts.hostname or "", parts.port or 0

            async def status(session: str) -> int | None:
                body = message_with_session(SANDBOX_ORG_ID, host, session)
                answer = await http_probes.idle(*at, request(SALESFORCE_PATH, body), wait_s=3)
                return status_of(answer.answer)

            assert await status(f"{SANDBOX_ORG_ID}!forged-session") == 403
            assert await status("") == 403  # "Send Session ID" is off
            valid = emulator.issue_token()
            message = salesforce.parse(message_with_session(SANDBOX_ORG_ID, host, valid))
            salesforce.verify_session(instance, message, timeout_s=5)  # vouched for
            other_org = dataclasses.replace(message, organization_id="00D000000000OTH")
            with pytest.raises(salesforce.MessageRejected) as refused:
                salesforce.verify_session(instance, other_org, timeout_s=5)
            assert refused.value.status == 403
            assert valid not in repr(message)
    finally:
        emulator.stop()
    with pytest.raises(salesforce.MessageRejected) as unanswered:
        salesforce.verify_session(instance, message, timeout_s=2)
    assert unanswered.value.status == 503  # Salesforce sends the message again later


def test_a_session_check_needs_the_instance_to_ask() -> None:
    with pytest.raises(ValidationError, match="salesforce_verify_session needs"):
        settings(salesforce_instance_url=None, salesforce_verify_session=True)
