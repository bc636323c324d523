"""Owner routing: existing owner, the first matching rule, round-robin under capacity caps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plg_handoff.config import ConfigError, parse_config
from plg_handoff.domain.routing import (
    RoutingFacts,
    RoutingRule,
    candidates,
    choose_in_pool,
    existing_owner,
    route,
)

DEFAULT = RoutingRule("default")
EMEA_ENTERPRISE = RoutingRule(
    "emea-enterprise", ("o1", "o2"), regions=("EMEA",), segments=("enterprise",)
)
FINTECH = RoutingRule("fintech", ("o3",), industries=("Fintech", "Banking"))


def test_the_first_matching_rule_wins_and_every_named_criterion_must_hold() -> None:
    rules = [EMEA_ENTERPRISE, FINTECH]
    both = RoutingFacts(region="emea", segment="enterprise", industry="fintech")
    assert route(rules, both, DEFAULT) is EMEA_ENTERPRISE
    assert route(rules, RoutingFacts(region="EMEA", industry="banking"), DEFAULT) is FINTECH
    assert route(rules, RoutingFacts(region="EMEA", segment="sales_assist"), DEFAULT) is DEFAULT


def test_a_rule_naming_a_criterion_needs_the_fact() -> None:
    assert route([FINTECH], RoutingFacts(industry=None), DEFAULT) is DEFAULT
    assert route([RoutingRule("any", ("o9",))], RoutingFacts(), DEFAULT).pool == "any"


def test_the_existing_owner_is_kept_only_when_active_and_not_excluded() -> None:
    active = {"o1", "o2"}
    assert existing_owner("o1", active=active, exclude=set()) == "o1"
    assert existing_owner("o1", active=active, exclude={"o1"}) is None
    assert existing_owner("gone", active=active, exclude=set()) is None
    assert existing_owner(None, active=active, exclude=set()) is None
    assert existing_owner("o1", active=active, exclude=set(), owner_active=False) is None


def test_candidates_are_the_pools_active_owners_without_the_excluded() -> None:
    active = {"o1", "o2", "o3"}
    assert candidates(EMEA_ENTERPRISE, active, exclude={"o2"}) == ["o1"]
    assert candidates(DEFAULT, active, exclude=set()) == ["o1", "o2", "o3"]
    assert candidates(RoutingRule("p", ("o4",)), active, exclude=set()) == []


def test_round_robin_picks_the_least_recently_assigned() -> None:
    last = {"a": 3, "b": 1}
    assert choose_in_pool(["a", "b", "c"], last, {}, None).owner_id == "c"
    assert choose_in_pool(["a", "b"], last, {}, None).owner_id == "b"


def test_owners_at_the_cap_are_skipped() -> None:
    choice = choose_in_pool(["a", "b"], {"b": 1}, {"a": 2, "b": 0}, cap=2)
    assert choice.owner_id == "b"
    assert choice.over_capacity is False
    choice = choose_in_pool(["a", "b"], {"a": 0}, {"b": 2}, cap=2)
    assert choice.owner_id == "a"


def test_when_everyone_is_at_the_cap_the_least_loaded_gets_it() -> None:
    choice = choose_in_pool(["a", "b"], {}, {"a": 3, "b": 2}, cap=2)
    assert choice == choice.__class__("b", over_capacity=True)


def test_no_candidates_is_an_error() -> None:
    with pytest.raises(ValueError, match="no candidate"):
        choose_in_pool([], {}, {}, None)


def test_routing_pool_names_are_unique_and_not_default(tmp_path: Path) -> None:
    raw: dict[str, Any] = {
        "sources": [{"kind": "file", "name": "demo", "path": "usage"}],
        "crm": {"kind": "hubspot", "routing": [{"name": "emea", "owners": ["1"]}]},
    }
    config = parse_config(raw, base_dir=tmp_path)
    assert config.crm.routing[0].name == "emea"
    for names in (["emea", "emea"], ["default"]):
        raw["crm"]["routing"] = [{"name": n, "owners": ["1"]} for n in names]
        with pytest.raises(ConfigError, match="routing names must be unique"):
            parse_config(raw, base_dir=tmp_path)
    raw["crm"]["routing"] = [{"name": "empty", "owners": []}]
    with pytest.raises(ConfigError, match="owners"):
        parse_config(raw, base_dir=tmp_path)
