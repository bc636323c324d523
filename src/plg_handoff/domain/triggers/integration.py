"""Integration triggers: integrations, API growth, exports, webhooks (DESIGN §4)."""

from __future__ import annotations

from pydantic import Field

from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.triggers.registry import Signal, trigger
from plg_handoff.domain.view import AccountView


class IntegrationsConnectedRule(TriggerRule):
    conversion: float = Field(0.375, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("integrations_connected", "integration")
def integrations_connected(view: AccountView, rule: IntegrationsConnectedRule) -> Signal | None:
    return None  # to be written


class ApiGrowthRule(TriggerRule):
    conversion: float = Field(0.325, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("api_growth", "integration")
def api_growth(view: AccountView, rule: ApiGrowthRule) -> Signal | None:
    return None  # to be written


class ScheduledExportsRule(TriggerRule):
    conversion: float = Field(0.225, gt=0, le=1)
    tier: int = Field(3, ge=1, le=3)


@trigger("scheduled_exports", "integration")
def scheduled_exports(view: AccountView, rule: ScheduledExportsRule) -> Signal | None:
    return None  # to be written


class WebhookConfiguredRule(TriggerRule):
    conversion: float = Field(0.325, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("webhook_configured", "integration")
def webhook_configured(view: AccountView, rule: WebhookConfiguredRule) -> Signal | None:
    return None  # to be written
