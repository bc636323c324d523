"""The HubSpot emulator, exercised over real HTTP through the official SDK."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicDefaultAssociationMultiPost,
    PublicDefaultAssociationMultiPost,
)
from hubspot.crm.associations.v4 import PublicObjectId as V4ObjectId
from hubspot.crm.deals import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObject,
    BatchResponseSimplePublicUpsertObjectWithErrors,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObject,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects.tasks import (
    AssociationSpec,
    PublicAssociationsForObject,
    PublicObjectId,
)
from hubspot.crm.objects.tasks import (
    SimplePublicObjectInputForCreate as TaskInput,
)
from hubspot.crm.properties import PropertyCreate
from urllib3.util.retry import Retry

from plg_handoff.sandbox.hubspot.emulator import (
    DEFAULT_OWNERS,
    HubSpotEmulator,
    PropertySeed,
)

TOKEN = "emulator-test-token"  # noqa: S105  # the emulator's token in these tests
HANDOFF_ID = "plg_handoff_id"
UPSERT_PATH = "/crm/v3/objects/deals/batch/upsert"


@pytest.fixture
def emulator() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(
        token=TOKEN,
        custom_properties={
            "deals": [PropertySeed(HANDOFF_ID, "PLG handoff id", has_unique_value=True)]
        },
    ) as running:
        yield running


@pytest.fixture
def client(emulator: HubSpotEmulator) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=emulator.url)


@pytest.fixture
def no_retry_client(emulator: HubSpotEmulator) -> HubSpot:
    """By default urllib3 under the SDK retries a 429 with Retry-After up to 3 times."""
    return HubSpot(access_token=TOKEN, host=emulator.url, retry=Retry(total=0))


def upsert_input(handoff_id: str, **properties: str) -> SimplePublicObjectBatchInputUpsert:
    return SimplePublicObjectBatchInputUpsert(
        id_property=HANDOFF_ID, id=handoff_id, properties=properties
    )


def upsert(client: HubSpot, *inputs: SimplePublicObjectBatchInputUpsert) -> Any:
    batch = BatchInputSimplePublicObjectBatchInputUpsert(inputs=list(inputs))
    return client.crm.deals.batch_api.upsert(batch)


def create_deal(client: HubSpot, **properties: str) -> SimplePublicObject:
    body = SimplePublicObjectInputForCreate(properties=properties)
    return client.crm.deals.basic_api.create(body)


def error_body(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body)
    return body


def raw(emulator: HubSpotEmulator, method: str, path: str, body: bytes | None = None) -> Any:
    """A request the SDK cannot make (sandbox control, the HTML page, malformed JSON)."""
    request = urllib.request.Request(  # noqa: S310  # always our own http://127.0.0.1 emulator
        emulator.url + path,
        data=body,
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def test_custom_unique_property_is_created_read_back_and_not_created_twice(
    client: HubSpot,
) -> None:
    core = client.crm.properties.core_api
    spec = PropertyCreate(
        name="plg_external_key",
        label="External key",
        type="string",
        field_type="text",
        group_name="dealinformation",
        has_unique_value=True,
    )

    created = core.create("deals", spec)
    fetched = core.get_by_name("deals", "plg_external_key")
    names = {p.name for p in core.get_all("deals").results}

    assert (created.name, created.has_unique_value) == ("plg_external_key", True)
    assert fetched.label == "External key"
    assert {"plg_external_key", "dealname", "dealstage", HANDOFF_ID} <= names
    with pytest.raises(Exception) as conflict:
        core.create("deals", spec)
    assert getattr(conflict.value, "status", None) == 409
    assert json.loads(conflict.value.body)["category"] == "CONFLICT"  # type: ignore[attr-defined]


def test_batch_upsert_twice_by_id_property_keeps_one_deal_and_updates_it(
    client: HubSpot, emulator: HubSpotEmulator
) -> None:
    first = upsert(client, upsert_input("handoff/a/1", dealname="Acme", amount="100.00"))
    second = upsert(client, upsert_input("handoff/a/1", dealname="Acme Corp", amount="250.00"))

    assert isinstance(first, BatchResponseSimplePublicUpsertObject)
    assert first.status == "COMPLETE"
    assert first.results[0].new is True
    assert second.results[0].new is False
    assert second.results[0].id == first.results[0].id
    assert second.results[0].properties["dealname"] == "Acme Corp"
    deals = emulator.objects("deals")
    assert len(deals) == 1
    assert deals[0]["properties"]["amount"] == "250.00"
    assert deals[0]["properties"][HANDOFF_ID] == "handoff/a/1"
    assert deals[0]["properties"]["hs_object_id"] == deals[0]["id"]


def test_get_by_id_property_returns_only_the_requested_properties(client: HubSpot) -> None:
    upsert(client, upsert_input("handoff/b/1", dealname="Beta", dealstage="qualifiedtobuy"))

    deal = client.crm.deals.basic_api.get_by_id(
        "handoff/b/1", id_property=HANDOFF_ID, properties=["dealstage"]
    )

    assert deal.properties["dealstage"] == "qualifiedtobuy"
    assert "dealname" not in deal.properties
    assert {"hs_object_id", "createdate", "hs_lastmodifieddate"} <= set(deal.properties)
    with pytest.raises(ApiException) as missing:
        client.crm.deals.basic_api.get_by_id("handoff/none", id_property=HANDOFF_ID)
    assert missing.value.status == 404
    assert error_body(missing.value)["category"] == "OBJECT_NOT_FOUND"


def test_writing_an_unknown_property_is_a_400_naming_the_property(
    client: HubSpot, emulator: HubSpotEmulator
) -> None:
    with pytest.raises(ApiException) as refused:
        create_deal(client, dealname="Gamma", plg_not_created="x")

    body = error_body(refused.value)
    assert refused.value.status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid")
    assert 'Property \\"plg_not_created\\" does not exist' in body["message"]
    assert emulator.objects("deals") == []


def test_values_are_validated_like_a_portal(client: HubSpot) -> None:
    archived_owner = next(o for o in DEFAULT_OWNERS if o.archived)
    cases = {
        "amount": ("lots", "INVALID_FLOAT"),
        "dealstage": ("somewhere", "INVALID_OPTION"),
        "hubspot_owner_id": (archived_owner.id, "INVALID_OWNER_ID"),
        "hs_lastmodifieddate": ("2026-01-01T00:00:00Z", "READ_ONLY_VALUE"),
    }
    for name, (value, error) in cases.items():
        with pytest.raises(ApiException) as refused:
            create_deal(client, dealname="Delta", **{name: value})
        assert refused.value.status == 400, name
        assert f'\\"error\\":\\"{error}\\"' in json.dumps(error_body(refused.value)["message"])

    deal = create_deal(client, dealname="Delta", closedate="1767225600000")
    assert deal.properties["closedate"] == "2026-01-01T00:00:00.000Z"


def test_rejected_property_makes_batch_upsert_a_207_with_per_record_errors(
    client: HubSpot, emulator: HubSpotEmulator
) -> None:
    emulator.faults.reject_property("deals", "description", "Description is locked by a workflow")

    answer = upsert(
        client,
        upsert_input("handoff/ok", dealname="Fine"),
        upsert_input("handoff/bad", dealname="Refused", description="hello"),
    )

    assert isinstance(answer, BatchResponseSimplePublicUpsertObjectWithErrors)
    assert answer.num_errors == 1
    assert [r.properties[HANDOFF_ID] for r in answer.results] == ["handoff/ok"]
    error = answer.errors[0]
    assert error.category == "VALIDATION_ERROR"
    assert error.context == {"id": ["handoff/bad"]}
    assert "Description is locked by a workflow" in error.message
    with pytest.raises(ApiException) as single:
        client.crm.deals.basic_api.update(
            answer.results[0].id, SimplePublicObjectInput(properties={"description": "x"})
        )
    assert single.value.status == 400

    emulator.faults.clear()
    assert upsert(client, upsert_input("handoff/bad", description="hello")).results[0].new


def test_batch_read_reports_missing_ids_as_multi_status(client: HubSpot) -> None:
    deal = create_deal(client, dealname="Epsilon")
    read = BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=deal.id), SimplePublicObjectId(id="999")],
        properties=["dealname"],
        properties_with_history=[],
    )

    answer = client.crm.deals.batch_api.read(read)

    assert isinstance(answer, BatchResponseSimplePublicObjectWithErrors)
    assert [r.properties["dealname"] for r in answer.results] == ["Epsilon"]
    assert answer.errors[0].category == "OBJECT_NOT_FOUND"
    assert answer.errors[0].context == {"ids": ["999"]}


def test_batch_calls_take_at_most_100_inputs(client: HubSpot) -> None:
    inputs = [upsert_input(f"handoff/{n}", dealname=str(n)) for n in range(101)]

    with pytest.raises(ApiException) as refused:
        upsert(client, *inputs)

    assert refused.value.status == 400


def test_a_wrong_token_is_a_401_with_hubspots_error_body(emulator: HubSpotEmulator) -> None:
    intruder = HubSpot(access_token="not-the-token", host=emulator.url)  # noqa: S106

    with pytest.raises(ApiException) as refused:
        intruder.crm.deals.basic_api.get_page()

    body = error_body(refused.value)
    assert refused.value.status == 401
    assert body["status"] == "error"
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found")
    assert body["correlationId"]
    assert emulator.calls == [("GET", "/crm/v3/objects/deals")]


def test_injected_429_carries_retry_after_and_the_rate_limit_category(
    no_retry_client: HubSpot, emulator: HubSpotEmulator
) -> None:
    client = no_retry_client
    emulator.faults.rate_limit_next(1, retry_after_s=3)

    with pytest.raises(ApiException) as limited:
        client.crm.deals.basic_api.get_page()

    body = error_body(limited.value)
    assert limited.value.status == 429
    assert limited.value.headers["Retry-After"] == "3"
    assert limited.value.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert body["category"] == "RATE_LIMITS"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT"
    assert client.crm.deals.basic_api.get_page().results == []


def test_the_sdk_itself_retries_a_429_after_retry_after(
    client: HubSpot, emulator: HubSpotEmulator
) -> None:
    emulator.faults.rate_limit_next(1, retry_after_s=0)

    assert client.crm.deals.basic_api.get_page().results == []
    assert emulator.calls == [("GET", "/crm/v3/objects/deals")] * 2


def test_injected_failures_are_answered_in_the_order_planned(
    no_retry_client: HubSpot, emulator: HubSpotEmulator
) -> None:
    emulator.faults.fail_next(1, status=503)
    emulator.faults.rate_limit_next(1)
    emulator.faults.fail_next(1)

    statuses = []
    for _ in range(4):
        try:
            no_retry_client.crm.deals.basic_api.get_page()
            statuses.append(200)
        except ApiException as exc:
            statuses.append(exc.status)

    assert statuses == [503, 429, 500, 200]


def test_the_ten_second_limit_is_enforced_with_hubspot_headers() -> None:
    with HubSpotEmulator(token=TOKEN, rate_limit_per_10s=2) as emulator:
        sdk = HubSpot(access_token=TOKEN, host=emulator.url, retry=Retry(total=0))
        deals = sdk.crm.deals.basic_api
        _, status, headers = deals.get_page_with_http_info()
        assert status == 200
        assert headers["X-HubSpot-RateLimit-Max"] == "2"
        assert headers["X-HubSpot-RateLimit-Remaining"] == "1"
        assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert int(headers["X-HubSpot-RateLimit-Daily-Remaining"]) > 0
        deals.get_page()

        with pytest.raises(ApiException) as limited:
            deals.get_page()

    assert limited.value.status == 429
    assert 1 <= int(limited.value.headers["Retry-After"]) <= 10
    assert error_body(limited.value)["message"] == (
        "You have reached your ten_secondly_rolling limit."
    )


def test_owners_exclude_deactivated_users_unless_asked(client: HubSpot) -> None:
    owners_api = client.crm.owners.owners_api

    active = owners_api.get_page(archived=False).results
    archived = owners_api.get_page(archived=True).results

    assert len(active) == 3
    assert all(not o.archived and o.email and o.first_name for o in active)
    assert [o.id for o in archived] == [o.id for o in DEFAULT_OWNERS if o.archived]
    assert owners_api.get_by_id(active[0].id).email == active[0].email
    first_page = owners_api.get_page(limit=2)
    rest = owners_api.get_page(limit=2, after=first_page.paging.next.after)
    assert len(first_page.results) + len(rest.results) == 3
    assert rest.paging is None


def test_task_created_with_an_association_is_found_from_the_deal_side(
    client: HubSpot, emulator: HubSpotEmulator
) -> None:
    deal = create_deal(client, dealname="Zeta")
    task = client.crm.objects.tasks.basic_api.create(
        TaskInput(
            properties={
                "hs_task_subject": "Call Zeta",
                "hs_timestamp": "1767225600000",
                "hs_task_status": "NOT_STARTED",
                "hubspot_owner_id": "1002",
            },
            associations=[
                PublicAssociationsForObject(
                    to=PublicObjectId(id=deal.id),
                    types=[
                        AssociationSpec(
                            association_category="HUBSPOT_DEFINED", association_type_id=216
                        )
                    ],
                )
            ],
        )
    )

    v4 = client.crm.associations.v4.basic_api
    from_deal = v4.get_page("deals", deal.id, "tasks")
    from_task = v4.get_page("tasks", task.id, "deals")

    assert [str(r.to_object_id) for r in from_deal.results] == [task.id]
    assert from_deal.results[0].association_types[0].type_id == 215
    assert from_task.results[0].association_types[0].type_id == 216
    assert emulator.associations("deals", deal.id, "tasks") == [task.id]
    assert task.properties["hs_timestamp"] == "2026-01-01T00:00:00.000Z"


def test_v4_default_and_labelled_associations_are_symmetric(
    client: HubSpot, emulator: HubSpotEmulator
) -> None:
    deal = create_deal(client, dealname="Eta")
    company = client.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"name": "Eta Inc", "domain": "eta.example"})
    )
    v4 = client.crm.associations.v4.basic_api

    default = v4.create_default("deals", deal.id, "companies", company.id)
    labelled = v4.create(
        "deals",
        deal.id,
        "companies",
        company.id,
        [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
    )

    assert default.status == "COMPLETE"
    assert labelled.labels == ["Primary"]
    types = v4.get_page("companies", company.id, "deals").results[0].association_types
    assert sorted(t.type_id for t in types) == [6, 342]
    assert emulator.associations("companies", company.id, "deals") == [deal.id]
    with pytest.raises(Exception) as missing:
        v4.create_default("deals", "424242", "companies", company.id)
    assert getattr(missing.value, "status", None) == 404


def test_v4_batch_default_associations_answer_a_207_for_missing_records(
    client: HubSpot, emulator: HubSpotEmulator
) -> None:
    deals = [create_deal(client, dealname=f"Batch {n}") for n in range(2)]
    company = client.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"name": "Batch Inc"})
    )
    batch = BatchInputPublicDefaultAssociationMultiPost(
        inputs=[
            PublicDefaultAssociationMultiPost(
                _from=V4ObjectId(id=deal.id), to=V4ObjectId(id=company.id)
            )
            for deal in deals
        ]
    )

    answer = client.crm.associations.v4.batch_api.create_default("deals", "companies", batch)

    assert answer.status == "COMPLETE"
    assert answer.completed_at is not None
    assert {
        (r._from.id, r.to.id, r.association_spec.association_type_id) for r in answer.results
    } >= {
        (deals[0].id, company.id, 341),
        (company.id, deals[0].id, 342),
    }
    assert emulator.associations("companies", company.id, "deals") == [d.id for d in deals]
    status, body = raw(
        emulator,
        "POST",
        "/crm/v4/associations/deals/companies/batch/associate/default",
        json.dumps(
            {
                "inputs": [
                    {"from": {"id": "424242"}, "to": {"id": company.id}},
                    {"from": {"id": deals[0].id}, "to": {"id": company.id}},
                ]
            }
        ).encode(),
    )
    assert status == 207
    multi = json.loads(body)
    assert multi["numErrors"] == 1
    assert multi["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert multi["errors"][0]["context"] == {"ids": ["424242"]}
    assert len(multi["results"]) == 2


def test_an_injected_record_rejection_fails_that_record_alone(
    client: HubSpot, emulator: HubSpotEmulator
) -> None:
    status, _ = raw(
        emulator,
        "POST",
        "/_sandbox/faults",
        json.dumps(
            {"reject_record": {"object_type": "deal", "id": "handoff/bad", "message": "Locked"}}
        ).encode(),
    )
    assert status == 200

    answer = upsert(
        client, upsert_input("handoff/ok", dealname="Fine"), upsert_input("handoff/bad")
    )

    assert isinstance(answer, BatchResponseSimplePublicUpsertObjectWithErrors)
    assert [r.properties[HANDOFF_ID] for r in answer.results] == ["handoff/ok"]
    assert [(e.message, e.context) for e in answer.errors] == [("Locked", {"id": ["handoff/bad"]})]
    deal_id = answer.results[0].id
    emulator.faults.reject_record("deals", deal_id, "Stage locked")
    updated = client.crm.deals.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=deal_id, properties={"dealname": "x"})]
        )
    )
    assert [(e.message, e.context) for e in updated.errors] == [
        ("Stage locked", {"ids": [deal_id]})
    ]
    assert emulator.faults.describe()["rejectedRecords"][0]["id"] == "handoff/bad"


def test_random_failures_hit_the_planned_fraction_repeatably(
    no_retry_client: HubSpot, emulator: HubSpotEmulator
) -> None:
    status, _ = raw(emulator, "POST", "/_sandbox/faults", b'{"fail_randomly": 0.2, "seed": 3}')
    assert status == 200
    assert emulator.faults.describe()["randomFailureRate"] == 0.2

    def outcomes() -> list[int]:
        seen = []
        for _ in range(50):
            try:
                no_retry_client.crm.deals.basic_api.get_page()
                seen.append(200)
            except ApiException as exc:
                seen.append(exc.status)
        return seen

    first = outcomes()
    failed = [s for s in first if s != 200]
    assert 3 <= len(failed) <= 20
    assert set(failed) <= {429, 500, 502, 503}
    emulator.faults.fail_randomly(0.2, seed=3)
    assert outcomes() == first
    emulator.faults.clear()
    assert set(outcomes()) == {200}


def test_a_lost_answer_comes_after_the_write_is_done(
    no_retry_client: HubSpot, emulator: HubSpotEmulator
) -> None:
    status, _ = raw(emulator, "POST", "/_sandbox/faults", b'{"lose_answers_randomly": 1.0}')
    assert status == 200
    assert emulator.faults.describe()["lostAnswerRate"] == 1.0

    with pytest.raises(ApiException) as lost:
        create_deal(no_retry_client, dealname="Written, answer lost")
    no_retry_client.crm.deals.basic_api.get_page()  # reads are answered

    assert lost.value.status == 504
    assert [d["properties"]["dealname"] for d in emulator.objects("deals")] == [
        "Written, answer lost"
    ]
    assert emulator.faults.lost == 1


def test_engagements_need_hs_timestamp(client: HubSpot) -> None:
    with pytest.raises(Exception) as refused:
        client.crm.objects.tasks.basic_api.create(
            TaskInput(properties={"hs_task_subject": "No due date"})
        )

    assert getattr(refused.value, "status", None) == 400
    assert "hs_timestamp is required" in json.loads(refused.value.body)["message"]  # type: ignore[attr-defined]


def test_search_with_an_eq_filter_and_paging(client: HubSpot) -> None:
    for n, stage in enumerate(["closedwon", "closedlost", "closedwon", "closedwon"]):
        create_deal(client, dealname=f"Deal {n}", dealstage=stage, amount=str(n * 100))
    search = client.crm.deals.search_api

    def stage_is(stage: str, **extra: Any) -> Any:
        condition = Filter(property_name="dealstage", operator="EQ", value=stage)
        request = PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[condition])], properties=["dealname"], **extra
        )
        return search.do_search(request)

    page = stage_is("closedwon", limit=2)
    rest = stage_is("closedwon", limit=2, after=page.paging.next.after)
    lost = stage_is("closedlost")

    assert page.total == 3
    assert [d.properties["dealname"] for d in page.results + rest.results] == [
        "Deal 0",
        "Deal 2",
        "Deal 3",
    ]
    assert rest.paging is None
    assert [d.properties["dealname"] for d in lost.results] == ["Deal 1"]
    assert "dealstage" not in lost.results[0].properties
    above = Filter(property_name="amount", operator="GTE", value="200")
    rich = search.do_search(
        PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[above])],
            sorts=[{"propertyName": "amount", "direction": "DESCENDING"}],
        )
    )
    assert [d.properties["amount"] for d in rich.results] == ["300", "200"]


def test_list_pages_with_an_after_cursor(client: HubSpot) -> None:
    for n in range(3):
        create_deal(client, dealname=f"Page {n}")

    first = client.crm.deals.basic_api.get_page(limit=2, properties=["dealname"])
    second = client.crm.deals.basic_api.get_page(limit=2, after=first.paging.next.after)

    assert [d.properties["dealname"] for d in first.results] == ["Page 0", "Page 1"]
    assert [d.properties["dealname"] for d in second.results] == ["Page 2"]
    assert second.paging is None


def test_state_survives_a_new_emulator_on_the_same_state_file(tmp_path: Path) -> None:
    state = tmp_path / "sandbox" / "hubspot.json"
    with HubSpotEmulator(token=TOKEN, state_path=state) as first:
        sdk = HubSpot(access_token=TOKEN, host=first.url)
        sdk.crm.properties.core_api.create(
            "deals",
            PropertyCreate(
                name=HANDOFF_ID,
                label="PLG handoff id",
                type="string",
                field_type="text",
                group_name="dealinformation",
                has_unique_value=True,
            ),
        )
        created = upsert(sdk, upsert_input("handoff/kept", dealname="Kept"))
        deal_id = created.results[0].id

    with HubSpotEmulator(token=TOKEN, state_path=state) as second:
        sdk = HubSpot(access_token=TOKEN, host=second.url)
        again = upsert(sdk, upsert_input("handoff/kept", dealname="Kept again"))
        newer = create_deal(sdk, dealname="Newer")
        kept = second.objects("deals")

    assert again.results[0].new is False
    assert again.results[0].id == deal_id
    assert [d["properties"]["dealname"] for d in kept] == ["Kept again", "Newer"]
    assert int(newer.id) > int(deal_id)


def test_calls_count_vendor_api_requests_only(client: HubSpot, emulator: HubSpotEmulator) -> None:
    upsert(client, upsert_input("handoff/c/1", dealname="Counted"))
    client.crm.owners.owners_api.get_page()
    raw(emulator, "GET", "/")
    raw(emulator, "GET", "/_sandbox/state")

    assert emulator.calls == [("POST", UPSERT_PATH), ("GET", "/crm/v3/owners/")]
    emulator.reset_calls()
    assert emulator.calls == []


def test_malformed_json_and_unknown_routes_answer_hubspot_errors(
    emulator: HubSpotEmulator,
) -> None:
    bad_status, bad_body = raw(emulator, "POST", "/crm/v3/objects/deals", b'{"properties": ')
    missing_status, missing_body = raw(emulator, "GET", "/crm/v3/nothing/here")
    unknown_status, unknown_body = raw(emulator, "GET", "/crm/v3/objects/widgets")

    assert (bad_status, json.loads(bad_body)["category"]) == (400, "VALIDATION_ERROR")
    assert "Invalid input JSON" in json.loads(bad_body)["message"]
    assert missing_status == 404
    assert json.loads(missing_body)["status"] == "error"
    assert unknown_status == 400
    assert "Unable to infer object type" in json.loads(unknown_body)["message"]


def test_sandbox_endpoints_steer_faults_dump_state_and_reset(
    no_retry_client: HubSpot, emulator: HubSpotEmulator
) -> None:
    client = no_retry_client
    create_deal(client, dealname="Theta")
    status, _ = raw(emulator, "POST", "/_sandbox/faults", b'{"rate_limit_next": 1}')
    assert status == 200
    with pytest.raises(ApiException) as limited:
        client.crm.deals.basic_api.get_page()
    assert limited.value.status == 429

    _, state = raw(emulator, "GET", "/_sandbox/state")
    dumped = json.loads(state)
    assert [d["properties"]["dealname"] for d in dumped["objects"]["deals"]] == ["Theta"]
    assert {"owners", "calls", "faults", "customProperties", "associations"} <= set(dumped)

    assert raw(emulator, "POST", "/_sandbox/reset")[0] == 200
    assert emulator.objects("deals") == []
    assert emulator.calls == []
    assert HANDOFF_ID in {p.name for p in client.crm.properties.core_api.get_all("deals").results}


def test_html_page_lists_the_portal_and_escapes_values(
    client: HubSpot, emulator: HubSpotEmulator
) -> None:
    upsert(
        client,
        upsert_input("handoff/<x>", dealname="<script>alert(1)</script>", hubspot_owner_id="1001"),
    )
    client.crm.objects.tasks.basic_api.create(
        TaskInput(properties={"hs_task_subject": "Follow up & call", "hs_timestamp": "0"})
    )

    status, page = raw(emulator, "GET", "/")

    assert status == 200
    assert '<meta http-equiv="refresh" content="5">' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>" not in page
    assert "handoff/&lt;x&gt;" in page
    assert "Maya Lindqvist" in page
    assert "Follow up &amp; call" in page
    assert "Tom Becker" in page


def test_search_endpoints_refuse_a_fifth_search_within_a_second(
    no_retry_client: HubSpot, emulator: HubSpotEmulator
) -> None:
    """HubSpot's CRM search endpoints allow 4 requests/s per token, whatever the object type,
    apart from the ten-second limit; other endpoints are not held to it."""
    deals = no_retry_client.crm.deals.search_api
    companies = no_retry_client.crm.companies.search_api
    anything = PublicObjectSearchRequest(limit=1)
    started = time.monotonic()
    for search in (deals, companies, deals, companies):
        search.do_search(anything)

    with pytest.raises(ApiException) as limited:
        deals.do_search(anything)
    assert no_retry_client.crm.deals.basic_api.get_page().results == []
    assert time.monotonic() - started < 1, "too slow a machine for this test"

    body = error_body(limited.value)
    assert limited.value.status == 429
    assert limited.value.headers["Retry-After"] == "1"
    assert limited.value.headers["X-HubSpot-RateLimit-Max"] == "190"
    assert body["message"] == "You have reached your secondly limit."
    assert body["category"] == "RATE_LIMITS"
    assert body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "SECONDLY"
    time.sleep(max(0.0, started + 1.1 - time.monotonic()))
    assert deals.do_search(anything).results == []
    assert emulator.refusals == {"SECONDLY": 1}
