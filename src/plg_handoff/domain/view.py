"""An account's usage as the trigger rules read it: its traits and its daily rollups up to a
day, with the window arithmetic every rule needs. Pure and deterministic."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

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

    def window(self, days: int, ending_days_ago: int = 0) -> list[DayRollup]:
        """The rollups of the `days` days ending `ending_days_ago` days before today."""
        last = self.today - timedelta(days=ending_days_ago)
        first = (last - timedelta(days=days - 1)).isoformat()
        return [d for d in self.days if first <= d.day <= last.isoformat()]

    def metric(self, name: str, days: int, ending_days_ago: int = 0) -> int:
        """A metric summed over a window (counts; for `distinct` metrics a sum of daily counts)."""
        return sum(d.metrics.get(name, 0) for d in self.window(days, ending_days_ago))

    def metric_max(self, name: str, days: int, ending_days_ago: int = 0) -> int:
        return max((d.metrics.get(name, 0) for d in self.window(days, ending_days_ago)), default=0)

    def values(self, name: str, days: int, ending_days_ago: int = 0) -> set[str]:
        """The union of a `values` metric over a window."""
        return {v for d in self.window(days, ending_days_ago) for v in d.values.get(name, [])}

    def events(
        self, days: int, names: Collection[str] | None = None, ending_days_ago: int = 0
    ) -> int:
        """Events (of these names, or all) over a window."""
        return sum(
            n
            for d in self.window(days, ending_days_ago)
            for event, n in d.events.items()
            if names is None or event in names
        )

    def active_days(self, days: int | None = None) -> list[date]:
        """Days with any event, oldest first (over the whole history when `days` is None)."""
        rollups: Sequence[DayRollup] = self.days if days is None else self.window(days)
        return [date.fromisoformat(d.day) for d in rollups if any(d.events.values())]

    def gauge_series(self, gauge: str) -> list[tuple[str, float]]:
        """(day, value) of a gauge on the days that reported it, oldest first."""
        return [(d.day, v) for d in self.days if (v := d.gauges.get(gauge)) is not None]

    def first_seen(self) -> date | None:
        active = self.active_days()
        return active[0] if active else None
