"""A small subset of Mixpanel's segmentation expressions, for the export `where` filter.

Supported: `properties["x"]`, string / number / boolean literals, `defined(properties["x"])`,
`== != > >= < <=`, `not`, `and`, `or` and parentheses. Anything else is refused, as Mixpanel
refuses an expression it cannot parse."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

Properties = Mapping[str, Any]
Node = Callable[[Properties], Any]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op>==|!=|>=|<=|>|<|\(|\)|\[|\])
      | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
    )""",
    re.VERBOSE,
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    ">": lambda a, b: _ordered(a, b) and a > b,
    ">=": lambda a, b: _ordered(a, b) and a >= b,
    "<": lambda a, b: _ordered(a, b) and a < b,
    "<=": lambda a, b: _ordered(a, b) and a <= b,
}


class WhereError(ValueError):
    pass


def compile_where(expression: str) -> Callable[[Properties], bool]:
    parser = _Parser(expression)
    node = parser.parse()
    return lambda properties: bool(node(properties))


def _ordered(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (
        isinstance(a, str) and isinstance(b, str)
    )


def _either(a: Node, b: Node) -> Node:
    return lambda p: a(p) or b(p)


def _both(a: Node, b: Node) -> Node:
    return lambda p: a(p) and b(p)


class _Parser:
    def __init__(self, expression: str) -> None:
        self._expression = expression
        self._tokens = self._tokenize(expression)
        self._at = 0

    def parse(self) -> Node:
        if not self._tokens:
            raise WhereError("empty expression")
        node = self._or()
        if self._at != len(self._tokens):
            self._fail(f"unexpected {self._tokens[self._at][1]!r}")
        return node

    def _tokenize(self, expression: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(expression):
            if expression[position:].strip() == "":
                break
            match = _TOKEN.match(expression, position)
            if match is None or match.lastgroup is None:
                raise WhereError(f"unexpected character at position {position}")
            tokens.append((match.lastgroup, match[match.lastgroup]))
            position = match.end()
        return tokens

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _take(self, value: str | None = None) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            self._fail("unexpected end of expression")
        if value is not None and token[1] != value:
            self._fail(f"expected {value!r}, got {token[1]!r}")
        self._at += 1
        return token

    def _fail(self, message: str) -> NoReturn:
        raise WhereError(message)

    def _or(self) -> Node:
        left = self._and()
        while self._peek() == ("name", "or"):
            self._take()
            left = _either(left, self._and())
        return left

    def _and(self) -> Node:
        left = self._not()
        while self._peek() == ("name", "and"):
            self._take()
            left = _both(left, self._not())
        return left

    def _not(self) -> Node:
        if self._peek() == ("name", "not"):
            self._take()
            inner = self._not()
            return lambda p: not inner(p)
        return self._compare()

    def _compare(self) -> Node:
        left = self._atom()
        token = self._peek()
        if token is not None and token[0] == "op" and token[1] in _COMPARE:
            self._take()
            right, test = self._atom(), _COMPARE[token[1]]
            return lambda p: test(left(p), right(p))
        return left

    def _atom(self) -> Node:
        kind, value = self._take()
        if value == "(":
            inner = self._or()
            self._take(")")
            return inner
        if kind == "string":
            text = self._string(value)
            return lambda p: text
        if kind == "number":
            number = float(value) if "." in value else int(value)
            return lambda p: number
        if (kind, value) == ("name", "defined"):
            self._take("(")
            key = self._property()
            self._take(")")
            return lambda p: key in p
        if (kind, value) == ("name", "properties"):
            self._at -= 1
            key = self._property()
            return lambda p: p.get(key)
        if kind == "name" and value in ("true", "false"):
            flag = value == "true"
            return lambda p: flag
        return self._fail(f"unsupported {value!r}")

    def _property(self) -> str:
        self._take("properties")
        self._take("[")
        kind, value = self._take()
        if kind != "string":
            self._fail("a property name must be a string")
        self._take("]")
        return self._string(value)

    def _string(self, literal: str) -> str:
        try:
            return str(json.loads(literal))
        except json.JSONDecodeError:
            self._fail(f"bad string literal {literal}")
