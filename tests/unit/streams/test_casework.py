"""Opening and routing a case: deterministic events with the snapshot after each."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.cases import CaseEventType, CaseState, Priority
from streams.casework import case_id_for, open_case
from streams.intake import normalise
from tests.unit.streams.conftest import GRID, report_envelope

LATER = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_routable_report_opens_and_dispatches(district):
    report = normalise(report_envelope(category="garbage"), district, LATER)
    opened, dispatched = open_case(report, district)
    assert opened.type is CaseEventType.OPENED and opened.version == 1
    assert opened.report == report
    assert opened.case.state is CaseState.OPEN
    assert dispatched.type is CaseEventType.DISPATCHED and dispatched.version == 2
    case = dispatched.case
    assert case.state is CaseState.DISPATCHED
    assert case.lead_department == "chengguan"
    assert case.departments[0] == "chengguan"
    assert case.respond_by is not None and case.resolve_by is not None
    assert report.received_at < case.respond_by <= case.resolve_by
    assert case.routing_reasons and "chengguan" in case.routing_reasons[0]
    assert case.id == case_id_for(report) and case.id.startswith(GRID[:12])


def test_unroutable_category_stays_open(district):
    report = normalise(report_envelope(category="other"), district, LATER)
    events = open_case(report, district)
    assert [e.type for e in events] == [CaseEventType.OPENED]
    assert events[0].case.lead_department is None


def test_gas_keyword_is_priority_one_with_reason(district):
    report = normalise(
        report_envelope(category="noise", description="楼道里有燃气味"), district, LATER
    )
    case = open_case(report, district)[-1].case
    assert case.priority is Priority.P1
    assert any("燃气" in reason for reason in case.priority_reasons)


def test_same_report_gives_identical_events(district):
    report = normalise(report_envelope(), district, LATER)
    assert open_case(report, district) == open_case(report, district)
