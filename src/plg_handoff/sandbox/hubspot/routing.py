"""A tiny HTTP-agnostic request/response model and path router."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .errors import ApiError, validation_error
from .schema import canonical_object_type

JSON_CONTENT_TYPE = "application/json;charset=utf-8"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    body: Any = None
    params: Mapping[str, str] = field(default_factory=dict)

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def args(self, name: str) -> list[str]:
        """Repeated (`?p=a&p=b`) and comma separated (`?p=a,b`) values alike."""
        return [part for value in self.query.get(name, []) for part in value.split(",") if part]

    def flag(self, name: str) -> bool:
        return (self.arg(name) or "false").lower() == "true"

    def int_arg(self, name: str, default: int, maximum: int) -> int:
        raw = self.arg(name)
        try:
            value = default if raw in (None, "") else int(raw)
        except ValueError as exc:
            raise validation_error(f"{name} must be an integer, got {raw!r}") from exc
        if not 0 < value <= maximum:
            raise validation_error(f"{name} must be between 1 and {maximum}, got {value}")
        return value

    def json_object(self) -> Mapping[str, Any]:
        if not isinstance(self.body, Mapping):
            raise validation_error("Invalid input JSON: expected a JSON object body")
        return self.body

    def object_type(self, param: str = "object_type") -> str:
        return resolve_object_type(self.params[param])


def resolve_object_type(raw: str) -> str:
    resolved = canonical_object_type(raw)
    if resolved is None:
        raise validation_error(f"Unable to infer object type from: {raw}")
    return resolved


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_CONTENT_TYPE

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


def error_response(error: ApiError) -> Response:
    return Response(error.status, error.body(), dict(error.headers))


def parse_json_body(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise validation_error(f"Invalid input JSON: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise validation_error(
            f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    mutates: bool


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, *, mutates: bool = False) -> None:
        """`template` uses `{name}` placeholders, each matching one path segment."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self._routes.append(Route(method, re.compile(f"^{regex}$"), handler, mutates))

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        path = path.rstrip("/") or "/"
        for route in self._routes:
            found = route.pattern.match(path)
            if found and route.method == method:
                return route, {name: unquote(value) for name, value in found.groupdict().items()}
        raise ApiError(404, "OBJECT_NOT_FOUND", f"Unknown endpoint: {method} {path}")
