"""Which days a cycle pulls: the days no earlier cycle pulled completely, and the late-data
horizon; each day is pulled while it can change and once more after."""

from __future__ import annotations

from datetime import date, timedelta

from plg_handoff.activities.pull_days import PullDays, plan_days

TODAY = date(2026, 12, 10)


def days_ago(*offsets: int) -> list[date]:
    return [TODAY - timedelta(days=n) for n in offsets]


def cycle(end: date, complete: list[str], window: int = 10, late: int = 3) -> PullDays:
    return plan_days(end, window, late, complete)


def test_a_first_cycle_pulls_the_whole_window_and_completes_all_but_the_horizon() -> None:
    first = cycle(TODAY, [])
    assert first.pulled == first.window == days_ago(*reversed(range(10)))
    assert first.horizon == days_ago(2, 1, 0)
    assert first.complete == [d.isoformat() for d in days_ago(*range(9, 2, -1))]


def test_a_second_cycle_the_same_day_pulls_the_horizon_only() -> None:
    first = cycle(TODAY, [])
    assert cycle(TODAY, first.complete).pulled == days_ago(2, 1, 0)


def test_the_next_day_a_day_leaving_the_horizon_is_pulled_once_more() -> None:
    first = cycle(TODAY, [])
    tomorrow = cycle(TODAY + timedelta(days=1), first.complete)
    assert tomorrow.pulled == days_ago(2, 1, 0, -1)
    assert cycle(TODAY + timedelta(days=1), tomorrow.complete).pulled == days_ago(1, 0, -1)


def test_after_five_days_off_the_missing_days_are_pulled() -> None:
    before = cycle(TODAY - timedelta(days=5), [])
    back = cycle(TODAY, before.complete)
    assert back.pulled == days_ago(7, 6, 5, 4, 3, 2, 1, 0)
    assert back.complete == [d.isoformat() for d in days_ago(9, 8, 7, 6, 5, 4, 3)]


def test_complete_days_that_left_the_window_are_forgotten() -> None:
    before = cycle(TODAY - timedelta(days=30), [])
    back = cycle(TODAY, before.complete)
    assert back.pulled == back.window
    assert not set(back.complete) & set(before.complete)


def test_a_horizon_as_long_as_the_window_pulls_the_window_every_cycle() -> None:
    first = cycle(TODAY, [], window=3, late=3)
    assert first.complete == []
    assert cycle(TODAY, first.complete, window=3, late=3).pulled == days_ago(2, 1, 0)
    assert cycle(TODAY, [], window=2, late=3).horizon == days_ago(1, 0)
