"""The sandbox imports a workflow's module again for every new workflow instance (and for
every replay of one that left the cache), with everything it imports that is not passed
through. A workflow module therefore pulls in no other workflow module: at 10,000 accounts,
running all six for every account workflow was a third of the worker's CPU."""

from __future__ import annotations

import subprocess
import sys

import pytest

WORKFLOW_MODULES = [
    "account",
    "digest",
    "handoff",
    "notification_ledger",
    "owner_pool",
    "usage_sync",
]


def workflow_modules_loaded_by(module: str) -> set[str]:
    probe = (
        "import sys\n"
        f"import plg_handoff.workflows.{module}\n"
        "print('\\n'.join(m for m in sys.modules if m.startswith('plg_handoff.workflows')))\n"
    )
    done = subprocess.run(  # this interpreter, a fixed probe
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(done.stdout.split())


@pytest.mark.parametrize("module", WORKFLOW_MODULES)
def test_a_workflow_module_loads_no_other_workflow_module(module: str) -> None:
    allowed = {"plg_handoff.workflows", f"plg_handoff.workflows.{module}"}
    allowed.add("plg_handoff.workflows.entity")  # the entity helpers the pool and ledger share
    loaded = workflow_modules_loaded_by(module)
    assert f"plg_handoff.workflows.{module}" in loaded
    assert loaded <= allowed
