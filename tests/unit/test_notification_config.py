"""The [notifications] and [calibration] sections: optional, off by default, validated, and the
Slack webhook URL required from the environment only when notifications are on."""

from __future__ import annotations

from pathlib import Path

import pytest

from plg_handoff.config import ConfigError, load_secrets
from tests.conftest import make_config


def test_both_sections_are_off_by_default(tmp_path: Path) -> None:
    config = make_config(tmp_path, "http://127.0.0.1:1")
    assert not config.notifications.enabled
    assert not config.calibration.enabled
    assert config.notifications.cap_per_account == 3
    assert config.notifications.cap_window.days == 7


def test_the_webhook_url_is_required_only_when_enabled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", "t")
    monkeypatch.delenv("HANDOFF_SLACK_WEBHOOK_URL", raising=False)
    load_secrets(make_config(tmp_path, "http://127.0.0.1:1"))
    enabled = make_config(tmp_path, "http://127.0.0.1:1", notifications={"enabled": True})
    with pytest.raises(ConfigError, match="HANDOFF_SLACK_WEBHOOK_URL"):
        load_secrets(enabled)
    url = "https://hooks.slack.com/services/T0/B0/very-secret"
    monkeypatch.setenv("HANDOFF_SLACK_WEBHOOK_URL", url)
    secrets = load_secrets(enabled)
    assert url in secrets.values()  # so the log redactor knows it
    assert "very-secret" not in repr(secrets)


@pytest.mark.parametrize(
    ("section", "values", "field"),
    [
        ("notifications", {"digest_time": "9:00"}, "notifications.digest_time"),
        ("notifications", {"digest_time": "24:00"}, "notifications.digest_time"),
        ("notifications", {"digest_day": "funday"}, "notifications.digest_day"),
        ("notifications", {"cap_per_account": 0}, "notifications.cap_per_account"),
        ("calibration", {"prior_weight": 0}, "calibration.prior_weight"),
        ("calibration", {"min_outcomes": 0}, "calibration.min_outcomes"),
    ],
)
def test_bad_values_name_their_field(
    tmp_path: Path, section: str, values: dict[str, object], field: str
) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        make_config(tmp_path, "http://127.0.0.1:1", **{section: values})
