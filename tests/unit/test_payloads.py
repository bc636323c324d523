"""The project's data converter decodes recorded payloads exactly as Temporal's default does,
and resolves a dataclass's field types once, not once per value."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from plg_handoff import payloads
from plg_handoff.activities.contracts import AccountInput, HandoffInput, UsageUpdate
from plg_handoff.activities.evaluate import EvaluateResult
from plg_handoff.payloads import DATA_CONVERTER
from tests.support import HISTORIES


def recorded_payloads() -> Iterator[tuple[str, Payload, type]]:
    """Every account history's start input, usage signals, evaluation results and handoff
    inputs, with the type the workflow decodes them to."""
    for path in sorted(HISTORIES.glob("account_*.json")):
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        for event in history.events:
            if event.HasField("workflow_execution_started_event_attributes"):
                for p in event.workflow_execution_started_event_attributes.input.payloads:
                    yield path.stem, p, AccountInput
            elif event.HasField("workflow_execution_signaled_event_attributes"):
                signalled = event.workflow_execution_signaled_event_attributes
                if signalled.signal_name == "usage":
                    for p in signalled.input.payloads:
                        yield path.stem, p, UsageUpdate
            elif event.HasField("marker_recorded_event_attributes"):
                details = event.marker_recorded_event_attributes.details
                if "result" in details:  # a local activity's: the evaluation
                    for p in details["result"].payloads:
                        yield path.stem, p, EvaluateResult
            elif event.HasField("start_child_workflow_execution_initiated_event_attributes"):
                started = event.start_child_workflow_execution_initiated_event_attributes
                for p in started.input.payloads:
                    yield path.stem, p, HandoffInput


RECORDED = list(recorded_payloads())


def test_the_histories_hold_every_kind_of_payload() -> None:
    kinds = {kind for _, _, kind in RECORDED}
    assert kinds == {AccountInput, UsageUpdate, EvaluateResult, HandoffInput}


@pytest.mark.parametrize(("name", "payload", "kind"), RECORDED)
def test_recorded_payloads_decode_as_by_default(name: str, payload: Payload, kind: type) -> None:
    ours = DATA_CONVERTER.payload_converter.from_payloads([payload], [kind])
    default = DataConverter.default.payload_converter.from_payloads([payload], [kind])
    assert ours == default, name
    assert type(ours[0]) is kind


@dataclass
class Inner:
    value: int


@dataclass
class Outer:
    items: list[Inner]
    maybe: Inner | None = None
    derived: int = field(default=0, init=False)


def test_field_types_are_resolved_once_per_class(monkeypatch: pytest.MonkeyPatch) -> None:
    resolved: list[type] = []
    real = typing.get_type_hints

    def counting(cls: type) -> dict[str, Any]:
        resolved.append(cls)
        return real(cls)

    monkeypatch.setattr(payloads, "get_type_hints", counting)
    converter = DATA_CONVERTER.payload_converter
    value = Outer([Inner(i) for i in range(50)], Inner(7))
    value.derived = 3
    for _ in range(3):
        [encoded] = converter.to_payloads([value])
        [decoded] = converter.from_payloads([encoded], [Outer])
        assert decoded == value
        assert decoded.derived == 3  # init=False fields are restored, as by default
    assert sorted(c.__name__ for c in resolved) == ["Inner", "Outer"]


def test_a_wrong_field_names_the_field_as_by_default() -> None:
    [encoded] = DATA_CONVERTER.payload_converter.to_payloads([{"items": [{"value": "x"}]}])
    with pytest.raises(TypeError, match="Failed converting field items"):
        DATA_CONVERTER.payload_converter.from_payloads([encoded], [Outer])
