"""How the rules count a window of days, in one place.

A sync runs at any time of day, and the newest UTC day it reads is partial: at 00:05 it holds
five minutes of usage. Counting "the last 7 days" as 7 calendar days ending today would then
mean six days and five minutes early in the day and almost seven at night, so the time of the
sync would change decisions. Instead:

- A **window** of N days as of a day is the N complete days before it, plus that day's own data
  (today's partial usage, when the day is today). Thresholds read windows: more usage can only
  add to them, and the same events give the same count at 00:05, 12:00 and 23:55.
- A **comparison** (this period against an earlier one: growth, velocity, week over week, a spike
  against a baseline) reads complete days only, so a partial day never sits on one side of it.

Days are date ordinals (`date.toordinal()`); spans are (first, last), both included.
"""

from __future__ import annotations

from datetime import date

Span = tuple[int, int]


def window(end: int, days: int) -> Span:
    """The `days` complete days before `end`, and `end` itself."""
    return end - days, end


def period(end: int, days: int, back: int = 0) -> Span:
    """The `days` complete days ending `back` periods of `days` before the day before `end`:
    back 0 is the last `days` complete days, back 1 the `days` days before those."""
    last = end - 1 - days * back
    return last - days + 1, last


def weeks(end: int, n: int) -> list[Span]:
    """The last `n` weeks as of `end`, newest first: 7-day periods of complete days, today's
    partial data joining the newest (a count of weeks is a threshold)."""
    spans = [period(end, 7, back) for back in range(n)]
    if spans:
        spans[0] = (spans[0][0], end)
    return spans


def dates(span: Span) -> tuple[date, date]:
    """A span as dates (clamped to the calendar)."""
    first, last = (date.fromordinal(min(max(o, 1), date.max.toordinal())) for o in span)
    return first, last
