"""Bytes on the wire: the fast case-event encoder writes exactly the CloudEvent of
``case_event_cloudevent``, and the projection gets the very bytes of its
snapshot; the one-pass decoder reads it back, refuses anything else as before;
alerts and notifications round-trip as CloudEvents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from schemas.alerts import ALERT_TYPE_PREFIX, NOTIFICATION_TYPE, Alert, AlertKind
from schemas.cases import CaseEvent, CaseEventType
from schemas.encoded import snapshot_json
from schemas.envelope import decode_kafka
from streams.codecs import (
    case_event_cloudevent,
    decode_alert,
    decode_case_event,
    decode_notification,
    encode_alert,
    encode_case_event,
    encode_notification,
)
from streams.logic.casestore import DictCaseStore
from streams.logic.casework import CaseWork
from streams.logic.intake import normalise
from streams.logic.reportup import DUTY_OFFICE, alert_notifications
from tests.support.cases import CaseStory, district_load
from tests.support.envelopes import report_envelope

WHEN = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.fixture
def events(district) -> list[CaseEvent]:
    work = CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))
    out: list[CaseEvent] = []
    for n, description in enumerate(["井盖缺失", "燃气味 gas smell", "again"]):
        envelope = report_envelope(
            description=description, grid_code=None, location={"lat": 39.9022, "lon": 116.383}
        ).model_copy(update={"time": WHEN + timedelta(minutes=n)})
        out += work.on_report(normalise(envelope, district, WHEN)).events
    assert len(out) == 4  # opened, dispatched, two attached
    return out


def test_encoded_case_events_are_their_cloudevents_and_decode_back(events) -> None:
    for event in events:
        value, headers = encode_case_event(event)
        assert orjson.loads(value) == orjson.loads(orjson.dumps(case_event_cloudevent(event)))
        assert headers == [("content-type", b"application/cloudevents+json")]
        assert decode_case_event(value) == event


def test_every_kind_of_event_encodes_as_pydantic_would(events) -> None:
    story = CaseStory.open("990101001001-0123456789ab", at=WHEN + timedelta(microseconds=7))
    story.dispatch("chengguan")
    story.step(CaseEventType.ESCALATED, data={"mark": "overdue", "level": 1, "at": WHEN})
    for event in [*district_load(30), *story.events]:
        value, _ = encode_case_event(event)
        assert orjson.loads(value) == orjson.loads(orjson.dumps(case_event_cloudevent(event)))
    # The projection writes the snapshot the event carries, serialised once.
    assert snapshot_json(events[0].case) is snapshot_json(events[0].case)


def test_records_that_are_not_case_events_are_refused(events) -> None:
    value, _ = encode_case_event(events[0])
    doc = orjson.loads(value)
    other = orjson.dumps({**doc, "type": "org.example.other"})
    with pytest.raises(ValueError, match="not a GridHub case event"):
        decode_case_event(other)
    for bad in (b"not json", b"[]", orjson.dumps({**doc, "data": {"case_id": "x"}})):
        with pytest.raises(ValueError):
            decode_case_event(bad)


HOTSPOT = Alert(
    id="hotspot:990101001001001:garbage:2026-11-26T09:00:00Z",
    kind=AlertKind.HOTSPOT,
    time=datetime(2026, 11, 26, 9, 4, tzinfo=UTC),
    grid_code="990101001001001",
    category="garbage",
    title="garbage: 5 reports in 1h",
    detail={"count": 5},
)


def test_alert_and_notification_cloudevents_round_trip():
    alert = HOTSPOT
    value, headers = encode_alert(alert)
    envelope = decode_kafka(value, headers)
    assert envelope.type == f"{ALERT_TYPE_PREFIX}hotspot"
    assert envelope.id == alert.id
    assert envelope.subject == alert.grid_code
    assert decode_alert(value, headers) == alert

    [note] = alert_notifications(alert)  # the duty office's
    value, headers = encode_notification(note)
    envelope = decode_kafka(value, headers)
    assert envelope.type == NOTIFICATION_TYPE
    assert envelope.id == note.id
    assert envelope.subject == DUTY_OFFICE
    assert decode_notification(value, headers) == note
    with pytest.raises(ValueError, match="not a notification"):
        decode_notification(*encode_alert(alert))
    with pytest.raises(ValueError, match="not an alert"):
        decode_alert(*encode_notification(note))
