"""The Mixpanel client's pieces without a server: hosts, credentials, config, error table,
pacing, gzip and line splitting."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from pydantic import ValidationError

from plg_handoff.config import ConfigError, MixpanelSourceConfig, Secrets
from plg_handoff.connectors.errors import (
    AuthError,
    ConnectorError,
    InvalidInput,
    NotFound,
    RateLimited,
    TransientError,
)
from plg_handoff.connectors.mixpanel import (
    MixpanelClient,
    MixpanelCredentials,
    MixpanelUsageSource,
    Pacer,
    credentials_from_env,
    credentials_from_secrets,
    endpoints,
)
from plg_handoff.connectors.mixpanel.errors import error_from_response, retry_after
from plg_handoff.connectors.mixpanel.source import (
    ENV_PROJECT_SECRET,
    ENV_SECRET,
    ENV_USERNAME,
    day_runs,
)
from plg_handoff.connectors.mixpanel.stream import TruncatedStream, gunzip, split_lines
from plg_handoff.connectors.registry import load

SA_SECRET = "sa-secret"  # noqa: S105  # test credentials
PROJECT_SECRET = "proj-secret"  # noqa: S105


def config(**overrides: Any) -> MixpanelSourceConfig:
    raw: dict[str, Any] = {"kind": "mixpanel", "name": "mixpanel", "project_id": 12345}
    raw.update(overrides)
    return MixpanelSourceConfig.model_validate(raw)


# --- hosts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "export", "engage"),
    [
        (
            "us",
            "https://data.mixpanel.com/api/2.0/export",
            "https://mixpanel.com/api/query/engage",
        ),
        (
            "eu",
            "https://data-eu.mixpanel.com/api/2.0/export",
            "https://eu.mixpanel.com/api/query/engage",
        ),
        (
            "in",
            "https://data-in.mixpanel.com/api/2.0/export",
            "https://in.mixpanel.com/api/query/engage",
        ),
    ],
)
def test_residency_hosts(region: Any, export: str, engage: str) -> None:
    urls = endpoints(region)
    assert (urls.export, urls.engage) == (export, engage)


@pytest.mark.parametrize(
    ("base_url", "root"),
    [
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("http://127.0.0.1:8123/", "http://127.0.0.1:8123"),
        ("https://proxy.internal/mixpanel/", "https://proxy.internal/mixpanel"),
    ],
)
def test_a_base_url_serves_both_apis_whatever_the_region(base_url: str, root: str) -> None:
    urls = endpoints("eu", base_url)
    assert urls.export == f"{root}/api/2.0/export"
    assert urls.engage == f"{root}/api/query/engage"


def test_the_source_builds_its_client_from_the_config() -> None:
    credentials = MixpanelCredentials.for_service_account("u", "s")
    eu = MixpanelUsageSource(config(region="eu"), credentials)
    local = MixpanelUsageSource(config(region="in", base_url="http://127.0.0.1:9/"), credentials)

    assert eu.client.endpoints.export == "https://data-eu.mixpanel.com/api/2.0/export"
    assert local.client.endpoints.engage == "http://127.0.0.1:9/api/query/engage"


# --- credentials and config --------------------------------------------------------------------


def test_service_account_credentials_from_the_environment() -> None:
    env = {ENV_USERNAME: "sa.user", ENV_SECRET: "sa-secret"}
    credentials = credentials_from_env(config(), env)

    assert credentials == MixpanelCredentials("sa.user", "sa-secret", service_account=True)
    assert "sa-secret" not in repr(credentials)


def test_project_secret_credentials_from_the_environment() -> None:
    credentials = credentials_from_env(
        config(auth="project_secret"), {ENV_PROJECT_SECRET: "proj-secret"}
    )

    assert (credentials.username, credentials.secret) == ("proj-secret", "")
    assert not credentials.service_account
    assert "proj-secret" not in repr(credentials)


@pytest.mark.parametrize(
    ("auth", "env", "missing"),
    [
        ("service_account", {ENV_SECRET: "s"}, ENV_USERNAME),
        ("service_account", {ENV_USERNAME: "u", ENV_SECRET: ""}, ENV_SECRET),
        ("project_secret", {ENV_USERNAME: "u", ENV_SECRET: "s"}, ENV_PROJECT_SECRET),
    ],
)
def test_a_missing_variable_is_named(auth: str, env: dict[str, str], missing: str) -> None:
    with pytest.raises(ConfigError, match=missing):
        MixpanelUsageSource.from_env(config(auth=auth), env)


def test_credentials_from_the_worker_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (ENV_USERNAME, ENV_SECRET, ENV_PROJECT_SECRET):
        monkeypatch.delenv(variable, raising=False)
    secrets = Secrets(
        mixpanel_service_account_username="sa.user",
        mixpanel_service_account_secret=SA_SECRET,
        mixpanel_project_secret=PROJECT_SECRET,
    )

    assert credentials_from_secrets(config(), secrets) == MixpanelCredentials.for_service_account(
        "sa.user", "sa-secret"
    )
    assert credentials_from_secrets(
        config(auth="project_secret"), secrets
    ) == MixpanelCredentials.for_project_secret("proj-secret")
    assert isinstance(MixpanelUsageSource(config(), secrets), MixpanelUsageSource)
    with pytest.raises(ConfigError, match=ENV_SECRET):
        MixpanelUsageSource(config(), Secrets(mixpanel_service_account_username="sa.user"))


def test_without_credentials_the_source_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_USERNAME, raising=False)
    monkeypatch.delenv(ENV_SECRET, raising=False)
    with pytest.raises(ConfigError, match=ENV_USERNAME):
        MixpanelUsageSource(config())

    monkeypatch.setenv(ENV_USERNAME, "sa.user")
    monkeypatch.setenv(ENV_SECRET, "sa-secret")
    assert isinstance(MixpanelUsageSource(config()), MixpanelUsageSource)


def test_the_registry_finds_the_source() -> None:
    assert load("source", "mixpanel") is MixpanelUsageSource


def test_config_defaults_and_validation() -> None:
    cfg = config(timeout="30s", events=["Signup"])

    assert cfg.region == "us"
    assert cfg.auth == "service_account"
    assert cfg.base_url is None
    assert cfg.events == ("Signup",)
    assert cfg.timeout == timedelta(seconds=30)
    assert cfg.sync_interval == timedelta(minutes=5)
    assert cfg.window_days == 3
    assert cfg.gauges["seats"] == "seats_used"
    for bad in ({"region": "apac"}, {"window_days": 91}, {"secret": "x"}, {"base_url": "nope"}):
        with pytest.raises(ValidationError):
            config(**bad)


def test_day_runs() -> None:
    d = date(2026, 11, 20)
    days = [d + timedelta(3), d, d + timedelta(1), d, d + timedelta(5), d + timedelta(4)]
    assert day_runs(days) == [(d, d + timedelta(1)), (d + timedelta(3), d + timedelta(5))]
    assert day_runs([]) == []


def test_engage_page_size_is_bounded() -> None:
    client = MixpanelClient(project_id=1, credentials=MixpanelCredentials.for_project_secret("p"))
    with pytest.raises(ValueError, match="page_size"):
        next(client.engage("1", page_size=1001))


# --- the status table --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidInput),
        (401, AuthError),
        (402, AuthError),
        (403, AuthError),
        (404, NotFound),
        (408, TransientError),
        (418, InvalidInput),
        (429, RateLimited),
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
        (599, TransientError),
    ],
)
def test_status_table(status: int, cls: type[ConnectorError]) -> None:
    body = b'{"request": "/api/2.0/export?from_date=x", "error": "it went wrong"}'
    error = error_from_response(status, body, {})

    assert type(error) is cls
    assert (error.vendor, error.status, error.message) == ("mixpanel", status, "it went wrong")


def test_error_messages_from_plain_text_or_nothing() -> None:
    assert error_from_response(400, b"  invalid where\n", {}).message == "invalid where"
    assert error_from_response(503, b"", {}).message == "HTTP 503"
    assert error_from_response(500, b'["not", "an object"]', {}).message == '["not", "an object"]'


def test_retry_after_forms() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({"retry-after": "1.5"}) == 1.5
    assert retry_after({}) is None
    assert retry_after({"Retry-After": "soon"}) is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 115 <= (retry_after({"Retry-After": later}) or 0) <= 120
    assert error_from_response(429, b"", {"Retry-After": "3"}).retry_after == 3.0


# --- pacing ------------------------------------------------------------------------------------


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_pacer_keeps_to_three_per_second_by_waiting() -> None:
    t = FakeTime()
    pacer = Pacer(3, 60, slack_s=0.1, clock=t.clock, sleep=t.sleep)

    for _ in range(3):
        pacer.acquire()
    assert t.sleeps == []
    t.now += 0.4
    pacer.acquire()
    assert t.sleeps == [0.7]  # the first start + 1 s + slack
    assert pacer.used_last_hour() == 4


def test_pacer_raises_when_the_hour_is_spent_instead_of_blocking() -> None:
    t = FakeTime()
    pacer = Pacer(3, 4, slack_s=0.0, clock=t.clock, sleep=t.sleep)
    for _ in range(4):
        pacer.acquire()
        t.now += 10

    with pytest.raises(RateLimited) as caught:
        pacer.acquire()
    assert caught.value.retry_after == 3560  # the first start frees up at 1000 + 3600
    assert t.sleeps == []

    t.now = 1000.0 + 3600
    pacer.acquire()
    assert pacer.used_last_hour() == 4


# --- streaming ---------------------------------------------------------------------------------


def test_gunzip_across_tiny_chunks_and_several_members() -> None:
    body = gzip.compress(b'{"a":1}\n{"b":2}\n') + gzip.compress(b'{"c":3}\n')
    chunks = [body[i : i + 1] for i in range(len(body))]

    assert list(split_lines(gunzip(chunks))) == ['{"a":1}', '{"b":2}', '{"c":3}']


def test_a_gzip_body_cut_short_is_detected() -> None:
    body = gzip.compress(b'{"a":1}\n' * 1000)
    with pytest.raises(TruncatedStream):
        list(gunzip([body[: len(body) // 2]]))


def test_split_lines_keeps_blank_lines_and_the_last_line_without_newline() -> None:
    chunks = [b"one\r\n\ntw", b"o\n", b"", b"\xff\xfethree"]
    assert list(split_lines(chunks)) == ["one", "", "two", "\ufffd\ufffdthree"]
