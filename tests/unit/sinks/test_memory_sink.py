"""InMemoryCaseSink: the semantics every CaseSink has (the DB writer is checked against it)."""

from __future__ import annotations

from datetime import timedelta

from schemas.cases import CaseState
from sinks.ports import CaseSink, InMemoryCaseSink, WriteStats
from tests.support.cases import T0, CaseStory, district_load, make_report


def _story() -> CaseStory:
    story = CaseStory.open("case-1")
    story.dispatch("chengguan")
    story.attach(make_report("r-2", at=T0 + timedelta(minutes=30)))
    story.accept()
    return story


def test_is_a_case_sink() -> None:
    sink: CaseSink = InMemoryCaseSink()
    assert sink.write([]) == WriteStats()


def test_projects_case_timeline_and_reports() -> None:
    sink = InMemoryCaseSink()
    events = _story().events
    assert sink.write(events) == WriteStats(events=4, cases=1, reports=2, timeline_inserted=4)
    assert sink.cases["case-1"].state == CaseState.IN_PROGRESS
    assert sorted(sink.timeline) == [("case-1", v) for v in (1, 2, 3, 4)]
    assert [r.id for r in sink.reports_of("case-1")] == ["r-case-1", "r-2"]


def test_replay_changes_nothing() -> None:
    sink = InMemoryCaseSink()
    events = district_load(30)
    sink.write(events)
    before = (dict(sink.cases), dict(sink.timeline), dict(sink.report_case))
    assert sink.write(events) == WriteStats(events=len(events))
    assert (sink.cases, sink.timeline, sink.report_case) == before


def test_lower_version_after_higher_is_ignored() -> None:
    sink = InMemoryCaseSink()
    events = _story().events
    sink.write(events[-1:])
    stats = sink.write(events[:-1])
    assert stats.cases == 0 and stats.timeline_inserted == 3
    assert sink.cases["case-1"].version == 4


def test_report_keeps_first_id_for_a_source_event() -> None:
    sink = InMemoryCaseSink()
    sink.write(CaseStory.open("a", report=make_report("r-1", source_event_id="ce")).events)
    stats = sink.write(CaseStory.open("b", report=make_report("r-x", source_event_id="ce")).events)
    assert stats == WriteStats(events=1, cases=1, reports=0, timeline_inserted=1)
    assert set(sink.reports) == {"r-1"}


def test_report_follows_its_latest_attachment() -> None:
    sink = InMemoryCaseSink()
    shared = make_report("r-shared")
    sink.write(CaseStory.open("a", report=shared).events)
    b = CaseStory.open("b")
    b.attach(shared)
    assert sink.write(b.events).reports == 2
    assert sink.report_case["r-shared"] == "b"
