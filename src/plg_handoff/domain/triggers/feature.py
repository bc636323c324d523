"""Feature triggers: premium features, enterprise asks, workarounds, votes (DESIGN §4)."""

from __future__ import annotations

from pydantic import Field

from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.triggers.registry import Signal, trigger
from plg_handoff.domain.view import AccountView


class PremiumFeatureInterestRule(TriggerRule):
    conversion: float = Field(0.325, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("premium_feature_interest", "feature", "intent")
def premium_feature_interest(view: AccountView, rule: PremiumFeatureInterestRule) -> Signal | None:
    return None  # to be written


class AdvancedCapabilityRequestRule(TriggerRule):
    conversion: float = Field(0.275, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("advanced_capability_request", "feature", "intent")
def advanced_capability_request(
    view: AccountView, rule: AdvancedCapabilityRequestRule
) -> Signal | None:
    return None  # to be written


class WorkaroundBehaviorRule(TriggerRule):
    conversion: float = Field(0.225, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("workaround_behavior", "feature")
def workaround_behavior(view: AccountView, rule: WorkaroundBehaviorRule) -> Signal | None:
    return None  # to be written


class FeatureVoteRule(TriggerRule):
    conversion: float = Field(0.25, gt=0, le=1)
    tier: int = Field(3, ge=1, le=3)


@trigger("feature_vote", "feature", "intent")
def feature_vote(view: AccountView, rule: FeatureVoteRule) -> Signal | None:
    return None  # to be written


class EnterpriseExplorationRule(TriggerRule):
    conversion: float = Field(0.3, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)


@trigger("enterprise_exploration", "feature", "intent")
def enterprise_exploration(view: AccountView, rule: EnterpriseExplorationRule) -> Signal | None:
    return None  # to be written
