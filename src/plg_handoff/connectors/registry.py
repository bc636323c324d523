"""Connector registry: one decorator registers a connector class under its kind; the module
`plg_handoff.connectors.<kind>` is imported the first time that kind is asked for."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Literal, TypeVar

Role = Literal["source", "crm"]
_registry: dict[tuple[Role, str], type] = {}
T = TypeVar("T", bound=type)


def register(role: Role, kind: str) -> Callable[[T], T]:
    def decorate(cls: T) -> T:
        _registry[(role, kind)] = cls
        return cls

    return decorate


def load(role: Role, kind: str) -> type:
    if (role, kind) not in _registry:
        try:
            importlib.import_module(f"{__package__}.{kind}")
        except ModuleNotFoundError as exc:
            raise LookupError(f"no {role} connector of kind {kind!r}") from exc
    try:
        return _registry[(role, kind)]
    except KeyError:
        raise LookupError(f"module for {kind!r} registers no {role} connector") from None
