"""Inbound CloudEvents for the intake and case tests: a grid worker's report and
the other sources' events (数字城管, sensors, CAP), plus the times they share."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from routing.district import District
from schemas.envelope import (
    CAP_ALERT,
    CITYMGMT_CASE,
    REPORT_SUBMITTED,
    SENSOR_ALARM,
    Envelope,
    decode_kafka,
)
from streams.logic.intake import IntakeError, ReferencePlaces, normalise

GRID = "990101001001001"
WHEN = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)  # the events' own time
LATER = WHEN + timedelta(hours=1)  # the Kafka record time

CITYMGMT_DATA: dict[str, Any] = {
    "case_number": "CG20261126000123",
    "category_code": "0103",
    "kind": "component",
    "description": "雨水井盖破损，车辆碾压有异响",
    "location": {"lat": 39.902, "lon": 116.383},
    "occurred_at": "2026-11-26T08:40:00+08:00",
    "reporter": {"name": "监督员 张三"},
    "status": "立案",
}

SENSOR_DATA: dict[str, Any] = {
    "device_id": "gas-0042",
    "metric": "gas_ppm",
    "reading": 1250.0,
    "threshold": 1000.0,
    "unit": "ppm",
    "grid_code": "990101002001003",
    "occurred_at": "2026-11-26T08:59:30Z",
}


def report_envelope(**data: Any) -> Envelope:
    """A grid worker's ``report.submitted`` in :data:`GRID` (``None`` drops a field)."""
    body: dict[str, Any] = {
        "category": "manhole_cover",
        "description": "井盖缺失",
        "grid_code": GRID,
        **data,
    }
    return Envelope(
        id=str(uuid.uuid4()),
        source="urn:test:phone",
        type=REPORT_SUBMITTED,
        time=WHEN,
        datacontenttype="application/json",
        data={k: v for k, v in body.items() if v is not None},
    )


def source_envelope(event_type: str, data: Any, **attrs: Any) -> Envelope:
    fields: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "source": "urn:test:source",
        "type": event_type,
        "time": WHEN,
        "datacontenttype": "application/json",
        "data": data,
    }
    fields.update(attrs)
    return Envelope(**fields)


def citymgmt(**changes: Any) -> Envelope:
    data = {**CITYMGMT_DATA, **changes}
    return source_envelope(
        CITYMGMT_CASE,
        {k: v for k, v in data.items() if v is not None},
        source="urn:gridhub:citymgmt",
    )


def sensor(**changes: Any) -> Envelope:
    data = {**SENSOR_DATA, **changes}
    return source_envelope(
        SENSOR_ALARM, {k: v for k, v in data.items() if v is not None}, source="urn:iot:gas"
    )


CAP_SOURCE = "urn:cap:yingji"  # the CloudEvents source of cap_envelope's messages


def cap_envelope(xml: Any, **attrs: Any) -> Envelope:
    fields: dict[str, Any] = {"datacontenttype": "application/cap+xml", "source": CAP_SOURCE}
    fields.update(attrs)
    return source_envelope(CAP_ALERT, xml, **fields)


def refused(event: Envelope, district: District, places: ReferencePlaces | None = None) -> str:
    """The reason intake refuses ``event`` with."""
    with pytest.raises(IntakeError) as caught:
        normalise(event, district, LATER, places)
    return caught.value.reason


def via_kafka(event: Envelope, mode: Callable[[Envelope], tuple[bytes, Any]]) -> Envelope:
    """``event`` written in a Kafka mode (``encode_structured``/``encode_binary``) and read back."""
    value, headers = mode(event)
    return decode_kafka(value, headers)
