"""Default mappings per source kind (issue 14, defect 7): each vendor's own reserved property
names where it has them, not another vendor's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from plg_handoff.activities.ingest import roll_up
from plg_handoff.config import FileSourceConfig, MixpanelSourceConfig, SegmentSourceConfig
from plg_handoff.domain.metrics import DEFAULT_METRICS, VENDOR_PROPERTIES, MetricDefinition

DAY = "2026-05-04"
WHEN = int(datetime(2026, 5, 4, 10, tzinfo=UTC).timestamp())
PAGE_METRICS = ("pricing_visits", "enterprise_visits", "competitor_visits")

MIXPANEL = MixpanelSourceConfig(kind="mixpanel", name="mp", project_id=7)
SEGMENT = SegmentSourceConfig(kind="segment", name="seg", spool_dir=Path("spool"))
FILE = FileSourceConfig(kind="file", name="files", path=Path("usage"))


def test_mixpanel_pages_are_read_from_its_current_url() -> None:
    metrics = MIXPANEL.metric_definitions()
    for name in PAGE_METRICS:
        assert [c.property for c in metrics[name].where] == ["$current_url"], name
    assert metrics["email_domains"].reads() == ("$email", "email")


def test_segment_and_file_sources_read_the_names_segment_fields_arrive_under() -> None:
    for source in (SEGMENT, FILE):
        metrics = source.metric_definitions()
        for name in PAGE_METRICS:
            assert [c.property for c in metrics[name].where] == ["path"], (source.kind, name)
        assert metrics == DEFAULT_METRICS


def test_every_vendor_name_replaces_a_property_the_defaults_read() -> None:
    read = {c.property for m in DEFAULT_METRICS.values() for c in m.where}
    read |= {p for m in DEFAULT_METRICS.values() for p in m.reads()}
    for kind, names in VENDOR_PROPERTIES.items():
        assert set(names) <= read, kind


def test_a_mixpanel_export_of_pricing_page_views_counts_them(tmp_path: Path) -> None:
    """What Mixpanel's JavaScript SDK sends for a page view: `$mp_web_page_view` with the URL in
    `$current_url`, no `path`."""
    line = {
        "event": "$mp_web_page_view",
        "properties": {"time": WHEN, "distinct_id": "u1", "$insert_id": "p1",
                       "account_id": "acme", "$current_url": "https://app.acme.io/pricing?x=1",
                       "$browser": "Chrome", "mp_lib": "web"},
    }  # fmt: skip
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")

    def pricing_visits(metrics: Mapping[str, MetricDefinition]) -> float:
        result = roll_up([path], account_property="account_id", gauges={}, days=[DAY],
                         metrics=metrics)  # fmt: skip
        return result.rollups["acme"][0].metrics.get("pricing_visits", 0)

    assert pricing_visits(MIXPANEL.metric_definitions()) == 1
    assert pricing_visits(FILE.metric_definitions()) == 0  # the neutral name misses it
