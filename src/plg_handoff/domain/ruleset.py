"""Every rule the trigger engine reads, as one section of the config file (`[rules]`)."""

from __future__ import annotations

from plg_handoff.domain.decision import PqlRule
from plg_handoff.domain.filters import FilterRules
from plg_handoff.domain.playbooks import PlaybookRules
from plg_handoff.domain.rules import RuleModel, ScoringRule
from plg_handoff.domain.segments import SegmentRule
from plg_handoff.domain.triggers.feature import (
    AdvancedCapabilityRequestRule,
    EnterpriseExplorationRule,
    FeatureVoteRule,
    PremiumFeatureInterestRule,
    WorkaroundBehaviorRule,
)
from plg_handoff.domain.triggers.integration import (
    ApiGrowthRule,
    IntegrationsConnectedRule,
    ScheduledExportsRule,
    WebhookConfiguredRule,
)
from plg_handoff.domain.triggers.team import (
    AdminRoleRule,
    CrossDepartmentRule,
    InviteVelocityRule,
    MultiUserRule,
)
from plg_handoff.domain.triggers.time_based import (
    DailyActiveStreakRule,
    FeatureRitualRule,
    LongTermFreeRule,
    OnboardingReturnRule,
)
from plg_handoff.domain.triggers.volume import (
    ConsistentOverageRule,
    LimitApproachingRule,
    LimitReachedRule,
    RapidGrowthRule,
    SeasonalSpikeRule,
)


class RuleSet(RuleModel):
    """`[rules.<trigger>]` for each trigger of DESIGN §4, and the rules that combine them."""

    limit_approaching: LimitApproachingRule = LimitApproachingRule()
    limit_reached: LimitReachedRule = LimitReachedRule()
    consistent_overage: ConsistentOverageRule = ConsistentOverageRule()
    rapid_growth: RapidGrowthRule = RapidGrowthRule()
    seasonal_spike: SeasonalSpikeRule = SeasonalSpikeRule()
    premium_feature_interest: PremiumFeatureInterestRule = PremiumFeatureInterestRule()
    advanced_capability_request: AdvancedCapabilityRequestRule = AdvancedCapabilityRequestRule()
    workaround_behavior: WorkaroundBehaviorRule = WorkaroundBehaviorRule()
    feature_vote: FeatureVoteRule = FeatureVoteRule()
    enterprise_exploration: EnterpriseExplorationRule = EnterpriseExplorationRule()
    multi_user: MultiUserRule = MultiUserRule()
    cross_department: CrossDepartmentRule = CrossDepartmentRule()
    admin_role: AdminRoleRule = AdminRoleRule()
    invite_velocity: InviteVelocityRule = InviteVelocityRule()
    integrations_connected: IntegrationsConnectedRule = IntegrationsConnectedRule()
    api_growth: ApiGrowthRule = ApiGrowthRule()
    scheduled_exports: ScheduledExportsRule = ScheduledExportsRule()
    webhook_configured: WebhookConfiguredRule = WebhookConfiguredRule()
    daily_active_streak: DailyActiveStreakRule = DailyActiveStreakRule()
    feature_ritual: FeatureRitualRule = FeatureRitualRule()
    onboarding_return: OnboardingReturnRule = OnboardingReturnRule()
    long_term_free: LongTermFreeRule = LongTermFreeRule()
    scoring: ScoringRule = ScoringRule()
    pql: PqlRule = PqlRule()
    filters: FilterRules = FilterRules()
    segments: SegmentRule = SegmentRule()
    playbooks: PlaybookRules = PlaybookRules()
