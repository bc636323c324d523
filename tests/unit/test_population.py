"""A simulated population with known personas, through the production rollup and the trigger
engine with default rules: every buyer reaches sales with the right trigger, no look-alike
reaches a rep, self-serve accounts are nurtured."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from plg_handoff.activities.ingest import roll_up
from plg_handoff.config import TraitMapping
from plg_handoff.connectors.mixpanel_shape import traits_from_profile
from plg_handoff.domain.engine import Evaluation, evaluate
from plg_handoff.domain.metrics import DEFAULT_METRICS
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.sandbox.personas import COMPETITOR_DOMAINS, HISTORY_DAYS, Persona, write_population

TODAY = date(2026, 6, 15)  # outside the default seasonal evaluation windows
RULES = RuleSet.model_validate({"filters": {"competitor_domains": list(COMPETITOR_DOMAINS)}})


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Persona, Evaluation]]:
    directory = tmp_path_factory.mktemp("population")
    population = write_population(directory, TODAY, copies=2)
    days = [(TODAY - timedelta(days=n)).isoformat() for n in range(HISTORY_DAYS + 1)]
    rolled = roll_up(
        [directory / "events.jsonl"],
        account_property="account_id",
        gauges={"seats": "seats_used"},
        metrics=DEFAULT_METRICS,
        days=days,
        now=1e10,
    )
    assert rolled.quarantined == {}
    profiles = {
        p["$distinct_id"]: p["$properties"]
        for p in map(json.loads, (directory / "profiles.jsonl").read_text().splitlines())
    }
    return [
        (
            persona,
            evaluate(
                persona.account_id,
                traits_from_profile(profiles[persona.account_id], TraitMapping()),
                rolled.rollups.get(persona.account_id, []),
                RULES,
                TODAY,
            ),
        )
        for persona in population
    ]


def _explain(persona: Persona, evaluation: Evaluation) -> str:
    fired = {f.trigger: f.evidence for f in evaluation.fired}
    filtered = [(h.filter, h.reason) for h in evaluation.filtered]
    return f"{persona.account_id}: {evaluation.route} ({evaluation.reason}) {fired} {filtered}"


def test_every_buyer_persona_reaches_sales_with_the_right_trigger(
    evaluated: list[tuple[Persona, Evaluation]],
) -> None:
    buyers = [(p, e) for p, e in evaluated if p.expect.route == "sales"]
    assert {p.kind for p, _ in buyers} == {"power", "team", "integrator", "habit", "enterprise"}
    for persona, evaluation in buyers:
        why = _explain(persona, evaluation)
        assert evaluation.route == "sales", why
        assert evaluation.lead is not None, why
        assert evaluation.lead.trigger in persona.expect.triggers, why
        if persona.expect.tier is not None:
            assert evaluation.tier == persona.expect.tier, why
        assert evaluation.playbook is not None, why
        assert evaluation.playbook.body, why


def test_no_false_positive_persona_reaches_a_rep(
    evaluated: list[tuple[Persona, Evaluation]],
) -> None:
    for persona, evaluation in evaluated:
        if persona.expect.route == "sales":
            continue
        why = _explain(persona, evaluation)
        assert evaluation.route == persona.expect.route, why
        if persona.expect.filtered is not None:
            assert persona.expect.filtered in {h.filter for h in evaluation.filtered}, why


def test_self_serve_accounts_are_nurtured_even_when_they_hit_their_limits(
    evaluated: list[tuple[Persona, Evaluation]],
) -> None:
    [tiny, *_] = [e for p, e in evaluated if p.kind == "tiny"]
    assert tiny.fired, "the tiny account does hit its seat limit"
    assert tiny.segment == "self_serve"
    assert tiny.route == "nurture"


def test_the_population_is_deterministic(tmp_path: Path) -> None:
    first = write_population(tmp_path / "a", TODAY)
    second = write_population(tmp_path / "b", TODAY)
    assert [p.lines for p in first] == [p.lines for p in second]
