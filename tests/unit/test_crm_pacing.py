"""Pacing to a CRM's published limits: the in-process request pacer, Salesforce's daily
allocation guard, the CRM task queue's rate and their settings."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests

from plg_handoff.activities.crm_queue import crm_activities_per_second, crm_task_queue
from plg_handoff.config import ConfigError, HubSpotConfig, SalesforceConfig, parse_config
from plg_handoff.connectors.errors import RateLimited
from plg_handoff.connectors.pacing import RequestPacer
from plg_handoff.connectors.salesforce.allocation import RECHECK_S, DailyAllocation


def test_no_window_holds_more_requests_than_the_limit_counted_from_their_answers() -> None:
    pacer = RequestPacer(limit=3, window_s=0.3)
    starts: list[float] = []
    lock = threading.Lock()

    def request() -> None:
        with pacer.slot():
            with lock:
                starts.append(time.monotonic())
            time.sleep(0.02)

    threads = [threading.Thread(target=request) for _ in range(7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    starts.sort()
    # Of any 4 requests in a row, one was answered 0.3 s before the 4th started.
    assert all(starts[n] >= starts[n - 3] + 0.3 for n in range(3, len(starts)))
    assert starts[-1] - starts[0] < 2.0  # waited for room, not much longer


def answer_saying(used: int, allocation: int) -> requests.Response:
    response = requests.Response()
    response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{allocation}"
    return response


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_processes_sharing_a_limit_each_keep_to_their_part() -> None:
    pacer = RequestPacer(limit=190, window_s=10)
    pacer.share(2)
    assert (pacer.limit, pacer.window_s) == (95, 10)
    search = RequestPacer(limit=4, window_s=1)
    search.share(3)
    assert (search.limit, search.window_s) == (1, 1)
    search.share(5)  # more processes than requests a window: one each per 1.25 s
    assert (search.limit, search.window_s) == (1, 1.25)
    search.share(1)
    assert (search.limit, search.window_s) == (4, 1)


def test_a_shared_pace_holds_back_requests_the_full_limit_would_let_through() -> None:
    pacer = RequestPacer(limit=4, window_s=0.3)
    pacer.share(2)
    starts: list[float] = []
    for _ in range(4):
        with pacer.slot():
            starts.append(time.monotonic())
    assert starts[2] >= starts[0] + 0.3  # two a window, not four


def test_the_allocation_stops_at_the_reserve_and_looks_again_once_after_the_wait() -> None:
    clock = Clock()
    allocation = DailyAllocation(reserve=0.1, clock=clock)
    allocation.admit()  # nothing known yet: the first answer tells
    allocation.observe(answer_saying(88, 100))
    allocation.admit()
    allocation.admit()  # 90 of 100 counted with the two in flight

    with pytest.raises(RateLimited) as stopped:
        allocation.admit()
    wait = stopped.value.retry_after
    assert wait is not None and 0 < wait <= RECHECK_S
    clock.now += wait / 2
    with pytest.raises(RateLimited):
        allocation.admit()

    clock.now += wait
    allocation.admit()  # the one request that looks again
    with pytest.raises(RateLimited):
        allocation.admit()
    allocation.observe(answer_saying(50, 100))  # the rolling day freed room
    allocation.admit()


def test_the_crm_queue_rate_is_twice_the_published_limit_batches_share_calls() -> None:
    professional = HubSpotConfig(kind="hubspot")
    starter = HubSpotConfig(kind="hubspot", requests_per_10s=100)
    salesforce = SalesforceConfig(kind="salesforce", requests_per_second=10)

    assert professional.requests_per_10s == 190
    assert professional.search_requests_per_s == 4
    assert crm_activities_per_second(professional) == 38
    assert crm_activities_per_second(starter) == 20
    assert crm_activities_per_second(salesforce) == 20
    assert crm_task_queue("plg-handoff") == "plg-handoff-crm"


@pytest.mark.parametrize(
    ("crm", "expected"),
    [
        (
            {"kind": "hubspot", "requests_per_10s": 0},
            "crm.requests_per_10s: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            {"kind": "hubspot", "search_requests_per_s": 0},
            "crm.search_requests_per_s: Input should be greater than or equal to 1 (got 0)",
        ),
        (
            {"kind": "salesforce", "daily_api_reserve": 1},
            "crm.daily_api_reserve: Input should be less than 1 (got 1)",
        ),
        (
            {"kind": "salesforce", "requests_per_second": 0},
            "crm.requests_per_second: Input should be greater than or equal to 1 (got 0)",
        ),
    ],
)
def test_pacing_settings_are_validated_by_name(
    tmp_path: Path, crm: dict[str, object], expected: str
) -> None:
    raw = {"sources": [{"kind": "file", "name": "demo", "path": "usage"}], "crm": crm}
    with pytest.raises(ConfigError) as refused:
        parse_config(raw, base_dir=tmp_path)
    assert expected in str(refused.value)
