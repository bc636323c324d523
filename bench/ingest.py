"""Ingestion benchmark: our pull + rollup against DuckDB's `read_ndjson` GROUP BY, same run.

    python bench/ingest.py --events 2000000
    python bench/ingest.py --events 2000000 --rss-at 2000000 10000000

Generates a Mixpanel-shaped export (16 properties, ~500 bytes an event, thousands of accounts,
gzip), then measures in separate child processes (so each peak RSS is its own):
  - ours: the export streamed gzip over HTTP from the sandbox Mixpanel emulator into the pull's
    work directory, then rolled up per account-day (dedup, quarantine, gauges) by
    `plg_handoff.activities.ingest.roll_up`;
  - baseline: DuckDB `read_ndjson` on the same gzip file on local disk, GROUP BY (account, day,
    event) with count and distinct users.
The last line reads `ingest_vs_duckdb=<ratio> events_per_s=<n> peak_rss_mb=<n>`."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

FIRST_DAY = 1_763_337_600  # 2025-11-17T00:00:00Z
DAYS = ["2025-11-17", "2025-11-18", "2025-11-19"]
ACCOUNTS = 5_000


def generate(path: Path, events: int) -> None:
    """A realistic export written by DuckDB itself (Python would take minutes for 10M)."""
    duckdb.execute(
        f"""
        COPY (
            SELECT
                (['Report Viewed', 'Dashboard Edited', 'Data Exported', 'User Invited',
                  'Integration Connected', 'Page Viewed'])[1 + (hash(i) % 6)::INTEGER] AS event,
                {{
                    'time': {FIRST_DAY} + (hash(i * 31) % {len(DAYS) * 86_400})::BIGINT,
                    'distinct_id': 'user-' || (hash(i * 7) % {ACCOUNTS * 30})::VARCHAR,
                    '$insert_id': md5(i::VARCHAR)[:24],
                    'account_id': 'acct-' || lpad((hash(i * 7) % {ACCOUNTS})::VARCHAR, 5, '0'),
                    '$browser': 'Chrome',
                    '$browser_version': 131,
                    '$os': 'Mac OS X',
                    'department': (['eng', 'sales', 'ops', 'finance'])
                        [1 + (hash(i * 7) % 4)::INTEGER],
                    'ip': '10.1.' || (hash(i * 7) % 250)::VARCHAR || '.7',
                    'mp_country_code': 'DE',
                    '$current_url': 'https://app.example.com/workspace/'
                        || (hash(i) % 9000)::VARCHAR || '/reports/' || (hash(i * 3) % 500)::VARCHAR,
                    'path': (['/home', '/pricing', '/reports'])[1 + (hash(i * 5) % 3)::INTEGER],
                    'user_agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/131.0',
                    '$screen_width': 1920,
                    '$screen_height': 1080,
                    'mp_lib': 'web',
                    'seats_used': 1 + (hash(i * 11) % 40)::INTEGER
                }} AS properties
            FROM range({events}) AS t(i)
        ) TO '{path}' (FORMAT json, COMPRESSION gzip)
        """
    )


def ours(path: Path, events: int, metrics: bool = True) -> dict[str, float]:
    """The pull as the activity runs it: MixpanelUsageSource.export() over HTTP, then roll_up
    with the source's default metric mapping (or, `metrics=False`, only counts, users and
    gauges: the work the baseline does)."""
    from plg_handoff.activities.ingest import roll_up
    from plg_handoff.config import parse_config
    from plg_handoff.connectors.mixpanel import MixpanelUsageSource
    from plg_handoff.connectors.mixpanel.client import MixpanelCredentials
    from plg_handoff.sandbox.mixpanel.emulator import MixpanelEmulator

    emulator = MixpanelEmulator(
        project_id=1, username="bench", secret="bench-secret", prebuilt_export=path
    )
    url = emulator.start()
    config = parse_config(
        {
            "sources": [{"kind": "mixpanel", "name": "bench", "project_id": 1, "base_url": url}],
            "crm": {"kind": "hubspot"},
        },
        base_dir=Path.cwd(),
    )
    source = MixpanelUsageSource(
        config.sources[0],  # type: ignore[arg-type]  # the one source above is a Mixpanel one
        MixpanelCredentials.for_service_account("bench", "bench-secret"),
    )
    with tempfile.TemporaryDirectory(prefix="bench-pull-") as work:
        start = time.perf_counter()
        files = source.export([date.fromisoformat(d) for d in DAYS], Path(work))
        downloaded = time.perf_counter() - start
        result = roll_up(
            files,
            account_property="account_id",
            gauges=config.sources[0].gauges,
            metrics=config.sources[0].metric_definitions() if metrics else {},
            days=DAYS,
            now=FIRST_DAY + 30 * 86_400,
            spill_dir=Path(work),
        )
        seconds = time.perf_counter() - start
    emulator.stop()
    if result.read != events:
        raise RuntimeError(f"read {result.read} of {events} events")
    return {
        "seconds": seconds,
        "download_seconds": downloaded,
        "accounts": len(result.rollups),
        "fast_path": float(result.path == "fast"),
    }


def baseline(path: Path, events: int) -> dict[str, float]:
    start = time.perf_counter()
    groups = duckdb.execute(
        f"""SELECT count(*) FROM (
            SELECT properties.account_id, to_timestamp(properties.time)::DATE, event,
                   count(*), count(DISTINCT properties.distinct_id)
            FROM read_ndjson('{path}') GROUP BY ALL)"""
    ).fetchall()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "groups": float(groups[0][0])}


def child(kind: str, path: Path, events: int) -> dict[str, float]:
    """Runs one measurement in a fresh interpreter; it reports its own peak RSS."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path), str(events)],
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--rss-at", type=int, nargs="*", default=[], help="also measure RSS at")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path, events = args.child[0], Path(args.child[1]), int(args.child[2])
        measure = {
            "ours": ours,
            "ours-without-metrics": lambda p, n: ours(p, n, metrics=False),
            "baseline": baseline,
        }[kind]
        figures = measure(path, events)
        figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(figures))
        return

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        rss: dict[int, float] = {}
        for size in sorted({args.events, *args.rss_at}):
            path = Path(tmp) / f"export-{size}.jsonl.gz"
            started = time.perf_counter()
            generate(path, size)
            print(
                f"export: {size:,} events, {path.stat().st_size / 1e6:.0f} MB gzip "
                f"(generated in {time.perf_counter() - started:.1f}s)"
            )
            mine = child("ours", path, size)
            rss[size] = mine["peak_rss_mb"]
            print(
                f"  ours, default metrics: {mine['seconds']:.2f}s  "
                f"{size / mine['seconds']:,.0f} events/s  peak RSS {mine['peak_rss_mb']:.0f} MB  "
                f"(HTTP download "
                f"{mine['download_seconds']:.2f}s, {'fast' if mine['fast_path'] else 'exact'} path)"
            )
            if size != args.events:
                continue
            lean = child("ours-without-metrics", path, size)
            print(
                f"  ours, counts/users/gauges only: {lean['seconds']:.2f}s  "
                f"{size / lean['seconds']:,.0f} events/s  peak RSS {lean['peak_rss_mb']:.0f} MB"
            )
            base = child("baseline", path, size)
            print(
                f"  baseline: {base['seconds']:.2f}s  {size / base['seconds']:,.0f} events/s  "
                f"peak RSS {base['peak_rss_mb']:.0f} MB  (DuckDB read_ndjson GROUP BY)"
            )
            print(
                f"  ratio without metrics (the baseline's own work): "
                f"{base['seconds'] / lean['seconds']:.2f}"
            )
            ratio = base["seconds"] / mine["seconds"]
            events_per_s = size / mine["seconds"]
        print(
            f"ingest_vs_duckdb={ratio:.2f} events_per_s={events_per_s:.0f} "
            f"peak_rss_mb={max(rss.values()):.0f}"
        )


if __name__ == "__main__":
    main()
