"""Failures a test or the demo asks the emulator to inject."""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from .schema import canonical_object_type


@dataclass(frozen=True)
class InjectedFailure:
    status: int
    retry_after_s: int = 0


def _check_count(n: int) -> None:
    if n < 0:
        raise ValueError(f"request count must be >= 0, got {n}")


class FaultPlan:
    """Thread-safe plan of injected failures.

    Failures (429s and 5xxs) are answered in the order they were planned, one per API request.
    Slowness is independent: a slowed request is still answered (or failed) afterwards.
    Property rejections last until `clear()`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: deque[InjectedFailure] = deque()
        self._slow: deque[float] = deque()
        self._rejections: dict[tuple[str, str], str] = {}
        self._record_rejections: dict[tuple[str, str], str] = {}
        self._random_rate = 0.0
        self._random_statuses: tuple[int, ...] = ()
        self._rng = random.Random(0)
        self._lost_rate = 0.0
        self._lost_rng = random.Random(0)
        self.injected = 0  # failures answered so far, planned or random
        self.lost = 0  # writes done whose answer was lost

    def rate_limit_next(self, n: int, retry_after_s: int = 1) -> None:
        _check_count(n)
        with self._lock:
            self._failures.extend(InjectedFailure(429, retry_after_s) for _ in range(n))

    def fail_next(self, n: int, status: int = 500) -> None:
        _check_count(n)
        if not 500 <= status <= 599:
            raise ValueError(f"fail_next needs a 5xx status, got {status}")
        with self._lock:
            self._failures.extend(InjectedFailure(status) for _ in range(n))

    def slow_next(self, n: int, seconds: float) -> None:
        _check_count(n)
        with self._lock:
            self._slow.extend(seconds for _ in range(n))

    def reject_property(self, object_type: str, property_name: str, message: str) -> None:
        with self._lock:
            self._rejections[(_object_type(object_type), property_name)] = message

    def fail_randomly(
        self, rate: float, statuses: tuple[int, ...] = (429, 500, 502, 503), seed: int = 0
    ) -> None:
        """After the planned failures, fail this fraction of requests (before processing them)
        with one of these statuses, from a seeded generator so a run can be repeated."""
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be between 0 and 1, got {rate}")
        if any(status != 429 and not 500 <= status <= 599 for status in statuses):
            raise ValueError(f"random failures are 429 or 5xx, got {statuses}")
        with self._lock:
            self._random_rate, self._random_statuses = rate, tuple(statuses)
            self._rng = random.Random(seed)

    def lose_answers_randomly(self, rate: float, seed: int = 0) -> None:
        """Answer this fraction of the writes that succeeded with a 504 instead: the write is
        done, the caller cannot know it (a gateway timing out on a committed request)."""
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be between 0 and 1, got {rate}")
        with self._lock:
            self._lost_rate = rate
            self._lost_rng = random.Random(seed)

    def take_lost_answer(self) -> bool:
        with self._lock:
            lost = self._lost_rate > 0 and self._lost_rng.random() < self._lost_rate
            self.lost += lost
            return lost

    def reject_record(self, object_type: str, record_id: str, message: str) -> None:
        """Batch writes to this record (by the id the input names: the record id, or the
        idProperty value of an upsert) fail alone, as a per-record error of a 207."""
        with self._lock:
            self._record_rejections[(_object_type(object_type), record_id)] = message

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
            self._slow.clear()
            self._rejections.clear()
            self._record_rejections.clear()
            self._random_rate, self._random_statuses = 0.0, ()
            self._lost_rate = 0.0

    def take_delay(self) -> float:
        with self._lock:
            return self._slow.popleft() if self._slow else 0.0

    def take_failure(self) -> InjectedFailure | None:
        with self._lock:
            failure = None
            if self._failures:
                failure = self._failures.popleft()
            elif self._random_statuses and self._rng.random() < self._random_rate:
                status = self._rng.choice(self._random_statuses)
                failure = InjectedFailure(status, 1 if status == 429 else 0)
            self.injected += failure is not None
            return failure

    def rejection(self, object_type: str, property_name: str) -> str | None:
        with self._lock:
            return self._rejections.get((object_type, property_name))

    def record_rejection(self, object_type: str, record_id: str) -> str | None:
        with self._lock:
            return self._record_rejections.get((object_type, record_id))

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "pendingFailures": [failure.status for failure in self._failures],
                "pendingSlowRequests": len(self._slow),
                "randomFailureRate": self._random_rate,
                "lostAnswerRate": self._lost_rate,
                "rejectedProperties": [
                    {"objectType": object_type, "property": name, "message": message}
                    for (object_type, name), message in self._rejections.items()
                ],
                "rejectedRecords": [
                    {"objectType": object_type, "id": record_id, "message": message}
                    for (object_type, record_id), message in self._record_rejections.items()
                ],
            }


def _object_type(name: str) -> str:
    return canonical_object_type(name) or name
