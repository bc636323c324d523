"""What every trigger family reads days and writes figures with: one meaning each."""

from __future__ import annotations

import math
from datetime import date


def parse_day(text: object) -> date | None:
    """An ISO day (a timestamp's day too), or None when it is none."""
    if not isinstance(text, str):
        return None
    for candidate in (text, text[:10]):
        try:
            return date.fromisoformat(candidate)
        except ValueError:
            continue
    return None


def number(value: float) -> str:
    """A figure as a rep reads it: 4,080 / 8.5 / 0.25 (at most two decimals)."""
    if not math.isfinite(value) or abs(value) >= 1e15:
        return f"{value:.3g}"
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def plural(count: float, word: str) -> str:
    """`count` `word`, the word in the plural unless the count is one: "1 seat", "4,080 calls"."""
    return f"{number(count)} {word}" if count == 1 else f"{number(count)} {word}s"
