"""Playbooks: a built-in approach and outreach draft for every trigger, filled from the lead
trigger's evidence and the account name; operator overrides, and bad templates refused at
start-up with the field named."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from plg_handoff.config import ConfigError, parse_config
from plg_handoff.domain.engine import TRIGGERS
from plg_handoff.domain.playbooks import (
    BUILT_IN,
    PLACEHOLDERS,
    TRIGGER_NAMES,
    Playbook,
    PlaybookRules,
    PlaybookTemplate,
    playbook_for,
    template_problem,
)
from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.triggers.registry import FiredTrigger
from plg_handoff.domain.usage import AccountTraits
from plg_handoff.domain.view import AccountView

EVIDENCE = ["Jane invited 4 colleagues in 7 days.", "all 4 were active this week"]
FIGURES = {"seats_used": 9.0, "seats_limit": 10.0, "invites": 4.0}


def lead(trigger: str, evidence: list[str] = EVIDENCE) -> FiredTrigger:
    return FiredTrigger(trigger, "team", evidence, FIGURES, 0.4, 2, 5.0, "2024-05-08")


def render(
    trigger: str,
    rules: PlaybookRules | None = None,
    name: str | None = "Acme Corp",
    evidence: list[str] = EVIDENCE,
    plan: str | None = "team",
) -> Playbook:
    view = AccountView.of("acme", AccountTraits(name=name, plan=plan), [], date(2024, 5, 10))
    return playbook_for(lead(trigger, evidence), view, rules or PlaybookRules())


def test_there_is_a_playbook_for_every_trigger() -> None:
    rule_sections = {
        name for name in RuleSet.model_fields if isinstance(getattr(RuleSet(), name), TriggerRule)
    }
    assert len(TRIGGER_NAMES) == 22
    assert rule_sections == TRIGGER_NAMES
    assert set(TRIGGERS) == TRIGGER_NAMES


@pytest.mark.parametrize("trigger", sorted(TRIGGER_NAMES))
def test_every_playbook_renders_with_the_evidence_and_the_account(trigger: str) -> None:
    playbook = render(trigger)
    assert playbook.trigger == trigger
    for text in (playbook.approach, playbook.subject, playbook.body):
        assert text.strip()
        assert "{" not in text
        assert "}" not in text
    assert "Jane invited 4 colleagues in 7 days" in playbook.approach
    assert "- Jane invited 4 colleagues in 7 days\n- all 4 were active this week" in playbook.body
    assert "Acme Corp" in playbook.subject
    assert playbook.subject[0].isupper()
    assert playbook.body.startswith("Hi,\n\n")
    assert ".." not in playbook.approach + playbook.body  # the evidence's full stop is dropped
    assert len(playbook.subject) <= 80


@pytest.mark.parametrize("trigger", sorted(TRIGGER_NAMES))
def test_playbooks_read_well_without_a_name_or_evidence(trigger: str) -> None:
    playbook = render(trigger, name=None, evidence=[], plan=None)
    label = trigger.replace("_", " ")
    assert f"{label} (since 2024-05-08)" in playbook.approach
    assert f"- {label} (since 2024-05-08)" in playbook.body
    assert "your company" in (playbook.subject + playbook.body).lower()
    assert playbook.subject[0].isupper()
    assert "None" not in playbook.subject + playbook.body


def test_the_plan_is_named() -> None:
    assert "limit of your team plan" in render("limit_approaching").body
    assert "limit of your current plan" in render("limit_approaching", plan=None).body


def test_an_unknown_trigger_gets_a_generic_playbook() -> None:
    playbook = render("brand_new_trigger")
    assert "Jane invited 4 colleagues in 7 days" in playbook.approach
    assert "{" not in playbook.approach + playbook.subject + playbook.body


def test_every_built_in_template_is_valid() -> None:
    for name, template in BUILT_IN.items():
        for text in (template.approach, template.subject, template.body):
            assert template_problem(text) is None, name


# --- overrides --------------------------------------------------------------------------------


def test_an_override_replaces_only_its_fields() -> None:
    rules = PlaybookRules(
        overrides={
            "limit_approaching": PlaybookTemplate(
                subject="{account}: {figures[seats_used]} of {figures[seats_limit]:.1f} seats",
                approach="Call them ({trigger}, {fired_on}): {evidence_all}",
            )
        }
    )
    playbook = render("limit_approaching", rules)
    assert playbook.subject == "Acme Corp: 9 of 10.0 seats"
    assert playbook.approach == (
        "Call them (limit approaching, 2024-05-08): Jane invited 4 colleagues in 7 days; "
        "all 4 were active this week"
    )
    assert playbook.body == render("limit_approaching").body
    assert render("multi_user", rules) == render("multi_user")


def test_a_figure_the_trigger_did_not_report_falls_back_to_the_built_in_text() -> None:
    rules = PlaybookRules.model_validate(
        {"overrides": {"multi_user": {"subject": "{figures[storage_gb_used]} GB at {account}"}}}
    )
    assert render("multi_user", rules).subject == render("multi_user").subject


BAD_TEMPLATES = [
    pytest.param("Hi {customer}", "unknown placeholder {customer}", id="unknown-name"),
    pytest.param("Hi {}", "unknown placeholder {}", id="positional"),
    pytest.param("Hi {0}", "unknown placeholder {0}", id="numbered"),
    pytest.param("{account.__class__}", "unknown placeholder {account.__class__}", id="attribute"),
    pytest.param("{account[0]}", "unknown placeholder {account[0]}", id="index-on-text"),
    pytest.param("{figures}", "unknown placeholder {figures}", id="figures-without-key"),
    pytest.param("{account!r}", "only !s conversion", id="repr-conversion"),
    pytest.param("{account:d}", "cannot be rendered", id="bad-format-spec"),
    pytest.param("{figures[x]:{account}}", "nested placeholders", id="nested"),
    pytest.param("Hi {account", "not a valid template", id="unclosed"),
    pytest.param("Hi }", "not a valid template", id="stray-brace"),
]


@pytest.mark.parametrize(("template", "message"), BAD_TEMPLATES)
def test_bad_templates_are_refused(template: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("[", r"\[")):
        PlaybookTemplate(body=template)


@pytest.mark.parametrize(
    "template",
    [
        "Plain text, no placeholders",
        "{{literal braces}} for {account}",
        "{figures[seats_used]:.0f} and {figures[api calls]}",
        "{account!s:>20}",
        *(f"{{{name}}}" for name in PLACEHOLDERS),
    ],
)
def test_good_templates_are_accepted(template: str) -> None:
    assert PlaybookTemplate(approach=template).approach == template


def test_an_override_for_an_unknown_trigger_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"unknown trigger\(s\) \['limit_reachd'\]"):
        PlaybookRules.model_validate({"overrides": {"limit_reachd": {"subject": "x"}}})


def _config(playbooks: dict[str, Any]) -> dict[str, Any]:
    return {
        "sources": [{"kind": "file", "name": "p", "path": "usage"}],
        "crm": {"kind": "hubspot"},
        "rules": {"playbooks": playbooks},
    }


def test_a_bad_template_fails_at_start_up_naming_the_field(tmp_path: Path) -> None:
    bad = {"overrides": {"limit_reached": {"subject": "Hi {customer}", "body": "fine"}}}
    with pytest.raises(ConfigError) as caught:
        parse_config(_config(bad), base_dir=tmp_path)
    message = str(caught.value)
    assert "rules.playbooks.overrides.limit_reached.subject" in message
    assert "unknown placeholder {customer}" in message
    assert ".body" not in message


def test_good_overrides_load_from_the_config(tmp_path: Path) -> None:
    good = {"overrides": {"limit_reached": {"subject": "{account} is blocked"}}}
    config = parse_config(_config(good), base_dir=tmp_path)
    assert config.rules.playbooks.overrides["limit_reached"].subject == "{account} is blocked"
