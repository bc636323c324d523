"""Team triggers: invitations, departments, admin roles (DESIGN §4)."""

from __future__ import annotations

from pydantic import Field

from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.triggers.registry import Signal, trigger
from plg_handoff.domain.view import AccountView


class MultiUserRule(TriggerRule):
    conversion: float = Field(0.425, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("multi_user", "team")
def multi_user(view: AccountView, rule: MultiUserRule) -> Signal | None:
    return None  # to be written


class CrossDepartmentRule(TriggerRule):
    conversion: float = Field(0.375, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("cross_department", "team")
def cross_department(view: AccountView, rule: CrossDepartmentRule) -> Signal | None:
    return None  # to be written


class AdminRoleRule(TriggerRule):
    conversion: float = Field(0.325, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("admin_role", "team")
def admin_role(view: AccountView, rule: AdminRoleRule) -> Signal | None:
    return None  # to be written


class InviteVelocityRule(TriggerRule):
    conversion: float = Field(0.275, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("invite_velocity", "team")
def invite_velocity(view: AccountView, rule: InviteVelocityRule) -> Signal | None:
    return None  # to be written
