"""Bytes on the wire <-> contracts, for every stage of the worker.

- reports travel as plain JSON inside the worker;
- case events leave as structured-mode CloudEvents (the public feed);
- alerts and notifications are structured CloudEvents too, read back in either
  Kafka mode;
- a dead letter is the original record plus headers that say where it came
  from and why it failed (``gridhub-error``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel

from schemas.alerts import ALERT_TYPE_PREFIX, NOTIFICATION_TYPE, Alert, Notification
from schemas.cases import CaseEvent
from schemas.encoded import snapshot_json
from schemas.envelope import (
    CASE_EVENT_PREFIX,
    CONTENT_TYPE_HEADER,
    STRUCTURED_CONTENT_TYPE,
    Envelope,
    EnvelopeError,
    decode_kafka,
)
from schemas.reports import Report
from schemas.reports import encode_report as encode_report  # the wire form's one home

CASE_AGENT_SOURCE = "urn:gridhub:case-agent"
REPORTUP_SOURCE = "urn:gridhub:report-up"
HOTSPOT_SOURCE = "urn:gridhub:hotspot-agent"  # the source hotspot alerts always had
_STRUCTURED_HEADERS = [(CONTENT_TYPE_HEADER, STRUCTURED_CONTENT_TYPE.encode())]


def decode_report(raw: bytes) -> Report:
    return Report.model_validate_json(raw)


def _attributes(event: CaseEvent) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"{event.case_id}:{event.version}",
        "source": CASE_AGENT_SOURCE,
        "type": CASE_EVENT_PREFIX + event.type.value,
        "subject": event.case_id,
        "time": _iso(event.time),
        "datacontenttype": "application/json",
    }


def case_event_cloudevent(event: CaseEvent) -> dict[str, Any]:
    """The structured-mode CloudEvent for one case event (id = case id + version,
    so a replayed event is recognisably the same event)."""
    return {**_attributes(event), "data": event.model_dump(mode="json")}


def encode_case_event(event: CaseEvent) -> tuple[bytes, list[tuple[str, bytes]]]:
    """:func:`case_event_cloudevent` as JSON, written by orjson around the two
    parts pydantic serialises: the snapshot (:func:`schemas.encoded.snapshot_json`,
    which the projection then reuses) and the report the event takes."""
    report = event.report
    doc = {
        **_attributes(event),
        "data": {
            "case_id": event.case_id,
            "version": event.version,
            "type": event.type,
            "time": event.time,
            "actor": event.actor,
            "data": event.data,
            "case": orjson.Fragment(snapshot_json(event.case)),
            "report": (
                orjson.Fragment(report.__pydantic_serializer__.to_json(report))
                if report is not None
                else None
            ),
        },
    }
    return orjson.dumps(doc, option=orjson.OPT_UTC_Z), list(_STRUCTURED_HEADERS)


class _CaseEventDocument(BaseModel):
    """The parts of a case-event CloudEvent a consumer reads, validated in one pass."""

    type: str
    data: CaseEvent


def decode_case_event(raw: bytes) -> CaseEvent:
    """Read the ``data`` of a structured case-event CloudEvent: the usual record
    is parsed and validated in one pass of pydantic's JSON parser; anything odd
    takes the slow path for its error."""
    try:
        doc = _CaseEventDocument.model_validate_json(raw)
    except ValueError:
        return _decode_case_event_slowly(raw)
    if not doc.type.startswith(CASE_EVENT_PREFIX):
        raise ValueError("not a GridHub case event")
    return doc.data


def _decode_case_event_slowly(raw: bytes) -> CaseEvent:
    doc = orjson.loads(raw)
    if not isinstance(doc, dict) or not str(doc.get("type", "")).startswith(CASE_EVENT_PREFIX):
        raise ValueError("not a GridHub case event")
    return CaseEvent.model_validate(doc["data"])


# -- alerts and notifications ------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _structured(doc: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]]]:
    return orjson.dumps(doc), list(_STRUCTURED_HEADERS)


def encode_alert(
    alert: Alert, source: str = REPORTUP_SOURCE
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Structured CloudEvent: type ``org.gridhub.alert.<kind>``, id = alert id,
    subject = grid code, data = the alert."""
    return _structured(
        {
            "specversion": "1.0",
            "id": alert.id,
            "source": source,
            "type": f"{ALERT_TYPE_PREFIX}{alert.kind.value}",
            "subject": alert.grid_code,
            "time": _iso(alert.time),
            "datacontenttype": "application/json",
            "data": alert.model_dump(mode="json"),
        }
    )


def encode_notification(
    notification: Notification, source: str = REPORTUP_SOURCE
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Structured CloudEvent: type ``org.gridhub.notification``, id = notification
    id, subject = recipient, data = the notification."""
    return _structured(
        {
            "specversion": "1.0",
            "id": notification.id,
            "source": source,
            "type": NOTIFICATION_TYPE,
            "subject": notification.recipient,
            "time": _iso(notification.time),
            "datacontenttype": "application/json",
            "data": notification.model_dump(mode="json"),
        }
    )


def message_headers(raw: Any) -> list[tuple[str, bytes]]:
    """Kafka record headers as ``(name, bytes)`` pairs, from a list or a mapping."""
    pairs = raw.items() if isinstance(raw, Mapping) else (raw or [])
    return [(str(name), bytes(value or b"")) for name, value in pairs]


def decode_alert(value: bytes | None, headers: Iterable[tuple[str, bytes]] | None) -> Alert:
    """An alert CloudEvent (structured or binary mode). Raises ``ValueError``."""
    envelope = decode_kafka(value, headers)
    if not envelope.type.startswith(ALERT_TYPE_PREFIX):
        raise EnvelopeError(f"not an alert: type {envelope.type!r}")
    return Alert.model_validate(envelope.data)


def decode_notification(
    value: bytes | None, headers: Iterable[tuple[str, bytes]] | None
) -> Notification:
    """A notification CloudEvent (structured or binary mode). Raises ``ValueError``."""
    envelope: Envelope = decode_kafka(value, headers)
    if envelope.type != NOTIFICATION_TYPE:
        raise EnvelopeError(f"not a notification: type {envelope.type!r}")
    return Notification.model_validate(envelope.data)


# -- dead letters ------------------------------------------------------------------

DLQ_REASON = "gridhub-error"
DLQ_STAGE = "gridhub-error-stage"
#: A dead letter carries at most this much of the original value: the worker's
#: producer refuses records near the broker's 1 MB limit, and the original is
#: kept anyway at the topic, partition and offset its headers name.
DLQ_MAX_VALUE = 256 * 1024


def dlq_headers(message: Any, reason: str, stage: str) -> list[tuple[str, bytes]]:
    """The original headers plus where the record came from and why it failed."""
    headers = [(str(k), bytes(v or b"")) for k, v in (message.headers or [])]
    headers += [
        (DLQ_REASON, reason.encode("utf-8")[:4000]),
        (DLQ_STAGE, stage.encode()),
        ("gridhub-original-topic", str(message.topic).encode()),
        ("gridhub-original-partition", str(message.partition).encode()),
        ("gridhub-original-offset", str(message.offset).encode()),
    ]
    return headers


def dead_letter_record(
    message: Any, reason: str, stage: str
) -> tuple[bytes | None, list[tuple[str, bytes]]]:
    """Value and headers of the dead letter for ``message``; an oversized value
    is cut to :data:`DLQ_MAX_VALUE` bytes and says so in its headers."""
    value = message.value
    headers = dlq_headers(message, reason, stage)
    if value is not None and len(value) > DLQ_MAX_VALUE:
        headers += [
            ("gridhub-original-size", str(len(value)).encode()),
            ("gridhub-value-truncated", b"true"),
        ]
        value = bytes(value[:DLQ_MAX_VALUE])
    return value, headers
