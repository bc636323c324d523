"""Concurrent asks joined into batch calls: one call in flight per group, a lone ask at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from plg_handoff.activities.coalesce import Coalescer


class Vendor:
    """A batch endpoint that takes a while and records what each call carried."""

    def __init__(self, delay_s: float = 0.05) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._delay_s = delay_s

    async def send(self, group: str, items: list[int]) -> Sequence[str | Exception]:
        self.calls.append((group, items))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(self._delay_s)
        self.in_flight -= 1
        return [ValueError(f"refused {i}") if i < 0 else f"{group}:{i}" for i in items]


async def test_a_lone_ask_is_sent_at_once_and_answered() -> None:
    vendor = Vendor()
    asks: Coalescer[str, int, str] = Coalescer(vendor.send, max_batch=10)
    assert await asks.ask("deals", 1) == "deals:1"
    assert vendor.calls == [("deals", [1])]


async def test_a_burst_goes_in_few_batches_one_call_in_flight_per_group() -> None:
    vendor = Vendor()
    asks: Coalescer[str, int, str] = Coalescer(vendor.send, max_batch=10)
    answers = await asyncio.gather(
        *(asks.ask("deals", n) for n in range(45)), *(asks.ask("tasks", n) for n in range(5))
    )
    assert answers == [f"deals:{n}" for n in range(45)] + [f"tasks:{n}" for n in range(5)]
    deals = [items for group, items in vendor.calls if group == "deals"]
    # All 45 asked before the first call went out: batches of at most 10, one after another.
    assert [len(items) for items in deals] == [10, 10, 10, 10, 5]
    assert sorted(n for items in deals for n in items) == list(range(45))
    assert vendor.most_in_flight == 2  # one per group


async def test_a_refused_item_fails_only_its_own_ask() -> None:
    vendor = Vendor()
    asks: Coalescer[str, int, str] = Coalescer(vendor.send, max_batch=10)
    results = await asyncio.gather(
        *(asks.ask("deals", n) for n in (1, -2, 3)), return_exceptions=True
    )
    assert results[0] == "deals:1" and results[2] == "deals:3"
    assert isinstance(results[1], ValueError)


async def test_a_failed_call_fails_every_ask_it_carried_and_the_next_asks_go_on() -> None:
    calls = 0

    async def flaky(group: str, items: list[int]) -> Sequence[str | Exception]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("vendor down")
        return [str(i) for i in items]

    asks: Coalescer[str, int, str] = Coalescer(flaky, max_batch=10)
    with pytest.raises(ConnectionError):
        await asks.ask("deals", 1)
    assert await asks.ask("deals", 2) == "2"


async def test_an_ask_given_up_is_left_out_of_the_batch() -> None:
    vendor = Vendor(delay_s=0.1)
    asks: Coalescer[str, int, str] = Coalescer(vendor.send, max_batch=10)
    first = asyncio.ensure_future(asks.ask("deals", 1))
    await asyncio.sleep(0)
    abandoned = asyncio.ensure_future(asks.ask("deals", 2))
    kept = asyncio.ensure_future(asks.ask("deals", 3))
    await asyncio.sleep(0)
    abandoned.cancel()
    assert await first == "deals:1"
    assert await kept == "deals:3"
    assert vendor.calls == [("deals", [1]), ("deals", [3])]
