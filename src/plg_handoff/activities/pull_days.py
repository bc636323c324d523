"""Which days a sync cycle pulls: the days of the window no earlier cycle pulled completely, and
the late-data horizon (the last days, today included, that can still change).

A day is pulled completely once a cycle pulled it after it left the horizon: late events of a
day keep arriving until then, so each day is pulled while it is in the horizon and once more
after. A scheduled cycle on the same day as the last one pulls the horizon only; after a
worker was off for days it pulls those days too."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class PullDays:
    window: list[date]
    """The window, oldest day first."""
    pulled: list[date]
    """The days this cycle pulls, oldest first."""
    horizon: list[date]
    """The days that can still change: the next scheduled cycle pulls them again."""

    @property
    def complete(self) -> list[str]:
        """The days of the window pulled completely once this cycle completes."""
        return [d.isoformat() for d in self.window if d not in self.horizon]


def plan_days(
    end: date, window_days: int, late_data_days: int, complete: Collection[str]
) -> PullDays:
    """The days of the window ending on `end` that no earlier cycle pulled `complete`ly, and
    the last `late_data_days` days. Complete days that left the window are forgotten; with
    none known (a first cycle, a manual run) the whole window is pulled."""
    window = [end - timedelta(days=offset) for offset in reversed(range(window_days))]
    horizon = window[-min(late_data_days, window_days) :]
    pulled = [d for d in window if d in horizon or d.isoformat() not in complete]
    return PullDays(window=window, pulled=pulled, horizon=horizon)
