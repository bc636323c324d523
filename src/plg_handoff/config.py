"""The configuration file (TOML) and the secrets (environment), validated at start-up."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from plg_handoff.domain.metrics import MAX_METRICS, MetricDefinition, default_metrics
from plg_handoff.domain.ruleset import RuleSet

if TYPE_CHECKING:
    from plg_handoff.codec import KeyRing

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _parse_duration(value: object) -> object:
    """Accepts '30s', '5m', '6h', '14d', '2w' besides ISO 8601 and plain seconds."""
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
MetricName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TemporalSettings(_Section):
    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "plg-handoff"
    tls: bool = False
    tls_client_cert: Path | None = None
    tls_client_key: Path | None = None
    max_cached_workflows: int = Field(default=1000, ge=0)
    """Workflows each worker process keeps in memory on each of its workflow task queues.
    A signal or query to one that left the cache replays it from its history first."""
    encrypt_payloads: bool = Field(
        False,
        description="Encrypt every payload (workflow and activity inputs and results, signals,"
        " queries, memos, failure messages) with AES-256-GCM, keys from HANDOFF_CODEC_KEYS;"
        " Temporal UI reads them through `handoff codec-server`.",
    )


class TraitMapping(_Section):
    """Which group-profile property holds each account trait."""

    name: str = "name"
    plan: str = "plan"
    limits: dict[str, str] = Field(
        default_factory=lambda: {
            "seats": "seat_limit",
            "storage_gb": "storage_limit_gb",
            "api_calls": "api_call_limit",
        }
    )
    employees: str = "employees"
    arr_potential: str = "arr_potential"
    region: str = "region"
    industry: str = "industry"
    domains: str = "domains"
    signup_date: str = "signup_date"


class _UsageSourceConfig(_Section):
    """What every usage source has: how events name their account, what is rolled up from
    them, where traits come from, and how often and how far back it is pulled."""

    kind: str  # each source narrows it to its own literal
    name: Name
    account_property: str = Field("account_id", description="The group key on events.")
    gauges: dict[str, str] = Field(
        default_factory=lambda: {
            "seats": "seats_used",
            "storage_gb": "storage_used_gb",
            "api_calls": "api_calls_month",
        },
        description="Gauge name -> numeric event property; the day keeps the maximum.",
    )
    metrics: dict[MetricName, MetricDefinition] = Field(
        default_factory=dict,
        description="Metric name -> definition, added to (or replacing) the default metrics.",
    )
    default_metrics: bool = Field(
        True,
        description="Start from the default metrics of this source's kind (domain.metrics:"
        " DEFAULT_METRICS with the vendor's own property names, VENDOR_PROPERTIES).",
    )
    known_events: tuple[str, ...] | None = Field(
        None,
        min_length=1,
        description="When set, events of other names than these and those the metrics read"
        " are quarantined as `unknown_event`.",
    )
    traits: TraitMapping = TraitMapping()
    sync_interval: Duration = timedelta(minutes=5)
    window_days: int = Field(
        3,
        ge=1,
        le=90,
        description="Days of usage kept current, today included: the first cycle pulls them all.",
    )
    late_data_days: int = Field(
        3,
        ge=1,
        le=90,
        description="Days that can still change: a scheduled cycle re-pulls these, today"
        " included (at most window_days; the default is cut to a smaller window).",
    )

    @field_validator("late_data_days")
    @classmethod
    def _late_data_within_window(cls, late_data_days: int, info: ValidationInfo) -> int:
        window_days = info.data.get("window_days")
        if isinstance(window_days, int) and late_data_days > window_days:
            raise ValueError(f"must be at most window_days ({window_days})")
        return late_data_days

    def late_days(self, window_days: int | None = None) -> int:
        """The late-data horizon within a window of this many days (default: `window_days`)."""
        return min(self.late_data_days, window_days or self.window_days)

    @model_validator(mode="after")
    def _metrics_fit(self) -> _UsageSourceConfig:
        if (count := len(self.metric_definitions())) > MAX_METRICS:
            raise ValueError(f"at most {MAX_METRICS} metrics a source, got {count}")
        return self

    def known_event_names(self) -> tuple[str, ...] | None:
        """`known_events` and every event a metric names; None (any event) when not set."""
        if self.known_events is None:
            return None
        named = (e for metric in self.metric_definitions().values() for e in metric.events)
        return tuple(sorted({*self.known_events, *named}))

    def metric_definitions(self) -> dict[str, MetricDefinition]:
        """The metrics this source rolls up: the defaults (unless turned off) and its own."""
        defaults = default_metrics(self.kind) if self.default_metrics else {}
        return {**defaults, **self.metrics}


class FileSourceConfig(_UsageSourceConfig):
    """JSONL files in the Mixpanel export shape, and optionally group profiles for traits."""

    kind: Literal["file"]
    path: Path = Field(description="A .jsonl file or a directory of them.")
    traits_path: Path | None = Field(None, description="JSONL of Mixpanel group profiles.")


class MixpanelSourceConfig(_UsageSourceConfig):
    """Mixpanel's raw Export API for events, the Engage API for group profiles (traits).
    Credentials come from the environment: HANDOFF_MIXPANEL_SERVICE_ACCOUNT_USERNAME and
    HANDOFF_MIXPANEL_SERVICE_ACCOUNT_SECRET, or HANDOFF_MIXPANEL_PROJECT_SECRET."""

    kind: Literal["mixpanel"]
    project_id: int = Field(gt=0)
    region: Literal["us", "eu", "in"] = "us"
    base_url: HttpUrl | None = Field(None, description="Overrides the region's hosts.")
    auth: Literal["service_account", "project_secret"] = "service_account"
    data_group_id: str | None = Field(None, description="Engage group id for account traits.")
    events: tuple[str, ...] = Field((), description="Export only these events (all if empty).")
    where: str | None = Field(None, description="Mixpanel `where` expression for the export.")
    exports_per_hour: int = Field(
        60,
        ge=1,
        le=60,
        description="Export queries a pull may spend per hour (Mixpanel allows 60 a project); "
        "lower to leave room for other tools reading the same project. Every worker counts "
        "against the one budget.",
    )
    timeout: Duration = timedelta(minutes=5)


class SegmentProfilesConfig(_Section):
    """Account traits from Segment's Profile API (Unify), read for the accounts whose usage
    changed; the access token comes from HANDOFF_SEGMENT_PROFILES_TOKEN."""

    space_id: str = Field(min_length=1, description="The Unify space (spa_...).")
    # The same as plg_handoff.connectors.segment.profiles.DEFAULT_BASE_URL (not imported:
    # connectors depend on this module); a workspace in another region sets its own host.
    base_url: HttpUrl = HttpUrl("https://profiles.segment.com")
    max_per_second: float = Field(
        100, gt=0, le=100, description="The Profile API's limit (100/s); sent at 90% of it."
    )
    timeout: Duration = timedelta(seconds=10)


_S3_URL = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?")


class SegmentSourceConfig(_UsageSourceConfig):
    """Segment messages received by the collector (`python -m plg_handoff.connectors.segment`)
    into its spool; the account of an event is `context.groupId`, or the user's last `group`."""

    kind: Literal["segment"]
    spool_dir: Path | None = Field(None, description="The collector's spool.")
    archive_dir: Path | None = Field(
        None, description="A copy of Segment's storage archive (day/hour folders of .gz)."
    )
    archive_url: str | None = Field(
        None, description="The storage archive in S3 or an S3-compatible store: s3://bucket/prefix."
    )
    s3_endpoint_url: HttpUrl | None = Field(
        None, description="An S3-compatible endpoint (MinIO, R2, ...); default AWS's for s3_region."
    )
    s3_region: str = Field("us-east-1", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    archive_cache_dir: Path | None = Field(
        None,
        description="Local mirror of archive_url; default <data_dir>/cache/segment-archive/<name>.",
    )
    retention: Duration = Field(
        timedelta(days=7), description="How long pulled segments are kept for re-pulls."
    )
    profiles: SegmentProfilesConfig | None = Field(
        None, description="Profile API traits, merged over the `group` call traits."
    )

    @field_validator("archive_url")
    @classmethod
    def _s3_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        match = _S3_URL.fullmatch(url)
        if match is None:
            raise ValueError(
                "archive_url must be s3://<bucket>/<prefix>, the bucket 3-63 lower-case letters, "
                "digits, '.' or '-'"
            )
        prefix = (match["prefix"] or "").strip("/")
        if prefix and any(part in {"", ".", ".."} for part in prefix.split("/")):
            raise ValueError("archive_url: the prefix cannot have empty, '.' or '..' folders")
        return url

    @model_validator(mode="after")
    def _has_an_input(self) -> SegmentSourceConfig:
        if self.spool_dir is None and self.archive_dir is None and self.archive_url is None:
            raise ValueError(
                "set spool_dir (the collector's spool), archive_dir and/or archive_url"
            )
        return self


SourceConfig = Annotated[
    FileSourceConfig | MixpanelSourceConfig | SegmentSourceConfig, Field(discriminator="kind")
]
# Discriminator tags pydantic puts in error locations; dropped so paths read `sources[0].x`.
_KIND_TAGS = frozenset({"file", "mixpanel", "segment", "hubspot", "salesforce"})


class OwnerRoute(_Section):
    """A `[[crm.routing]]` entry: handoffs of accounts matching every criterion it names go
    to its pool (first match wins; none matches: `owner_pool`). Values compare
    case-insensitively with the account's region and industry traits and the segment."""

    name: Name = Field(description="The pool's name; its rotation is owner-pool/<queue>/<name>.")
    owners: tuple[str, ...] = Field(min_length=1, description="Owner/user ids of the pool.")
    regions: tuple[str, ...] = Field((), description="Territories/regions; empty: any.")
    segments: tuple[str, ...] = Field(
        (), description="self_serve, sales_assist, enterprise; empty: any."
    )
    industries: tuple[str, ...] = Field((), description="Industries; empty: any.")
    max_open_per_owner: int | None = Field(
        None, ge=1, description="Overrides crm.max_open_per_owner for this pool."
    )


class _CrmRouting(_Section):
    routing: tuple[OwnerRoute, ...] = Field(
        (), description="Routing rules to owner pools, tried in order ([[crm.routing]])."
    )
    max_open_per_owner: int | None = Field(
        None,
        ge=1,
        description="Capacity cap: an owner with this many open handoffs is skipped by the"
        " round-robin (unless every owner of the pool is at the cap). None: no cap.",
    )
    existing_owner_first: bool = Field(
        True, description="An account that has an active owner in the CRM keeps that owner."
    )

    @field_validator("routing")
    @classmethod
    def _pool_names_unique(cls, routing: tuple[OwnerRoute, ...]) -> tuple[OwnerRoute, ...]:
        names = [route.name for route in routing]
        if "default" in names or len(set(names)) != len(names):
            raise ValueError(f"routing names must be unique and not 'default', got {names}")
        return routing


# HubSpot's published limits per private app: the general one by subscription tier, and the
# CRM search endpoints' own, apart from it.
HUBSPOT_REQUESTS_PER_10S_PROFESSIONAL = 190  # Professional and Enterprise
HUBSPOT_REQUESTS_PER_10S_STARTER = 100  # Free and Starter
HUBSPOT_SEARCH_REQUESTS_PER_S = 4
# Salesforce publishes a daily allocation per org (read from its answers), no per-second one.
SALESFORCE_REQUESTS_PER_S = 10
SALESFORCE_DAILY_RESERVE = 0.10


class HubSpotConfig(_CrmRouting):
    kind: Literal["hubspot"]
    base_url: HttpUrl = HttpUrl("https://api.hubapi.com")
    external_id_property: str = "plg_handoff_id"
    pipeline: str = "default"
    deal_stage: str = "appointmentscheduled"
    stage_by_trigger: dict[str, str] = Field(
        default_factory=dict, description="Trigger name -> deal stage, over `deal_stage`."
    )
    close_in_days: int = Field(30, ge=1, le=365, description="closedate of a new deal.")
    won_stages: tuple[str, ...] = ("closedwon",)
    lost_stages: tuple[str, ...] = ("closedlost",)
    owner_pool: tuple[str, ...] = Field(
        (), description="Owner ids for round-robin; empty means every active owner."
    )
    timeout: Duration = timedelta(seconds=20)
    requests_per_10s: int = Field(
        HUBSPOT_REQUESTS_PER_10S_PROFESSIONAL,
        ge=1,
        description="The private app's limit per 10 seconds: 190 on Professional and"
        " Enterprise, 100 on Free and Starter (more with the API limit increase).",
    )
    search_requests_per_s: int = Field(
        HUBSPOT_SEARCH_REQUESTS_PER_S,
        ge=1,
        description="The CRM search endpoints' limit per second, apart from requests_per_10s.",
    )


class SalesforceConfig(_CrmRouting):
    """Salesforce through its REST API. Credentials come from the environment, per `auth`:
    password: HANDOFF_SALESFORCE_USERNAME, _PASSWORD, _SECURITY_TOKEN (optional when the
    network is trusted), _CLIENT_ID, _CLIENT_SECRET; client_credentials: _CLIENT_ID,
    _CLIENT_SECRET; jwt: _CLIENT_ID, _USERNAME, _JWT_KEY_PATH (a PEM private key)."""

    kind: Literal["salesforce"]
    login_url: HttpUrl = Field(
        HttpUrl("https://login.salesforce.com"),
        description="Where the OAuth token is asked for: login.salesforce.com,"
        " test.salesforce.com (sandboxes) or the org's My Domain (client_credentials).",
    )
    instance_url: HttpUrl | None = Field(
        None, description="Overrides the instance URL the token answer names."
    )
    api_version: str = Field("62.0", pattern=r"^\d{2,3}\.0$")
    auth: Literal["password", "client_credentials", "jwt"] = "password"
    external_id_field: str = Field(
        "Plg_Handoff_Id__c",
        pattern=r"^[A-Za-z][A-Za-z0-9_]*__c$",
        description="Opportunity custom field, External ID and unique, keyed by handoff.",
    )
    stage: str = Field("Prospecting", description="StageName of a new opportunity.")
    stage_by_trigger: dict[str, str] = Field(
        default_factory=dict, description="Trigger name -> StageName, over `stage`."
    )
    close_in_days: int = Field(30, ge=1, le=365, description="CloseDate of a new opportunity.")
    account_external_id_field: str = Field(
        "Plg_Account_Id__c",
        pattern=r"^[A-Za-z][A-Za-z0-9_]*__c$",
        description="Account custom field, External ID and unique, holding the product's"
        " account id; accounts are found by it, then by Website.",
    )
    owner_pool: tuple[str, ...] = Field(
        (), description="User ids for round-robin; empty means every active user."
    )
    timeout: Duration = timedelta(seconds=20)
    requests_per_second: int = Field(
        SALESFORCE_REQUESTS_PER_S, ge=1, description="Requests sent per second at most."
    )
    daily_api_reserve: float = Field(
        SALESFORCE_DAILY_RESERVE,
        ge=0,
        lt=1,
        description="Share of the org's daily API allocation left to its other integrations:"
        " the daemon stops (and retries later) once only this much is left.",
    )


CrmConfig = Annotated[HubSpotConfig | SalesforceConfig, Field(discriminator="kind")]


class SegmentWritebackConfig(_Section):
    """When a handoff opens, send Segment a `PQL Triggered` event and the account's PQL traits
    (write key from HANDOFF_SEGMENT_WRITE_KEY)."""

    host: HttpUrl = HttpUrl("https://api.segment.io")
    timeout: Duration = timedelta(seconds=10)


class WritebackSettings(_Section):
    segment: SegmentWritebackConfig | None = None


class SlaSettings(_Section):
    """How fast a handoff of one tier must be assigned and first contacted, from the signal."""

    assign_within: Duration = Field(timedelta(hours=1), gt=timedelta(0))
    contact_within: Duration = Field(timedelta(hours=4), gt=timedelta(0))


SlaTier = Literal["tier1", "tier2", "tier3"]


def _default_slas() -> dict[SlaTier, SlaSettings]:
    return {
        "tier1": SlaSettings(),
        "tier2": SlaSettings(),
        "tier3": SlaSettings(assign_within=timedelta(hours=24), contact_within=timedelta(days=3)),
    }


class HandoffSettings(_Section):
    task_due_after: Duration | None = Field(
        None,
        description="When the owner's task is due, from the signal (from a reassignment for the"
        " new owner). Default: the tier's first-contact SLA.",
    )
    follow_up_poll_interval: Duration = timedelta(hours=6)
    expire_after: Duration = timedelta(days=14)
    cooldown: Duration = timedelta(days=30)
    sla: dict[SlaTier, SlaSettings] = Field(
        default_factory=_default_slas,
        description="SLAs by tier ([handoff.sla.tier1] ...); a tier not listed keeps its default.",
    )
    max_reassignments: int = Field(
        2, ge=0, le=10, description="Owners a handoff is moved on to after missed contact SLAs."
    )

    def sla_for(self, tier: int) -> SlaSettings:
        """A tier's SLA; tier 0 (no tier) is held to tier 1's, tiers past 3 to tier 3's."""
        name: SlaTier = ("tier1", "tier2", "tier3")[min(max(tier, 1), 3) - 1]
        return self.sla.get(name) or _default_slas()[name]


class WebhookSettings(_Section):
    """The receiver of CRM pushes (HubSpot webhooks, Salesforce outbound messages) that makes a
    handoff read the CRM at once instead of at its next poll."""

    host: str = "127.0.0.1"
    port: int = Field(8788, ge=0, le=65535)
    public_url: str | None = Field(
        None,
        description="The base URL the CRM calls (e.g. https://handoff.example.com) when a proxy"
        " sits in front; HubSpot signs that URL. Default: the request's Host header.",
    )
    hubspot: bool = Field(True, description="Serve POST /webhooks/hubspot.")
    salesforce_organization_id: str | None = Field(
        None,
        description="Serve POST /webhooks/salesforce for outbound messages of this org (00D...).",
    )
    salesforce_action_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$",
        description="Take only the outbound message with this id (04k..., its ActionId).",
    )
    salesforce_instance_url: HttpUrl | None = Field(
        None,
        description="The org's My Domain URL (https://acme.my.salesforce.com): a message's"
        " EnterpriseUrl and PartnerUrl must be on its host.",
    )
    salesforce_verify_session: bool = Field(
        False,
        description="Check each outbound message's session with Salesforce (UserInfo on"
        " salesforce_instance_url) before acting on it; the outbound message must send its"
        " session id ('Send Session ID').",
    )
    idle_timeout: Duration = Field(
        timedelta(seconds=5),
        ge=timedelta(seconds=1),
        description="A connection without a request in progress is closed after this.",
    )
    read_timeout: Duration = Field(
        timedelta(seconds=10),
        gt=timedelta(0),
        description="A request's headers, then its body, must each arrive within this (408).",
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        le=64 * 1024 * 1024,
        description="Larger bodies are refused (413) as soon as that is known, never buffered.",
    )
    max_connections: int = Field(
        100, ge=1, le=10_000, description="Requests beyond this many connections get 503."
    )
    backlog: int = Field(
        1024, ge=1, le=65_535, description="Connections the kernel queues before they are served."
    )
    tls_cert_file: Path | None = Field(
        None, description="Serve HTTPS with this certificate chain (PEM)."
    )
    tls_key_file: Path | None = Field(
        None, description="The certificate's key (PEM). Default: in tls_cert_file."
    )
    tls_client_ca_file: Path | None = Field(
        None,
        description="Require a client certificate signed by this CA (PEM), e.g. the one"
        " Salesforce presents with outbound messages.",
    )

    @model_validator(mode="after")
    def _session_check_needs_the_instance(self) -> WebhookSettings:
        if self.salesforce_verify_session and self.salesforce_instance_url is None:
            raise ValueError("salesforce_verify_session needs salesforce_instance_url")
        return self

    @model_validator(mode="after")
    def _tls_needs_a_certificate(self) -> WebhookSettings:
        if self.tls_cert_file is None and (self.tls_key_file or self.tls_client_ca_file):
            raise ValueError("tls_key_file and tls_client_ca_file need tls_cert_file")
        return self

    def salesforce_instance_host(self) -> str | None:
        url = self.salesforce_instance_url
        return url.host if url is not None else None


class CodecServerSettings(_Section):
    """`handoff codec-server`: Temporal's remote codec (POST /encode, /decode), so Temporal UI
    and the `temporal` CLI can read encrypted payloads. Keys from HANDOFF_CODEC_KEYS."""

    host: str = "127.0.0.1"
    port: int = Field(8789, ge=0, le=65535)
    ui_origins: tuple[str, ...] = Field(
        (),
        description="Origins of Temporal UI allowed to call it from the browser (CORS), e.g."
        " https://temporal.example.com; the UI's browser tab makes the codec calls.",
    )
    require_token: bool = Field(
        True,
        description="Requests need `Authorization: Bearer <HANDOFF_CODEC_SERVER_TOKEN>`. Turn off"
        " only where an authenticating proxy alone reaches the server.",
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="Larger requests are refused (413)."
    )


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class NotificationSettings(_Section):
    """Slack alerts by tier (webhook URLs from HANDOFF_SLACK_WEBHOOK_URL and, for escalations,
    HANDOFF_SLACK_ESCALATION_WEBHOOK_URL): tier 1 at once, tier 2 only as the CRM task,
    tier 3 in a weekly digest."""

    enabled: bool = Field(False, description="Send Slack notifications at all.")
    channel: str | None = Field(
        None, description="The channel's name, for messages and logs (the webhook decides it)."
    )
    escalation_channel: str | None = Field(
        None, description="The escalation webhook's channel name, for results and logs."
    )
    cap_per_account: int = Field(
        3, ge=1, le=100, description="At most this many messages about one account per window."
    )
    cap_window: Duration = timedelta(days=7)
    digest: bool = Field(True, description="Post the weekly digest of tier-3 handoffs.")
    digest_day: Weekday = "monday"
    digest_time: str = Field(
        "09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="UTC time of the digest."
    )
    timeout: Duration = timedelta(seconds=10)


class CalibrationSettings(_Section):
    """The measured win rate per trigger, smoothed toward the configured conversion (the
    prior), replaces it in scoring once a trigger has `min_outcomes` closed handoffs."""

    enabled: bool = False
    min_outcomes: int = Field(
        20, ge=1, description="Closed handoffs (won, lost, expired) a trigger needs first."
    )
    prior_weight: float = Field(
        10, gt=0, description="How many handoffs the prior counts as (pseudo-count)."
    )
    lookback: Duration = Field(
        timedelta(days=365), description="Handoffs signalled this far back are measured."
    )
    refresh_interval: Duration = timedelta(hours=1)


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"


class Config(_Section):
    data_dir: Path = Path(".handoff")
    temporal: TemporalSettings = TemporalSettings()
    sources: tuple[SourceConfig, ...]
    crm: CrmConfig
    rules: RuleSet = RuleSet()
    handoff: HandoffSettings = HandoffSettings()
    webhooks: WebhookSettings | None = None
    codec_server: CodecServerSettings = CodecServerSettings()
    writeback: WritebackSettings = WritebackSettings()
    notifications: NotificationSettings = NotificationSettings()
    calibration: CalibrationSettings = CalibrationSettings()
    log: LogSettings = LogSettings()

    @field_validator("sources")
    @classmethod
    def _at_least_one_unique_source(
        cls, sources: tuple[SourceConfig, ...]
    ) -> tuple[SourceConfig, ...]:
        if not sources:
            raise ValueError("at least one [[sources]] entry is needed")
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        return sources

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(f"no source named {name!r} in the configuration")


class Secrets(BaseSettings):
    """Credentials come from the environment only, never from the config file."""

    model_config = SettingsConfigDict(env_prefix="HANDOFF_", extra="ignore")

    hubspot_access_token: SecretStr | None = None
    salesforce_username: SecretStr | None = None
    salesforce_password: SecretStr | None = None
    salesforce_security_token: SecretStr | None = None
    salesforce_client_id: SecretStr | None = None
    salesforce_client_secret: SecretStr | None = None
    salesforce_jwt_key_path: Path | None = None
    temporal_api_key: SecretStr | None = None
    mixpanel_service_account_username: SecretStr | None = None
    mixpanel_service_account_secret: SecretStr | None = None
    mixpanel_project_secret: SecretStr | None = None
    segment_write_key: SecretStr | None = None
    s3_access_key_id: SecretStr | None = None  # Segment's archive in S3 (archive_url)
    s3_secret_access_key: SecretStr | None = None
    s3_session_token: SecretStr | None = None  # temporary credentials only
    segment_profiles_token: SecretStr | None = None
    hubspot_client_secret: SecretStr | None = None  # signs HubSpot webhooks (v3)
    slack_webhook_url: SecretStr | None = None  # [notifications]
    slack_escalation_webhook_url: SecretStr | None = None  # SLA breaches; default the above
    codec_keys: SecretStr | None = None  # payload encryption keys: "<id>:<base64>,..."
    codec_server_token: SecretStr | None = None  # what `handoff codec-server` asks callers for

    def values(self) -> list[str]:
        """Every secret value, for the log redactor (each codec key on its own as well)."""
        values = [
            value.get_secret_value()
            for value in self.__dict__.values()
            if isinstance(value, SecretStr) and value.get_secret_value()
        ]
        if self.codec_keys is not None:
            entries = self.codec_keys.get_secret_value().split(",")
            values += [key.strip() for entry in entries for key in entry.split(":")[1:]]
        return values


def config_json_schema() -> str:
    """The configuration file's JSON Schema (`handoff schema`), for editors to check TOML."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "plg-handoff configuration (handoff.toml)"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


class ConfigError(Exception):
    """The configuration cannot be used; the message names each bad field."""


def load_config(path: Path) -> Config:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such configuration file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(raw, base_dir=path.parent, origin=str(path))


def parse_config(raw: dict[str, Any], *, base_dir: Path, origin: str = "config") -> Config:
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, origin)) from None
    return _resolve_paths(config, base_dir)


def load_secrets(config: Config) -> Secrets:
    try:
        secrets = Secrets()
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "environment")) from None
    missing = [f"{env}: required by {reason}" for env, reason in _required_secrets(config, secrets)]
    if missing:
        raise ConfigError("environment: missing secret(s)\n  " + "\n  ".join(missing))
    if secrets.codec_keys is not None:
        codec_keys(secrets)  # a malformed key fails the start, whether or not encryption is on
    return secrets


def codec_keys(secrets: Secrets) -> KeyRing:
    """The payload encryption keys of HANDOFF_CODEC_KEYS; a ConfigError naming the variable
    (never a key) when they are missing or malformed."""
    # Imported here: activities and workflows import this module, and need no cryptography.
    from plg_handoff.codec import KEYS_VARIABLE, CodecKeyError, KeyRing

    if secrets.codec_keys is None:
        raise ConfigError(
            f"environment: missing secret(s)\n  {KEYS_VARIABLE}: required by"
            " [temporal] encrypt_payloads = true (and by `handoff codec-server`)"
        )
    try:
        return KeyRing.parse(secrets.codec_keys.get_secret_value())
    except CodecKeyError as exc:
        raise ConfigError(f"environment: {exc}") from None


def _required_secrets(config: Config, secrets: Secrets) -> list[tuple[str, str]]:
    needed: list[tuple[str, str]] = []
    if config.crm.kind == "hubspot" and secrets.hubspot_access_token is None:
        needed.append(
            ("HANDOFF_HUBSPOT_ACCESS_TOKEN", "crm.kind = 'hubspot' (a private-app token)")
        )
    needed.extend(_salesforce_secrets(config, secrets))
    if config.writeback.segment is not None and secrets.segment_write_key is None:
        needed.append(("HANDOFF_SEGMENT_WRITE_KEY", "[writeback.segment]"))
    for index, source in enumerate(config.sources):
        if isinstance(source, SegmentSourceConfig) and source.profiles is not None:
            if secrets.segment_profiles_token is None:
                where = f"sources[{index}] ({source.name}), [sources.profiles]"
                needed.append(("HANDOFF_SEGMENT_PROFILES_TOKEN", where))
            continue
        if not isinstance(source, MixpanelSourceConfig):
            continue
        where = f"sources[{index}] ({source.name}), auth = '{source.auth}'"
        if source.auth == "project_secret" and secrets.mixpanel_project_secret is None:
            needed.append(("HANDOFF_MIXPANEL_PROJECT_SECRET", where))
        if source.auth == "service_account":
            if secrets.mixpanel_service_account_username is None:
                needed.append(("HANDOFF_MIXPANEL_SERVICE_ACCOUNT_USERNAME", where))
            if secrets.mixpanel_service_account_secret is None:
                needed.append(("HANDOFF_MIXPANEL_SERVICE_ACCOUNT_SECRET", where))
    needed.extend(_s3_secrets(config, secrets))
    hooks = config.webhooks
    if hooks is not None and hooks.hubspot and secrets.hubspot_client_secret is None:
        needed.append(("HANDOFF_HUBSPOT_CLIENT_SECRET", "[webhooks] hubspot = true"))
    if config.notifications.enabled and secrets.slack_webhook_url is None:
        needed.append(("HANDOFF_SLACK_WEBHOOK_URL", "[notifications] enabled = true"))
    if config.temporal.encrypt_payloads and secrets.codec_keys is None:
        needed.append(("HANDOFF_CODEC_KEYS", "[temporal] encrypt_payloads = true"))
    return needed


_SALESFORCE_SECRETS = {
    "password": ("username", "password", "client_id", "client_secret"),
    "client_credentials": ("client_id", "client_secret"),
    "jwt": ("client_id", "username", "jwt_key_path"),
}


def _salesforce_secrets(config: Config, secrets: Secrets) -> list[tuple[str, str]]:
    crm = config.crm
    if not isinstance(crm, SalesforceConfig):
        return []
    where = f"crm.kind = 'salesforce', auth = '{crm.auth}'"
    return [
        (f"HANDOFF_SALESFORCE_{name.upper()}", where)
        for name in _SALESFORCE_SECRETS[crm.auth]
        if getattr(secrets, f"salesforce_{name}") is None
    ]


def _s3_secrets(config: Config, secrets: Secrets) -> list[tuple[str, str]]:
    needed: list[tuple[str, str]] = []
    for index, source in enumerate(config.sources):
        if not isinstance(source, SegmentSourceConfig) or source.archive_url is None:
            continue
        where = f"sources[{index}] ({source.name}), archive_url = '{source.archive_url}'"
        if secrets.s3_access_key_id is None:
            needed.append(("HANDOFF_S3_ACCESS_KEY_ID", where))
        if secrets.s3_secret_access_key is None:
            needed.append(("HANDOFF_S3_SECRET_ACCESS_KEY", where))
    return needed


def format_validation_error(exc: ValidationError, origin: str) -> str:
    lines = [f"{origin}: {exc.error_count()} invalid setting(s)"]
    for error in exc.errors(include_url=False):
        where = _location(error["loc"])
        got = f" (got {error['input']!r})" if error["type"] not in {"missing"} else ""
        lines.append(f"  {where}: {error['msg']}{got}")
    return "\n".join(lines)


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for index, part in enumerate(loc):
        after_union = index > 0 and (isinstance(loc[index - 1], int) or loc[index - 1] == "crm")
        if isinstance(part, str) and part in _KIND_TAGS and after_union:
            continue
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts).lstrip(".") or "(top level)"


def _resolve_paths(config: Config, base_dir: Path) -> Config:
    def resolve(path: Path) -> Path:
        return path if path.is_absolute() else (base_dir / path).resolve()

    def cache_dir(source: SegmentSourceConfig) -> Path | None:
        if source.archive_cache_dir is not None:
            return resolve(source.archive_cache_dir)
        if source.archive_url is None:
            return None
        return resolve(config.data_dir) / "cache" / "segment-archive" / source.name

    sources = tuple(
        source.model_copy(
            update={
                "path": resolve(source.path),
                "traits_path": resolve(source.traits_path) if source.traits_path else None,
            }
        )
        if isinstance(source, FileSourceConfig)
        else source.model_copy(
            update={
                "spool_dir": resolve(source.spool_dir) if source.spool_dir else None,
                "archive_dir": resolve(source.archive_dir) if source.archive_dir else None,
                "archive_cache_dir": cache_dir(source),
            }
        )
        if isinstance(source, SegmentSourceConfig)
        else source
        for source in config.sources
    )
    return config.model_copy(update={"data_dir": resolve(config.data_dir), "sources": sources})
