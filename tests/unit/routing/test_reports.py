"""The one report builder every door shares (``routing.reports``): ids, times, the
submitter and the trace carried from the event, whoever calls it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from routing.district import District
from routing.reports import (
    REPORT_ID_NAMESPACE,
    build_report,
    derived_report_id,
    report_of_submission,
)
from schemas.envelope import REPORT_SUBMITTED, Envelope
from schemas.reports import GeoPoint, ReportSubmission, encode_report, report_key

GRID = "990101001001001"
WHEN = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def event(**extensions: object) -> Envelope:
    return Envelope(
        id="e-1", source="urn:test:phone", type=REPORT_SUBMITTED, time=WHEN, **extensions
    )


def submission(**fields: object) -> ReportSubmission:
    return ReportSubmission.model_validate(
        {"category": "manhole_cover", "description": " 井盖缺失 ", "grid_code": GRID, **fields}
    )


def test_a_submission_becomes_its_report(district: District) -> None:
    chosen = uuid.uuid4()
    envelope = event(submittedby="王网格", traceparent=TRACEPARENT)
    placement = district.place(None, GRID)
    report = report_of_submission(
        envelope, submission(report_id=str(chosen)), placement, WHEN + timedelta(hours=1)
    )
    assert report.id == str(chosen)
    assert (report.source, report.source_event_id, report.source_type) == (
        "urn:test:phone",
        "e-1",
        REPORT_SUBMITTED,
    )
    assert (report.grid_code, report.community_code, report.street_code) == (
        GRID,
        GRID[:12],
        GRID[:9],
    )
    assert report.description == "井盖缺失"
    assert report.received_at == WHEN + timedelta(hours=1)  # the hub's time, SLA clocks' too
    assert report.occurred_at == WHEN  # the sender's own time, an hour old: kept
    assert report.submitted_by == "王网格"
    assert report.attributes == {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}
    assert report_key(report) == GRID[:12].encode()
    assert encode_report(report) == report.model_dump_json().encode()


def test_without_a_client_id_the_id_derives_from_source_and_event_id(district: District) -> None:
    report = report_of_submission(event(), submission(), district.place(None, GRID), WHEN)
    assert report.id == derived_report_id(event())
    assert report.id == str(uuid.uuid5(REPORT_ID_NAMESPACE, "urn:test:phone\x1fe-1"))


def test_without_an_event_time_the_receipt_time_is_used() -> None:
    received = WHEN + timedelta(minutes=5)
    envelope = event().model_copy(update={"time": None})
    report = build_report(
        envelope,
        received,
        report_id="r",
        category="manhole_cover",
        description="x" * 2100,
        location=GeoPoint(lat=39.9, lon=116.38),
        grid_code=GRID,
        occurred_at=datetime(2026, 11, 26, 8, 0),  # naive: taken as UTC
    )
    assert report.received_at == received
    assert report.occurred_at == datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    assert len(report.description) == 2000 and report.description.endswith("…")
    assert report.submitted_by is None and report.attributes == {}


def test_an_invalid_traceparent_is_left_out(district: District) -> None:
    envelope = event(traceparent="00-" + "0" * 32 + "-00f067aa0ba902b7-01")
    report = report_of_submission(envelope, submission(), district.place(None, GRID), WHEN)
    assert "trace_id" not in report.attributes
