"""ServiceRequestQueries (SQLite and PostgreSQL): cases as Open311 service requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from schemas.cases import CaseState
from sinks.open311 import ServiceRequestQueries
from sinks.writer import CaseProjectionWriter
from tests.support.cases import CaseStory, make_report
from tests.support.demo_district import seed_case

T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def test_find_filters_and_details(engine: Engine) -> None:
    seed_case(engine, "c-open", T, state=CaseState.OPEN, description="第一条")
    seed_case(engine, "c-disp", T + timedelta(hours=1), category="noise")
    seed_case(engine, "c-rej", T + timedelta(hours=2), state=CaseState.REJECTED, reason="重复")
    queries = ServiceRequestQueries(engine)

    def ids(**filters: object) -> list[str]:
        return [row["id"] for row in queries.find(**filters)]  # type: ignore[arg-type]

    assert ids() == ["c-rej", "c-disp", "c-open"]
    assert ids(categories=["noise"]) == ["c-disp"]
    assert ids(states=["open", "rejected"]) == ["c-rej", "c-open"]
    assert ids(start=T + timedelta(minutes=30), end=T + timedelta(hours=1)) == ["c-disp"]
    assert ids(ids=["c-open", "nope"], categories=["noise"]) == ["c-open"]  # ids override
    assert ids(limit=1) == ["c-rej"]
    # Only the categories given as public are read, whatever else is asked.
    assert ids(public=["manhole_cover"]) == ["c-rej", "c-open"]
    assert ids(ids=["c-disp"], public=["manhole_cover"]) == []

    rejected = queries.get("c-rej")
    assert rejected is not None
    assert "reason" not in rejected  # an operator's words are not read for the public
    assert rejected["opened_at"] == T + timedelta(hours=2)
    assert rejected["opened_at"].tzinfo is UTC
    assert rejected["location"] == {"lat": 39.902, "lon": 116.383, "crs": "wgs84"}
    opened = queries.get("c-open")
    assert opened is not None and opened["description"] == "第一条"
    assert opened["source"]  # the door it came through decides whether the text is shown
    assert "reporter" not in opened
    assert queries.get("nope") is None


def test_description_is_the_first_reports(engine: Engine) -> None:
    story = CaseStory.open("c-1", report=make_report("r-a", at=T, description="最早的报告"))
    story.attach(make_report("r-b", at=T + timedelta(minutes=5), description="后来的报告"))
    CaseProjectionWriter(engine).write(story.events)
    queries = ServiceRequestQueries(engine)
    found = queries.get("c-1")
    assert found is not None and found["description"] == "最早的报告"
    assert queries.case_of_report("r-b") == "c-1"
    assert queries.case_of_report("r-zzz") is None
