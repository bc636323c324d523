"""Funnel arithmetic: rates, nearest-rank percentiles and grouping, on hand-counted data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from plg_handoff.domain.funnel import ALL, NO_VALUE, FunnelRecord, funnel, percentile, stats

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def record(n: int, **fields: Any) -> FunnelRecord:
    return FunnelRecord(handoff_key=f"handoff/acct-{n}/1", signal_at=T0, **fields)


def contacted(n: int, hours: float, **fields: Any) -> FunnelRecord:
    return record(n, contacted_at=T0 + timedelta(hours=hours), **fields)


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([5.0], 50, 5.0),
        ([5.0], 90, 5.0),
        ([1.0, 2.0], 50, 1.0),  # rank ceil(1.0) = 1
        ([1.0, 2.0], 90, 2.0),  # rank ceil(1.8) = 2
        ([10.0, 1.0, 7.0, 3.0, 5.0], 50, 5.0),  # unsorted input; rank 3
        ([float(v) for v in range(1, 11)], 90, 9.0),  # rank 9 exactly
        ([float(v) for v in range(1, 11)], 91, 10.0),  # rank ceil(9.1) = 10
        ([float(v) for v in range(1, 11)], 100, 10.0),
        ([float(v) for v in range(1, 21)], 50, 10.0),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], p: float, expected: float) -> None:
    assert percentile(values, p) == expected


def test_percentile_of_nothing_is_none_and_p_is_checked() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], 0)


def test_rates_and_percentiles_of_a_hand_counted_group() -> None:
    rows = [
        contacted(1, 1, meeting_at=T0 + timedelta(days=1), outcome="won"),
        contacted(2, 2, meeting_at=T0 + timedelta(days=1), outcome="lost"),
        contacted(3, 3, meeting_at=T0 + timedelta(days=2)),
        contacted(4, 4),
        contacted(5, 10, sla={"assign": "met", "contact": "breached"}),
        record(6, outcome="expired", sla={"assign": "breached", "contact": "breached"}),
        record(7, sla={"assign": "met", "contact": "met"}),
        record(8, sla={"assign": "pending", "contact": None}),
    ]
    result = stats("x", rows)
    assert result.handoffs == 8
    assert result.contacted == 5
    assert result.contact_rate == 5 / 8
    assert result.meetings == 3
    assert result.contact_to_meeting_rate == 3 / 5
    assert result.won == 1
    assert result.meeting_to_won_rate == 1 / 3
    assert result.p50_hours_to_contact == 3.0  # of 1, 2, 3, 4, 10: rank 3
    assert result.p90_hours_to_contact == 10.0  # rank ceil(4.5) = 5
    assert (result.sla_decided, result.sla_breached) == (3, 2)
    assert result.sla_breach_rate == 2 / 3


def test_a_meeting_counts_as_contact_and_empty_denominators_give_none() -> None:
    only_meeting = stats("m", [record(1, meeting_at=T0 + timedelta(hours=5))])
    assert only_meeting.contacted == 1
    assert only_meeting.p50_hours_to_contact is None  # no contact time to measure
    nothing = stats("n", [record(2)])
    assert nothing.contact_rate == 0
    assert nothing.contact_to_meeting_rate is None
    assert nothing.meeting_to_won_rate is None
    assert nothing.sla_breach_rate is None
    assert stats("empty", []).contact_rate is None


def test_grouping_by_tier_sorts_numerically_and_ends_with_the_total() -> None:
    rows = [
        contacted(1, 1, tier=10),
        record(2, tier=2),
        contacted(3, 2, tier=2),
        record(4),
    ]
    result = funnel(rows, by="tier")
    assert [(r.group, r.handoffs, r.contacted) for r in result] == [
        ("2", 2, 1),
        ("10", 1, 1),
        (NO_VALUE, 1, 0),
        (ALL, 4, 2),
    ]


def test_grouping_by_trigger_owner_and_segment() -> None:
    rows = [
        record(1, trigger="multi_user", owner_id="o1", segment="enterprise"),
        record(2, trigger="limit_reached", owner_id="o1", segment=""),
        record(3, trigger="multi_user", owner_id="o2", segment="enterprise"),
    ]
    assert [(r.group, r.handoffs) for r in funnel(rows, by="trigger")] == [
        ("limit_reached", 1),
        ("multi_user", 2),
        (ALL, 3),
    ]
    assert [(r.group, r.handoffs) for r in funnel(rows, by="owner")][:2] == [("o1", 2), ("o2", 1)]
    assert [r.group for r in funnel(rows, by="segment")] == [NO_VALUE, "enterprise", ALL]
    assert [r.group for r in funnel(rows)] == [ALL]


def test_memo_parsing() -> None:
    memo = {
        "stage": "won",
        "signal_at": "2026-03-02T09:00:00+00:00",
        "assigned_at": "2026-03-02T09:30:00Z",
        "contacted_at": None,
        "meeting_at": None,
        "closed_at": "2026-03-09T09:00:00+00:00",
        "outcome": "won",
        "tier": 1,
        "trigger": "limit_reached",
        "segment": "sales_assist",
        "owner_id": "o1",
        "sla": {"assign": "met", "contact": "pending"},
    }
    parsed = FunnelRecord.from_memo("handoff/a/1", memo)
    assert parsed.signal_at == T0
    assert parsed.assigned_at == T0 + timedelta(minutes=30)
    assert parsed.won and parsed.tier == 1 and parsed.sla_decided and not parsed.sla_breached
    with pytest.raises(ValueError, match="signal_at"):
        FunnelRecord.from_memo("k", {**memo, "signal_at": None})
    with pytest.raises(ValueError, match="outcome"):
        FunnelRecord.from_memo("k", {**memo, "outcome": "maybe"})
    with pytest.raises(ValueError, match="UTC offset"):
        FunnelRecord.from_memo("k", {**memo, "closed_at": "2026-03-09T09:00:00"})
