"""Concurrent single asks of one worker joined into batch calls.

A lone ask is sent at once; asks of the same group that arrive while one of the group's batches
is in flight wait and go together in the next, up to `max_batch`. So a burst costs one call per
batch and a quiet moment costs no waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

G = TypeVar("G", bound=Hashable)
I = TypeVar("I")  # noqa: E741  # the item, beside G(roup) and O(utcome)
O = TypeVar("O")  # noqa: E741

Send = Callable[[G, list[I]], Awaitable[Sequence[O | Exception]]]
"""One batch call: an outcome per item, in order; an item the vendor refused has its error."""


class Coalescer(Generic[G, I, O]):
    def __init__(self, send: Send[G, I, O], max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self._send = send
        self._max_batch = max_batch
        self._waiting: dict[G, list[tuple[I, asyncio.Future[O]]]] = {}
        self._senders: dict[G, asyncio.Task[None]] = {}

    async def ask(self, group: G, item: I) -> O:
        answer: asyncio.Future[O] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(group, []).append((item, answer))
        if group not in self._senders:
            self._senders[group] = asyncio.create_task(self._send_all(group))
        return await answer

    async def _send_all(self, group: G) -> None:
        try:
            while waiting := self._waiting.get(group):
                batch = waiting[: self._max_batch]
                self._waiting[group] = waiting[self._max_batch :]
                batch = [(item, answer) for item, answer in batch if not answer.done()]
                if batch:
                    await self._answer(group, batch)
        finally:  # nothing waits unless the worker is shutting down and cancelled this sender
            del self._senders[group]
            for _, answer in self._waiting.pop(group, []):
                answer.cancel()

    async def _answer(self, group: G, batch: list[tuple[I, asyncio.Future[O]]]) -> None:
        try:
            outcomes = await self._send(group, [item for item, _ in batch])
        except asyncio.CancelledError:
            for _, answer in batch:
                answer.cancel()
            raise
        except Exception as exc:  # noqa: BLE001  # not retried here: each waiting ask raises it
            outcomes = [exc] * len(batch)
        if len(outcomes) != len(batch):
            mismatch = RuntimeError(f"a batch of {len(batch)} got {len(outcomes)} answers")
            outcomes = [mismatch] * len(batch)
        for (_, answer), outcome in zip(batch, outcomes, strict=True):
            if answer.done():
                continue
            if isinstance(outcome, Exception):
                answer.set_exception(outcome)
            else:
                answer.set_result(outcome)
