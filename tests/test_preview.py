"""`handoff preview` over a file source and a Segment archive of the independent persona
population: what the rules decide before going live, `--compare`, `--account`, `--format` and
`--strict`. (Over the Mixpanel emulator, against the worker's own decisions:
tests/e2e/test_persona_suite.py.)"""

from __future__ import annotations

import copy
import gzip
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from plg_handoff.cli import app
from plg_handoff.config import Config, load_secrets, parse_config
from plg_handoff.preview import Preview, run_preview
from tests.personas.population import MAPPING, RULES, Population, build_population

TODAY = date(2026, 3, 18)
NOW = datetime(2026, 3, 18, 10, 30, tzinfo=UTC)
DAYS = 130
CRM = {"kind": "hubspot", "base_url": "http://127.0.0.1:9"}  # never called


@pytest.fixture(scope="module")
def population() -> Population:
    return build_population(TODAY, now=NOW)


@pytest.fixture(scope="module")
def usage(population: Population, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("usage")
    population.write(directory)
    return directory


def file_source(usage: Path, **overrides: Any) -> dict[str, Any]:
    return {"kind": "file", "name": "tally", "path": str(usage / "events.jsonl"),
            "traits_path": str(usage / "profiles.jsonl"), **copy.deepcopy(MAPPING),
            **overrides}  # fmt: skip


def config_of(tmp_path: Path, source: dict[str, Any], rules: dict[str, Any] = RULES) -> Config:
    raw = {"data_dir": str(tmp_path / "data"), "sources": [source], "crm": CRM, "rules": rules}
    return parse_config(raw, base_dir=tmp_path)


@pytest.fixture(scope="module", autouse=True)
def crm_token() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HANDOFF_HUBSPOT_ACCESS_TOKEN", "never-used")
        yield


@pytest.fixture(scope="module")
def file_preview(usage: Path, tmp_path_factory: pytest.TempPathFactory) -> Preview:
    return preview_of(config_of(tmp_path_factory.mktemp("state"), file_source(usage)))


def preview_of(config: Config) -> Preview:
    return run_preview(config, load_secrets(config), days=DAYS, end=TODAY)


def test_a_file_source_preview_keeps_every_false_positive_from_reps(
    population: Population, file_preview: Preview
) -> None:
    preview = file_preview
    routes = {d.account_id: d.route for d in preview.decisions}
    assert routes.keys() == population.expected.keys()
    to_reps = {a for a, r in routes.items() if r == "sales"}
    assert all(population.expected[a].route == "sales" for a in to_reps)
    buyers = [a for a, e in population.expected.items() if e.route == "sales"]
    assert len(to_reps) / len(buyers) >= 0.95
    assert preview.strict_failures() == []
    assert preview.coverage.read == len(population.events)
    assert preview.coverage.duplicates > 0
    assert preview.coverage.unmapped_events[0][1] > 0  # events no metric reads, by volume
    assert sum(preview.routes().values()) == len(population.expected)
    assert preview.triggers() and preview.filters()


def segment_archive(population: Population, root: Path) -> Path:
    """Segment's storage archive layout: <source>/<YYYY-MM-DD>/<file>.gz, by the day each
    message was received."""
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in population.segment_messages():
        stamp = message.get("receivedAt") or message["timestamp"]
        by_day[stamp[:10]].append(message)
    for day, messages in by_day.items():
        folder = root / "segment-logs" / "src-tally" / day
        folder.mkdir(parents=True, exist_ok=True)
        with gzip.open(folder / "part-0.gz", "wt", encoding="utf-8") as out:
            out.writelines(json.dumps(m) + "\n" for m in messages)
    return root


def segment_mapping() -> dict[str, Any]:
    """The same vocabulary mapped under Segment's names: page calls become `Page Viewed` with the
    URL in `url`, and the context's IP, user agent and email arrive as `ip`, `user_agent` and
    `email` (domain/metrics.py, VENDOR_PROPERTIES)."""
    mapping = copy.deepcopy(MAPPING)
    metrics = mapping["metrics"]
    for definition in metrics.values():
        if definition.get("events") == ["Page View"]:
            definition["events"] = ["Page Viewed"]
            for condition in definition.get("where", []):
                if condition["property"] == "$current_url":
                    condition["property"] = "url"
    metrics["distinct_ips"]["property"] = "ip"
    metrics["distinct_user_agents"]["property"] = "user_agent"
    for condition in metrics["bot_agent_events"]["where"]:
        condition["property"] = "user_agent"
    return mapping


def test_a_segment_archive_preview_decides_as_the_same_usage_in_mixpanel_shape(
    population: Population, file_preview: Preview, tmp_path: Path
) -> None:
    archive = segment_archive(population, tmp_path / "bucket")
    segment = {"kind": "segment", "name": "tally", "archive_dir": str(archive),
               **segment_mapping()}  # fmt: skip
    from_segment = preview_of(config_of(tmp_path, segment))
    assert {d.account_id: d.outcome for d in from_segment.decisions} == {
        d.account_id: d.outcome for d in file_preview.decisions
    }


def test_compare_shows_what_a_threshold_change_does(usage: Path, tmp_path: Path) -> None:
    ours = config_of(tmp_path, file_source(usage))
    stricter = {**RULES, "limit_approaching": {"threshold": 0.97}}
    theirs = config_of(tmp_path, file_source(usage), stricter)
    compared = run_preview(
        ours, load_secrets(ours), days=DAYS, end=TODAY, compare=("strict.toml", theirs)
    )
    assert compared.comparison is not None
    changed = compared.comparison.changed
    assert changed, "a seat threshold of 97 % moves some seat-limit buyers"
    alone = {d.account_id: d.outcome for d in preview_of(theirs).decisions}
    mine = {d.account_id: d.outcome for d in compared.decisions}
    assert changed == [(a, mine[a], alone[a]) for a in sorted(mine) if mine[a] != alone[a]]
    assert sum(compared.comparison.changes.values()) == len(changed)


def toml_value(value: Any) -> str:
    """A value as TOML (inline tables and arrays; JSON's string escapes are TOML's)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def write_toml(path: Path, source: dict[str, Any]) -> Path:
    settings = {"data_dir": str(path.parent / "data"), "sources": [source], "crm": CRM,
                "rules": RULES}  # fmt: skip
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in settings.items()), "utf-8")
    return path


@pytest.mark.usefixtures("logging_restored")
def test_the_command_strict_json_and_one_account(
    population: Population, usage: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    good = write_toml(tmp_path / "good.toml", file_source(usage))
    args = ["preview", "-c", str(good), "--days", str(DAYS), "--end", TODAY.isoformat()]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "identifiers that never joined: 0 events without an account, 0 accounts" in table.stdout
    result = runner.invoke(app, [*args, "--strict", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sum(data["routes"].values()) == len(population.expected)

    bad_source = file_source(usage)
    bad_source["metrics"]["scheduled_exports"]["where"] = [
        {"property": "scheduled", "equals": "yes"}
    ]
    bad = write_toml(tmp_path / "bad.toml", bad_source)
    result = runner.invoke(app, ["preview", "-c", str(bad), "--days", str(DAYS), "--strict"])
    assert result.exit_code == 1
    assert (
        "sources.tally.metrics.scheduled_exports.where[0]: can never hold: 'scheduled' is sent"
        " as boolean" in result.stdout
    )

    account = next(a for a, e in population.expected.items() if e.route == "competitive_intel")
    result = runner.invoke(app, [*args, "--account", account])
    assert result.exit_code == 0
    assert f"{account}: competitive_intel" in result.stdout
    assert "Routes:" not in result.stdout
