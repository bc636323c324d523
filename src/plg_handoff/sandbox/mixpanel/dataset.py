"""The emulator's default data: the usage simulator's accounts, their events and profiles."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from plg_handoff.sandbox.simulator import day_events, population


def simulated_events(
    first_day: date, clock: Callable[[], float] = time.time
) -> Callable[[date], Iterator[dict[str, Any]]]:
    """Events of any day, `first_day` being day 0 of the simulation; none in the future."""
    accounts = population()

    def events(day: date) -> Iterator[dict[str, Any]]:
        index = max(0, (day - first_day).days)
        now = clock()
        for account in accounts:
            for event in day_events(account, day, index):
                if event["properties"]["time"] <= now:
                    yield event

    return events


def simulated_profiles() -> list[dict[str, Any]]:
    return [account.profile() for account in population()]
