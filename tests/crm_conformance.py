"""What every CRM connector must do, checked through its emulator over real HTTP.

Each CRM subclasses `CrmConformance` in tests/connectors/ and provides a `harness` fixture:
the connector, and the emulator-side moves a CRM user (or an outage) would make."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Protocol

import pytest

from plg_handoff.connectors.base import CrmConnector, OpportunityDraft, TaskSpec
from plg_handoff.connectors.errors import InvalidInput, RateLimited

NEW_HANDOFF_MAX_CALLS = 4  # owners + upsert + task lookup + task create


class CrmHarness(Protocol):
    crm: CrmConnector

    def api_calls(self) -> int:
        """Vendor API requests the emulator received since the last reset."""
        ...

    def reset_calls(self) -> None: ...

    def inactive_owner_ids(self) -> set[str]: ...

    def opportunities(self, external_id: str) -> list[str]:
        """Ids of the opportunities/deals carrying this external id."""
        ...

    def tasks_on(self, opportunity_id: str) -> list[str]: ...

    def complete_task(self, task_id: str) -> None:
        """What the owner does after reaching out."""
        ...

    def close_won(self, opportunity_id: str) -> None: ...

    def rate_limit_next(self, n: int) -> None:
        """The vendor's rate-limit answer (HubSpot 429, Salesforce 403 REQUEST_LIMIT_EXCEEDED)
        to the next `n` API requests."""
        ...

    def clear_faults(self) -> None: ...

    def refuse_trigger_field(self, message: str) -> None:
        """A validation rule on the CRM refuses the trigger field of opportunities."""
        ...

    def crm_without_custom_fields(self) -> tuple[CrmConnector, set[str]]:
        """A connector on a fresh CRM lacking some custom fields, and the names missing."""
        ...


def draft(external_id: str, owner_id: str, **changes: object) -> OpportunityDraft:
    values: dict[str, object] = {
        "external_id": external_id,
        "name": "Hot Co: limit approaching",
        "account_id": "acct-hot",
        "owner_id": owner_id,
        "trigger": "limit_approaching",
        "triggers": ("limit_approaching",),
        "evidence": ("9 of 10 seats in use (90%)",),
        "score": 0.87,
        "tier": 1,
        "plan": "team",
        "amount": 50000.0,
    }
    values.update(changes)
    return OpportunityDraft(**values)  # type: ignore[arg-type]


def task_spec(opportunity_id: str, owner_id: str) -> TaskSpec:
    return TaskSpec(
        opportunity_id=opportunity_id,
        owner_id=owner_id,
        subject="Reach out to ana@hot.example about limit_approaching",
        body="Hot Co uses 9 of its 10 seats.",
        due_at_ms=int(time.time() * 1000) + 86_400_000,
    )


class CrmConformance:
    @pytest.fixture
    def harness(self) -> Iterator[CrmHarness]:
        raise NotImplementedError("each CRM's test class provides its harness")

    def _owner(self, harness: CrmHarness) -> str:
        return harness.crm.list_owners()[0].id

    def test_owners_are_listed_and_inactive_ones_skipped(self, harness: CrmHarness) -> None:
        owners = harness.crm.list_owners()
        assert owners, "the emulator seeds active owners"
        assert all(o.id and o.email and o.name for o in owners)
        active_ids = {o.id for o in owners if o.active}
        assert active_ids
        assert not active_ids & harness.inactive_owner_ids()

    def test_upsert_twice_with_one_external_id_makes_one_record(self, harness: CrmHarness) -> None:
        owner = self._owner(harness)
        first = harness.crm.upsert_opportunity(draft("handoff/acct-hot/1", owner))
        second = harness.crm.upsert_opportunity(draft("handoff/acct-hot/1", owner, score=0.9))
        assert first.created is True
        assert second.created is False
        assert second.id == first.id
        assert harness.opportunities("handoff/acct-hot/1") == [first.id]

    def test_a_task_is_found_again_instead_of_duplicated(self, harness: CrmHarness) -> None:
        owner = self._owner(harness)
        opportunity = harness.crm.upsert_opportunity(draft("handoff/acct-task/1", owner)).id
        assert harness.crm.find_task(opportunity) is None
        created = harness.crm.create_task(task_spec(opportunity, owner))
        again = harness.crm.find_task(opportunity) or harness.crm.create_task(
            task_spec(opportunity, owner)
        )
        assert again == created
        assert harness.tasks_on(opportunity) == [created]

    def test_follow_up_sees_a_completed_task_and_a_closed_won_outcome(
        self, harness: CrmHarness
    ) -> None:
        owner = self._owner(harness)
        opportunity = harness.crm.upsert_opportunity(draft("handoff/acct-follow/1", owner)).id
        task = harness.crm.create_task(task_spec(opportunity, owner))
        before = harness.crm.read_follow_up(opportunity, task)
        assert before.contacted is False
        assert before.outcome is None

        harness.complete_task(task)
        contacted = harness.crm.read_follow_up(opportunity, task)
        assert contacted.contacted is True
        assert contacted.outcome is None

        harness.close_won(opportunity)
        won = harness.crm.read_follow_up(opportunity, task)
        assert won.outcome == "won"
        assert won.contacted is True

    def test_missing_properties_names_what_is_missing(self, harness: CrmHarness) -> None:
        assert harness.crm.missing_properties() == []
        bare, expected = harness.crm_without_custom_fields()
        missing = set(bare.missing_properties())
        assert expected <= missing
        assert missing

    def test_invalid_data_is_invalid_input_and_not_retryable(self, harness: CrmHarness) -> None:
        owner = self._owner(harness)
        harness.refuse_trigger_field("Trigger must be one of the approved values")
        with pytest.raises(InvalidInput) as caught:
            harness.crm.upsert_opportunity(draft("handoff/acct-bad/1", owner))
        assert caught.value.retryable is False
        assert "approved values" in str(caught.value)
        assert harness.opportunities("handoff/acct-bad/1") == []

    def test_rate_limited_is_retryable(self, harness: CrmHarness) -> None:
        owner = self._owner(harness)
        harness.rate_limit_next(10)
        with pytest.raises(RateLimited) as caught:
            harness.crm.upsert_opportunity(draft("handoff/acct-limited/1", owner))
        assert caught.value.retryable is True
        harness.clear_faults()
        retried = harness.crm.upsert_opportunity(draft("handoff/acct-limited/1", owner))
        assert harness.opportunities("handoff/acct-limited/1") == [retried.id]

    def test_a_new_handoff_costs_at_most_four_calls(self, harness: CrmHarness) -> None:
        harness.crm.list_owners()  # the connector is warm (logged in), as in a worker
        harness.reset_calls()
        owner = harness.crm.list_owners()[0].id
        opportunity = harness.crm.upsert_opportunity(draft("handoff/acct-calls/1", owner))
        assert opportunity.created
        assert harness.crm.find_task(opportunity.id) is None
        harness.crm.create_task(task_spec(opportunity.id, owner))
        assert harness.api_calls() <= NEW_HANDOFF_MAX_CALLS
