"""Nearby reports across a community line: two reports 44 m apart on either side
of the line between 东园 (990101001001) and 西园 (990101001002) make one case. The
second report's partition finds the first case in the border index and forwards
the report to the case's own writer, which joins it — or, when the case can no
longer take it, sends it home to open a case there."""

from __future__ import annotations

from datetime import timedelta

import pytest

from routing.district import District
from schemas.cases import CaseCommand, CaseEventType, JoinNearby
from streams.logic.casestore import DictCaseStore
from streams.logic.casework import CaseWork, case_id_for
from streams.logic.commands import handle_command
from streams.logic.intake import normalise
from tests.support.envelopes import WHEN, report_envelope

SOUTH = {"lat": 39.9088, "lon": 116.3830}  # 东园, 22 m south of the line at 39.909
NORTH = {"lat": 39.9092, "lon": 116.3830}  # 西园, 22 m north of it
DEEP_SOUTH = {"lat": 39.9020, "lon": 116.3830}  # 东园, far from any other community


@pytest.fixture
def work(district: District) -> CaseWork:
    return CaseWork(district, DictCaseStore(), merge_window=timedelta(hours=48))


def report(
    district: District, where: dict[str, float], minutes: int = 0, category: str = "garbage"
):
    envelope = report_envelope(category=category, grid_code=None, location=where)
    at = WHEN + timedelta(minutes=minutes)
    return normalise(envelope.model_copy(update={"time": at}), district, at)


def forward(work: CaseWork, case_id: str, outcome_report) -> CaseCommand:
    return CaseCommand(
        command_id=f"nearby:{outcome_report.id}",
        case_id=case_id,
        actor="source:test",
        role="system",
        time=outcome_report.received_at,
        body=JoinNearby(report=outcome_report),
    )


def test_a_report_across_the_line_joins_the_case_through_its_writer(work, district) -> None:
    first = work.on_report(report(district, SOUTH)).events[-1].case
    assert first.community_code == "990101001001"
    assert work.store.record(first.id).border_cells  # near the line: in the border index
    second = report(district, NORTH, minutes=5)
    assert second.community_code == "990101001002"
    outcome = work.on_report(second)
    assert outcome.events == [] and outcome.join == first.id  # not opened on its side
    joined = handle_command(work, forward(work, first.id, second))
    [event] = joined.events
    assert event.type is CaseEventType.REPORT_ATTACHED and event.case.report_count == 2
    assert joined.follow_ups == []
    # Delivered again (a crash before the ack): the same report joins once.
    again = handle_command(work, forward(work, first.id, second).model_copy())
    assert again.events == [] and again.result.rule == "already_applied"
    assert work.on_report(second).duplicate


def test_a_case_that_can_no_longer_take_it_sends_the_report_home(work, district) -> None:
    first = work.on_report(report(district, SOUTH)).events[-1].case
    second = report(district, NORTH, minutes=5)
    assert work.on_report(second).join == first.id
    closed = CaseCommand(
        command_id="merge",
        case_id=first.id,
        actor="operator:x",
        role="operator",
        time=second.received_at,
        body={"action": "merge", "into": "990101001001-ffffffffffff"},
    )
    assert handle_command(work, closed).result.accepted  # merged away meanwhile
    bounced = handle_command(work, forward(work, first.id, second))
    assert bounced.events == []
    [home] = bounced.follow_ups
    assert home.case_id == case_id_for(second) and home.partition_key == b"990101001002"
    opened = handle_command(work, home)
    assert [e.type for e in opened.events][0] is CaseEventType.OPENED
    assert opened.events[0].case.community_code == "990101001002"
    assert handle_command(work, home).events == []  # at least once, opened once


def test_a_case_far_from_any_line_is_not_in_the_border_index(work, district) -> None:
    case = work.on_report(report(district, DEEP_SOUTH)).events[-1].case
    assert work.store.record(case.id).border_cells == []
    assert work.store.borders == {}  # type: ignore[attr-defined]


def test_other_categories_and_closed_cases_leave_the_border_index(work, district) -> None:
    first = work.on_report(report(district, SOUTH)).events[-1].case
    other = work.on_report(report(district, NORTH, minutes=5, category="street_light"))
    assert other.join is None and other.events  # a category of its own: opened at home
    reject = CaseCommand(
        command_id="merge",
        case_id=first.id,
        actor="operator:x",
        role="operator",
        time=WHEN + timedelta(minutes=6),
        body={"action": "merge", "into": "990101001001-ffffffffffff"},
    )
    assert handle_command(work, reject).result.accepted
    assert all(
        first.id not in [e.case_id for e in entries] for entries in work.store.borders.values()
    )  # type: ignore[attr-defined]
    late = work.on_report(report(district, NORTH, minutes=10))
    assert late.join is None and late.events[0].type is CaseEventType.OPENED
