"""Funnel arithmetic over handoffs: counts, conversion rates, time to contact, SLA breaches,
per group. Pure: the records come from wherever the caller read them (Temporal visibility).

Definitions (each rate is None when its denominator is 0):
- contacted: the handoff has a first-contact time, or a meeting (a meeting implies contact);
- contact rate = contacted / handoffs;
- contact -> meeting rate = contacted handoffs with a meeting / contacted handoffs;
- meeting -> won rate = handoffs with a meeting and outcome "won" / handoffs with a meeting;
- time to contact = contacted_at - signal_at, in hours, over handoffs with a contact time;
  percentiles by the nearest-rank method: the p-th percentile of n sorted values is the value
  at rank ceil(p/100 * n) (1-based), always one of the measured values, never interpolated;
- SLA breach rate = handoffs with any SLA "breached" / handoffs with any SLA decided ("met" or
  "breached"); pending and unknown SLAs are left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

OUTCOMES = ("won", "lost", "expired", "disqualified")
GroupBy = Literal["trigger", "segment", "owner", "tier"]
GROUP_BYS: tuple[GroupBy, ...] = ("trigger", "segment", "owner", "tier")
NO_VALUE = "(none)"
ALL = "(all)"


@dataclass(frozen=True)
class FunnelRecord:
    """One handoff's funnel, as the `funnel` memo of its workflow carries it."""

    handoff_key: str
    signal_at: datetime
    stage: str = "opened"
    assigned_at: datetime | None = None
    contacted_at: datetime | None = None
    meeting_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: str | None = None
    tier: int | None = None
    trigger: str | None = None
    segment: str | None = None
    owner_id: str | None = None
    sla: Mapping[str, str | None] | None = None

    @classmethod
    def from_memo(cls, handoff_key: str, memo: Mapping[str, Any]) -> FunnelRecord:
        """From the memo's JSON (ISO-8601 strings); raises ValueError on a malformed one."""
        signal_at = _time(memo.get("signal_at"))
        if signal_at is None:
            raise ValueError(f"{handoff_key}: the funnel memo has no signal_at")
        outcome = memo.get("outcome")
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"{handoff_key}: unknown outcome {outcome!r}")
        tier = memo.get("tier")
        sla = memo.get("sla")
        return cls(
            handoff_key=handoff_key,
            signal_at=signal_at,
            stage=str(memo.get("stage") or "opened"),
            assigned_at=_time(memo.get("assigned_at")),
            contacted_at=_time(memo.get("contacted_at")),
            meeting_at=_time(memo.get("meeting_at")),
            closed_at=_time(memo.get("closed_at")),
            outcome=outcome,
            tier=int(tier) if tier is not None else None,
            trigger=_text(memo.get("trigger")),
            segment=_text(memo.get("segment")),
            owner_id=_text(memo.get("owner_id")),
            sla=dict(sla) if isinstance(sla, Mapping) else None,
        )

    @property
    def contacted(self) -> bool:
        return self.contacted_at is not None or self.meeting_at is not None

    @property
    def had_meeting(self) -> bool:
        return self.meeting_at is not None

    @property
    def won(self) -> bool:
        return self.outcome == "won"

    @property
    def hours_to_contact(self) -> float | None:
        if self.contacted_at is None:
            return None
        return (self.contacted_at - self.signal_at).total_seconds() / 3600

    @property
    def sla_decided(self) -> bool:
        return any(v in {"met", "breached"} for v in (self.sla or {}).values())

    @property
    def sla_breached(self) -> bool:
        return any(v == "breached" for v in (self.sla or {}).values())

    def group_key(self, by: GroupBy) -> str:
        value: object = {
            "trigger": self.trigger,
            "segment": self.segment,
            "owner": self.owner_id,
            "tier": self.tier,
        }[by]
        return NO_VALUE if value is None or value == "" else str(value)


@dataclass(frozen=True)
class FunnelStats:
    group: str
    handoffs: int
    contacted: int
    contact_rate: float | None
    meetings: int
    contact_to_meeting_rate: float | None
    won: int
    meeting_to_won_rate: float | None
    p50_hours_to_contact: float | None
    p90_hours_to_contact: float | None
    sla_decided: int
    sla_breached: int
    sla_breach_rate: float | None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest rank: the value at 1-based rank ceil(p/100 * n) of the sorted values."""
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def stats(group: str, records: Iterable[FunnelRecord]) -> FunnelStats:
    rows = list(records)
    contacted = [r for r in rows if r.contacted]
    contacted_with_meeting = [r for r in contacted if r.had_meeting]
    meetings = [r for r in rows if r.had_meeting]
    meetings_won = [r for r in meetings if r.won]
    hours = [h for r in rows if (h := r.hours_to_contact) is not None]
    decided = [r for r in rows if r.sla_decided]
    breached = [r for r in decided if r.sla_breached]
    return FunnelStats(
        group=group,
        handoffs=len(rows),
        contacted=len(contacted),
        contact_rate=rate(len(contacted), len(rows)),
        meetings=len(meetings),
        contact_to_meeting_rate=rate(len(contacted_with_meeting), len(contacted)),
        won=sum(1 for r in rows if r.won),
        meeting_to_won_rate=rate(len(meetings_won), len(meetings)),
        p50_hours_to_contact=percentile(hours, 50),
        p90_hours_to_contact=percentile(hours, 90),
        sla_decided=len(decided),
        sla_breached=len(breached),
        sla_breach_rate=rate(len(breached), len(decided)),
    )


def funnel(records: Iterable[FunnelRecord], by: GroupBy | None = None) -> list[FunnelStats]:
    """One row per group (sorted by group name; tiers numerically), then the total row."""
    rows = list(records)
    result: list[FunnelStats] = []
    if by is not None:
        groups: dict[str, list[FunnelRecord]] = {}
        for record in rows:
            groups.setdefault(record.group_key(by), []).append(record)
        order = _tier_order if by == "tier" else _name_order
        result.extend(stats(group, groups[group]) for group in sorted(groups, key=order))
    result.append(stats(ALL, rows))
    return result


def _tier_order(group: str) -> tuple[int, int | str]:
    return (0, int(group)) if group.isdigit() else (1, group)


def _name_order(group: str) -> tuple[int, int | str]:
    return (0, group)


def _time(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO-8601 time, got {value!r}")  # noqa: TRY004  # bad data
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"expected a time with its UTC offset, got {value!r}")
    return parsed


def _text(value: object) -> str | None:
    return None if value is None else str(value)
