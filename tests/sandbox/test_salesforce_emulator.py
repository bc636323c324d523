"""The Salesforce emulator speaks the REST API's shapes: OAuth grants, sObjects, upsert by
external id, SOQL paging, sObject Collections, errors, limits and faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from plg_handoff.sandbox.salesforce import SalesforceEmulator

V = "/services/data/v62.0"


@pytest.fixture
def emulator() -> Iterator[SalesforceEmulator]:
    with SalesforceEmulator(query_batch_size=3, daily_limit=1000) as running:
        yield running


@pytest.fixture
def http(emulator: SalesforceEmulator) -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {emulator.issue_token()}"
    yield session
    session.close()


def opportunity(**fields: Any) -> dict[str, Any]:
    return {"Name": "Hot Co", "StageName": "Prospecting", "CloseDate": "2030-01-31", **fields}


def test_password_grant_needs_the_security_token_appended(emulator: SalesforceEmulator) -> None:
    form = {
        "grant_type": "password",
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "username": emulator.username,
        "password": emulator.password,
    }
    url = emulator.url + "/services/oauth2/token"
    refused = requests.post(url, data=form, timeout=5)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    form["password"] += emulator.security_token
    answer = requests.post(url, data=form, timeout=5).json()
    assert answer["instance_url"] == emulator.url
    assert answer["token_type"] == "Bearer"  # noqa: S105  # the OAuth token type


def test_client_credentials_grant_checks_the_client(emulator: SalesforceEmulator) -> None:
    url = emulator.url + "/services/oauth2/token"
    form = {"grant_type": "client_credentials", "client_id": emulator.client_id}
    bad = requests.post(url, data={**form, "client_secret": "nope"}, timeout=5)
    assert bad.json()["error"] == "invalid_client_id"
    good = requests.post(url, data={**form, "client_secret": emulator.client_secret}, timeout=5)
    assert "access_token" in good.json()


def test_jwt_bearer_grant_verifies_the_rs256_signature() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with SalesforceEmulator(jwt_public_key=public) as emulator:
        claims = {
            "iss": emulator.client_id,
            "sub": emulator.username,
            "aud": "https://login.salesforce.com",
            "exp": int(time.time()) + 60,
        }
        url = emulator.url + "/services/oauth2/token"
        grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

        def ask(assertion: str) -> requests.Response:
            return requests.post(url, data={"grant_type": grant, "assertion": assertion}, timeout=5)

        assert ask(jwt.encode(claims, key, algorithm="RS256")).status_code == 200
        assert ask(jwt.encode(claims, other, algorithm="RS256")).status_code == 400
        wrong_user = {**claims, "sub": "someone@else.example"}
        assert ask(jwt.encode(wrong_user, key, algorithm="RS256")).status_code == 400


def test_requests_without_a_session_are_refused(emulator: SalesforceEmulator) -> None:
    answer = requests.get(emulator.url + V + "/sobjects/Opportunity/describe", timeout=5)
    assert answer.status_code == 401
    assert answer.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID", "fields": []}
    ]


def test_create_read_update_delete_and_the_limits_header(
    emulator: SalesforceEmulator, http: requests.Session
) -> None:
    created = http.post(emulator.url + V + "/sobjects/Opportunity", json=opportunity())
    assert created.status_code == 201
    assert created.json()["success"] is True
    assert created.headers["Sforce-Limit-Info"] == "api-usage=1/1000"
    record_url = emulator.url + V + "/sobjects/Opportunity/" + created.json()["id"]
    assert http.patch(record_url, json={"StageName": "Closed Won"}).status_code == 204
    record = http.get(record_url).json()
    assert (record["IsClosed"], record["IsWon"]) == (True, True)
    assert record["attributes"]["type"] == "Opportunity"
    assert http.delete(record_url).status_code == 204
    gone = http.get(record_url)
    assert gone.status_code == 404
    assert gone.json()[0]["errorCode"] == "NOT_FOUND"


def test_validation_errors_have_salesforces_shape(
    emulator: SalesforceEmulator, http: requests.Session
) -> None:
    url = emulator.url + V + "/sobjects/Opportunity"
    missing = http.post(url, json={"Name": "x"}).json()
    assert missing[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert set(missing[0]["fields"]) == {"StageName", "CloseDate"}
    unknown = http.post(url, json=opportunity(Nope__c="x")).json()
    assert unknown == [
        {
            "message": "No such column 'Nope__c' on sobject of type Opportunity",
            "errorCode": "INVALID_FIELD",
            "fields": ["Nope__c"],
        }
    ]


def test_upsert_by_external_id_201_then_200_or_204_then_300(
    emulator: SalesforceEmulator, http: requests.Session
) -> None:
    path = "/sobjects/Opportunity/Plg_Handoff_Id__c/handoff%2Facct%2F1"
    created = http.patch(emulator.url + V + path, json=opportunity())
    assert created.status_code == 201
    assert created.json()["created"] is True
    updated = http.patch(emulator.url + V + path, json={"Amount": 10})
    assert updated.status_code == 200
    assert updated.json() == {
        "id": created.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    old = http.patch(emulator.url + "/services/data/v45.0" + path, json={"Amount": 20})
    assert old.status_code == 204
    emulator.insert("Opportunity", opportunity(Plg_Handoff_Id__c="handoff/acct/1"))
    ambiguous = http.patch(emulator.url + V + path, json={"Amount": 30})
    assert ambiguous.status_code == 300
    assert len(ambiguous.json()) == 2
    assert all(u.startswith(V + "/sobjects/Opportunity/006") for u in ambiguous.json())


def test_describe_lists_custom_fields(emulator: SalesforceEmulator, http: requests.Session) -> None:
    described = http.get(emulator.url + V + "/sobjects/Opportunity/describe").json()
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["Plg_Handoff_Id__c"]["custom"] is True
    assert fields["Plg_Handoff_Id__c"]["externalId"] is True
    assert fields["StageName"]["custom"] is False


def test_soql_where_in_and_paging_with_query_more(
    emulator: SalesforceEmulator, http: requests.Session
) -> None:
    for n in range(7):
        emulator.insert("Opportunity", opportunity(Name=f"o{n}", Amount=n))
    q = "SELECT Id, Name FROM Opportunity WHERE StageName = 'Prospecting' AND Amount >= 1"
    first = http.get(emulator.url + V + "/query", params={"q": q}).json()
    assert first["totalSize"] == 6
    assert first["done"] is False
    names = [r["Name"] for r in first["records"]]
    answer = first
    while not answer["done"]:
        answer = http.get(emulator.url + answer["nextRecordsUrl"]).json()
        names += [r["Name"] for r in answer["records"]]
    assert names == [f"o{n}" for n in range(1, 7)]
    q_in = "SELECT Name FROM Opportunity WHERE Name IN ('o1', 'o3') ORDER BY Name DESC LIMIT 1"
    only = http.get(emulator.url + V + "/query", params={"q": q_in}).json()
    assert [r["Name"] for r in only["records"]] == ["o3"]
    since = "SELECT Id FROM Opportunity WHERE LastModifiedDate > 2000-01-01T00:00:00Z"
    assert http.get(emulator.url + V + "/query", params={"q": since}).json()["totalSize"] == 7
    bad = http.get(emulator.url + V + "/query", params={"q": "SELECT Nope FROM Opportunity"})
    assert bad.json()[0]["errorCode"] == "INVALID_FIELD"


def test_collections_per_record_results_all_or_none_and_the_200_cap(
    emulator: SalesforceEmulator, http: requests.Session
) -> None:
    url = emulator.url + V + "/composite/sobjects"
    records = [
        {"attributes": {"type": "Opportunity"}, **opportunity(Name="a")},
        {"attributes": {"type": "Opportunity"}, "Name": "no stage"},
    ]
    partial = http.post(url, json={"allOrNone": False, "records": records}).json()
    assert [r["success"] for r in partial] == [True, False]
    assert partial[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    rolled_back = http.post(url, json={"allOrNone": True, "records": records}).json()
    assert rolled_back[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert len(emulator.records("Opportunity")) == 1
    update = [{"attributes": {"type": "Opportunity"}, "id": partial[0]["id"], "Amount": 5}]
    assert http.patch(url, json={"records": update}).json()[0]["success"] is True
    too_many = http.post(url, json={"records": records * 101})
    assert too_many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_daily_limit_and_injected_faults(
    emulator: SalesforceEmulator, http: requests.Session
) -> None:
    url = emulator.url + V + "/limits"
    emulator.faults.limit_next(1)
    emulator.faults.fail_next(1, 503)
    limited = http.get(url)
    assert limited.status_code == 403
    assert limited.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert http.get(url).status_code == 503
    assert http.get(url).json()["DailyApiRequests"]["Max"] == 1000
    emulator.daily_limit = 3
    over = http.get(url)
    assert over.status_code == 403
    assert over.headers["Sforce-Limit-Info"] == "api-usage=4/3"
    assert emulator.route_counts()["GET /limits"] == 4


def test_the_overview_page_lists_what_the_daemon_did(
    emulator: SalesforceEmulator, http: requests.Session
) -> None:
    emulator.insert("Opportunity", opportunity(Name="Visible Co"))
    page = requests.get(emulator.url + "/", timeout=5)
    assert page.headers["Content-Type"].startswith("text/html")
    for text in ("Visible Co", "Opportunities", "Owners", "Tasks", "Ada Lovelace"):
        assert text in page.text


def test_collection_upsert_by_external_id_in_the_body(
    emulator: SalesforceEmulator, http: requests.Session
) -> None:
    url = f"{emulator.url}{V}/composite/sobjects/Opportunity/Plg_Handoff_Id__c"

    def upsert(*records: dict[str, Any], all_or_none: bool = False) -> list[dict[str, Any]]:
        body: dict[str, Any] = {
            "allOrNone": all_or_none,
            "records": [{"attributes": {"type": "Opportunity"}, **r} for r in records],
        }
        answer = http.patch(url, json=body, timeout=5)
        assert answer.status_code == 200
        results: list[dict[str, Any]] = answer.json()
        return results

    [created] = upsert(opportunity(Plg_Handoff_Id__c="handoff/a/1"))
    assert created["success"] and created["created"]
    [updated] = upsert(opportunity(Plg_Handoff_Id__c="handoff/a/1", Name="Renamed"))
    assert (updated["id"], updated["created"]) == (created["id"], False)
    assert [o["Name"] for o in emulator.records("Opportunity")] == ["Renamed"]

    emulator.insert("Opportunity", opportunity(Plg_Handoff_Id__c="dup"))
    emulator.insert("Opportunity", opportunity(Plg_Handoff_Id__c="dup"))
    [duplicate] = upsert(opportunity(Plg_Handoff_Id__c="dup"))
    assert duplicate["success"] is False
    assert duplicate["errors"][0]["statusCode"] == "DUPLICATE_EXTERNAL_ID"

    results = upsert(
        opportunity(Plg_Handoff_Id__c="handoff/b/1"),
        {"Plg_Handoff_Id__c": "handoff/c/1"},  # required fields missing
        all_or_none=True,
    )
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert len(emulator.records("Opportunity")) == 3

    not_external = http.patch(
        f"{emulator.url}{V}/composite/sobjects/Opportunity/Name", json={"records": []}, timeout=5
    )
    assert not_external.status_code == 404


def test_soql_or_and_derived_activity_times(
    emulator: SalesforceEmulator, http: requests.Session
) -> None:
    first = emulator.insert("Account", {"Name": "A", "Plg_Account_Id__c": "acct-a"})
    second = emulator.insert("Account", {"Name": "B", "Website": "https://b.example"})
    emulator.insert("Account", {"Name": "C", "Website": "c.example"})
    query = (
        "SELECT Id FROM Account WHERE Plg_Account_Id__c = 'acct-a'"
        " OR Website IN ('https://b.example', 'x') ORDER BY CreatedDate"
    )
    answer = http.get(f"{emulator.url}{V}/query", params={"q": query}, timeout=5).json()
    assert [r["Id"] for r in answer["records"]] == [first, second]
    mixed = http.get(
        f"{emulator.url}{V}/query",
        params={"q": "SELECT Id FROM Account WHERE Name = 'A' AND Name = 'B' OR Name = 'C'"},
        timeout=5,
    )
    assert mixed.status_code == 400
    assert mixed.json()[0]["errorCode"] == "MALFORMED_QUERY"

    opportunity_id = emulator.insert("Opportunity", opportunity())
    task = emulator.insert("Task", {"WhatId": opportunity_id, "Status": "Not Started"})
    assert emulator.records("Task")[0]["CompletedDateTime"] is None
    emulator.update("Task", task, {"Status": "Completed"})
    assert emulator.records("Task")[0]["CompletedDateTime"]
    opened = emulator.records("Opportunity")[0]["LastStageChangeDate"]
    time.sleep(0.01)
    emulator.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    assert emulator.records("Opportunity")[0]["LastStageChangeDate"] > opened


def test_composite_runs_subrequests_in_order_with_references_as_one_call(
    emulator: SalesforceEmulator, http: requests.Session
) -> None:
    url = f"{emulator.url}{V}/composite"
    emulator.reset_calls()
    body: dict[str, Any] = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "POST",
                "url": f"{V}/sobjects/Account",
                "referenceId": "account",
                "body": {"Name": "Acme"},
            },
            {
                "method": "POST",
                "url": f"{V}/sobjects/Opportunity",
                "referenceId": "opportunity",
                "body": opportunity(AccountId="@{account.id}"),
            },
            {
                "method": "GET",
                "url": f"{V}/query?q=SELECT+Id,AccountId+FROM+Opportunity",
                "referenceId": "check",
            },
        ],
    }
    answers = http.post(url, json=body, timeout=5).json()["compositeResponse"]
    assert [a["httpStatusCode"] for a in answers] == [201, 201, 200]
    account = answers[0]["body"]["id"]
    assert answers[2]["body"]["records"][0]["AccountId"] == account
    assert [c.route for c in emulator.api_calls()] == ["POST /composite"]

    body["compositeRequest"][1]["body"] = {"Name": "missing required fields"}
    answers = http.post(url, json=body, timeout=5).json()["compositeResponse"]
    assert [a["httpStatusCode"] for a in answers] == [400, 400, 400]
    assert answers[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert answers[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert answers[2]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert len(emulator.records("Account")) == 1  # the second Acme was rolled back
