"""`[crm] kind = "salesforce"`: its settings, the secrets each auth needs, the example."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from plg_handoff.config import (
    ConfigError,
    SalesforceConfig,
    Secrets,
    _required_secrets,
    parse_config,
)

EXAMPLE = Path(__file__).parents[2] / "deploy" / "handoff.toml"


def config_with(crm: dict[str, object], tmp_path: Path) -> object:
    raw = {"sources": [{"kind": "file", "name": "demo", "path": "usage"}], "crm": crm}
    return parse_config(raw, base_dir=tmp_path)


def test_the_commented_salesforce_example_is_valid() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    block = text[text.index('# kind = "salesforce"') - len("# [crm]\n") :]
    lines = []
    for line in block.splitlines():
        if not line.startswith("# ") or line.startswith("# # "):
            if not line.startswith("# # "):
                break
            continue
        lines.append(line[2:])
    parsed = tomllib.loads("\n".join(lines))
    crm = SalesforceConfig.model_validate(parsed["crm"])
    assert crm.auth == "jwt"
    assert crm.stage_by_trigger["limit_approaching"] == "Qualification"


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (
            "password",
            {
                "HANDOFF_SALESFORCE_USERNAME",
                "HANDOFF_SALESFORCE_PASSWORD",
                "HANDOFF_SALESFORCE_CLIENT_ID",
                "HANDOFF_SALESFORCE_CLIENT_SECRET",
            },
        ),
        (
            "client_credentials",
            {"HANDOFF_SALESFORCE_CLIENT_ID", "HANDOFF_SALESFORCE_CLIENT_SECRET"},
        ),
        (
            "jwt",
            {
                "HANDOFF_SALESFORCE_CLIENT_ID",
                "HANDOFF_SALESFORCE_USERNAME",
                "HANDOFF_SALESFORCE_JWT_KEY_PATH",
            },
        ),
    ],
)
def test_each_auth_names_its_secrets(
    auth: str, expected: set[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("HANDOFF_"):
            monkeypatch.delenv(name)
    config = config_with({"kind": "salesforce", "auth": auth}, tmp_path)
    needed = _required_secrets(config, Secrets())  # type: ignore[arg-type]
    assert {env for env, _ in needed} == expected
    assert all(f"auth = '{auth}'" in reason for _, reason in needed)


def test_a_bad_salesforce_setting_is_named_without_the_kind_tag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config_with({"kind": "salesforce", "api_version": "v62"}, tmp_path)
    assert re.search(r"^  crm\.api_version: ", str(caught.value), re.MULTILINE)
