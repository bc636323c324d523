"""Nothing accepted silently: a mapping setting that cannot match what the source sends is a
warning naming its config field (issue 14, defect 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from plg_handoff.activities.mapping_check import (
    mapping_warnings,
    profile_export,
    pull_warnings,
    unmapped_events,
)
from plg_handoff.config import FileSourceConfig
from plg_handoff.domain.usage import AccountTraits, DayRollup

LINES: list[dict[str, Any]] = [
    {"event": "Data Exported", "properties": {"company": "c1", "scheduled": "true", "rows": 5}},
    {"event": "Data Exported", "properties": {"company": "c1", "scheduled": "false", "rows": 9}},
    {"event": "API Usage", "properties": {"company": "c1", "calls": "lots"}},
    {"event": "Page View", "properties": {"company": "c2", "$current_url": "https://x.io/pricing"}},
    {"event": "Tooltip Shown", "properties": {"company": "c2"}},
    {"event": "Tooltip Shown", "properties": {"company": "c2"}},
    {"event": "Status", "properties": {"company": "c2", "code": 200, "seats": 4}},
]


def source(**settings: Any) -> FileSourceConfig:
    return FileSourceConfig.model_validate(
        {"kind": "file", "name": "product", "path": "x", "account_property": "company",
         "default_metrics": False, "gauges": {}, **settings}
    )  # fmt: skip


def export(tmp_path: Path, lines: list[dict[str, Any]] = LINES) -> Path:
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def lines_of(config: FileSourceConfig, tmp_path: Path) -> list[str]:
    profile = profile_export([export(tmp_path)], config)
    return [w.line() for w in mapping_warnings(config, profile)]


def test_a_condition_of_the_wrong_type_can_never_hold(tmp_path: Path) -> None:
    config = source(metrics={"scheduled_exports": {
        "kind": "count", "events": ["Data Exported"],
        "where": [{"property": "scheduled", "equals": True}]}})  # fmt: skip
    assert lines_of(config, tmp_path) == [
        "sources.product.metrics.scheduled_exports.where[0]: can never hold: 'scheduled' is sent"
        ' as string (2) (e.g. "false"), the condition reads boolean'
    ]


def test_a_condition_of_the_right_type_that_held_nowhere_is_no_warning(tmp_path: Path) -> None:
    """No 429 in the export is a fact about the data, not a wrong mapping."""
    config = source(
        metrics={
            "rate_limited": {
                "kind": "count",
                "events": ["Status"],
                "where": [{"property": "code", "equals": 429}],
            }
        }
    )
    assert lines_of(config, tmp_path) == []


def test_an_event_name_never_sent_is_named(tmp_path: Path) -> None:
    config = source(metrics={"invites": {"kind": "count", "events": ["User Invited", "Status"]},
                             "votes": {"kind": "count", "events": ["Feature Voted"]}})  # fmt: skip
    assert lines_of(config, tmp_path) == [
        "sources.product.metrics.invites.events: never seen: 'User Invited'",
        "sources.product.metrics.votes.events: no event named 'Feature Voted' in the export",
    ]


def test_a_property_never_on_the_events_and_a_quantity_never_a_number(tmp_path: Path) -> None:
    config = source(metrics={
        "pricing": {"kind": "count", "events": ["Page View"],
                    "where": [{"property": "path", "contains": ["/pricing"]}]},
        "api_requests": {"kind": "sum", "events": ["API Usage"], "property": "calls"},
        "emails": {"kind": "values", "property": "$email", "fallbacks": ["email"],
                   "email_domain": True}})  # fmt: skip
    assert lines_of(config, tmp_path) == [
        "sources.product.metrics.pricing.where[0]: property 'path' is on none of the"
        " 'Page View' events",
        "sources.product.metrics.emails.property: '$email', 'email' on none of the export's events",
    ]


def test_gauges_account_property_and_traits(tmp_path: Path) -> None:
    config = source(gauges={"seats": "seats", "storage_gb": "storage_used"},
                    account_property="org", traits={"employees": "headcount"})  # fmt: skip
    profile = profile_export([export(tmp_path)], config)
    traits = {"c1": AccountTraits(plan="team"), "c2": AccountTraits(plan="free")}
    found = {w.field: w for w in mapping_warnings(config, profile, traits)}
    assert found["sources.product.gauges.storage_gb"].configured
    assert "seats" not in {f.rsplit(".", 1)[-1] for f in found if ".gauges." in f}
    assert found["sources.product.account_property"].message.startswith("property 'org' is on")
    assert found["sources.product.traits.employees"].configured
    assert found["sources.product.traits.employees"].message == (
        "property 'headcount' missing or unreadable on all 2 accounts"
    )
    assert not found["sources.product.traits.industry"].configured  # a default kept
    assert "sources.product.traits.plan" not in found


def test_defaults_the_user_kept_are_not_configured_warnings(tmp_path: Path) -> None:
    config = source(default_metrics=True)
    profile = profile_export([export(tmp_path)], config)
    warnings = mapping_warnings(config, profile)
    assert warnings and not any(w.configured for w in warnings)


def test_an_empty_export_says_nothing(tmp_path: Path) -> None:
    config = source(metrics={"votes": {"kind": "count", "events": ["Feature Voted"]}})
    profile = profile_export([export(tmp_path, [])], config)
    assert mapping_warnings(config, profile) == []


def test_the_most_frequent_unmapped_events(tmp_path: Path) -> None:
    config = source(metrics={"exports": {"kind": "count", "events": ["Data Exported"]}})
    profile = profile_export([export(tmp_path)], config)
    assert unmapped_events(config, profile)[:1] == [("Tooltip Shown", 2)]


def test_a_pull_counts_what_the_settings_written_matched_nothing_of() -> None:
    config = source(
        metrics={"votes": {"kind": "count", "events": ["Feature Voted"]},
                 "exports": {"kind": "count", "events": ["Data Exported"]},
                 "seen": {"kind": "count", "events": ["Tooltip Shown"]}},
        gauges={"seats": "active_seats"},
    )  # fmt: skip
    rollups = {"c1": [DayRollup("2026-05-01", {"Data Exported": 2}, 1, metrics={"exports": 2})],
               "c2": [DayRollup("2026-05-01", {"Tooltip Shown": 1}, 1)]}  # fmt: skip
    assert [w.line() for w in pull_warnings(config, rollups)] == [
        "sources.product.metrics.votes.events: no event named 'Feature Voted' in this pull",
        "sources.product.metrics.seen: matched none of the 'Tooltip Shown' events in this pull",
        "sources.product.gauges.seats: property 'active_seats' on no event of this pull",
    ]
    assert pull_warnings(source(default_metrics=True), rollups) == []


def test_poison_lines_do_not_stop_the_profile(tmp_path: Path) -> None:
    path = export(tmp_path)
    with path.open("ab") as out:
        out.write(b'{"event": "Data Exported", "properties": {"company": "c\xff"}}\n')
        out.write(b'{"event": "Data Exported", "properties": {"blob": "' + b"x" * 5_000_000)
        out.write(b'"}}\n')
    config = source(metrics={"exports": {"kind": "count", "events": ["Data Exported"]}})
    profile = profile_export([path], config)
    assert profile.events == len(LINES) + 2
    assert profile.event_counts["Data Exported"] >= 2
