"""UsageRollup: dedup, per-account-day counts, gauges, UTC days, order independence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plg_handoff.domain.rollup import UsageRollup
from plg_handoff.domain.usage import DayRollup, UsageEvent

T0 = int(datetime(2024, 5, 1, 12, 0, tzinfo=UTC).timestamp())


def ev(
    name: str = "Report Viewed",
    time: int = T0,
    user: str = "u1",
    account: str = "acme",
    insert_id: str | None = None,
    **properties: Any,
) -> UsageEvent:
    return UsageEvent(
        name=name,
        time=time,
        distinct_id=user,
        account_id=account,
        insert_id=insert_id,
        properties=properties,
    )


def rollup_of(*events: UsageEvent, gauges: dict[str, str] | None = None) -> UsageRollup:
    rollup = UsageRollup(gauges if gauges is not None else {"seats": "seats_used"})
    for event in events:
        rollup.add(event)
    return rollup


def test_dedupes_as_mixpanel_does_on_name_user_time_and_insert_id() -> None:
    rollup = UsageRollup()
    assert rollup.add(ev(insert_id="i-1")) is True
    assert rollup.add(ev(insert_id="i-1")) is False
    # Mixpanel counts an insert id reused with another name, user or time as another event.
    assert rollup.add(ev(name="Other", time=T0 + 5, user="u2", insert_id="i-1")) is True
    assert rollup.add(ev(insert_id="i-2")) is True
    assert rollup.duplicates == 1
    assert rollup.by_account() == {
        "acme": [
            DayRollup(day="2024-05-01", events={"Other": 1, "Report Viewed": 2}, active_users=2)
        ]
    }


def test_falls_back_to_event_user_time_without_insert_id() -> None:
    rollup = UsageRollup()
    assert rollup.add(ev()) is True
    assert rollup.add(ev()) is False
    assert rollup.add(ev(time=T0 + 1)) is True
    assert rollup.add(ev(user="u2")) is True
    assert rollup.add(ev(name="Project Created")) is True
    assert rollup.add(ev(name="Project Created")) is False
    assert rollup.duplicates == 2
    assert rollup.by_account() == {
        "acme": [
            DayRollup(
                day="2024-05-01",
                events={"Project Created": 1, "Report Viewed": 3},
                active_users=2,
            )
        ]
    }


def test_counts_every_duplicate() -> None:
    rollup = UsageRollup()
    results = [rollup.add(ev(insert_id="same")) for _ in range(5)]
    assert results == [True, False, False, False, False]
    assert rollup.duplicates == 4


def test_distinct_users_per_account_day() -> None:
    day2 = T0 + 86_400
    rollup = rollup_of(
        ev(user="u1", insert_id="1"),
        ev(user="u1", insert_id="2"),
        ev(user="u2", insert_id="3"),
        ev(user="u3", insert_id="4", account="globex"),
        ev(user="u1", insert_id="5", time=day2),
    )
    assert rollup.by_account() == {
        "acme": [
            DayRollup(day="2024-05-01", events={"Report Viewed": 3}, active_users=2),
            DayRollup(day="2024-05-02", events={"Report Viewed": 1}, active_users=1),
        ],
        "globex": [DayRollup(day="2024-05-01", events={"Report Viewed": 1}, active_users=1)],
    }


def test_gauge_keeps_the_days_max_and_ignores_non_numbers() -> None:
    rollup = rollup_of(
        ev(insert_id="1", seats_used=3),
        ev(insert_id="2", seats_used="7"),  # numeric string accepted
        ev(insert_id="3", seats_used=5.5),
        ev(insert_id="4", seats_used=True),  # bool is not a number here
        ev(insert_id="5", seats_used="lots"),
        ev(insert_id="6", seats_used=None),
        ev(insert_id="7", seats_used=[99]),
        ev(insert_id="8", seats_used={"n": 99}),
        ev(insert_id="9"),
    )
    [day] = rollup.by_account()["acme"]
    assert day.gauges == {"seats": 7.0}
    assert day.events == {"Report Viewed": 9}


def test_bool_alone_gives_no_gauge() -> None:
    [day] = rollup_of(ev(insert_id="1", seats_used=True)).by_account()["acme"]
    assert day.gauges == {}


def test_numeric_strings_and_negative_values() -> None:
    [day] = rollup_of(
        ev(insert_id="1", seats_used="-4"), ev(insert_id="2", seats_used=" 2.5 ")
    ).by_account()["acme"]
    assert day.gauges == {"seats": 2.5}
    [day] = rollup_of(
        ev(insert_id="1", seats_used=-4), ev(insert_id="2", seats_used=-9)
    ).by_account()["acme"]
    assert day.gauges == {"seats": -4.0}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("inf", id="string-inf"),
        pytest.param(float("inf"), id="json-Infinity"),
        pytest.param("1e999", id="overflowing-string"),
        pytest.param("nan", id="string-nan"),
    ],
)
def test_gauge_ignores_non_finite_values(value: object) -> None:
    """A gauge is a count (seats in use); "inf"/"nan" is not one and would poison the day's max
    (and make the trigger evaluation raise, see test_triggers)."""
    [day] = rollup_of(
        ev(insert_id="1", seats_used=4), ev(insert_id="2", seats_used=value)
    ).by_account()["acme"]
    assert day.gauges == {"seats": 4.0}


def test_several_gauges_and_no_gauges_configured() -> None:
    events = (ev(insert_id="1", seats_used=2, projects=8), ev(insert_id="2", projects="9"))
    [day] = rollup_of(*events, gauges={"seats": "seats_used", "projects": "projects"}).by_account()[
        "acme"
    ]
    assert day.gauges == {"projects": 9.0, "seats": 2.0}
    assert list(day.gauges) == ["projects", "seats"]
    [day] = rollup_of(*events, gauges={}).by_account()["acme"]
    assert day.gauges == {}


def test_days_split_on_utc_midnight() -> None:
    before = int(datetime(2024, 5, 1, 23, 59, 59, tzinfo=UTC).timestamp())
    after = int(datetime(2024, 5, 2, 0, 0, 0, tzinfo=UTC).timestamp())
    assert after - before == 1
    rollup = rollup_of(ev(time=after, seats_used=9), ev(time=before, seats_used=4))
    assert rollup.by_account() == {
        "acme": [
            DayRollup(
                day="2024-05-01", events={"Report Viewed": 1}, active_users=1, gauges={"seats": 4.0}
            ),
            DayRollup(
                day="2024-05-02", events={"Report Viewed": 1}, active_users=1, gauges={"seats": 9.0}
            ),
        ]
    }


def test_output_sorted_by_day_and_event_name() -> None:
    times = [T0 + 5 * 86_400, T0, T0 + 2 * 86_400, T0 + 86_400]
    rollup = rollup_of(
        *(ev(name=n, time=t, insert_id=f"{n}{t}") for t in times for n in ("b", "a", "c"))
    )
    result = rollup.by_account()["acme"]
    assert [d.day for d in result] == ["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-06"]
    assert all(list(d.events) == ["a", "b", "c"] for d in result)


def test_empty_rollup() -> None:
    rollup = UsageRollup()
    assert rollup.by_account() == {}
    assert rollup.duplicates == 0


# --- order independence ---------------------------------------------------------------------

_events = st.builds(
    ev,
    name=st.sampled_from(["Report Viewed", "Project Created", "Seat Added"]),
    time=st.integers(min_value=T0 - 3 * 86_400, max_value=T0 + 3 * 86_400),
    user=st.sampled_from(["u1", "u2", "u3"]),
    account=st.sampled_from(["acme", "globex"]),
    insert_id=st.none() | st.text(alphabet="abcdef0123456789", min_size=1, max_size=6),
    seats_used=st.none()
    | st.integers(-5, 50)
    | st.floats(0, 50)
    | st.sampled_from(["12", "x", True]),
)
# Distinct events never share a dedup key (otherwise which one is kept depends on order).
_unique_events = st.lists(_events, max_size=25, unique_by=lambda e: e.dedup_key)


@settings(max_examples=50, deadline=None)
@given(data=st.data(), events=_unique_events)
def test_any_order_with_duplicates_gives_the_same_rollup(
    data: st.DataObject, events: list[UsageEvent]
) -> None:
    dupes = data.draw(st.lists(st.sampled_from(events), max_size=10)) if events else []
    everything = events + dupes
    shuffled = data.draw(st.permutations(everything))
    first = rollup_of(*everything)
    second = rollup_of(*shuffled)
    assert second.by_account() == first.by_account()
    assert first.duplicates == second.duplicates == len(dupes)
    total = sum(sum(d.events.values()) for days in first.by_account().values() for d in days)
    assert total == len(events)
