"""Time triggers: streaks, rituals, onboarding returns, long-term free use (DESIGN §4)."""

from __future__ import annotations

from pydantic import Field

from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.triggers.registry import Signal, trigger
from plg_handoff.domain.view import AccountView


class DailyActiveStreakRule(TriggerRule):
    conversion: float = Field(0.375, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("daily_active_streak", "time")
def daily_active_streak(view: AccountView, rule: DailyActiveStreakRule) -> Signal | None:
    return None  # to be written


class FeatureRitualRule(TriggerRule):
    conversion: float = Field(0.325, gt=0, le=1)
    tier: int = Field(3, ge=1, le=3)


@trigger("feature_ritual", "time")
def feature_ritual(view: AccountView, rule: FeatureRitualRule) -> Signal | None:
    return None  # to be written


class OnboardingReturnRule(TriggerRule):
    conversion: float = Field(0.425, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("onboarding_return", "time")
def onboarding_return(view: AccountView, rule: OnboardingReturnRule) -> Signal | None:
    return None  # to be written


class LongTermFreeRule(TriggerRule):
    conversion: float = Field(0.225, gt=0, le=1)
    tier: int = Field(3, ge=1, le=3)


@trigger("long_term_free", "time")
def long_term_free(view: AccountView, rule: LongTermFreeRule) -> Signal | None:
    return None  # to be written
