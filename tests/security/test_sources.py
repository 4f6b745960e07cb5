"""H1, M3, M4 — sources bound to their tokens: a system cannot cancel or join
another source's CAP case, claim another's natural ids, send a type it was not
given, or set the hub's clock.

Each attack goes through the HTTP door first; what a door let through (or what
a system writes straight to Kafka) is then run through the worker's own intake
and case logic (``streams.logic``), which must refuse it too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient

from routing.district import District
from routing.provenance import LATE_ARRIVAL, TIME_CLAMPED
from schemas.cases import CaseEventType, CaseState
from schemas.envelope import (
    CAP_ALERT,
    CITYMGMT_CASE,
    REPORT_SUBMITTED,
    SENSOR_ALARM,
    Envelope,
    decode_kafka,
)
from streams.logic.casestore import DictCaseStore
from streams.logic.casework import CaseWork
from streams.logic.intake import IntakeError, normalise
from tests.support.cap_samples import SENDER, alert_xml, reference, references_only
from tests.support.security import EMERGENCY, IOT, IOT_SENDER, Attacked

CAP = {"content-type": "application/cap+xml"}
CE = {"content-type": "application/cloudevents+json"}
NOW = datetime.now(UTC).replace(microsecond=0)
SPOT = {"lat": 39.9022, "lon": 116.383}


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def kafka_cap(source: str, xml: str, event_id: str) -> Envelope:
    """A CAP event as a system writes it straight to ``gridhub.intake``."""
    return Envelope.model_validate(
        {
            "id": event_id,
            "source": source,
            "type": CAP_ALERT,
            "datacontenttype": "application/cap+xml",
            "data": xml,
        }
    )


def cancel_with_area(identifier: str, references: str) -> str:
    """A Cancel that carries an area of its own (so intake places it by itself)."""
    xml = alert_xml(identifier).replace("<msgType>Alert</msgType>", "<msgType>Cancel</msgType>")
    return xml.replace(
        "<scope>Public</scope>", f"<scope>Public</scope>\n  <references>{references}</references>"
    )


def pump(hub: Attacked, work: CaseWork, district: District, at: datetime = NOW) -> list:
    """Run what the gateway published through the worker's intake and case logic."""
    outcomes = []
    for record in hub.publisher.on(hub.deps.topics.intake):
        envelope = decode_kafka(record.value, record.headers, record.key)
        outcomes.append(work.on_report(normalise(envelope, district, at)))
    hub.publisher.records.clear()
    return outcomes


def test_h1_a_system_cannot_cancel_another_sources_cap_case(
    hub: Attacked, client: TestClient
) -> None:
    district = hub.deps.district
    work = CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))  # type: ignore[arg-type]
    emergency = hub.system(EMERGENCY, (CAP_ALERT,), (SENDER,))
    iot = hub.system(IOT, (CAP_ALERT, SENSOR_ALARM), (IOT_SENDER,))
    alert = client.post("/api/v1/cap", content=alert_xml("EC-1"), headers=bearer(emergency, **CAP))
    assert alert.status_code == 202, alert.text
    [opened] = pump(hub, work, district)
    case = opened.events[-1].case
    assert case.source == EMERGENCY

    # 1. The vendor sends a Cancel in the emergency centre's name: refused.
    as_emergency = references_only("Cancel", "IOT-1", reference("EC-1"), note="false alarm")
    refused = client.post("/api/v1/cap", content=as_emergency, headers=bearer(iot, **CAP))
    assert refused.status_code == 403 and "sender" in refused.text
    # 2. Under its own sender, naming the centre's alert in <references>: refused.
    own_sender = as_emergency.replace(f"<sender>{SENDER}<", f"<sender>{IOT_SENDER}<")
    refused = client.post("/api/v1/cap", content=own_sender, headers=bearer(iot, **CAP))
    assert refused.status_code == 403 and "references" in refused.text
    assert hub.publisher.on(hub.deps.topics.intake) == []

    # 3. Written straight to Kafka under the vendor's own source: the worker
    # looks the centre's alert up within the vendor's source only. A bare Cancel
    # is dead-lettered at intake; one with an area finds no case to cancel.
    known = {}.get  # the worker's reference index knows the centre's alert, not this key
    bare = kafka_cap(IOT, own_sender, "IOT-2")
    with pytest.raises(IntakeError, match="no alert known"):
        normalise(bare, district, NOW, places=known)
    with_area = kafka_cap(IOT, cancel_with_area("IOT-3", reference("EC-1")), "IOT-3")
    outcome = work.on_report(normalise(with_area, district, NOW))
    assert outcome.events == [] and "no live case" in str(outcome.dead_letter)
    record = work.store.record(case.id)
    assert record is not None and record.case.state is CaseState.DISPATCHED


def test_h1_a_cap_alert_cannot_take_over_another_sources_alert_by_its_ids(
    hub: Attacked,
) -> None:
    """The same sender and identifier from another source is another alert: its
    fold key differs, and its Cancel cannot reject the first source's case even
    when its alert joined that case by proximity."""
    district = hub.deps.district
    work = CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))  # type: ignore[arg-type]
    first = work.on_report(normalise(kafka_cap(EMERGENCY, alert_xml("EC-9"), "a"), district, NOW))
    squat = normalise(kafka_cap(IOT, alert_xml("EC-9"), "b"), district, NOW)
    assert squat.attributes["fold_key"] != first.events[0].report.attributes["fold_key"]
    joined = work.on_report(squat)  # same place and category: it joins by proximity
    assert joined.events[0].type is CaseEventType.REPORT_ATTACHED
    cancel = kafka_cap(IOT, cancel_with_area("EC-10", reference("EC-9")), "c")
    outcome = work.on_report(normalise(cancel, district, NOW))
    assert outcome.events == [] and "another source" in str(outcome.dead_letter)
    record = work.store.record(first.events[0].case_id)
    assert record is not None and record.case.state is CaseState.DISPATCHED


def test_m3_a_system_sends_only_the_types_it_was_given(hub: Attacked, client: TestClient) -> None:
    iot = hub.system(IOT, (SENSOR_ALARM,))
    squat = {
        "specversion": "1.0",
        "id": "squat-1",
        "source": IOT,
        "type": CITYMGMT_CASE,
        "datacontenttype": "application/json",
        "data": {
            "case_number": "CG20261201-0007",
            "category_code": "0101",
            "kind": "component",
            "description": "nothing here",
            "grid_code": "990101001001001",
            "occurred_at": NOW.isoformat(),
        },
    }
    answer = client.post("/api/v1/events", content=orjson.dumps(squat), headers=bearer(iot, **CE))
    assert answer.status_code == 403 and "type" in answer.text
    batch = client.post(
        "/api/v1/events",
        content=orjson.dumps([squat]),
        headers=bearer(iot, **{"content-type": "application/cloudevents-batch+json"}),
    )
    assert batch.status_code == 207 and batch.json()[0]["status"] == 403
    assert hub.publisher.on(hub.deps.topics.intake) == []


def test_m3_natural_ids_are_namespaced_by_source(hub: Attacked) -> None:
    """A case number (or device id) claimed by another source names another
    report: the platform's own case still opens; a vendor's alarms never fold into
    another vendor's device case."""
    district = hub.deps.district
    work = CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))  # type: ignore[arg-type]

    def citymgmt(source: str, text: str, grid: str) -> Envelope:
        return Envelope.model_validate(
            {
                "id": f"{source}-1",
                "source": source,
                "type": CITYMGMT_CASE,
                "data": {
                    "case_number": "CG20261201-0007",
                    "category_code": "0101",
                    "kind": "component",
                    "description": text,
                    "grid_code": grid,
                    "occurred_at": NOW.isoformat(),
                },
            }
        )

    squatted = work.on_report(normalise(citymgmt(IOT, "nothing", "990101001001001"), district, NOW))
    real = work.on_report(
        normalise(citymgmt("urn:district:citymgmt", "井盖被盗", "990101003002004"), district, NOW)
    )
    assert not real.duplicate
    assert real.events[0].type is CaseEventType.OPENED
    assert real.events[0].case_id != squatted.events[0].case_id

    def alarm(source: str, n: int) -> Envelope:
        return Envelope.model_validate(
            {
                "id": f"{source}-alarm-{n}",
                "source": source,
                "type": SENSOR_ALARM,
                "data": {
                    "device_id": "gas-0042",
                    "metric": "gas_ppm",
                    "reading": 1250,
                    "threshold": 1000,
                    "unit": "ppm",
                    "grid_code": "990101002001003",
                    "occurred_at": NOW.isoformat(),
                },
            }
        )

    one = normalise(alarm("urn:vendor:a", 1), district, NOW)
    other = normalise(alarm("urn:vendor:b", 1), district, NOW)
    assert one.attributes["fold_key"] != other.attributes["fold_key"]


def test_m4_a_future_event_time_is_clamped_to_the_hubs(hub: Attacked, client: TestClient) -> None:
    district = hub.deps.district
    work = CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))  # type: ignore[arg-type]
    iot = hub.system(IOT, (REPORT_SUBMITTED,))
    event = {
        "specversion": "1.0",
        "id": "f-1",
        "source": IOT,
        "type": REPORT_SUBMITTED,
        "time": "2099-01-01T00:00:00Z",
        "datacontenttype": "application/json",
        "data": {"category": "garbage", "description": "placeholder", "location": SPOT},
    }
    answer = client.post("/api/v1/events", content=orjson.dumps(event), headers=bearer(iot, **CE))
    assert answer.status_code == 202
    [outcome] = pump(hub, work, district, NOW)
    case = outcome.events[-1].case
    assert case.opened_at == NOW  # the hub's time, not 2099
    assert case.resolve_by is not None and case.resolve_by < NOW + timedelta(days=30)
    report = outcome.events[0].report
    assert report is not None and report.attributes[TIME_CLAMPED] is True
    assert report.occurred_at == NOW


def test_m4_an_old_event_time_is_flagged_and_not_born_overdue(
    hub: Attacked, client: TestClient
) -> None:
    district = hub.deps.district
    work = CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))  # type: ignore[arg-type]
    iot = hub.system(IOT, (REPORT_SUBMITTED,))
    event = {
        "specversion": "1.0",
        "id": "old-1",
        "source": IOT,
        "type": REPORT_SUBMITTED,
        "time": "2019-01-01T00:00:00Z",
        "datacontenttype": "application/json",
        "data": {"category": "garbage", "description": "x", "grid_code": "990101001001004"},
    }
    answer = client.post("/api/v1/events", content=orjson.dumps(event), headers=bearer(iot, **CE))
    assert answer.status_code == 202
    [outcome] = pump(hub, work, district, NOW)
    case = outcome.events[-1].case
    assert case.opened_at == NOW
    assert case.resolve_by is not None and case.resolve_by > NOW  # its SLA runs from now
    report = outcome.events[0].report
    assert report is not None and report.attributes[LATE_ARRIVAL] is True
    assert report.occurred_at.year == 2019  # kept, as the sender's claim
