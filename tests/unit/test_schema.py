"""The configuration's JSON Schema for editors is shipped, current, and names every rule."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from plg_handoff.cli import app
from plg_handoff.config import config_json_schema
from plg_handoff.domain.engine import TRIGGERS

SHIPPED = Path(__file__).parents[2] / "deploy" / "handoff.schema.json"


def test_the_shipped_schema_is_current() -> None:
    assert SHIPPED.read_text(encoding="utf-8") == config_json_schema(), (
        "regenerate it: handoff schema --output deploy/handoff.schema.json"
    )


def test_the_schema_describes_every_trigger_rule() -> None:
    schema = json.loads(config_json_schema())
    rules = schema["$defs"]["RuleSet"]["properties"]
    assert set(TRIGGERS) <= set(rules)
    assert {"pql", "filters", "segments", "playbooks", "scoring"} <= set(rules)
    threshold = schema["$defs"]["LimitApproachingRule"]["properties"]["threshold"]
    assert threshold["maximum"] == 1
    assert threshold["description"]


def test_handoff_schema_prints_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == config_json_schema()
    out = tmp_path / "schema.json"
    assert CliRunner().invoke(app, ["schema", "--output", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8") == config_json_schema()


def test_the_commented_example_config_is_valid() -> None:
    import tomllib

    from plg_handoff.config import Config

    example = Path(__file__).parents[2] / "deploy" / "handoff.toml"
    config = Config.model_validate(tomllib.loads(example.read_text(encoding="utf-8")))
    assert "limit_reached" in config.rules.pql.strong_triggers
