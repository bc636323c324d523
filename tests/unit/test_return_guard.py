"""One burst is not a buyer (DESIGN §4: one-session testers wait for return visits), whatever
fired, strong triggers included: an account whose evidence came in one session weeks ago and
which never came back is not handed to a rep."""

from __future__ import annotations

from datetime import date, timedelta

from plg_handoff.domain.engine import Evaluation, evaluate
from plg_handoff.domain.ruleset import RuleSet
from plg_handoff.domain.usage import AccountTraits, DayRollup

TODAY = date(2026, 4, 20)
TRAITS = AccountTraits(plan="team", employees=250, arr_potential=40_000, signup_date="2025-11-02")


def ago(n: int) -> str:
    return (TODAY - timedelta(days=n)).isoformat()


def light_use(first: int, last: int) -> list[DayRollup]:
    """A small team's ordinary use every third day, `first` to `last` days ago: reports viewed
    and saved (real work product), two users, a couple of sessions."""
    return [
        DayRollup(
            day=ago(n),
            events={"Report Viewed": 4, "Report Saved": 1},
            active_users=2,
            metrics={"sessions": 2, "work_product": 1},
        )
        for n in range(first, last - 1, -3)
    ]


def integrations_session(days_ago: int) -> DayRollup:
    """One session connecting three integrations."""
    return DayRollup(
        day=ago(days_ago),
        events={"Integration Connected": 3, "Report Viewed": 2},
        active_users=1,
        metrics={"integrations_connected": 3, "sessions": 1},
        values={"integrations": ["github", "jira", "slack"]},
    )


def run(days: list[DayRollup], rules: RuleSet | None = None) -> Evaluation:
    return evaluate("acme", TRAITS, days, rules or RuleSet(), TODAY)


def test_three_integrations_in_one_session_weeks_ago_and_gone_wait_for_a_return() -> None:
    evaluation = run([*light_use(80, 23), integrations_session(20)])
    assert evaluation.route == "none"
    assert [h.filter for h in evaluation.filtered] == ["no_return"]
    hit = evaluation.filtered[0]
    assert "integrations_connected (from " + ago(20) + ", 20 days ago)" in hit.reason
    assert hit.figures == {"integrations_connected_days_quiet": 20}
    assert "no_return" in evaluation.reason


def test_the_same_account_back_since_is_handed_off_and_names_its_returns() -> None:
    back = [d for d in light_use(80, 2) if d.day > ago(20)]
    evaluation = run([*light_use(80, 23), integrations_session(20), *back])
    assert evaluation.route == "sales"
    lead = next(f for f in evaluation.fired if f.trigger == "integrations_connected")
    assert lead.evidence[-1] == f"Back on {len(back)} days since {ago(20)} (last {back[-1].day})"
    assert not evaluation.filtered


def test_a_fresh_session_is_not_kept_waiting() -> None:
    """Yesterday's integrations on an account in use for months: no time to return yet."""
    evaluation = run([*light_use(80, 5), integrations_session(1)])
    assert evaluation.route == "sales"
    assert evaluation.lead is not None and evaluation.lead.trigger == "integrations_connected"


def test_a_quiet_account_waits_from_the_configured_day() -> None:
    days = [*light_use(80, 8), integrations_session(5)]
    assert run(days).route == "none"
    patient = RuleSet.model_validate({"filters": {"return_quiet_days": 6}})
    assert run(days, patient).route == "sales"


def test_a_held_trigger_leaves_the_others_to_decide() -> None:
    """The team invited colleagues over a week and used the product after; its last session,
    5 days ago, connected three integrations, and nobody came back since. The handoff rests on
    the team; the integrations are named as held, not counted."""
    team = [
        DayRollup(
            day=ago(n),
            events={"User Invited": 1, "Invite Accepted": 1, "Report Viewed": 6},
            active_users=2 + (12 - n),
            metrics={"invites_sent": 1, "invites_accepted": 1, "max_invites_by_one_user": 1},
        )
        for n in (12, 9, 6)
    ]
    evaluation = run([*light_use(80, 14), *team, integrations_session(5)])
    names = [f.trigger for f in evaluation.fired]
    assert "integrations_connected" not in names
    assert "multi_user" in names
    assert evaluation.route == "sales"
    held = next(h for h in evaluation.filtered if h.filter == "no_return")
    assert held.route == "hold" and not held.blocks
    assert held.figures == {"integrations_connected_days_quiet": 5}
    multi_user = next(f for f in evaluation.fired if f.trigger == "multi_user")
    assert multi_user.evidence[-1].startswith("Back on 1 day since")


def test_touching_everything_in_one_session_weeks_ago_and_gone_is_no_lead() -> None:
    """Premium walls, pricing pages, integrations and every feature, all in one session of a
    free account 14 days ago, nothing since: a rep would call someone who has gone."""
    burst = DayRollup(
        day=ago(14),
        events={
            "Premium Feature Blocked": 4,
            "Page Viewed": 3,
            "Integration Connected": 3,
            **{f"Feature {n} Opened": 1 for n in range(12)},
        },
        active_users=1,
        metrics={"premium_blocks": 4, "pricing_visits": 3, "integrations_connected": 3},
    )
    free = AccountTraits(plan="free", employees=250, arr_potential=40_000)
    days = [*light_use(80, 17), burst]
    off = RuleSet.model_validate({"filters": {"disabled": ["no_return"]}})
    assert evaluate("acme", free, days, off, TODAY).route == "sales"
    evaluation = evaluate("acme", free, days, RuleSet(), TODAY)
    assert evaluation.route == "none"
    assert [h.filter for h in evaluation.filtered] == ["no_return"]
    assert evaluation.fired == []


def test_the_guard_can_be_switched_off() -> None:
    days = [*light_use(80, 23), integrations_session(20)]
    off = RuleSet.model_validate({"filters": {"disabled": ["no_return"]}})
    assert run(days, off).route == "sales"
