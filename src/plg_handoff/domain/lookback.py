"""How far back the rules read: the longest window of any trigger or filter, baselines and
periods compared included. A preview pulls this many days to decide as a worker would."""

from __future__ import annotations

from plg_handoff.domain.ruleset import RuleSet

MONTH = 31
MAX_LOOKBACK_DAYS = 400  # what an account workflow keeps (RETENTION_DAYS)


def lookback_days(rules: RuleSet) -> int:
    """Days before today (today included) that can change a decision under these rules."""
    spans = [
        2 * rules.rapid_growth.window_days,
        2 * rules.rapid_growth.velocity_days,
        rules.api_growth.window_days + rules.api_growth.baseline_ends_days_ago,
        (rules.consistent_overage.months + 1) * MONTH,
        rules.seasonal_spike.baseline_days + rules.seasonal_spike.spike_days,
        7 * rules.invite_velocity.weeks,
        7 * rules.feature_ritual.weeks,
        7 * rules.scheduled_exports.weeks,
        rules.daily_active_streak.min_days + rules.daily_active_streak.grace_days,
        rules.onboarding_return.window_days + rules.onboarding_return.live_days,
        rules.long_term_free.min_months * MONTH,
        rules.filters.scheduled_export_lookback_days,
        rules.filters.bot_window_days,
        rules.filters.audit_window_days,
        rules.filters.seasonal_max_account_age_days,
    ]
    for name in type(rules).model_fields:
        window = getattr(getattr(rules, name), "window_days", None)
        if isinstance(window, int):
            spans.append(window)
    return min(max(spans) + 1, MAX_LOOKBACK_DAYS)
