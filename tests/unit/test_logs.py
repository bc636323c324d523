"""SecretRedactor and configure_logging: JSON lines on stderr, secrets never written."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from temporalio import activity, workflow

from plg_handoff.logs import REDACTED, SecretRedactor, configure_logging, get_logger

SECRET = "pat-na1-s3cr3t-value"  # noqa: S105  # a made-up token


def _from_pytest(handler: logging.Handler) -> bool:
    return type(handler).__module__.startswith("_pytest")


@pytest.fixture(autouse=True)
def reset_logging() -> Iterator[None]:
    """Puts back the root handlers and level (pytest's own capture handlers of the running
    phase are left to pytest), Temporal's logger flags and structlog's defaults."""
    root = logging.getLogger()
    saved = [h for h in root.handlers if not _from_pytest(h)]
    level = root.level
    wf_info = workflow.logger.workflow_info_on_message
    act_info = activity.logger.activity_info_on_message
    try:
        yield
    finally:
        root.handlers[:] = [h for h in root.handlers if _from_pytest(h)] + saved
        root.setLevel(level)
        workflow.logger.workflow_info_on_message = wf_info
        activity.logger.activity_info_on_message = act_info
        structlog.reset_defaults()


def redact(event_dict: dict[str, Any], secrets: tuple[str, ...] = (SECRET,)) -> dict[str, Any]:
    return dict(SecretRedactor(secrets)(None, "info", event_dict))


# --- SecretRedactor -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "access_token",
        "api_key",
        "apikey",
        "API_KEY",
        "Authorization",
        "password",
        "PASSWORD",
        "passwd",
        "client_secret",
        "credentials",
    ],
)
def test_secret_looking_keys_are_masked(key: str) -> None:
    assert redact({key: "anything", "event": "hi"}, ()) == {key: REDACTED, "event": "hi"}


@pytest.mark.parametrize("value", [123, ["a"], {"nested": "v"}])
def test_secret_key_masks_any_non_empty_value(value: object) -> None:
    assert redact({"token": value}, ()) == {"token": REDACTED}


@pytest.mark.parametrize("value", [None, ""])
def test_secret_key_with_empty_value_is_left(value: object) -> None:
    assert redact({"token": value}, ()) == {"token": value}


def test_known_secret_values_masked_inside_strings() -> None:
    assert redact(
        {"event": f"calling with Bearer {SECRET} now", "url": f"x?t={SECRET}&{SECRET}"}
    ) == {
        "event": f"calling with Bearer {REDACTED} now",
        "url": f"x?t={REDACTED}&{REDACTED}",
    }


def test_known_secret_values_masked_in_nested_dicts_and_lists() -> None:
    event = {
        "request": {
            "headers": {"Authorization": f"Bearer {SECRET}", "Accept": "json"},
            "params": [f"q={SECRET}", 5, {"note": SECRET}],
        },
        "args": (SECRET, "plain"),
    }
    assert redact(event) == {
        "request": {
            "headers": {"Authorization": REDACTED, "Accept": "json"},
            "params": [f"q={REDACTED}", 5, {"note": REDACTED}],
        },
        "args": [REDACTED, "plain"],
    }


def test_longest_secret_replaced_first() -> None:
    assert redact({"m": "abcd-efgh"}, ("abcd", "abcd-efgh")) == {"m": REDACTED}


def test_short_secrets_are_not_used() -> None:
    """Values shorter than four characters would mask ordinary text."""
    assert redact({"m": "a b abc"}, ("abc", "")) == {"m": "a b abc"}


def test_other_values_left_alone() -> None:
    event = {
        "event": "deal created",
        "count": 3,
        "ratio": 0.5,
        "ok": True,
        "missing": None,
        "ids": ["d1", "d2"],
        "nested": {"owner": "o-1", "list": [1, "two"]},
    }
    assert redact(event) == event


# --- configure_logging ----------------------------------------------------------------------


def json_lines(err: str) -> list[dict[str, Any]]:
    lines = [line for line in err.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def test_json_output_from_structlog_and_stdlib(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="info", fmt="json", secrets=[SECRET])
    get_logger("plg.test").info("connecting with %s" % SECRET, deals=2, api_key="abc")  # noqa: UP031
    logging.getLogger("x").warning("plain %s", SECRET)
    logging.getLogger("x").debug("below the level")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert SECRET not in captured.err
    first, second = json_lines(captured.err)
    assert first["event"] == f"connecting with {REDACTED}"
    assert first["level"] == "info"
    assert first["logger"] == "plg.test"
    assert first["deals"] == 2
    assert first["api_key"] == REDACTED
    assert first["timestamp"].endswith("Z")
    assert second["event"] == f"plain {REDACTED}"
    assert second["level"] == "warning"
    assert second["logger"] == "x"
    assert second["timestamp"].endswith("Z")
    assert {"event", "level", "timestamp"} <= set(first) & set(second)


def test_json_output_respects_level(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="warning", fmt="json")
    get_logger("plg.test").info("quiet")
    get_logger("plg.test").error("loud", code=7)
    [only] = json_lines(capsys.readouterr().err)
    assert (only["event"], only["level"], only["code"]) == ("loud", "error", 7)


def fail_with_secret() -> None:
    raise RuntimeError(f"401 for token {SECRET}")


def test_json_exception_does_not_leak_secret(capsys: pytest.CaptureFixture[str]) -> None:
    """An exception message carrying the token (e.g. an SDK error echoing the request) is
    rendered into the `exception` field; that field must be redacted like every other."""
    configure_logging(level="info", fmt="json", secrets=[SECRET])
    try:
        fail_with_secret()
    except RuntimeError:
        get_logger("plg.test").exception("call failed")
        logging.getLogger("x").exception("call failed")
    err = capsys.readouterr().err
    records = json_lines(err)
    assert [r["event"] for r in records] == ["call failed", "call failed"]
    assert all("RuntimeError" in r["exception"] for r in records)
    assert SECRET not in err


def test_console_output_is_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="info", fmt="console", secrets=[SECRET])
    get_logger("plg.test").info("hello", token=SECRET)
    logging.getLogger("x").warning("plain %s", SECRET)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 2
    for line in lines:
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)
    assert "hello" in lines[0]
    assert "plain" in lines[1]
    assert SECRET not in err


def test_configure_replaces_root_handlers(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(fmt="json")
    configure_logging(fmt="json")
    root = logging.getLogger()
    assert len(root.handlers) == 1
    assert root.level == logging.INFO
    logging.getLogger("once").info("only once")
    assert [r["event"] for r in json_lines(capsys.readouterr().err)] == ["only once"]


def test_fixture_left_no_structlog_handler() -> None:
    """Runs after the tests above in file order: their handlers were taken off the root."""
    assert not any(
        isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
        for h in logging.getLogger().handlers
    )
