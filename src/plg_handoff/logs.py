"""Structured logging: console on a terminal, JSON otherwise, Temporal context on every line,
secrets redacted. Standard-library records (Temporal's own loggers) go through the same chain."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger
from temporalio import activity, workflow

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"token|secret|password|passwd|api[-_]?key|authorization|credential", re.I)


class SecretRedactor:
    """Masks values under secret-looking keys, and any known secret value wherever it appears."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        return {key: self._clean(key, value) for key, value in event_dict.items()}

    def _clean(self, key: str, value: Any) -> Any:
        if _SECRET_KEY.search(key) and value not in (None, ""):
            return REDACTED
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, MutableMapping):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(key, v) for v in value]
        return value


def bind_temporal_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Adds the workflow/activity identity of the code that logs, when it runs in Temporal."""
    if activity.in_activity():
        info = activity.info()
        event_dict.setdefault("workflow_id", info.workflow_id)
        event_dict.setdefault("workflow_type", info.workflow_type)
        event_dict.setdefault("activity", info.activity_type)
        event_dict.setdefault("attempt", info.attempt)
    elif workflow.in_workflow():
        winfo = workflow.info()
        event_dict.setdefault("workflow_id", winfo.workflow_id)
        event_dict.setdefault("workflow_type", winfo.workflow_type)
        event_dict.setdefault("run_id", winfo.run_id)
    return event_dict


def _lift_temporal_extras(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Temporal's loggers attach their context as `temporal_workflow` / `temporal_activity`."""
    for key in ("temporal_workflow", "temporal_activity"):
        extra = event_dict.pop(key, None)
        if isinstance(extra, dict):
            for name in ("workflow_id", "workflow_type", "run_id", "activity_type", "attempt"):
                if name in extra:
                    event_dict.setdefault(
                        "activity" if name == "activity_type" else name, extra[name]
                    )
    return event_dict


def configure_logging(
    level: str = "info",
    fmt: Literal["auto", "console", "json"] = "auto",
    secrets: Iterable[str] = (),
) -> None:
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _lift_temporal_extras,
        bind_temporal_context,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (
        structlog.dev.ConsoleRenderer()
        if console
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            SecretRedactor(secrets),  # last before rendering: tracebacks are text by now
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Temporal's loggers would otherwise repeat their context inside the message text.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
