"""Bytes on the wire <-> contracts. Reports travel as plain JSON inside the
worker; case events leave as structured-mode CloudEvents (the public feed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

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


def _attributes(event: CaseEvent) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event.event_id,
        "source": CASE_AGENT_SOURCE,
        "type": f"{CASE_EVENT_PREFIX}{event.type.value}",
        "subject": event.case_id,
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
    }


def case_event_cloudevent(event: CaseEvent) -> dict[str, Any]:
    """The structured-mode CloudEvent for one case event (id = case id + version,
    so a replayed event is recognisably the same event)."""
    return {**_attributes(event), "data": event.model_dump(mode="json")}


def encode_case_event(event: CaseEvent) -> tuple[bytes, list[tuple[str, bytes]]]:
    """:func:`case_event_cloudevent` as JSON. pydantic writes ``data`` straight to
    JSON, a third of the cost of building it as Python objects first; the object
    is closed by hand around it (the attributes are never empty)."""
    head = orjson.dumps(_attributes(event))
    value = head[:-1] + b',"data":' + event.model_dump_json().encode() + b"}"
    return value, list(_STRUCTURED_HEADERS)


class _CaseEventDocument(BaseModel):
    """The parts of a case-event CloudEvent a consumer reads, validated in one pass."""

    type: str
    data: CaseEvent


def decode_case_event(raw: bytes) -> CaseEvent:
    """Read the ``data`` of a structured case-event CloudEvent. Every case event is
    read by three agents, so the usual record is parsed and validated in one pass
    of pydantic's JSON parser; anything odd takes the slow path for its error."""
    try:
        doc = _CaseEventDocument.model_validate_json(raw)
    except ValueError:
        return _decode_case_event_slowly(raw)
    if not doc.type.startswith(CASE_EVENT_PREFIX):
        raise ValueError("not a GridHub case event")
    return doc.data


SHARED_DECODES = 4096
T = TypeVar("T")


class SharedDecodes(Generic[T]):
    """``decode`` once per record for every agent of this worker that reads it.

    Faust consumes a topic once per worker and hands the very same record to each
    agent that reads it (the case and hotspot agents both read the reports; the
    DB writer and report-up both read the case events), so decoded values are
    remembered by the identity of the record's value; the entry holds that value,
    so the identity cannot be reused while it is kept. Bounded: the oldest of
    ``size`` entries leave first, and an agent lagging further behind just decodes
    again. The decoded contracts are frozen models, so sharing them is safe."""

    def __init__(self, decode: Callable[[bytes], T], size: int = SHARED_DECODES) -> None:
        self._decode = decode
        self.size = size
        self._decoded: dict[int, tuple[bytes, T]] = {}

    def decode(self, raw: bytes) -> T:
        hit = self._decoded.get(id(raw))
        if hit is not None and hit[0] is raw:
            return hit[1]
        value = self._decode(raw)
        if len(self._decoded) >= self.size:
            del self._decoded[next(iter(self._decoded))]  # dicts keep insertion order
        self._decoded[id(raw)] = (raw, value)
        return value


shared_case_events = SharedDecodes(decode_case_event)
shared_reports = SharedDecodes(decode_report)


def _decode_case_event_slowly(raw: bytes) -> CaseEvent:
    doc = orjson.loads(raw)
    if not isinstance(doc, dict) or not str(doc.get("type", "")).startswith(CASE_EVENT_PREFIX):
        raise ValueError("not a GridHub case event")
    return CaseEvent.model_validate(doc["data"])
