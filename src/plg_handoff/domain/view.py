"""An account's usage as the trigger rules read it: its traits and its daily rollups up to a
day, with the window arithmetic every rule needs. Pure and deterministic."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from plg_handoff.domain import windows
from plg_handoff.domain.usage import AccountTraits, DayRollup


@dataclass(frozen=True)
class AccountView:
    account_id: str
    traits: AccountTraits
    days: tuple[DayRollup, ...]  # oldest first, none after `today`
    today: date

    @classmethod
    def of(
        cls, account_id: str, traits: AccountTraits, days: Iterable[DayRollup], today: date
    ) -> AccountView:
        kept = sorted((d for d in days if d.day <= today.isoformat()), key=lambda d: d.day)
        return cls(account_id, traits, tuple(kept), today)

    def window(self, days: int) -> list[DayRollup]:
        """The rollups of the window of `days` days as of today: the `days` complete days before
        today and today's partial data (`domain/windows.py`)."""
        first, last = (
            d.isoformat() for d in windows.dates(windows.window(self.today.toordinal(), days))
        )
        return [d for d in self.days if first <= d.day <= last]

    def metric(self, name: str, days: int) -> float:
        """A metric summed over a window (counts; for `distinct` metrics a sum of daily counts;
        whole figures stay integers)."""
        return sum((d.metrics.get(name, 0) for d in self.window(days)), 0)

    def active_days(self, days: int | None = None) -> list[date]:
        """Days with any event, oldest first (over the whole history when `days` is None)."""
        rollups: Sequence[DayRollup] = self.days if days is None else self.window(days)
        return [date.fromisoformat(d.day) for d in rollups if any(d.events.values())]

    def gauge_series(self, gauge: str) -> list[tuple[str, float]]:
        """(day, value) of a gauge on the days that reported it, oldest first; without a gauge
        of that name on a day, a metric of that name (a `max` or `sum` metric) stands in."""
        return [
            (d.day, v)
            for d in self.days
            if (v := d.gauges.get(gauge, d.metrics.get(gauge))) is not None
        ]

    def first_seen(self) -> date | None:
        active = self.active_days()
        return active[0] if active else None
