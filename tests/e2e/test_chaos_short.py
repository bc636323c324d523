"""The chaos suite (bench/chaos.py), short: 30 accounts through the real `handoff worker`, the
Temporal dev server and the emulators, once without faults and once with two worker SIGKILLs,
a server SIGKILL, 20 % CRM faults (half of them answers lost after the write committed), slow
answers and poison lines. The final CRM state and every route must be the fault-free run's.
The full run's figures are in README.md (RELIABILITY)."""

from __future__ import annotations

import pytest
from bench.chaos import ChaosSummary, run_chaos

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
async def chaos(tmp_path_factory: pytest.TempPathFactory) -> ChaosSummary:
    summary = await run_chaos(
        30,
        tmp_path_factory.mktemp("chaos"),
        runs=1,
        worker_kills=2,
        server_kills=1,
        crm_fault_rate=0.2,
        seed=3,
        timeout_s=200,
        say=print,
    )
    print("\n".join(summary.details))
    print(summary.line())
    return summary


def test_the_faults_were_injected(chaos: ChaosSummary) -> None:
    assert chaos.worker_kills == 2
    assert chaos.server_kills == 1
    assert chaos.crm_faults > 0


def test_nothing_is_duplicated_lost_or_decided_differently(chaos: ChaosSummary) -> None:
    assert chaos.unsettled == 0, chaos.details
    assert chaos.duplicates == 0, chaos.details
    assert chaos.lost == 0, chaos.details
    assert chaos.route_diffs == 0, chaos.details
    assert chaos.details == []  # poison lines set aside the same way, too


def test_the_export_is_not_downloaded_again(chaos: ChaosSummary) -> None:
    assert chaos.mixpanel_exports == chaos.mixpanel_exports_fault_free == 1


def test_recovery_is_quick(chaos: ChaosSummary) -> None:
    assert 0 < chaos.worst_recovery_s <= 30
