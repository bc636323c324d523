"""What every CRM connector must do, checked through its emulator over real HTTP.

Each CRM subclasses `CrmConformance` in tests/connectors/ and provides a `harness` fixture:
the connector, and the emulator-side moves a CRM user (or an outage) would make."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, Protocol

import pytest

from plg_handoff.connectors.base import (
    CrmConnector,
    FunnelFields,
    OpportunityDraft,
    OpportunityRef,
    RefreshResult,
    SupportsBatchWrites,
    TaskSpec,
)
from plg_handoff.connectors.errors import ConnectorError, InvalidInput, RateLimited

NEW_HANDOFF_MAX_CALLS = 4  # account lookup, (account create,) upsert, (link,) task create


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

    def add_account(
        self, name: str, *, external_id: str | None, domain: str | None, owner_id: str | None
    ) -> str:
        """An account/company a CRM user made; its CRM id."""
        ...

    def accounts_with(self, external_id: str) -> list[str]:
        """Ids of the accounts/companies carrying this product account id."""
        ...

    def account_owner(self, account: str) -> str | None: ...

    def account_of(self, opportunity_id: str) -> str | None:
        """The account/company the opportunity/deal is attached to."""
        ...

    def book_meeting(self, opportunity_id: str, start_ms: int) -> str:
        """A meeting (HubSpot meeting, Salesforce Event) on the opportunity/deal."""
        ...

    def funnel_of(self, opportunity_id: str) -> dict[str, Any]:
        """The funnel fields as stored, by FunnelFields attribute name (None: unset)."""
        ...

    default_stage: str
    """The stage of a new opportunity with the default config."""
    later_stage: str
    """An open stage further on, which a rep (or `stage_by_trigger`) may set."""

    def crm_with(self, **config: Any) -> CrmConnector:
        """A connector to the same CRM with these config settings (stage_by_trigger, ...)."""
        ...

    def record(self, opportunity_id: str) -> dict[str, Any]:
        """The opportunity as stored, by vendor-neutral name: name, stage, close_date
        (YYYY-MM-DD), amount (float or None), owner_id, trigger, evidence, score, segment,
        approach."""
        ...

    def sales_edit(
        self, opportunity_id: str, *, name: str, stage: str, close_date: str, amount: float
    ) -> None:
        """What a rep does in the CRM once the opportunity exists."""
        ...

    def delete_opportunity(self, opportunity_id: str) -> None:
        """Deleted (or merged away) in the CRM."""
        ...

    def worker_crm(self) -> CrmConnector:
        """A new connector to the same CRM, as a freshly started worker builds it (nothing
        cached), with a timeout short enough that a slow answer fails the call."""
        ...

    def random_faults(self, rate: float, seed: int) -> None:
        """From now on this fraction of API requests fails the vendor's way (rate limits,
        5xx, slow answers); `clear_faults` stops it."""
        ...

    def faults_injected(self) -> int:
        """Requests the emulator failed on purpose so far."""
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

    def _two_owners(self, harness: CrmHarness) -> tuple[str, str]:
        active = [o.id for o in harness.crm.list_owners() if o.active]
        assert len(active) >= 2, "the emulator seeds at least two active owners"
        return active[0], active[1]

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
        assert harness.crm.find_task(opportunity, owner) is None
        created = harness.crm.create_task(task_spec(opportunity, owner))
        again = harness.crm.find_task(opportunity, owner) or harness.crm.create_task(
            task_spec(opportunity, owner)
        )
        assert again == created
        assert harness.tasks_on(opportunity) == [created]

    def test_a_reassigned_opportunity_gets_a_task_for_its_new_owner(
        self, harness: CrmHarness
    ) -> None:
        first, second = self._two_owners(harness)
        opportunity = harness.crm.upsert_opportunity(draft("handoff/acct-moved/1", first)).id
        theirs = harness.crm.find_task(opportunity, first) or harness.crm.create_task(
            task_spec(opportunity, first)
        )
        harness.crm.upsert_opportunity(draft("handoff/acct-moved/1", second))
        assert harness.crm.find_task(opportunity, second) is None
        mine = harness.crm.create_task(task_spec(opportunity, second))
        assert harness.crm.find_task(opportunity, second) == mine
        assert harness.crm.find_task(opportunity, first) == theirs
        assert sorted(harness.tasks_on(opportunity)) == sorted([theirs, mine])

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
        """Lookup of the account (whose owner comes first), the opportunity linked to it (the
        account created when there is none), the owner's task."""
        owner = harness.crm.list_owners()[0].id  # the connector is warm, as in a worker
        known = harness.add_account(
            "Known Co", external_id="acct-known", domain="known.example", owner_id=owner
        )
        for account_id, domain in (("acct-calls", "calls.example"), ("acct-known", None)):
            harness.reset_calls()
            harness.crm.list_owners()
            harness.crm.find_account(account_id, (domain,) if domain else ())
            opportunity = harness.crm.upsert_opportunity(
                draft(f"handoff/{account_id}/1", owner, account_id=account_id)
            )
            assert opportunity.created
            assert harness.crm.find_task(opportunity.id, owner) is None
            harness.crm.create_task(task_spec(opportunity.id, owner))
            assert harness.api_calls() <= NEW_HANDOFF_MAX_CALLS, account_id
        assert harness.account_of(opportunity.id) == known

    def test_an_account_is_found_by_external_id_then_by_domain(self, harness: CrmHarness) -> None:
        owner = self._owner(harness)
        by_id = harness.add_account(
            "Acme", external_id="acct-acme", domain="acme-old.example", owner_id=owner
        )
        by_domain = harness.add_account(
            "Beta", external_id=None, domain="beta.example", owner_id=None
        )
        found = harness.crm.find_account("acct-acme", ("beta.example",))
        assert found is not None
        assert (found.id, found.owner_id) == (by_id, owner)
        found = harness.crm.find_account("acct-beta", ("Beta.example",))
        assert found is not None
        assert found.id == by_domain
        assert harness.crm.find_account("acct-nobody", ("nobody.example",)) is None

    def test_the_opportunity_is_linked_to_the_found_account(self, harness: CrmHarness) -> None:
        owner = self._owner(harness)
        company = harness.add_account(
            "Gamma", external_id=None, domain="gamma.example", owner_id=None
        )
        opportunity = harness.crm.upsert_opportunity(
            draft(
                "handoff/acct-gamma/1", owner, account_id="acct-gamma", domains=("gamma.example",)
            )
        ).id
        assert harness.account_of(opportunity) == company

    def test_an_account_is_created_once_owned_by_the_first_owner(self, harness: CrmHarness) -> None:
        owner = self._owner(harness)
        assert harness.crm.find_account("acct-new", ("new.example",)) is None
        first = harness.crm.upsert_opportunity(
            draft("handoff/acct-new/1", owner, account_id="acct-new", domains=("new.example",))
        ).id
        [account] = harness.accounts_with("acct-new")
        assert harness.account_of(first) == account
        assert harness.account_owner(account) == owner
        found = harness.crm.find_account("acct-new", ())
        assert found is not None
        assert (found.id, found.owner_id) == (account, owner)
        second = harness.crm.upsert_opportunity(
            draft("handoff/acct-new/2", owner, account_id="acct-new")
        ).id
        assert harness.account_of(second) == account
        assert harness.accounts_with("acct-new") == [account]

    def test_follow_up_sees_a_meeting_and_its_time(self, harness: CrmHarness) -> None:
        owner = self._owner(harness)
        opportunity = harness.crm.upsert_opportunity(draft("handoff/acct-meet/1", owner)).id
        task = harness.crm.create_task(task_spec(opportunity, owner))
        before = harness.crm.read_follow_up(opportunity, task)
        assert (before.meeting, before.meeting_at_ms, before.contacted_at_ms) == (False, None, None)

        harness.complete_task(task)
        contacted = harness.crm.read_follow_up(opportunity, task)
        assert contacted.contacted is True
        assert contacted.meeting is False
        assert contacted.contacted_at_ms is not None
        assert abs(contacted.contacted_at_ms - time.time() * 1000) < 120_000

        start = (int(time.time()) + 86_400) * 1000
        harness.book_meeting(opportunity, start)
        met = harness.crm.read_follow_up(opportunity, task)
        assert met.meeting is True
        assert met.meeting_at_ms == start
        assert met.contacted_at_ms is not None
        assert met.contacted_at_ms <= contacted.contacted_at_ms
        assert met.closed_at_ms is None

        harness.close_won(opportunity)
        won = harness.crm.read_follow_up(opportunity, task)
        assert won.outcome == "won"
        assert won.closed_at_ms is not None
        assert abs(won.closed_at_ms - time.time() * 1000) < 86_400_000

    def test_funnel_fields_are_written_and_unset_ones_left_alone(self, harness: CrmHarness) -> None:
        owner = self._owner(harness)
        opportunity = harness.crm.upsert_opportunity(draft("handoff/acct-funnel/1", owner)).id
        harness.crm.write_funnel(opportunity, FunnelFields(signal_to_assigned_s=42.0, sla_met=True))
        harness.crm.write_funnel(opportunity, FunnelFields(signal_to_contact_s=3600.5))
        stored = harness.funnel_of(opportunity)
        assert stored["signal_to_assigned_s"] == pytest.approx(42.0)
        assert stored["signal_to_contact_s"] == pytest.approx(3600.5)
        assert stored["sla_met"] is True
        assert stored["contact_to_meeting_s"] is None

    def test_an_existing_opportunity_is_updated_in_one_call_keeping_what_sales_changed(
        self, harness: CrmHarness
    ) -> None:
        first, second = self._two_owners(harness)
        made = draft(
            "handoff/acct-kept/1", first, segment="sales_assist", approach="Offer a seat review."
        )
        opportunity = harness.crm.upsert_opportunity(made).id
        harness.sales_edit(
            opportunity,
            name="Hot Co expansion (rep's name)",
            stage=harness.later_stage,
            close_date="2031-03-31",
            amount=12_345.0,
        )
        newer = replace(
            made,
            owner_id=second,
            name="Hot Co: limit reached",
            trigger="limit_reached",
            triggers=("limit_reached", "limit_approaching"),
            evidence=("10 of 10 seats in use (100%)",),
            score=0.95,
            segment="enterprise",
            approach="Call the admin today.",
            amount=90_000.0,
            existing_id=opportunity,
        )
        harness.reset_calls()
        ref = harness.crm.upsert_opportunity(newer)
        assert harness.api_calls() == 1
        assert (ref.id, ref.created) == (opportunity, False)
        stored = harness.record(opportunity)
        assert stored["owner_id"] == second
        assert stored["trigger"] == "limit_reached"
        assert stored["evidence"] == "10 of 10 seats in use (100%)"
        assert stored["score"] == pytest.approx(0.95)
        assert (stored["segment"], stored["approach"]) == ("enterprise", "Call the admin today.")
        assert stored["name"] == "Hot Co expansion (rep's name)"
        assert stored["stage"] == harness.later_stage
        assert stored["close_date"] == "2031-03-31"
        assert stored["amount"] == pytest.approx(12_345.0)
        assert harness.opportunities("handoff/acct-kept/1") == [opportunity]

    def test_a_deleted_opportunity_is_recreated_by_external_id(self, harness: CrmHarness) -> None:
        owner = self._owner(harness)
        made = draft("handoff/acct-deleted/1", owner)
        gone = harness.crm.upsert_opportunity(made).id
        harness.delete_opportunity(gone)
        ref = harness.crm.upsert_opportunity(replace(made, score=0.91, existing_id=gone))
        assert ref.id != gone
        assert ref.created is True
        assert harness.opportunities("handoff/acct-deleted/1") == [ref.id]
        stored = harness.record(ref.id)
        assert (stored["name"], stored["stage"]) == (made.name, harness.default_stage)
        assert stored["score"] == pytest.approx(0.91)
        assert stored["amount"] == pytest.approx(50_000.0)

    def test_the_stage_follows_the_trigger_and_the_close_date_is_set_on_creation(
        self, harness: CrmHarness
    ) -> None:
        owner = self._owner(harness)
        crm = harness.crm_with(
            stage_by_trigger={"limit_reached": harness.later_stage}, close_in_days=10
        )
        mapped = crm.upsert_opportunity(
            draft("handoff/acct-stage/1", owner, trigger="limit_reached")
        ).id
        unmapped = crm.upsert_opportunity(draft("handoff/acct-stage/2", owner)).id
        default = harness.crm.upsert_opportunity(draft("handoff/acct-stage/3", owner)).id
        assert harness.record(mapped)["stage"] == harness.later_stage
        assert harness.record(unmapped)["stage"] == harness.default_stage
        assert harness.record(default)["stage"] == harness.default_stage
        assert _days_from_today(harness.record(mapped)["close_date"]) in (10, 9)
        assert _days_from_today(harness.record(default)["close_date"]) in (30, 29)

    def test_segment_and_approach_are_written_and_refreshed(self, harness: CrmHarness) -> None:
        owner = self._owner(harness)
        made = draft(
            "handoff/acct-motion/1", owner, segment="sales_assist", approach="Offer a seat review."
        )
        opportunity = harness.crm.upsert_opportunity(made).id
        stored = harness.record(opportunity)
        assert (stored["segment"], stored["approach"]) == ("sales_assist", "Offer a seat review.")
        refresh: Callable[[list[OpportunityDraft]], RefreshResult] | None = getattr(
            harness.crm, "refresh_opportunities", None
        )
        if refresh is None:
            pytest.skip("this CRM has no bulk refresh")
        same = refresh([replace(made, amount=1.0)])
        assert same.updated == ()  # the amount is the rep's once the opportunity exists
        moved = replace(made, segment="enterprise", approach="Bring in the AE.", amount=1.0)
        assert refresh([moved]).updated == (made.external_id,)
        stored = harness.record(opportunity)
        assert (stored["segment"], stored["approach"]) == ("enterprise", "Bring in the AE.")
        assert stored["amount"] == pytest.approx(50_000.0)

    def test_every_handoff_lands_exactly_once_under_20_percent_faults(
        self, harness: CrmHarness
    ) -> None:
        """What the handoff's activities do, each retried as Temporal retries it (retryable
        errors only; every third attempt on a new worker), with a fifth of the requests failing:
        one account per product account, one opportunity per handoff, one task on each."""
        accounts, episodes = 6, 2
        worker = [harness.worker_crm()]

        def retried(step: Callable[[CrmConnector], str]) -> str:
            for attempt in range(60):
                if attempt % 3 == 2:
                    worker[0] = harness.worker_crm()
                try:
                    return step(worker[0])
                except ConnectorError as exc:
                    if not exc.retryable:
                        raise
            raise AssertionError("the activity never succeeded")

        def assign(crm: CrmConnector, account: str) -> str:
            crm.find_account(account, (f"{account}.example",))
            return crm.list_owners()[0].id

        def upsert(crm: CrmConnector, handoff: OpportunityDraft) -> str:
            return crm.upsert_opportunity(handoff).id

        def task(crm: CrmConnector, opportunity: str, owner: str) -> str:
            return crm.find_task(opportunity, owner) or crm.create_task(
                task_spec(opportunity, owner)
            )

        harness.random_faults(0.2, seed=7)
        landed: dict[str, tuple[str, str]] = {}  # handoff key -> (account, opportunity)
        for episode in range(1, episodes + 1):
            for n in range(accounts):
                account = f"acct-fault-{n}"
                owner = retried(partial(assign, account=account))
                handoff = draft(
                    f"handoff/{account}/{episode}",
                    owner,
                    account_id=account,
                    account_name=f"Fault {n}",
                    domains=(f"{account}.example",),
                )
                opportunity = retried(partial(upsert, handoff=handoff))
                retried(partial(task, opportunity=opportunity, owner=owner))
                landed[handoff.external_id] = (account, opportunity)
        harness.clear_faults()

        assert harness.faults_injected() > 0
        for key, (account, opportunity) in landed.items():
            assert harness.opportunities(key) == [opportunity], key
            assert len(harness.tasks_on(opportunity)) == 1, key
            (account_ref,) = harness.accounts_with(account)
            assert harness.account_of(opportunity) == account_ref, key

    # --- a burst of new handoffs: batch writes -------------------------------------------------

    def _burst(
        self, harness: CrmHarness, size: int
    ) -> tuple[SupportsBatchWrites, list[OpportunityDraft]]:
        """The connector's batch writes and `size` new handoffs' drafts, each account looked
        up first as `assign_owner` does."""
        crm = harness.crm
        assert isinstance(crm, SupportsBatchWrites)
        owner = self._owner(harness)
        drafts = []
        for n in range(size):
            account = f"acct-burst-{n}"
            found = crm_lookup(harness.crm, account, (f"{account}.example",))
            drafts.append(
                draft(
                    f"handoff/{account}/1",
                    owner,
                    account_id=account,
                    account_name=f"Burst {n}",
                    domains=(f"{account}.example",),
                    account_ref=found,
                )
            )
        return crm, drafts

    def test_a_burst_of_new_opportunities_takes_a_call_for_accounts_and_one_for_opportunities(
        self, harness: CrmHarness
    ) -> None:
        crm, drafts = self._burst(harness, 30)
        harness.reset_calls()

        outcomes = crm.upsert_opportunities(drafts)

        assert harness.api_calls() == 2
        written = [o for o in outcomes if isinstance(o, OpportunityRef)]
        assert len(written) == 30 and all(o.created for o in written)
        for d, ref in zip(drafts, written, strict=True):
            assert harness.opportunities(d.external_id) == [ref.id]
            (account,) = harness.accounts_with(d.account_id)
            assert harness.account_of(ref.id) == account

        harness.reset_calls()
        again = crm.upsert_opportunities(drafts)
        assert [o.id for o in again if isinstance(o, OpportunityRef)] == [r.id for r in written]
        assert not any(isinstance(o, OpportunityRef) and o.created for o in again)
        assert harness.api_calls() == 1  # the accounts and their links are remembered

    def test_a_record_refused_in_a_burst_fails_alone(self, harness: CrmHarness) -> None:
        crm, drafts = self._burst(harness, 10)
        inactive = sorted(harness.inactive_owner_ids())[0]
        drafts[7] = replace(drafts[7], owner_id=inactive)

        outcomes = crm.upsert_opportunities(drafts)

        assert isinstance(outcomes[7], InvalidInput)
        assert outcomes[7].records, "the refused record is named with its message"
        for i, d in enumerate(drafts):
            if i != 7:
                assert isinstance(outcomes[i], OpportunityRef)
                assert len(harness.opportunities(d.external_id)) == 1
        assert harness.opportunities(drafts[7].external_id) == []

    def test_a_burst_of_tasks_takes_one_call_and_a_refused_one_fails_alone(
        self, harness: CrmHarness
    ) -> None:
        crm, drafts = self._burst(harness, 8)
        written = [o for o in crm.upsert_opportunities(drafts) if isinstance(o, OpportunityRef)]
        owner = self._owner(harness)
        tasks = [task_spec(ref.id, owner) for ref in written]
        tasks[2] = replace(tasks[2], owner_id=sorted(harness.inactive_owner_ids())[0])
        harness.reset_calls()

        outcomes = crm.create_tasks(tasks)

        assert harness.api_calls() == 1
        assert isinstance(outcomes[2], InvalidInput)
        for i, ref in enumerate(written):
            if i != 2:
                assert harness.tasks_on(ref.id) == [outcomes[i]]
        assert harness.tasks_on(written[2].id) == []


def crm_lookup(crm: CrmConnector, account: str, domains: tuple[str, ...]) -> str | None:
    found = crm.find_account(account, domains)
    return found.id if found else None


def _days_from_today(iso_date: str) -> int:
    return (date.fromisoformat(iso_date) - datetime.now(UTC).date()) // timedelta(days=1)
