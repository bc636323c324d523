"""The CRM conformance suite, and Salesforce specifics, against the Salesforce emulator."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from plg_handoff.cli import app
from plg_handoff.config import SalesforceConfig
from plg_handoff.connectors.base import CrmConnector
from plg_handoff.connectors.errors import Conflict, InvalidInput, SetupRequired, TransientError
from plg_handoff.connectors.salesforce import SalesforceCredentials, SalesforceCrm
from plg_handoff.connectors.salesforce.client import OWNERS_TTL_S
from plg_handoff.connectors.salesforce.fields import FUNNEL_FIELDS
from plg_handoff.sandbox.salesforce import DEFAULT_CUSTOM_FIELDS, SalesforceEmulator
from plg_handoff.sandbox.salesforce.store import sf_datetime
from tests.crm_conformance import CrmConformance, draft, task_spec


def credentials(emulator: SalesforceEmulator) -> SalesforceCredentials:
    return SalesforceCredentials(
        username=emulator.username,
        password=emulator.password,
        security_token=emulator.security_token,
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
    )


def connect(
    emulator: SalesforceEmulator, *, owners_ttl_s: float = OWNERS_TTL_S, **config: Any
) -> SalesforceCrm:
    settings = SalesforceConfig.model_validate(
        {"kind": "salesforce", "login_url": emulator.url, **config}
    )
    return SalesforceCrm(settings, credentials(emulator), owners_ttl_s=owners_ttl_s)


class SalesforceHarness:
    default_stage = "Prospecting"
    later_stage = "Qualification"

    def __init__(self, emulator: SalesforceEmulator) -> None:
        self.emulator = emulator
        self.crm: CrmConnector = connect(emulator)
        self._extra: list[SalesforceEmulator] = []

    def api_calls(self) -> int:
        return len(self.emulator.api_calls())

    def reset_calls(self) -> None:
        self.emulator.reset_calls()

    def inactive_owner_ids(self) -> set[str]:
        return {u["Id"] for u in self.emulator.users(active=False)}

    def opportunities(self, external_id: str) -> list[str]:
        return [
            o["Id"]
            for o in self.emulator.records("Opportunity")
            if o["Plg_Handoff_Id__c"] == external_id
        ]

    def tasks_on(self, opportunity_id: str) -> list[str]:
        return [t["Id"] for t in self.emulator.records("Task") if t["WhatId"] == opportunity_id]

    def complete_task(self, task_id: str) -> None:
        self.emulator.update("Task", task_id, {"Status": "Completed"})

    def close_won(self, opportunity_id: str) -> None:
        self.emulator.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})

    def rate_limit_next(self, n: int) -> None:
        self.emulator.faults.limit_next(n)

    def clear_faults(self) -> None:
        self.emulator.faults.clear()

    def worker_crm(self) -> CrmConnector:
        return connect(self.emulator, timeout="0.25s")

    def random_faults(self, rate: float, seed: int) -> None:
        self.emulator.faults.random_faults(rate, seed=seed, slow_s=0.4)

    def faults_injected(self) -> int:
        return sum(1 for call in self.emulator.api_calls() if call.status in (403, 503))

    def refuse_trigger_field(self, message: str) -> None:
        self.emulator.faults.reject_field("Opportunity", "Plg_Trigger__c", message)

    def crm_without_custom_fields(self) -> tuple[CrmConnector, set[str]]:
        fields = [f for f in DEFAULT_CUSTOM_FIELDS if f.name != "Plg_Evidence__c"]
        bare = SalesforceEmulator(custom_fields=fields)
        bare.start()
        self._extra.append(bare)
        return connect(bare), {"Plg_Evidence__c"}

    def add_account(
        self, name: str, *, external_id: str | None, domain: str | None, owner_id: str | None
    ) -> str:
        fields: dict[str, Any] = {"Name": name}
        if external_id:
            fields["Plg_Account_Id__c"] = external_id
        if domain:
            fields["Website"] = f"https://www.{domain}/"
        if owner_id:
            fields["OwnerId"] = owner_id
        return self.emulator.insert("Account", fields)

    def accounts_with(self, external_id: str) -> list[str]:
        return [
            a["Id"]
            for a in self.emulator.records("Account")
            if a["Plg_Account_Id__c"] == external_id
        ]

    def account_owner(self, account: str) -> str | None:
        record = next(a for a in self.emulator.records("Account") if a["Id"] == account)
        return str(record["OwnerId"]) if record["OwnerId"] else None

    def account_of(self, opportunity_id: str) -> str | None:
        record = next(o for o in self.emulator.records("Opportunity") if o["Id"] == opportunity_id)
        return str(record["AccountId"]) if record["AccountId"] else None

    def book_meeting(self, opportunity_id: str, start_ms: int) -> str:
        start = datetime.fromtimestamp(start_ms / 1000, UTC)
        return self.emulator.insert(
            "Event",
            {
                "WhatId": opportunity_id,
                "Subject": "Demo",
                "StartDateTime": sf_datetime(start),
                "EndDateTime": sf_datetime(start + timedelta(minutes=30)),
            },
        )

    def funnel_of(self, opportunity_id: str) -> dict[str, Any]:
        record = next(o for o in self.emulator.records("Opportunity") if o["Id"] == opportunity_id)
        return {key: record.get(name) for key, (name, _) in FUNNEL_FIELDS.items()}

    def crm_with(self, **config: Any) -> CrmConnector:
        return connect(self.emulator, **config)

    def record(self, opportunity_id: str) -> dict[str, Any]:
        values = self.emulator.store.get("Opportunity", opportunity_id)
        return {
            "name": values["Name"],
            "stage": values["StageName"],
            "close_date": values["CloseDate"],
            "amount": values["Amount"],
            "owner_id": values["OwnerId"],
            "trigger": values["Plg_Trigger__c"],
            "evidence": values["Plg_Evidence__c"],
            "score": values["Plg_Score__c"],
            "segment": values["Plg_Segment__c"],
            "approach": values["Plg_Approach__c"],
        }

    def sales_edit(
        self, opportunity_id: str, *, name: str, stage: str, close_date: str, amount: float
    ) -> None:
        self.emulator.update(
            "Opportunity",
            opportunity_id,
            {"Name": name, "StageName": stage, "CloseDate": close_date, "Amount": amount},
        )

    def delete_opportunity(self, opportunity_id: str) -> None:
        self.emulator.store.delete("Opportunity", opportunity_id)

    def close(self) -> None:
        for emulator in self._extra:
            emulator.stop()


@pytest.fixture
def salesforce() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator() as emulator:
        yield emulator


class TestSalesforceConformance(CrmConformance):
    @pytest.fixture
    def harness(self, salesforce: SalesforceEmulator) -> Iterator[SalesforceHarness]:
        harness = SalesforceHarness(salesforce)
        try:
            yield harness
        finally:
            harness.close()


def test_more_than_one_record_with_the_external_id_is_a_conflict(
    salesforce: SalesforceEmulator,
) -> None:
    crm = connect(salesforce)
    owner = crm.list_owners()[0].id
    for _ in range(2):
        salesforce.insert(
            "Opportunity",
            {
                "Name": "dup",
                "StageName": "Prospecting",
                "CloseDate": "2030-01-01",
                "Plg_Handoff_Id__c": "handoff/acct-dup/1",
            },
        )
    with pytest.raises(Conflict) as caught:
        crm.upsert_opportunity(draft("handoff/acct-dup/1", owner))
    assert caught.value.retryable is False
    assert "more than one record" in str(caught.value)


def test_ensure_properties_says_which_fields_to_create(salesforce: SalesforceEmulator) -> None:
    assert connect(salesforce).ensure_properties() == []
    fields = [f for f in DEFAULT_CUSTOM_FIELDS if f.name not in {"Plg_Score__c"}]
    with SalesforceEmulator(custom_fields=fields) as bare, pytest.raises(SetupRequired) as caught:
        connect(bare).ensure_properties()
    assert "Plg_Score__c: Number(6, 2)" in str(caught.value)
    assert caught.value.retryable is False


def test_an_expired_session_logs_in_again_once(salesforce: SalesforceEmulator) -> None:
    crm = connect(salesforce, owners_ttl_s=0)
    salesforce.expire_sessions()
    assert crm.list_owners()
    assert salesforce.route_counts()["POST /services/oauth2/token"] == 2


def test_server_errors_are_retried_briefly_then_transient(salesforce: SalesforceEmulator) -> None:
    crm = connect(salesforce, owners_ttl_s=0)
    salesforce.faults.fail_next(2, 503)
    assert crm.list_owners()  # third attempt succeeds
    salesforce.faults.fail_next(5, 503)
    with pytest.raises(TransientError):
        crm.list_owners()


def test_an_unknown_owner_is_refused_per_record(salesforce: SalesforceEmulator) -> None:
    crm = connect(salesforce)
    inactive = salesforce.users(active=False)[0]["Id"]
    with pytest.raises(InvalidInput) as caught:
        crm.upsert_opportunity(draft("handoff/acct-x/1", inactive))
    assert "INACTIVE_OWNER_OR_USER" in str(caught.value)
    assert caught.value.records[0].record == "handoff/acct-x/1"
    assert caught.value.records[0].fields == ("OwnerId",)


def test_a_task_create_is_not_retried_in_process(salesforce: SalesforceEmulator) -> None:
    """A 5xx or timeout does not say whether the Task was made: the activity's retry looks
    for it (find_task) before creating, so the connector itself tries once."""
    crm = connect(salesforce)
    owner = crm.list_owners()[0].id
    opportunity = crm.upsert_opportunity(draft("handoff/acct-once/1", owner)).id
    salesforce.faults.fail_next(1, 503)
    with pytest.raises(TransientError):
        crm.create_task(task_spec(opportunity, owner))
    assert crm.find_task(opportunity, owner) is None
    task = crm.find_task(opportunity, owner) or crm.create_task(task_spec(opportunity, owner))
    assert [t["Id"] for t in salesforce.records("Task")] == [task]


def test_slow_answers_past_the_timeout_are_transient(salesforce: SalesforceEmulator) -> None:
    crm = connect(salesforce, owners_ttl_s=0, timeout="0.3s")
    salesforce.faults.slow_next(3, 0.6)
    with pytest.raises(TransientError):
        crm.list_owners()


def test_crm_setup_prints_the_salesforce_fields_to_create(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = [f for f in DEFAULT_CUSTOM_FIELDS if f.name != "Plg_Evidence__c"]
    with SalesforceEmulator(custom_fields=fields) as bare:
        for name in ("username", "password", "security_token", "client_id", "client_secret"):
            monkeypatch.setenv(f"HANDOFF_SALESFORCE_{name.upper()}", getattr(bare, name))
        config = tmp_path / "handoff.toml"
        config.write_text(
            '[[sources]]\nkind = "file"\nname = "demo"\npath = "usage"\n\n'
            f'[crm]\nkind = "salesforce"\nlogin_url = "{bare.url}"\n',
            encoding="utf-8",
        )
        result = CliRunner().invoke(app, ["crm-setup", "--config", str(config)])
    assert result.exit_code == 1
    assert "Plg_Evidence__c: Long Text Area(32768)" in result.stderr


def test_the_handoff_key_travels_in_the_body_never_in_the_url(
    salesforce: SalesforceEmulator,
) -> None:
    """Keys hold slashes (handoff/<account>/<episode>); whether Salesforce takes a %2F-encoded
    slash in /sobjects/Opportunity/<Field>/<value> is doubtful, so the upsert goes through
    sObject Collections with the key in the body. Records made before are found by it."""
    crm = connect(salesforce)
    owner = crm.list_owners()[0].id
    earlier = salesforce.insert(
        "Opportunity",
        {
            "Name": "made by the path upsert",
            "StageName": "Prospecting",
            "CloseDate": "2030-01-01",
            "Plg_Handoff_Id__c": "handoff/acct-slash/1",
        },
    )
    salesforce.reset_calls()
    ref = crm.upsert_opportunity(draft("handoff/acct-slash/1", owner, account_id="acct-slash"))
    assert (ref.id, ref.created) == (earlier, False)
    paths = [call.path for call in salesforce.api_calls()]
    assert not [p for p in paths if "acct-slash" in p or "%2F" in p.upper()], paths
    assert any(p.endswith("/composite/sobjects/Opportunity/Plg_Handoff_Id__c") for p in paths)


def test_a_new_handoff_on_a_cold_worker_costs_four_calls(salesforce: SalesforceEmulator) -> None:
    """No cached users: they come with the account lookup, in one composite request."""
    crm = connect(salesforce)
    salesforce.reset_calls()
    assert crm.find_account("acct-cold", ("cold.example",)) is None
    owner = crm.list_owners()[0].id
    opportunity = crm.upsert_opportunity(
        draft("handoff/acct-cold/1", owner, account_id="acct-cold", domains=("cold.example",))
    )
    assert crm.find_task(opportunity.id, owner) is None
    crm.create_task(task_spec(opportunity.id, owner))
    routes = [call.route for call in salesforce.api_calls()]
    assert routes == [
        "POST /composite",
        "PATCH /composite/sobjects/Account/Plg_Account_Id__c",
        "PATCH /composite/sobjects/Opportunity/Plg_Handoff_Id__c",
        "POST /sobjects/Task",
    ]


def test_an_account_deleted_since_the_lookup_is_looked_up_again(
    salesforce: SalesforceEmulator,
) -> None:
    crm = connect(salesforce)
    owner = crm.list_owners()[0].id
    gone = salesforce.insert("Account", {"Name": "Merged away", "Plg_Account_Id__c": "acct-m"})
    found = crm.find_account("acct-m", ())
    assert found is not None
    assert found.id == gone
    salesforce.store.delete("Account", gone)
    opportunity = crm.upsert_opportunity(draft("handoff/acct-m/1", owner, account_id="acct-m"))
    [account] = [a["Id"] for a in salesforce.records("Account")]
    assert account != gone
    [record] = salesforce.records("Opportunity")
    assert (record["Id"], record["AccountId"]) == (opportunity.id, account)
