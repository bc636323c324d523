"""load_config / load_secrets: valid files, exact error paths, durations, secrets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from plg_handoff.config import (
    ConfigError,
    FileSourceConfig,
    Secrets,
    load_config,
    load_secrets,
    parse_config,
)

MINIMAL = """
[[sources]]
kind = "file"
name = "demo"
path = "usage"
traits_path = "profiles/accounts.jsonl"

[crm]
kind = "hubspot"
"""

TOKEN = "pat-na1-0123456789abcdef"  # noqa: S105  # a made-up token


def write(tmp_path: Path, text: str, name: str = "handoff.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_the_default_late_data_horizon_is_cut_to_a_smaller_window(tmp_path: Path) -> None:
    text = MINIMAL.replace('path = "usage"', 'path = "usage"\nwindow_days = 2')
    [source] = load_config(write(tmp_path, text)).sources
    assert (source.late_data_days, source.late_days(), source.late_days(1)) == (3, 2, 1)


def test_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    [source] = config.sources
    assert source.name == "demo"
    assert source.kind == "file"
    assert source.window_days == 3
    assert (source.late_data_days, source.late_days()) == (3, 3)
    assert source.account_property == "account_id"
    assert source.gauges == {
        "seats": "seats_used",
        "storage_gb": "storage_used_gb",
        "api_calls": "api_calls_month",
    }
    assert source.sync_interval == timedelta(minutes=5)
    assert config.crm.kind == "hubspot"
    assert str(config.crm.base_url) == "https://api.hubapi.com/"
    assert config.rules.limit_approaching.threshold == 0.8
    assert config.handoff.cooldown == timedelta(days=30)
    assert config.temporal.task_queue == "plg-handoff"
    assert config.source("demo") is source
    with pytest.raises(KeyError, match="no source named 'other'"):
        config.source("other")


def test_relative_paths_resolve_against_the_files_folder(tmp_path: Path) -> None:
    folder = tmp_path / "etc" / "handoff"
    folder.mkdir(parents=True)
    config = load_config(write(folder, MINIMAL))
    base = folder.resolve()
    source = config.sources[0]
    assert isinstance(source, FileSourceConfig)
    assert source.path == base / "usage"
    assert source.traits_path == base / "profiles" / "accounts.jsonl"
    assert config.data_dir == base / ".handoff"


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    absolute = tmp_path / "elsewhere"
    text = MINIMAL.replace('path = "usage"', f'path = "{absolute.as_posix()}"')
    config = load_config(write(tmp_path, 'data_dir = "/var/lib/handoff"\n' + text))
    source = config.sources[0]
    assert isinstance(source, FileSourceConfig)
    assert source.path == absolute
    assert config.data_dir == Path("/var/lib/handoff")


@pytest.mark.parametrize(
    ("text", "expected_line"),
    [
        pytest.param(
            MINIMAL.replace('path = "usage"', 'path = "usage"\nwindow_days = 0'),
            "  sources[0].window_days: Input should be greater than or equal to 1 (got 0)",
            id="window-days-too-small",
        ),
        pytest.param(
            MINIMAL.replace('path = "usage"', 'path = "usage"\nwindow_days = 91'),
            "  sources[0].window_days: Input should be less than or equal to 90 (got 91)",
            id="window-days-too-large",
        ),
        pytest.param(
            MINIMAL.replace(
                'path = "usage"', 'path = "usage"\nwindow_days = 7\nlate_data_days = 8'
            ),
            "  sources[0].late_data_days: Value error, must be at most window_days (7) (got 8)",
            id="late-data-days-beyond-the-window",
        ),
        pytest.param(
            MINIMAL.replace('path = "usage"', 'path = "usage"\nlate_data_days = 0'),
            "  sources[0].late_data_days: Input should be greater than or equal to 1 (got 0)",
            id="late-data-days-too-small",
        ),
        pytest.param(
            MINIMAL + 'base_url = "not a url"\n',
            "  crm.base_url: Input should be a valid URL, relative URL without a base "
            "(got 'not a url')",
            id="crm-base-url",
        ),
        pytest.param(
            MINIMAL + "[rules.limit_approaching]\nthreshold = 1.5\n",
            "  rules.limit_approaching.threshold: Input should be less than or equal to 1 "
            "(got 1.5)",
            id="threshold-over-1",
        ),
        pytest.param(
            MINIMAL + "[rules.limit_approaching]\nthreshold = 0\n",
            "  rules.limit_approaching.threshold: Input should be greater than 0 (got 0)",
            id="threshold-zero",
        ),
        pytest.param(
            MINIMAL + '[temporal]\nadress = "localhost:7233"\n',
            "  temporal.adress: Extra inputs are not permitted (got 'localhost:7233')",
            id="unknown-key-in-section",
        ),
        pytest.param(
            "colour = 'blue'\n" + MINIMAL,
            "  colour: Extra inputs are not permitted (got 'blue')",
            id="unknown-top-level-key",
        ),
        pytest.param(
            MINIMAL.replace('name = "demo"', 'name = "Demo Source"'),
            "  sources[0].name: String should match pattern '^[a-z0-9][a-z0-9_-]{0,62}$' "
            "(got 'Demo Source')",
            id="bad-source-name",
        ),
        pytest.param(
            MINIMAL.replace('kind = "hubspot"', 'kind = "pipedrive"'),
            "  crm: Input tag 'pipedrive' found using 'kind' does not match any of the expected"
            " tags: 'hubspot', 'salesforce' (got {'kind': 'pipedrive'})",
            id="unknown-crm-kind",
        ),
        pytest.param(
            MINIMAL + '[handoff]\ncooldown = "soon"\n',
            # the rest of pydantic's wording varies between versions
            "  handoff.cooldown: Input should be a valid timedelta",
            id="bad-duration",
        ),
        pytest.param(
            MINIMAL + '[log]\nlevel = "verbose"\n',
            "  log.level: Input should be 'debug', 'info', 'warning' or 'error' (got 'verbose')",
            id="bad-log-level",
        ),
    ],
)
def test_invalid_value_names_the_field(tmp_path: Path, text: str, expected_line: str) -> None:
    message = error_of(tmp_path, text)
    lines = message.splitlines()
    assert lines[0] == f"{tmp_path / 'handoff.toml'}: 1 invalid setting(s)"
    assert len(lines) == 2, message
    assert lines[1].startswith(expected_line)


def test_missing_sections_are_named(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'data_dir = "x"\n')
    assert message.splitlines() == [
        f"{tmp_path / 'handoff.toml'}: 2 invalid setting(s)",
        "  sources: Field required",
        "  crm: Field required",
    ]


def test_several_errors_are_all_listed(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace('path = "usage"', 'path = "usage"\nwindow_days = 0')
        + 'base_url = "nope"\n[rules.limit_approaching]\nthreshold = 2\n'
    )
    message = error_of(tmp_path, text)
    assert message.splitlines()[0].endswith(": 3 invalid setting(s)")
    wheres = [entry.split(":")[0].strip() for entry in message.splitlines()[1:]]
    assert wheres == [
        "sources[0].window_days",
        "crm.base_url",
        "rules.limit_approaching.threshold",
    ]


def test_duplicate_source_names_rejected(tmp_path: Path) -> None:
    second = '[[sources]]\nkind = "file"\nname = "demo"\npath = "other"\n'
    message = error_of(tmp_path, second + MINIMAL)
    assert message.splitlines()[1].startswith(
        "  sources: Value error, source names must be unique, got ['demo', 'demo']"
    )


def test_empty_sources_rejected(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'sources = []\n[crm]\nkind = "hubspot"\n')
    assert message.splitlines()[1] == (
        "  sources: Value error, at least one [[sources]] entry is needed (got [])"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: no such configuration file"


def test_invalid_toml(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[crm\nkind = 'hubspot'\n")
    assert message.startswith(f"{tmp_path / 'handoff.toml'}: not valid TOML: ")
    assert "line 1" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param('"30s"', timedelta(seconds=30), id="30s"),
        pytest.param('"5m"', timedelta(minutes=5), id="5m"),
        pytest.param('"6h"', timedelta(hours=6), id="6h"),
        pytest.param('"14d"', timedelta(days=14), id="14d"),
        pytest.param('"2w"', timedelta(weeks=2), id="2w"),
        pytest.param('"1.5h"', timedelta(minutes=90), id="decimal-1.5h"),
        pytest.param('"250ms"', timedelta(milliseconds=250), id="250ms"),
        pytest.param('" 10 m "', timedelta(minutes=10), id="spaces"),
        pytest.param('"PT1M"', timedelta(minutes=1), id="iso-PT1M"),
        pytest.param('"P1DT2H"', timedelta(days=1, hours=2), id="iso-P1DT2H"),
        pytest.param("90", timedelta(seconds=90), id="plain-seconds"),
        pytest.param("2.5", timedelta(seconds=2.5), id="float-seconds"),
    ],
)
def test_durations(tmp_path: Path, value: str, expected: timedelta) -> None:
    text = MINIMAL + f"timeout = {value}\n[handoff]\nexpire_after = {value}\n"
    text = text.replace('path = "usage"', f'path = "usage"\nsync_interval = {value}')
    config = load_config(write(tmp_path, text))
    assert config.crm.timeout == expected
    assert config.handoff.expire_after == expected
    assert config.sources[0].sync_interval == expected


# --- secrets --------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("HANDOFF_TEMPORAL_API_KEY", raising=False)
    return monkeypatch


def test_load_secrets_requires_the_hubspot_token(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    config = load_config(write(tmp_path, MINIMAL))
    with pytest.raises(ConfigError) as info:
        load_secrets(config)
    assert str(info.value) == (
        "environment: missing secret(s)\n"
        "  HANDOFF_HUBSPOT_ACCESS_TOKEN: required by crm.kind = 'hubspot' (a private-app token)"
    )


def test_load_secrets_reads_the_token(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    clean_env.setenv("HANDOFF_TEMPORAL_API_KEY", "temporal-key-xyz")
    secrets = load_secrets(load_config(write(tmp_path, MINIMAL)))
    assert secrets.hubspot_access_token is not None
    assert secrets.hubspot_access_token.get_secret_value() == TOKEN
    assert secrets.values() == [TOKEN, "temporal-key-xyz"]


def test_secrets_never_show_the_token(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    secrets = Secrets()
    for text in (
        repr(secrets),
        str(secrets),
        repr(secrets.hubspot_access_token),
        str(secrets.hubspot_access_token),
        secrets.model_dump_json(),
    ):
        assert TOKEN not in text
    assert "**********" in repr(secrets)
    assert secrets.values() == [TOKEN]


def test_load_secrets_names_every_missing_mixpanel_credential(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    clean_env.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    clean_env.setenv("HANDOFF_MIXPANEL_SERVICE_ACCOUNT_USERNAME", "sa.user")
    config = parse_config(
        {
            "sources": [
                {"kind": "mixpanel", "name": "mp", "project_id": 7},
                {"kind": "mixpanel", "name": "legacy", "project_id": 8, "auth": "project_secret"},
            ],
            "crm": {"kind": "hubspot"},
        },
        base_dir=tmp_path,
    )
    with pytest.raises(ConfigError) as info:
        load_secrets(config)
    assert str(info.value).splitlines()[1:] == [
        "  HANDOFF_MIXPANEL_SERVICE_ACCOUNT_SECRET: required by sources[0] (mp), "
        "auth = 'service_account'",
        "  HANDOFF_MIXPANEL_PROJECT_SECRET: required by sources[1] (legacy), "
        "auth = 'project_secret'",
    ]
    clean_env.setenv("HANDOFF_MIXPANEL_SERVICE_ACCOUNT_SECRET", "sa-secret-123")
    clean_env.setenv("HANDOFF_MIXPANEL_PROJECT_SECRET", "project-secret-456")
    secrets = load_secrets(config)
    assert sorted(secrets.values()) == sorted(
        ["project-secret-456", "sa-secret-123", "sa.user", TOKEN]
    )
