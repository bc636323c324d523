"""Feeds simulated usage into a directory that a file source reads, as the demo's product."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from plg_handoff.sandbox.simulator import (
    SimulatedAccount,
    population,
    write_day,
    write_days,
    write_profiles,
)

HISTORY_DAYS = 13


class UsageFeeder:
    """Writes two weeks of history, then on every tick rewrites today's file one simulated day
    further on (today's file stands for the latest simulated day), so seats keep growing and
    more accounts cross their limits while you watch. The tick count is kept in `state.json`:
    a second run carries on where the first stopped."""

    def __init__(self, directory: Path, *, interval_s: float = 20, accounts: int = 12) -> None:
        self.usage_dir = directory / "usage"
        self.profiles_path = directory / "accounts.jsonl"
        self._state_path = directory / "state.json"
        self._interval_s = interval_s
        self._accounts: list[SimulatedAccount] = population(accounts)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def write_initial(self) -> None:
        today = datetime.now(UTC).date()
        write_profiles(self.profiles_path, self._accounts)
        write_days(self.usage_dir, self._accounts, self._first_day(today), today - timedelta(1))
        self._write_today(self._load_tick())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="usage-feeder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            tick = self._load_tick() + 1
            self._write_today(tick)
            self._state_path.write_text(json.dumps({"tick": tick}), encoding="utf-8")

    def _write_today(self, tick: int) -> None:
        today = datetime.now(UTC).date()
        day_index = (today - self._first_day(today)).days + tick
        write_day(self.usage_dir, self._accounts, today, day_index)

    @staticmethod
    def _first_day(today: date) -> date:
        return today - timedelta(days=HISTORY_DAYS)

    def _load_tick(self) -> int:
        try:
            return int(json.loads(self._state_path.read_text(encoding="utf-8"))["tick"])
        except (FileNotFoundError, ValueError, KeyError):
            return 0
