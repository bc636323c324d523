"""Team triggers: invitations, departments, admin roles (DESIGN §4)."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from itertools import pairwise

from pydantic import Field

from plg_handoff.domain import windows
from plg_handoff.domain.rules import TriggerRule
from plg_handoff.domain.triggers.feature import (
    count,
    current_run,
    daily,
    metric_daily,
    span_items,
    span_total,
    times,
    window_hit,
    window_items,
    window_total,
    window_values,
)
from plg_handoff.domain.triggers.registry import Signal, trigger
from plg_handoff.domain.triggers.series import parse_day, plural
from plg_handoff.domain.view import AccountView


class MultiUserRule(TriggerRule):
    conversion: float = Field(0.425, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    min_invites: int = Field(
        3,
        ge=1,
        description="Colleagues invited (`invites_sent`) and invitations accepted"
        " (`invites_accepted`) within the window; the peak of daily active users must have"
        " grown by as many.",
    )
    min_invites_by_one_user: int = Field(
        0,
        ge=0,
        description="Also require one user to have sent this many invitations on one day"
        " (`max_invites_by_one_user`); 0: not required, since a user who invites colleagues"
        " over several days never shows such a day.",
    )
    window_days: int = Field(
        30, ge=1, le=365, description="Days the invitations and acceptances are counted over."
    )
    active_window_days: int = Field(
        7,
        ge=1,
        le=90,
        description="Days whose peak of daily active users is compared: the last ones of the"
        " window against the ones before the first invitation.",
    )


@dataclass(frozen=True)
class _Team:
    invited: int
    accepted: int
    first_invited_on: date
    by_one_user: int  # the most invitations one user sent on one day of the window
    active_before: int
    active_now: int


@trigger("multi_user", "team")
def multi_user(view: AccountView, rule: MultiUserRule) -> Signal | None:
    """Colleagues were invited, accepted and are active: `invites_sent` and `invites_accepted`
    over the window both reach `min_invites`, and the peak of daily active users in the last
    `active_window_days` is at least `min_invites` above its peak in the `active_window_days`
    before the first invitation of the window (0 for a new account).

    Why account totals rather than `max_invites_by_one_user`: the rollups keep no user ids,
    only that daily maximum. Summing it over days adds up different users (two people inviting
    two colleagues on two days is not one user inviting four), and its largest daily value
    misses the usual case of one user inviting colleagues over several days. So "one user
    invited 3+" cannot be told from the data without false leads or missed ones; the totals
    can, and "they are active" stands on acceptances plus the growth of daily active users,
    which invitees who never use the product cannot produce. The largest daily figure is
    reported, and `min_invites_by_one_user` makes it a requirement for teams that want it."""
    sent = metric_daily(view, "invites_sent")
    accepted = metric_daily(view, "invites_accepted")
    by_one = daily(view, lambda d: count(d.metrics.get("max_invites_by_one_user")))
    actives = daily(view, lambda d: count(d.active_users))
    if not sent or not accepted:
        return None

    def state(end: date) -> _Team | None:
        invited = window_items(sent, end, rule.window_days)
        n_invited = sum(n for _, n in invited)
        n_accepted = window_total(accepted, end, rule.window_days)
        if n_invited < rule.min_invites or n_accepted < rule.min_invites:
            return None
        most_by_one = max(window_values(by_one, end, rule.window_days), default=0)
        if most_by_one < rule.min_invites_by_one_user:
            return None
        first_invited_on = invited[-1][0]
        before = max(
            (
                n
                for _, n in span_items(
                    actives, windows.period(first_invited_on.toordinal(), rule.active_window_days)
                )
            ),
            default=0,
        )
        now = max(window_values(actives, end, rule.active_window_days), default=0)
        if now < before + rule.min_invites:
            return None
        return _Team(n_invited, n_accepted, first_invited_on, most_by_one, before, now)

    fired_on = current_run(view.today, lambda d: state(d) is not None, min(sent))
    team = state(view.today)
    if fired_on is None or team is None:
        return None
    evidence = [
        f"Invited {plural(team.invited, 'colleague')} and {team.accepted} accepted"
        f" in {rule.window_days} days (since {team.first_invited_on.isoformat()})"
    ]
    if team.by_one_user > 1:
        evidence.append(f"One user sent {team.by_one_user} invitations in a single day")
    evidence.append(
        f"Up to {plural(team.active_now, 'active user')} a day in the last"
        f" {plural(rule.active_window_days, 'day')}, up from {team.active_before}"
        " before the invitations"
    )
    return Signal(
        evidence=evidence,
        figures={
            "invites_sent": team.invited,
            "invites_accepted": team.accepted,
            "invites_by_one_user": team.by_one_user,
            "active_users_before": team.active_before,
            "active_users_now": team.active_now,
            "window_days": rule.window_days,
        },
        fired_on=fired_on.isoformat(),
    )


class CrossDepartmentRule(TriggerRule):
    conversion: float = Field(0.375, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    min_departments: int = Field(
        2,
        ge=1,
        description="Departments with active users (`departments` values, compared"
        " case-insensitively) within the window.",
    )
    window_days: int = Field(30, ge=1, le=365, description="Days the departments are united over.")


@trigger("cross_department", "team")
def cross_department(view: AccountView, rule: CrossDepartmentRule) -> Signal | None:
    seen_on: dict[str, set[date]] = {}  # case-folded department -> days with active users
    spelled: dict[str, str] = {}  # as written (the smallest spelling)
    for rollup in view.days:
        day = parse_day(rollup.day)
        names = rollup.values.get("departments")
        if day is None or day > view.today or not isinstance(names, list):
            continue
        for name in names:
            text = name.strip() if isinstance(name, str) else ""
            if text:
                key = text.casefold()
                seen_on.setdefault(key, set()).add(day)
                spelled[key] = min(spelled.get(key, text), text)
    if not seen_on:
        return None
    days_of = {key: sorted(days) for key, days in seen_on.items()}

    def departments(end: date) -> list[str]:
        """The departments seen in the window as of `end` (case-folded)."""
        first, _ = windows.dates(windows.window(end.toordinal(), rule.window_days))
        return [
            key
            for key, days in days_of.items()
            if (i := bisect_right(days, end)) and days[i - 1] >= first
        ]

    earliest = min(days[0] for days in days_of.values())
    fired_on = current_run(
        view.today, lambda d: len(departments(d)) >= rule.min_departments, earliest
    )
    if fired_on is None:
        return None
    names = sorted((spelled[key] for key in departments(view.today)), key=str.casefold)
    return Signal(
        evidence=[
            f"Active users from {len(names)} departments in {rule.window_days} days:"
            f" {', '.join(names)}"
        ],
        figures={"departments": len(names), "window_days": rule.window_days},
        fired_on=fired_on.isoformat(),
    )


class AdminRoleRule(TriggerRule):
    conversion: float = Field(0.325, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    min_changes: int = Field(
        1,
        ge=1,
        description="Admin or owner roles granted or requested (`admin_role_changes`) within"
        " the window.",
    )
    window_days: int = Field(
        30, ge=1, le=365, description="Days the role changes are counted over."
    )


@trigger("admin_role", "team")
def admin_role(view: AccountView, rule: AdminRoleRule) -> Signal | None:
    hit = window_hit(
        metric_daily(view, "admin_role_changes"), view.today, rule.window_days, rule.min_changes
    )
    if hit is None:
        return None
    return Signal(
        evidence=[
            f"Granted or requested an admin or owner role {times(hit.total)}"
            f" in {rule.window_days} days"
        ],
        figures={"admin_role_changes": hit.total, "window_days": rule.window_days},
        fired_on=hit.fired_on,
    )


class InviteVelocityRule(TriggerRule):
    conversion: float = Field(0.275, gt=0, le=1)
    tier: int = Field(2, ge=1, le=3)
    weeks: int = Field(
        2,
        ge=2,
        le=12,
        description="Consecutive 7-day weeks of complete days, the last ending yesterday, whose"
        " invitations (`invites_sent`) must rise strictly week over week.",
    )
    min_first_week: int = Field(
        2, ge=1, description="Invitations in the earliest of those weeks (so 0 then 1 is no trend)."
    )


@trigger("invite_velocity", "team")
def invite_velocity(view: AccountView, rule: InviteVelocityRule) -> Signal | None:
    """Invitations accelerating: e.g. 2 in the week before last, 3 in the last 7 days."""
    sent = metric_daily(view, "invites_sent")
    if not sent:
        return None

    def weekly(end: date) -> list[int]:
        """Invitations per week of complete days (a comparison), oldest first, the last week
        ending the day before `end`."""
        return [
            span_total(sent, windows.period(end.toordinal(), 7, back))
            for back in range(rule.weeks - 1, -1, -1)
        ]

    def holds(end: date) -> bool:
        counts = weekly(end)
        return counts[0] >= rule.min_first_week and all(a < b for a, b in pairwise(counts))

    fired_on = current_run(view.today, holds, min(sent))
    if fired_on is None:
        return None
    counts = weekly(view.today)
    figures: dict[str, float] = {
        f"invites_{back}_weeks_ago": n
        for back, n in zip(range(rule.weeks - 1, -1, -1), counts, strict=True)
    }
    figures["invites_sent"] = sum(counts)
    figures["weeks"] = rule.weeks
    return Signal(
        evidence=[
            f"Invitations sent per week rising over the last {rule.weeks} weeks:"
            f" {', then '.join(map(str, counts))}"
        ],
        figures=figures,
        fired_on=fired_on.isoformat(),
    )
