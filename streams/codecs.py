"""Bytes on the wire <-> contracts. Reports travel as plain JSON inside the
worker; case events leave as structured-mode CloudEvents (the public feed)."""

from __future__ import annotations

from typing import Any

import orjson

from schemas.cases import CaseEvent
from schemas.envelope import (
    CASE_EVENT_PREFIX,
    CONTENT_TYPE_HEADER,
    STRUCTURED_CONTENT_TYPE,
)
from schemas.reports import Report

CASE_AGENT_SOURCE = "urn:gridhub:case-agent"
_STRUCTURED_HEADERS = [(CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE.encode())]


def encode_report(report: Report) -> bytes:
    return report.model_dump_json().encode()


def decode_report(raw: bytes) -> Report:
    return Report.model_validate_json(raw)


def case_event_cloudevent(event: CaseEvent) -> dict[str, Any]:
    """The structured-mode CloudEvent for one case event (id = case id + version,
    so a replayed event is recognisably the same event)."""
    return {
        "specversion": "1.0",
        "id": event.event_id,
        "source": CASE_AGENT_SOURCE,
        "type": f"{CASE_EVENT_PREFIX}{event.type.value}",
        "subject": event.case_id,
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": event.model_dump(mode="json"),
    }


def encode_case_event(event: CaseEvent) -> tuple[bytes, list[tuple[str, bytes]]]:
    return orjson.dumps(case_event_cloudevent(event)), list(_STRUCTURED_HEADERS)


def decode_case_event(raw: bytes) -> CaseEvent:
    """Read the ``data`` of a structured case-event CloudEvent. The writer reads
    thousands a second, so this parses JSON once instead of going through the SDK."""
    doc = orjson.loads(raw)
    if not isinstance(doc, dict) or not str(doc.get("type", "")).startswith(CASE_EVENT_PREFIX):
        raise ValueError("not a GridHub case event")
    return CaseEvent.model_validate(doc["data"])
