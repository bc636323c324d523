"""One meaning for what every trigger family reads days and writes figures with (issue 16):
`feature` and `volume` had each their own `parse_day` and `plural`, which disagreed on
timestamps and on figures of a thousand or more."""

from __future__ import annotations

from datetime import date

from plg_handoff.domain.triggers import feature, volume
from plg_handoff.domain.triggers.series import number, parse_day, plural


def test_a_day_is_read_from_a_date_or_a_timestamp_and_nothing_else() -> None:
    assert parse_day("2026-05-01") == date(2026, 5, 1)
    assert parse_day("2026-05-01T23:59:59Z") == date(2026, 5, 1)
    assert parse_day("May 1st") is None
    assert parse_day(20260501) is None


def test_figures_read_as_a_rep_reads_them() -> None:
    assert plural(1, "seat") == "1 seat"
    assert plural(4080, "call") == "4,080 calls"
    assert plural(2.5, "hour") == "2.5 hours"
    assert number(0.25) == "0.25"


def test_no_trigger_family_keeps_a_meaning_of_its_own() -> None:
    for module in (feature, volume):
        for name in ("parse_day", "plural", "number"):
            assert getattr(module, name, parse_day) in (parse_day, plural, number), (module, name)
