"""Workflow modules imported anew (as the sandbox does for every workflow instance) run the
code compiled at their first import, not a new compilation of their source."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

from plg_handoff.workflow_code import WORKFLOW_PACKAGE, compile_workflow_code_once


def import_anew(name: str) -> ModuleType:
    """The module imported into an empty set of workflow modules, as in a new sandbox."""
    ours = [m for m in sys.modules if m == WORKFLOW_PACKAGE or m.startswith(WORKFLOW_PACKAGE + ".")]
    saved = {m: sys.modules.pop(m) for m in ours}
    try:
        return importlib.import_module(name)
    finally:
        for m in [m for m in sys.modules if m.startswith(WORKFLOW_PACKAGE)]:
            del sys.modules[m]
        sys.modules.update(saved)


def test_a_workflow_module_imported_again_runs_the_same_code_object() -> None:
    compile_workflow_code_once()
    first = import_anew(f"{WORKFLOW_PACKAGE}.digest")
    second = import_anew(f"{WORKFLOW_PACKAGE}.digest")
    assert first is not second
    assert first.DigestWorkflow is not second.DigestWorkflow
    assert first.DigestWorkflow.run.__code__ is second.DigestWorkflow.run.__code__


def test_installing_twice_adds_one_finder() -> None:
    compile_workflow_code_once()
    compile_workflow_code_once()
    assert sum(type(f).__name__ == "_WorkflowModuleFinder" for f in sys.meta_path) == 1
