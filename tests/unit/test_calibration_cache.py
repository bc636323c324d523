"""The evaluation threads' view of the calibrated conversions: the first read is waited for,
later ones refresh in the background after the interval, and a failed read keeps the last
figures."""

from __future__ import annotations

import asyncio

from temporalio.service import RPCError, RPCStatusCode

from plg_handoff.activities.evaluate import CalibrationCache


async def test_first_read_waits_then_refreshes_in_the_background() -> None:
    answers: list[dict[str, float] | RPCError] = [
        {"multi_user": 0.3},
        RPCError("visibility unavailable", RPCStatusCode.UNAVAILABLE, b""),
        {"multi_user": 0.2},
    ]
    reads = 0

    async def read() -> dict[str, float]:
        nonlocal reads
        answer = answers[min(reads, len(answers) - 1)]
        reads += 1
        if isinstance(answer, RPCError):
            raise answer
        return answer

    cache = CalibrationCache(read, refresh_interval_s=0.2, loop=asyncio.get_running_loop())
    assert await asyncio.to_thread(cache.conversions) == {"multi_user": 0.3}
    assert await asyncio.to_thread(cache.conversions) == {"multi_user": 0.3}
    assert reads == 1  # fresh: not read again
    await asyncio.sleep(0.25)
    assert await asyncio.to_thread(cache.conversions) == {"multi_user": 0.3}  # kicks a refresh
    await asyncio.sleep(0.05)
    assert reads == 2  # it failed: the last figures stay
    assert await asyncio.to_thread(cache.conversions) == {"multi_user": 0.3}
    await asyncio.sleep(0.25)
    await asyncio.to_thread(cache.conversions)
    await asyncio.sleep(0.05)
    assert reads == 3
    assert await asyncio.to_thread(cache.conversions) == {"multi_user": 0.2}
