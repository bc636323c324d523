"""The Slack incoming-webhook emulator answers as Slack documents, and the connector maps each
answer once to a typed error, never showing the webhook URL (a secret)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from plg_handoff.connectors.errors import (
    AuthError,
    ConnectorError,
    InvalidInput,
    NotFound,
    RateLimited,
    TransientError,
)
from plg_handoff.connectors.slack import SlackWebhook
from plg_handoff.sandbox.slack import SlackWebhookEmulator


@pytest.fixture
def slack() -> Iterator[SlackWebhookEmulator]:
    with SlackWebhookEmulator(per_second=3) as emulator:
        yield emulator


def test_a_message_is_accepted_recorded_and_shown(slack: SlackWebhookEmulator) -> None:
    url = slack.add_webhook("pql-alerts")
    SlackWebhook(url).post(
        {
            "text": "fallback",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Acme* <b>"}}],
        }
    )
    response = requests.post(url, data={"payload": json.dumps({"text": "form-encoded"})}, timeout=5)
    assert (response.status_code, response.text) == (200, "ok")
    [first, second] = slack.messages_in("pql-alerts")
    assert first.all_text() == "fallback\n*Acme* <b>"
    assert second.text == "form-encoded"
    page = requests.get(slack.url + "/", timeout=5)
    assert page.headers["Content-Type"].startswith("text/html")
    assert "#pql-alerts" in page.text and "*Acme* &lt;b&gt;" in page.text
    assert "/services/" not in page.text


@pytest.mark.parametrize(
    ("body", "content_type", "answer"),
    [
        (b"{not json", "application/json", "invalid_payload"),
        (b"[1, 2]", "application/json", "invalid_payload"),
        (b'{"username": "bot"}', "application/json", "no_text"),
    ],
)
def test_bad_payloads_are_refused(
    slack: SlackWebhookEmulator, body: bytes, content_type: str, answer: str
) -> None:
    url = slack.add_webhook("c")
    response = requests.post(url, data=body, headers={"Content-Type": content_type}, timeout=5)
    assert (response.status_code, response.text) == (400, answer)
    assert slack.messages == []


def test_each_refusal_maps_to_its_typed_error_without_the_url(
    slack: SlackWebhookEmulator,
) -> None:
    def refusal(url: str, message: dict[str, object] | None = None) -> ConnectorError:
        with pytest.raises(ConnectorError) as caught:
            SlackWebhook(url, timeout_s=5).post(message or {"text": "hi"})
        assert url not in str(caught.value) and url.rsplit("/", 1)[1] not in repr(caught.value)
        assert caught.value.__cause__ is None
        return caught.value

    archived, prohibited, revoked, busy = (slack.add_webhook(c) for c in "abcd")
    slack.archive("a")
    slack.prohibit("b")
    slack.revoke("c")
    error = refusal(archived)
    assert (type(error), error.status, error.message) == (NotFound, 410, "channel_is_archived")
    assert not error.retryable
    error = refusal(prohibited)
    assert (type(error), error.status, error.message) == (AuthError, 403, "action_prohibited")
    error = refusal(revoked)
    assert (type(error), error.status, error.message) == (NotFound, 404, "no_service")
    error = refusal(slack.url + "/services/T0/B0/unknown")
    assert error.message == "no_service"
    error = refusal(busy, {"blocks": []})
    assert (type(error), error.message) == (InvalidInput, "no_text")
    slack.faults.rate_limit_next(1, retry_after_s=7)
    error = refusal(busy)
    assert (type(error), error.status, error.retry_after) == (RateLimited, 429, 7.0)
    assert error.retryable
    slack.faults.fail_next(1, 503)
    error = refusal(busy)
    assert (type(error), error.status, error.retryable) == (TransientError, 503, True)
    SlackWebhook(busy).post({"text": "after the faults"})
    assert [m.text for m in slack.messages] == ["after the faults"]


def test_more_than_the_rate_per_second_gets_429_with_retry_after(
    slack: SlackWebhookEmulator,
) -> None:
    url = slack.add_webhook("burst")
    answers = [requests.post(url, json={"text": str(n)}, timeout=5) for n in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[3].headers["Retry-After"] == "1"
    assert len(slack.messages_in("burst")) == 3


def test_transport_failure_is_transient_and_hides_the_url() -> None:
    url = "http://127.0.0.1:9/services/T1/B1/secret-part"
    with pytest.raises(TransientError) as caught:
        SlackWebhook(url, timeout_s=1).post({"text": "x"})
    assert "secret-part" not in str(caught.value)
    assert "secret-part" not in repr(SlackWebhook(url))
