"""The Mixpanel usage source: events from the raw Export API, account traits from group
profiles (Engage API)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from plg_handoff.config import ConfigError, MixpanelSourceConfig, Secrets
from plg_handoff.connectors.base import ParsedLine, Quarantined, TraitsRead
from plg_handoff.connectors.mixpanel_shape import parse_event_line, traits_from_profile
from plg_handoff.connectors.registry import register
from plg_handoff.domain.usage import AccountTraits

from .client import MAX_PAGE_SIZE, MixpanelClient, MixpanelCredentials

ENV_USERNAME = "HANDOFF_MIXPANEL_SERVICE_ACCOUNT_USERNAME"
ENV_SECRET = "HANDOFF_MIXPANEL_SERVICE_ACCOUNT_SECRET"  # noqa: S105  # a variable name
ENV_PROJECT_SECRET = "HANDOFF_MIXPANEL_PROJECT_SECRET"  # noqa: S105  # a variable name
ENV_PREFIX = "HANDOFF_"
# Profiles asked for by id in one Engage query: they come back in one page (1,000 at most),
# and the form body stays around 30 KB for ids of 20 characters.
IDS_PER_QUERY = MAX_PAGE_SIZE


def credentials_from_env(
    config: MixpanelSourceConfig, environ: Mapping[str, str] | None = None
) -> MixpanelCredentials:
    env = os.environ if environ is None else environ
    return _credentials(config, env.get)


def credentials_from_secrets(config: MixpanelSourceConfig, secrets: Secrets) -> MixpanelCredentials:
    def lookup(variable: str) -> str | None:
        value = getattr(secrets, variable.removeprefix(ENV_PREFIX).lower(), None)
        return value.get_secret_value() if value is not None else None

    return _credentials(config, lookup)


def _credentials(
    config: MixpanelSourceConfig, lookup: Callable[[str], str | None]
) -> MixpanelCredentials:
    def need(variable: str, what: str) -> str:
        value = lookup(variable)
        if not value:
            raise ConfigError(
                f"environment: {variable}: required by source {config.name!r} "
                f"(auth = {config.auth!r}): {what}"
            )
        return value

    if config.auth == "project_secret":
        return MixpanelCredentials.for_project_secret(
            need(ENV_PROJECT_SECRET, "the project's API secret")
        )
    return MixpanelCredentials.for_service_account(
        need(ENV_USERNAME, "the service account's username"),
        need(ENV_SECRET, "the service account's secret"),
    )


@register("source", "mixpanel")
class MixpanelUsageSource:
    def __init__(
        self,
        config: MixpanelSourceConfig,
        credentials: MixpanelCredentials | Secrets | None = None,
        *,
        client: MixpanelClient | None = None,
    ) -> None:
        """Credentials as such, from the worker's `Secrets`, or (None) from the environment."""
        self._config = config
        if client is None:
            if isinstance(credentials, Secrets):
                credentials = credentials_from_secrets(config, credentials)
            client = MixpanelClient(
                project_id=config.project_id,
                credentials=credentials or credentials_from_env(config),
                region=config.region,
                base_url=str(config.base_url) if config.base_url else None,
                timeout_s=config.timeout.total_seconds(),
                exports_per_hour=config.exports_per_hour,
            )
        self._client = client

    @classmethod
    def from_env(
        cls, config: MixpanelSourceConfig, environ: Mapping[str, str] | None = None
    ) -> MixpanelUsageSource:
        return cls(config, credentials_from_env(config, environ))

    @property
    def client(self) -> MixpanelClient:
        return self._client

    def export(self, days: Sequence[date], workdir: Path) -> list[Path]:
        """The raw export bodies saved to `workdir`, gzip kept as sent: one query (and one file)
        per run of consecutive days, to spend few of the hourly queries."""
        files = []
        for first, last in day_runs(days):
            saved = self._client.export_to_file(
                first, last, workdir, events=self._config.events, where=self._config.where
            )
            if saved is not None:
                files.append(saved)
        return files

    def read(self, days: Sequence[date]) -> Iterator[ParsedLine]:
        """The same queries line by line through the reference parser, streamed."""
        for first, last in day_runs(days):
            lines = self._client.export(
                first, last, events=self._config.events, where=self._config.where
            )
            for line in lines:
                yield parse_event_line(line.text, line.location, self._config.account_property)

    def traits(self, accounts: Sequence[str]) -> tuple[dict[str, AccountTraits], list[Quarantined]]:
        """Every group profile: without knowing how many there are, paging through them all
        is the bounded cost."""
        del accounts
        read = self._read_every_profile()
        return read.traits, read.bad

    def read_traits(self, accounts: Sequence[str], profiles_total: int | None) -> TraitsRead:
        """The accounts' profiles by id, `IDS_PER_QUERY` a query, when that takes fewer queries
        than paging through all `profiles_total` (unknown: paging, which counts them)."""
        wanted = sorted(set(accounts))
        if self._config.data_group_id is None or not wanted:
            return TraitsRead({}, [])
        queries_by_id = math.ceil(len(wanted) / IDS_PER_QUERY)
        if profiles_total is None or queries_by_id >= _pages(profiles_total):
            return self._read_every_profile()
        return self._read_profiles(wanted)

    def _read_every_profile(self) -> TraitsRead:
        group = self._config.data_group_id
        read = TraitsRead({}, [])
        if group is None:
            return read
        total = seen = 0
        for page in self._client.engage_pages(group):
            self._parse(page.results, read, first_number=seen + 1)
            seen += len(page.results)
            total = page.total if page.total is not None else seen
        return dataclasses.replace(read, profiles_total=total)

    def _read_profiles(self, accounts: list[str]) -> TraitsRead:
        group = self._config.data_group_id
        read = TraitsRead({}, [])
        seen = 0
        for start in range(0, len(accounts), IDS_PER_QUERY):
            found = list(
                self._client.engage(group, distinct_ids=accounts[start : start + IDS_PER_QUERY])
            )
            self._parse(found, read, first_number=seen + 1)
            seen += len(found)
        return read

    def _parse(self, profiles: list[Any], into: TraitsRead, first_number: int) -> None:
        """Each profile's traits into `into`, or the profile quarantined: whole or nothing."""
        for number, profile in enumerate(profiles, start=first_number):
            account_id, properties = _profile_parts(profile)
            if account_id is None or properties is None:
                location = f"engage:{self._config.data_group_id}:profile {number}"
                into.bad.append(Quarantined("bad_profile", _raw(profile), location))
                continue
            into.traits[account_id] = traits_from_profile(properties, self._config.traits)


def _pages(profiles: int) -> int:
    return max(1, math.ceil(profiles / MAX_PAGE_SIZE))


def day_runs(days: Sequence[date]) -> list[tuple[date, date]]:
    """Consecutive days grouped into (first, last) runs, in order, duplicates ignored."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and day - runs[-1][1] == timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _profile_parts(profile: Any) -> tuple[str | None, dict[str, Any] | None]:
    if not isinstance(profile, dict):
        return None, None
    account_id = profile.get("$distinct_id")
    properties = profile.get("$properties")
    valid_id = isinstance(account_id, str | int) and not isinstance(account_id, bool)
    return (
        str(account_id) if valid_id and account_id != "" else None,
        properties if isinstance(properties, dict) else None,
    )


def _raw(profile: Any) -> str:
    try:
        return json.dumps(profile, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(profile)
