"""Team triggers: multi_user, cross_department, admin_role, invite_velocity — thresholds,
windows, evidence, fired_on, and properties over random rollups."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.triggers.registry import Signal
from plg_handoff.domain.triggers.team import (
    AdminRoleRule,
    CrossDepartmentRule,
    InviteVelocityRule,
    MultiUserRule,
)
from plg_handoff.domain.usage import AccountTraits, DayRollup
from tests.unit.triggers_support import (
    TODAY,
    ago,
    assert_engine_fires_it_and_disabling_stops_it,
    assert_thresholds_described,
    check_trigger,
    fired_on,
)

TRAITS = AccountTraits(name="Acme", plan="team")
TEAM_TRIGGERS = ("multi_user", "cross_department", "admin_role", "invite_velocity")


def on(
    days_ago: int, users: int = 1, departments: Sequence[str] = (), /, **metrics: int
) -> DayRollup:
    return DayRollup(
        day=ago(days_ago),
        events={"Report Viewed": max(users, 1)},
        active_users=users,
        metrics={name: n for name, n in metrics.items() if n},
        values={"departments": sorted(departments)} if departments else {},
    )


def check(
    name: str,
    days: Sequence[DayRollup],
    rule: TriggerRule | None = None,
    today: date = TODAY,
) -> Signal | None:
    return check_trigger(name, days, rule, TRAITS, today)


# --- multi_user -----------------------------------------------------------------------------


def team(
    invited: int = 3,
    accepted: int = 3,
    users_after: int = 4,
    users_before: int = 1,
    invited_ago: int = 10,
    per_day: int = 0,
) -> list[DayRollup]:
    """A week of `users_before` users, then `invited` invitations ending `invited_ago` days ago
    (all on that day by one user, or `per_day` a day by one user on consecutive days),
    acceptances the next day, and `users_after` users active every day since."""
    per_day = per_day or invited
    first_ago = invited_ago + (invited - 1) // per_day
    days = [on(first_ago + 7 - i, users_before) for i in range(7)]
    left, day = invited, first_ago
    while left > 0:
        n = min(per_day, left)
        days.append(on(day, users_before, (), max_invites_by_one_user=n, invites_sent=n))
        left, day = left - n, day - 1
    days.append(on(invited_ago - 1, users_after, (), invites_accepted=accepted))
    days += [on(i, users_after) for i in range(invited_ago - 2, -1, -1)]
    return days


MULTI_USER_CASES = [
    pytest.param(team(), None, ago(9), id="3-invited-3-accepted-4-active"),
    pytest.param(team(invited=2), None, None, id="one-below-2-invited"),
    pytest.param(team(accepted=2), None, None, id="one-below-2-accepted"),
    pytest.param(team(users_after=3), None, None, id="actives-grew-by-2-only"),
    pytest.param(team(invited=5, accepted=5, users_after=6), None, ago(9), id="5-invited"),
    pytest.param(team(users_before=5, users_after=8), None, ago(9), id="grown-from-5-to-8"),
    pytest.param(team(users_before=5, users_after=7), None, None, id="grown-from-5-to-7"),
    pytest.param(team(users_before=0, users_after=3), None, ago(9), id="new-account-from-0"),
    # The window of 30 days: the 30 complete days before today and today (days ago 0..30).
    pytest.param(team(invited_ago=30), None, ago(29), id="invited-on-window-first-day"),
    pytest.param(team(invited_ago=31), None, None, id="invited-just-outside-window"),
    pytest.param(team(invited=4, per_day=2), None, ago(9), id="2-a-day-over-2-days"),
    pytest.param(team(per_day=1), None, ago(9), id="1-a-day-over-3-days"),
    pytest.param(
        team(per_day=1),
        MultiUserRule(min_invites_by_one_user=3),
        None,
        id="one-user-required-not-shown",
    ),
    pytest.param(
        team(), MultiUserRule(min_invites_by_one_user=3), ago(9), id="one-user-required-shown"
    ),
    pytest.param(
        team(invited=2, accepted=2, users_after=3),
        MultiUserRule(min_invites=2),
        ago(9),
        id="custom-2",
    ),
    pytest.param(
        team(invited_ago=20),
        MultiUserRule(window_days=14),
        None,
        id="custom-window-14",
    ),
    pytest.param([*team(), on(15, 4)], None, None, id="4-active-in-the-week-before"),
    pytest.param(
        [*team(), on(15, 4)],
        MultiUserRule(active_window_days=1),
        ago(9),
        id="custom-active-window-1",
    ),
    pytest.param([on(i, 4) for i in range(20)], None, None, id="metrics-missing"),
    pytest.param([], None, None, id="no-days"),
]


@pytest.mark.parametrize(("days", "rule", "expected"), MULTI_USER_CASES)
def test_multi_user(
    days: list[DayRollup], rule: MultiUserRule | None, expected: str | None
) -> None:
    assert fired_on(check("multi_user", days, rule)) == expected


def test_multi_user_evidence() -> None:
    signal = check("multi_user", team(invited=4, accepted=4, users_after=5))
    assert signal is not None
    assert signal.evidence == [
        "Invited 4 colleagues and 4 accepted in 30 days (since 2024-04-30)",
        "One user sent 4 invitations in a single day",
        "Up to 5 active users a day in the last 7 days, up from 1 before the invitations",
    ]
    assert signal.figures == {
        "invites_sent": 4,
        "invites_accepted": 4,
        "invites_by_one_user": 4,
        "active_users_before": 1,
        "active_users_now": 5,
        "window_days": 30,
    }
    spread = check("multi_user", team(per_day=1))
    assert spread is not None
    assert spread.evidence[0] == "Invited 3 colleagues and 3 accepted in 30 days (since 2024-04-28)"
    assert spread.evidence[1].startswith("Up to 4 active users a day")


# --- cross_department -----------------------------------------------------------------------

CROSS_CASES = [
    pytest.param([on(0, 2, ["eng", "sales"])], None, ago(0), id="2-departments-one-day"),
    pytest.param([on(30, 1, ["sales"]), on(0, 1, ["eng"])], None, ago(0), id="2-over-30-days"),
    pytest.param([on(31, 1, ["sales"]), on(0, 1, ["eng"])], None, None, id="one-outside-30"),
    pytest.param([on(5, 1, ["eng"]), on(0, 1, ["eng"])], None, None, id="one-department"),
    pytest.param([on(0, 2, ["Eng", " eng "])], None, None, id="same-department-spelled-twice"),
    pytest.param([on(3, 2, ["eng", "sales"]), on(0, 1, ["eng"])], None, ago(3), id="since-3"),
    pytest.param(
        [on(40, 2, ["eng", "ops"]), on(20, 2, ["eng", "ops"]), on(1, 1, ["ops", "eng"])],
        None,
        ago(40),
        id="run-kept-for-40-days",
    ),
    pytest.param(
        [on(0, 3, ["eng", "sales"])],
        CrossDepartmentRule(min_departments=3),
        None,
        id="custom-3-with-2",
    ),
    pytest.param(
        [on(6, 1, ["eng", "finance"]), on(0, 1, ["sales"])],
        CrossDepartmentRule(min_departments=3, window_days=7),
        ago(0),
        id="custom-3-in-7",
    ),
    pytest.param([on(0, 2, ["", "  "])], None, None, id="blank-values"),
    pytest.param([on(0, 5), on(1, 5)], None, None, id="values-missing"),
    pytest.param([], None, None, id="no-days"),
]


@pytest.mark.parametrize(("days", "rule", "expected"), CROSS_CASES)
def test_cross_department(
    days: list[DayRollup], rule: CrossDepartmentRule | None, expected: str | None
) -> None:
    assert fired_on(check("cross_department", days, rule)) == expected


def test_cross_department_evidence() -> None:
    days = [on(31, 1, ["legal"]), on(12, 2, ["eng", "Sales"]), on(0, 2, ["finance", "eng"])]
    signal = check("cross_department", days)
    assert signal is not None
    assert signal.evidence == ["Active users from 3 departments in 30 days: eng, finance, Sales"]
    assert signal.figures == {"departments": 3, "window_days": 30}


# --- admin_role -----------------------------------------------------------------------------

ADMIN_CASES = [
    pytest.param([on(0, 1, (), admin_role_changes=1)], None, ago(0), id="one-today"),
    pytest.param([on(30, 1, (), admin_role_changes=1)], None, ago(30), id="window-first-day"),
    pytest.param([on(31, 1, (), admin_role_changes=1)], None, None, id="just-outside"),
    pytest.param(
        [on(12, 1, (), admin_role_changes=1)],
        AdminRoleRule(window_days=7),
        None,
        id="custom-window-7",
    ),
    pytest.param(
        [on(5, 1, (), admin_role_changes=1), on(2, 1, (), admin_role_changes=1)],
        AdminRoleRule(min_changes=2),
        ago(2),
        id="custom-2-changes",
    ),
    pytest.param(
        [on(5, 1, (), admin_role_changes=1)],
        AdminRoleRule(min_changes=2),
        None,
        id="custom-2-one-below",
    ),
    pytest.param([on(0, 3), on(1, 3)], None, None, id="metric-missing"),
    pytest.param([], None, None, id="no-days"),
]


@pytest.mark.parametrize(("days", "rule", "expected"), ADMIN_CASES)
def test_admin_role(
    days: list[DayRollup], rule: AdminRoleRule | None, expected: str | None
) -> None:
    assert fired_on(check("admin_role", days, rule)) == expected


def test_admin_role_evidence() -> None:
    signal = check("admin_role", [on(4, 1, (), admin_role_changes=2)])
    assert signal is not None
    assert signal.evidence == ["Granted or requested an admin or owner role 2 times in 30 days"]
    assert signal.figures == {"admin_role_changes": 2, "window_days": 30}


# --- invite_velocity ------------------------------------------------------------------------


def invites(*weekly: int) -> list[DayRollup]:
    """Invitations per week of 7 complete days, oldest first, the last week ending yesterday
    (days ago 1..7, then 8..14, ...); each week's on its middle day (days ago 4, 11, ...). The
    last week's invitations count from the day after theirs, once it is complete: 3 days ago."""
    n = len(weekly)
    return [
        on(7 * (n - 1 - i) + 4, 1, (), invites_sent=count)
        for i, count in enumerate(weekly)
        if count
    ]


VELOCITY_CASES = [
    pytest.param(invites(2, 3), None, ago(3), id="2-then-3"),
    pytest.param(invites(2, 2), None, None, id="2-then-2-flat"),
    pytest.param(invites(3, 2), None, None, id="3-then-2-falling"),
    pytest.param(invites(1, 3), None, None, id="first-week-one-below-2"),
    pytest.param(invites(0, 5), None, None, id="0-then-5-is-a-start"),
    pytest.param(invites(9, 2, 3), None, ago(3), id="only-last-2-weeks-count"),
    pytest.param(invites(2, 3, 4), InviteVelocityRule(weeks=3), ago(3), id="3-weeks-rising"),
    pytest.param(invites(2, 4, 3), InviteVelocityRule(weeks=3), None, id="3-weeks-dip"),
    pytest.param(
        invites(1, 2), InviteVelocityRule(min_first_week=1), ago(3), id="custom-minimum-1"
    ),
    pytest.param(
        [on(11, 1, (), invites_sent=2), on(0, 1, (), invites_sent=3)],
        None,
        None,
        id="todays-invites-not-counted",
    ),
    pytest.param([on(i, 3) for i in range(20)], None, None, id="metric-missing"),
    pytest.param([], None, None, id="no-days"),
]


@pytest.mark.parametrize(("days", "rule", "expected"), VELOCITY_CASES)
def test_invite_velocity(
    days: list[DayRollup], rule: InviteVelocityRule | None, expected: str | None
) -> None:
    assert fired_on(check("invite_velocity", days, rule)) == expected


def test_invite_velocity_weeks_are_7_complete_days_ending_yesterday() -> None:
    """Week boundaries: the last week is days ago 1..7, the one before 8..14; today's partial
    day is in neither. 14 and 8 days ago are the earlier week (2 there, the minimum), 7 and 1
    days ago this week; 15 days ago and today are in no week."""
    edge = [on(14, 1, (), invites_sent=1), on(8, 1, (), invites_sent=1)]
    assert check("invite_velocity", [*edge, on(7, 1, (), invites_sent=3)]) is not None
    assert check("invite_velocity", [*edge, on(1, 1, (), invites_sent=3)]) is not None
    assert check("invite_velocity", [*edge, on(0, 1, (), invites_sent=3)]) is None
    later = [on(15, 1, (), invites_sent=1), on(8, 1, (), invites_sent=1)]
    assert check("invite_velocity", [*later, on(7, 1, (), invites_sent=3)]) is None


def test_invite_velocity_evidence() -> None:
    signal = check("invite_velocity", invites(2, 3, 5), InviteVelocityRule(weeks=3))
    assert signal is not None
    assert signal.evidence == [
        "Invitations sent per week rising over the last 3 weeks: 2, then 3, then 5"
    ]
    assert signal.figures == {
        "invites_2_weeks_ago": 2,
        "invites_1_weeks_ago": 3,
        "invites_0_weeks_ago": 5,
        "invites_sent": 10,
        "weeks": 3,
    }


def test_invite_velocity_needs_two_weeks() -> None:
    with pytest.raises(ValidationError):
        InviteVelocityRule(weeks=1)


# --- through the engine ---------------------------------------------------------------------

FIRING_DAYS: dict[str, list[DayRollup]] = {
    "multi_user": team(invited_ago=1),
    "cross_department": [on(0, 2, ["eng", "sales"])],
    "admin_role": [on(0, 1, (), admin_role_changes=1)],
    "invite_velocity": [on(8, 1, (), invites_sent=2), on(1, 1, (), invites_sent=3)],
}


@pytest.mark.parametrize("name", TEAM_TRIGGERS)
def test_engine_fires_and_disabled_rule_does_not(name: str) -> None:
    assert_engine_fires_it_and_disabling_stops_it(name, "team", TRAITS, FIRING_DAYS[name])


@pytest.mark.parametrize("name", TEAM_TRIGGERS)
def test_rule_thresholds_are_described(name: str) -> None:
    assert_thresholds_described(name)


# --- properties -----------------------------------------------------------------------------

METRICS = ["max_invites_by_one_user", "invites_sent", "invites_accepted", "admin_role_changes"]
rollups = st.lists(
    st.builds(
        lambda day, users, metrics, departments: DayRollup(
            day=day.isoformat(),
            events={"x": 1},
            active_users=users,
            metrics=metrics,
            values={"departments": departments},
        ),
        st.dates(min_value=TODAY - timedelta(days=45), max_value=TODAY + timedelta(days=3)),
        st.integers(-2, 9),
        st.dictionaries(st.sampled_from(METRICS), st.integers(-3, 6)),
        st.lists(st.sampled_from(["eng", "Eng", "sales", "", " ops"]), max_size=3),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(days=rollups, today=st.dates(TODAY - timedelta(days=10), TODAY))
def test_never_raises_and_is_deterministic(days: list[DayRollup], today: date) -> None:
    for name in TEAM_TRIGGERS:
        first = check(name, days, today=today)
        assert first == check(name, list(reversed(days)), today=today)
        if first is not None:
            assert first.evidence
            assert all(math.isfinite(v) for v in first.figures.values())
            assert date.fromisoformat(first.fired_on) <= today


@settings(max_examples=30, deadline=None)
@given(days=rollups)
def test_a_department_more_never_removes_cross_department(days: list[DayRollup]) -> None:
    before = check("cross_department", days)
    after = check("cross_department", [*days, on(0, 1, ["zz-new"])])
    if before is not None:
        assert after is not None
        assert after.figures["departments"] == before.figures["departments"] + 1


def test_any_state_is_tolerated() -> None:
    odd = [
        DayRollup(day="garbage", metrics={"invites_sent": 5}, values={"departments": ["eng"]}),
        DayRollup(day=ago(0), values={"departments": "eng,sales"}),  # type: ignore[dict-item]
        DayRollup(day=ago(1), values={"departments": [None, 3, "ops"]}),  # type: ignore[list-item]
        DayRollup(day=ago(2), active_users=None, metrics={"invites_sent": None}),  # type: ignore[arg-type, dict-item]
    ]
    for name in TEAM_TRIGGERS:
        assert check(name, odd) is None
