"""Usage from Segment: the collector's spool and/or a copy of Segment's storage archive. Every
retained message is re-read each pull, so a re-pull of a window gives the same rollups; `group`
calls (whatever their day) map users to accounts. Account traits come from `group` traits,
and with `[sources.profiles]` from Segment's Profile API too, read only for the accounts asked."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import date
from pathlib import Path
from typing import Any

from plg_handoff.config import ConfigError, Secrets, SegmentSourceConfig
from plg_handoff.connectors.base import Quarantined
from plg_handoff.connectors.mixpanel_shape import traits_from_profile
from plg_handoff.connectors.registry import register
from plg_handoff.connectors.segment.archive import SegmentArchiveReader, SegmentS3ArchiveReader
from plg_handoff.connectors.segment.messages import GroupMap, to_event
from plg_handoff.connectors.segment.profiles import SegmentProfilesClient
from plg_handoff.connectors.segment.s3 import S3Client, S3Credentials
from plg_handoff.connectors.segment.spool import Spool
from plg_handoff.domain.usage import AccountTraits
from plg_handoff.logs import get_logger

log = get_logger(__name__)
USAGE_TYPES = frozenset({"track", "page", "screen"})
ENV_PROFILES_TOKEN = "HANDOFF_SEGMENT_PROFILES_TOKEN"  # noqa: S105  # a variable name
# Profile API requests in flight at once: enough to reach the pace over a real network, fewer
# than the HTTP session's 10 pooled connections. The client's pacer keeps the rate, spacing the
# starts at PACE_SHARE of `max_per_second`: requests in flight together reach the API with more
# jitter than one at a time, and a 429 late in a pull can cost the whole pull a retry.
PROFILE_WORKERS = 8
PACE_SHARE = 0.9


@register("source", "segment")
class SegmentUsageSource:
    def __init__(self, config: SegmentSourceConfig, secrets: Secrets | None = None) -> None:
        self._config = config
        self._profiles_token = _profiles_token(config, secrets)
        self._spool = (
            Spool(config.spool_dir, retention_seconds=config.retention.total_seconds())
            if config.spool_dir
            else None
        )
        self._archive = SegmentArchiveReader(config.archive_dir) if config.archive_dir else None
        self._s3_archive = _s3_archive(config, secrets)
        self._s3_mirror: SegmentArchiveReader | None = None  # synced once per export
        self._groups = GroupMap()

    def export(self, days: Sequence[date], workdir: Path) -> list[Path]:
        """The usage messages as one JSONL file in the export shape. The spool's closed segments
        are acknowledged (moved to done/, kept for the retention) once converted."""
        del days  # group calls of any day are needed; the rollup keeps only the window
        self._s3_mirror = self._s3_archive.sync() if self._s3_archive else None
        pending = self._spool.segments() if self._spool else []
        segments = [*(self._spool.acknowledged() if self._spool else []), *pending]
        groups = GroupMap()
        for message in self._messages(segments):
            if isinstance(message, dict):
                groups.fold(message)
        out = workdir / "segment.jsonl"
        with out.open("w", encoding="utf-8") as lines:
            for message in self._messages(segments):
                if isinstance(message, str):  # an archive line that is not a JSON object
                    lines.write(message + "\n")
                    continue
                if message.get("type") not in USAGE_TYPES:
                    continue
                event = to_event(message, groups, self._config.account_property)
                # One it cannot convert still goes through, to be quarantined with a reason.
                lines.write(json.dumps(event if event is not None else message) + "\n")
        self._groups = groups
        if self._spool:
            for segment in pending:
                self._spool.acknowledge(segment)
        return [out]

    def traits(self, accounts: Sequence[str]) -> tuple[dict[str, AccountTraits], list[Quarantined]]:
        """Without `profiles`: the `group` traits of every account seen by `export`. With it:
        for `accounts` only, the account profile's traits over its `group` traits (a 404, no
        profile, leaves the `group` traits). Other accounts are left out rather than given their
        `group` traits alone, which would replace the profile's in their workflow. A Profile API
        failure raises its typed error: Temporal retries the pull, no traits are dropped."""
        mapping = self._config.traits
        groups = self._groups.accounts()
        if self._config.profiles is None:
            return {
                account: traits_from_profile(values, mapping) for account, values in groups.items()
            }, []
        wanted = list(dict.fromkeys(accounts))
        profiles = self._read_profiles(wanted)
        return {
            account: traits_from_profile(
                {**groups.get(account, {}), **profiles.get(account, {})}, mapping
            )
            for account in wanted
            if account in groups or account in profiles
        }, []

    def _read_profiles(self, accounts: list[str]) -> dict[str, dict[str, Any]]:
        """Each account's profile traits, those without a profile left out; paced by the
        client, a few requests in flight, the first failure stops the rest and is raised."""
        settings = self._config.profiles
        if settings is None or self._profiles_token is None or not accounts:
            return {}
        client = SegmentProfilesClient(
            settings.space_id,
            self._profiles_token,
            base_url=str(settings.base_url),
            timeout_s=settings.timeout.total_seconds(),
            max_per_second=settings.max_per_second * PACE_SHARE,
        )
        found: dict[str, dict[str, Any]] = {}
        pool = ThreadPoolExecutor(
            max_workers=min(PROFILE_WORKERS, len(accounts)), thread_name_prefix="segment-profiles"
        )
        try:
            pending = {pool.submit(client.account_traits, account): account for account in accounts}
            for done in as_completed(pending):
                traits = done.result()
                if traits is not None:
                    found[pending[done]] = traits
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            client.close()
        log.info(
            "segment.profiles_read",
            source=self._config.name,
            requested=len(accounts),
            found=len(found),
        )
        return found

    def _messages(self, segments: list[Path]) -> Iterator[dict[str, Any] | str]:
        for archive in (self._archive, self._s3_mirror):
            if archive:
                yield from archive.messages(None)
        if self._spool:
            for segment in segments:
                yield from self._spool.read(segment)


def _profiles_token(config: SegmentSourceConfig, secrets: Secrets | None) -> str | None:
    if config.profiles is None:
        return None
    token = secrets.segment_profiles_token if secrets is not None else None
    if token is None or not token.get_secret_value():
        raise ConfigError(
            f"environment: {ENV_PROFILES_TOKEN}: required by source {config.name!r} "
            "([sources.profiles]): a Profile API access token"
        )
    return token.get_secret_value()


def _s3_archive(
    config: SegmentSourceConfig, secrets: Secrets | None
) -> SegmentS3ArchiveReader | None:
    if config.archive_url is None:
        return None
    key_id = secrets.s3_access_key_id if secrets is not None else None
    secret = secrets.s3_secret_access_key if secrets is not None else None
    if key_id is None or secret is None:
        raise ConfigError(
            "environment: HANDOFF_S3_ACCESS_KEY_ID and HANDOFF_S3_SECRET_ACCESS_KEY: required by "
            f"source {config.name!r} (archive_url = {config.archive_url!r})"
        )
    if config.archive_cache_dir is None:
        raise ConfigError(
            f"source {config.name!r}: archive_cache_dir is unset (load_config sets it by default)"
        )
    token = secrets.s3_session_token if secrets is not None else None
    credentials = S3Credentials(
        key_id.get_secret_value(),
        secret.get_secret_value(),
        token.get_secret_value() if token is not None else None,
    )
    client = S3Client(
        credentials,
        region=config.s3_region,
        endpoint_url=str(config.s3_endpoint_url) if config.s3_endpoint_url else None,
    )
    return SegmentS3ArchiveReader(client, config.archive_url, config.archive_cache_dir)
