"""Layers point one way: commands -> worker wiring -> workflows -> activities -> connectors ->
domain. Each rule names the imports a layer must never make; the test reads every module's
imports (including those inside functions and `imports_passed_through` blocks)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "src" / "plg_handoff"
COMMANDS = ("plg_handoff.cli", "plg_handoff.report", "plg_handoff.dev", "plg_handoff.explain")
SANDBOX = ("plg_handoff.sandbox",)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name.startswith("plg_handoff")}


MODULES = {module_name(p): imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


RULES = [
    # (the modules the rule holds for, the imports they must not make)
    (
        ("plg_handoff.domain",),
        tuple(
            f"plg_handoff.{layer}"
            for layer in ("activities", "connectors", "workflows", "worker", "config", "sandbox")
        )
        + COMMANDS,
    ),
    (("plg_handoff.workflows",), ("plg_handoff.connectors", *SANDBOX, *COMMANDS)),
    (("plg_handoff.activities",), ("plg_handoff.workflows", "plg_handoff.worker", *COMMANDS)),
    (
        ("plg_handoff.connectors",),
        ("plg_handoff.activities", "plg_handoff.workflows", "plg_handoff.worker", *COMMANDS),
    ),
    (("plg_handoff.worker",), COMMANDS),
]


@pytest.mark.parametrize(("layer", "forbidden"), RULES, ids=[r[0][0] for r in RULES])
def test_a_layer_never_imports_the_layers_above_it(
    layer: tuple[str, ...], forbidden: tuple[str, ...]
) -> None:
    crossings = {
        module: sorted(name for name in names if within(name, forbidden))
        for module, names in MODULES.items()
        if within(module, layer)
    }
    assert {m: names for m, names in crossings.items() if names} == {}


def test_only_the_sandbox_and_the_dev_command_import_the_emulators() -> None:
    allowed = (*SANDBOX, "plg_handoff.dev")
    users = sorted(
        module
        for module, names in MODULES.items()
        if not within(module, allowed) and any(within(n, SANDBOX) for n in names)
    )
    assert users == []


def test_the_rules_see_the_modules() -> None:
    assert {"plg_handoff.worker", "plg_handoff.workflows.handoff", "plg_handoff.domain.engine"} <= (
        MODULES.keys()
    )
    assert "plg_handoff.activities.contracts" in MODULES["plg_handoff.workflows.handoff"]
