"""In-process pacing to a vendor's published request limit: a request waits for a free slot
instead of being sent to take a 429."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager


class RequestPacer:
    """At most `limit` requests in any `window_s` seconds from this process, matching vendors
    that count requests in a rolling window. A request holds its slot while in flight and for
    `window_s` after its answer: the vendor counted it at some moment in between, so its count
    over any window never exceeds `limit` whatever the latency."""

    def __init__(self, limit: int, window_s: float) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"a pace needs limit >= 1 and window_s > 0, got {limit}/{window_s}s")
        self.limit = limit
        self.window_s = window_s
        self._published = (limit, window_s)
        self._changed = threading.Condition()
        self._in_flight = 0
        self._answered: deque[float] = deque()

    def share(self, processes: int) -> None:
        """This process's part of the limit when `processes` processes send with the same
        credentials: the limit divided among them, or, with more processes than the limit,
        one request each per a window as many times longer."""
        limit, window_s = self._published
        processes = max(1, processes)
        with self._changed:
            if limit >= processes:
                self.limit, self.window_s = limit // processes, window_s
            else:
                self.limit, self.window_s = 1, window_s * processes / limit
            self._changed.notify_all()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Blocks until a request may be sent; the request runs inside."""
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def _acquire(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                while self._answered and self._answered[0] <= now - self.window_s:
                    self._answered.popleft()
                if self._in_flight + len(self._answered) < self.limit:
                    self._in_flight += 1
                    return
                # Every slot in flight: only an answer frees one (it notifies).
                free_at = self._answered[0] + self.window_s if self._answered else None
                self._changed.wait(None if free_at is None else free_at - now)

    def _release(self) -> None:
        with self._changed:
            self._in_flight -= 1
            self._answered.append(time.monotonic())
            self._changed.notify_all()


@contextmanager
def paced(*pacers: RequestPacer) -> Iterator[None]:
    """A slot of each pacer, taken in the order given (always the same order: no deadlock)."""
    with ExitStack() as slots:
        for pacer in pacers:
            slots.enter_context(pacer.slot())
        yield
