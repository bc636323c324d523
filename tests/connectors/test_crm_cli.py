"""`handoff crm check` and `handoff crm setup` through the real CLI against the emulators."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from plg_handoff.cli import app
from plg_handoff.sandbox.hubspot.emulator import HubSpotEmulator
from plg_handoff.sandbox.salesforce import DEFAULT_CUSTOM_FIELDS, SalesforceEmulator
from tests.conftest import TOKEN

SOURCE = '[[sources]]\nkind = "file"\nname = "demo"\npath = "usage"\n\n'


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def hubspot_config(tmp_path: Path, emulator: HubSpotEmulator, extra: str = "") -> str:
    path = tmp_path / "handoff.toml"
    path.write_text(
        f'{SOURCE}[crm]\nkind = "hubspot"\nbase_url = "{emulator.url}"\n{extra}', encoding="utf-8"
    )
    return str(path)


def test_hubspot_check_lists_what_is_missing_until_setup_creates_it(
    tmp_path: Path, hubspot: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    config = hubspot_config(tmp_path, hubspot)

    before = run("crm", "check", "--config", config)
    assert before.exit_code == 1, before.output
    assert "missing field plg_handoff_id" in before.stderr
    assert "missing field plg_sla_met" in before.stderr
    assert "missing field companies.plg_account_id" in before.stderr
    assert "`handoff crm setup` creates it" in before.stderr

    setup = run("crm", "setup", "--config", config)
    assert setup.exit_code == 0, setup.output
    assert "plg_signal_to_contact_s" in setup.stderr

    after = run("crm", "check", "--config", config)
    assert after.exit_code == 0, after.output
    assert "credentials accepted, 3 active owner(s)" in after.stderr

    again = run("crm-setup", "--config", config)  # the old name still works
    assert again.exit_code == 0
    assert "nothing, all present" in again.stderr


def test_hubspot_check_names_inactive_configured_owners(
    tmp_path: Path, hubspot: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", TOKEN)
    routing = '\n[[crm.routing]]\nname = "emea"\nowners = ["1001", "1004"]\nregions = ["EMEA"]\n'
    config = hubspot_config(tmp_path, hubspot, 'owner_pool = ["1002"]\n' + routing)
    assert run("crm", "setup", "--config", config).exit_code == 0
    result = run("crm", "check", "--config", config)
    assert result.exit_code == 1
    assert "crm.routing[0] (emea).owners: owner 1004 is not an active CRM user" in result.stderr
    assert "1002" not in result.stderr.split("problem(s):")[1]


def test_hubspot_check_with_a_refused_token_exits_2(
    tmp_path: Path, hubspot: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", "not-the-token")
    result = run("crm", "check", "--config", hubspot_config(tmp_path, hubspot))
    assert result.exit_code == 2
    assert "crm hubspot:" in result.stderr


def test_salesforce_check_and_setup_name_the_fields_to_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = [f for f in DEFAULT_CUSTOM_FIELDS if f.name != "Plg_Sla_Met__c"]
    with SalesforceEmulator(custom_fields=fields, account_fields=()) as bare:
        for name in ("username", "password", "security_token", "client_id", "client_secret"):
            monkeypatch.setenv(f"HANDOFF_SALESFORCE_{name.upper()}", getattr(bare, name))
        config = tmp_path / "handoff.toml"
        config.write_text(
            f'{SOURCE}[crm]\nkind = "salesforce"\nlogin_url = "{bare.url}"\n', encoding="utf-8"
        )
        check = run("crm", "check", "--config", str(config))
        setup = run("crm", "setup", "--config", str(config))
        monkeypatch.setenv("HANDOFF_SALESFORCE_PASSWORD", "wrong")
        refused = run("crm", "check", "--config", str(config))
    assert check.exit_code == 1
    assert "missing field Plg_Sla_Met__c" in check.stderr
    assert "Opportunity.Plg_Sla_Met__c: Checkbox" in check.stderr
    assert "missing field Account.Plg_Account_Id__c" in check.stderr
    assert "External ID, Unique" in check.stderr
    assert setup.exit_code == 1
    assert "Account.Plg_Account_Id__c: Text(255)" in setup.stderr
    assert refused.exit_code == 2
