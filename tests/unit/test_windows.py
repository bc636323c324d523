"""Windows of days (DESIGN §4 rules read "3 in a week", "in 30 days"): the time of day a sync
runs at must not change a decision. Usage of the same age, seen by a sync at 00:05, 12:00 or
23:55, gives the same triggers, filters and route."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from plg_handoff.domain import windows
from plg_handoff.domain.engine import Evaluation, evaluate
from plg_handoff.domain.metrics import DEFAULT_METRICS
from plg_handoff.domain.rollup import UsageRollup
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.usage import AccountTraits, DayRollup, UsageEvent
from plg_handoff.domain.view import AccountView

SYNC_DAY = date(2026, 3, 18)
SYNC_TIMES = (time(0, 5), time(12, 0), time(23, 55))
TRAITS = AccountTraits(plan="team", employees=300, arr_potential=40_000, signup_date="2025-06-01")
WEEK = timedelta(days=7)

# One product action of the kinds DESIGN §4's threshold triggers count.
MARKERS: dict[str, tuple[str, dict[str, object]]] = {
    "pricing": ("Page Viewed", {"path": "/pricing"}),
    "enterprise_page": ("Page Viewed", {"path": "/security"}),
    "premium": ("Premium Feature Blocked", {"feature": "sso"}),
    "invite": ("User Invited", {}),
    "accepted": ("Invite Accepted", {}),
    "integration_slack": ("Integration Connected", {"integration": "slack"}),
    "integration_jira": ("Integration Connected", {"integration": "jira"}),
    "integration_github": ("Integration Connected", {"integration": "github"}),
    "webhook": ("Webhook Created", {}),
    "admin": ("Role Changed", {"role": "admin"}),
    "ticket": ("Support Ticket Created", {"topic": "sso"}),
    "workaround": ("Workflow Duplicated", {}),
}


def _rollups(markers: list[tuple[str, timedelta]], now: datetime) -> list[DayRollup]:
    """Four months of steady work by three users (a session every 8 hours) and the markers,
    each placed at its age before `now`."""
    rollup = UsageRollup(metrics=DEFAULT_METRICS)
    events: list[tuple[str, dict[str, object], timedelta, str]] = [
        ("Report Viewed", {"department": "eng"}, timedelta(hours=8 * n + 1), f"u{n % 3}")
        for n in range(3 * 120)
    ]
    events += [(*MARKERS[kind], age, "u0") for kind, age in markers]
    for n, (name, props, age, user) in enumerate(events):
        at = int((now - age).timestamp())
        rollup.add(UsageEvent(name, at, user, "acme", f"e{n}", {**props, "ip": "198.51.100.7"}))
    return rollup.by_account()["acme"]


def _decision(evaluation: Evaluation) -> tuple[object, ...]:
    return (
        tuple(sorted(f.trigger for f in evaluation.fired)),
        tuple(sorted(f.filter for f in evaluation.filtered)),
        evaluation.route,
        evaluation.tier,
    )


@settings(max_examples=60, deadline=None)
@given(
    markers=st.lists(
        st.tuples(
            st.sampled_from(sorted(MARKERS)),
            # within the last 7 x 24 hours: inside every window of the rules, at any time of day
            st.integers(min_value=30, max_value=7 * 24 * 60 - 30).map(
                lambda m: timedelta(minutes=m)
            ),
        ),
        max_size=12,
    )
)
@example(
    markers=[
        ("pricing", WEEK - timedelta(hours=1)),
        ("pricing", 4 * WEEK / 7),
        ("pricing", timedelta(days=1, hours=2)),
    ]
)
def test_the_time_of_day_of_a_sync_does_not_change_a_decision(
    markers: list[tuple[str, timedelta]],
) -> None:
    decisions = {
        at: _decision(evaluate("acme", TRAITS, _rollups(markers, now), RuleSet(), SYNC_DAY))
        for at in SYNC_TIMES
        if (now := datetime.combine(SYNC_DAY, at, UTC))
    }
    assert len(set(decisions.values())) == 1, decisions


def test_three_pricing_visits_over_the_last_seven_complete_days_are_three() -> None:
    """The issue's case: at 00:05 the visit 7 days ago is in the week (before, it fell out)."""
    days = [
        DayRollup(
            day=(SYNC_DAY - timedelta(days=ago)).isoformat(),
            events={"Page Viewed": 1},
            active_users=1,
            metrics={"pricing_visits": 1},
        )
        for ago in (7, 4, 1)
    ]
    evaluation = evaluate("acme", TRAITS, days, RuleSet(), SYNC_DAY)
    assert "enterprise_exploration" in {f.trigger for f in evaluation.fired}


def test_a_window_is_the_complete_days_before_and_the_day_itself() -> None:
    end = SYNC_DAY.toordinal()
    assert windows.window(end, 7) == (end - 7, end)
    assert windows.period(end, 7) == (end - 7, end - 1)
    assert windows.period(end, 7, back=1) == (end - 14, end - 8)
    assert windows.weeks(end, 3) == [(end - 7, end), (end - 14, end - 8), (end - 21, end - 15)]


def test_the_view_window_holds_seven_complete_days_and_today() -> None:
    days = [DayRollup(day=(SYNC_DAY - timedelta(days=ago)).isoformat()) for ago in range(10)]
    view = AccountView.of("acme", TRAITS, days, SYNC_DAY)
    assert [d.day for d in view.window(7)] == [
        (SYNC_DAY - timedelta(days=ago)).isoformat() for ago in range(7, -1, -1)
    ]
