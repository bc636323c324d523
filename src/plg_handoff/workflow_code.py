"""Workflow modules compiled once per worker process.

The workflow sandbox imports a workflow's module anew for every workflow instance, and every
replay of one that left the cache. Where no bytecode file can be used (an editable install
under PYTHONDONTWRITEBYTECODE, as on development machines and in CI), each of those imports
compiled the module's source again: half the cost of starting a workflow instance. This finder
keeps each workflow module's code object after its first import, so the process also runs the
workflow code it started with even when the source files change under it."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType

WORKFLOW_PACKAGE = "plg_handoff.workflows"


class _CompiledOnce(importlib.machinery.SourceFileLoader):
    _code: dict[str, CodeType] = {}  # noqa: RUF012  # one cache for the process, by file path

    def get_code(self, fullname: str) -> CodeType:
        code = self._code.get(self.path)
        if code is None:
            compiled = super().get_code(fullname)
            if compiled is None:
                raise ImportError(f"no code for {fullname} at {self.path}", name=fullname)
            code = self._code.setdefault(self.path, compiled)
        return code


class _WorkflowModuleFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != WORKFLOW_PACKAGE and not fullname.startswith(WORKFLOW_PACKAGE + "."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _CompiledOnce(spec.loader.name, spec.loader.path)
        return spec


def compile_workflow_code_once() -> None:
    """Installs the finder (once per process; later calls do nothing)."""
    if not any(isinstance(finder, _WorkflowModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _WorkflowModuleFinder())
