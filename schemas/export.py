"""JSON Schema of every public contract, for ``gridhub schemas export`` and ``/schemas/``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from schemas.alerts import Alert, Notification
from schemas.cases import CaseAction, CaseCommand, CaseEvent, CaseSnapshot, CommandResult
from schemas.envelope import Envelope
from schemas.reports import Report, ReportSubmission
from schemas.sources import CapAlert, CitymgmtCase, SensorAlarm

CONTRACTS: dict[str, type[BaseModel]] = {
    "cloudevent": Envelope,
    "report-submission": ReportSubmission,
    "report": Report,
    "case": CaseSnapshot,
    "case-event": CaseEvent,
    "case-action": CaseAction,
    "case-command": CaseCommand,
    "command-result": CommandResult,
    "alert": Alert,
    "notification": Notification,
    "citymgmt-case": CitymgmtCase,
    "sensor-alarm": SensorAlarm,
    "cap-alert": CapAlert,
}


def json_schema(name: str) -> dict[str, Any]:
    schema = CONTRACTS[name].model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"/schemas/{name}.json"
    return schema


def json_schemas() -> dict[str, dict[str, Any]]:
    return {name: json_schema(name) for name in CONTRACTS}
