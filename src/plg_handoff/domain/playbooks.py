"""Playbooks: the suggested approach and an outreach draft per trigger, filled from evidence."""

from __future__ import annotations

from dataclasses import dataclass

from plg_handoff.domain.rules import RuleModel
from plg_handoff.domain.triggers.registry import FiredTrigger
from plg_handoff.domain.view import AccountView


class PlaybookRules(RuleModel):
    """Overrides of the built-in playbooks."""


@dataclass
class Playbook:
    approach: str
    subject: str
    body: str


def playbook_for(lead: FiredTrigger, view: AccountView, rules: PlaybookRules) -> Playbook:
    return Playbook(approach="", subject="", body="")  # to be written
