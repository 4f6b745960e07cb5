"""CaseProjectionWriter on SQLite and PostgreSQL: idempotent, atomic, batched."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from schemas.cases import CaseEventType, CaseState
from sinks.models import case_events, cases, reports
from sinks.ports import InMemoryCaseSink, WriteStats
from sinks.writer import CaseProjectionWriter
from tests.integration.sinks.helpers import case_versions, dump
from tests.support.cases import CaseStory, district_load, make_report


def _story() -> CaseStory:
    story = CaseStory.open("110105001001-aaaa")
    story.dispatch("chengguan", "zhujian")
    story.attach(make_report("r-second", name="李四", phone="13900139000"))
    story.accept()
    story.resolve()
    story.close()
    return story


def test_same_batch_twice_changes_nothing(engine: Engine) -> None:
    writer = CaseProjectionWriter(engine)
    events = district_load(40)
    first = writer.write(events)
    assert first == WriteStats(
        events=len(events), cases=40, reports=60, timeline_inserted=len(events)
    )
    before = dump(engine)
    second = writer.write(events)
    assert second == WriteStats(events=len(events), cases=0, reports=0, timeline_inserted=0)
    assert dump(engine) == before


def test_higher_version_then_lower_keeps_higher(engine: Engine) -> None:
    writer = CaseProjectionWriter(engine)
    events = _story().events
    writer.write(events[-1:])
    stats = writer.write(events[:-1])  # older versions arrive late
    assert stats.cases == 0
    assert stats.timeline_inserted == len(events) - 1
    with engine.connect() as conn:
        row = conn.execute(select(cases)).mappings().one()
    assert row["version"] == len(events)
    assert row["state"] == CaseState.CLOSED
    assert row["snapshot"]["version"] == len(events)


def test_one_batch_collapses_each_case_to_its_highest_version(engine: Engine) -> None:
    events = _story().events
    shuffled = events[3:] + events[:3] + events[1:2]  # out of order, with a duplicate
    stats = CaseProjectionWriter(engine).write(shuffled)
    assert stats == WriteStats(
        events=len(shuffled), cases=1, reports=2, timeline_inserted=len(events)
    )
    assert case_versions(engine) == {"110105001001-aaaa": len(events)}


def test_timeline_and_reports(engine: Engine) -> None:
    story = _story()
    CaseProjectionWriter(engine).write(story.events)
    with engine.connect() as conn:
        timeline = (
            conn.execute(select(case_events).order_by(case_events.c.version)).mappings().all()
        )
        report_rows = conn.execute(select(reports).order_by(reports.c.id)).mappings().all()
        case = conn.execute(select(cases)).mappings().one()
    assert [t["version"] for t in timeline] == list(range(1, len(story.events) + 1))
    assert [t["type"] for t in timeline] == [e.type.value for e in story.events]
    assert timeline[0]["event_id"] == "110105001001-aaaa:1"
    assert timeline[0]["data"] == {"report_id": "r-110105001001-aaaa"}
    assert timeline[0]["time"] == story.events[0].time
    assert timeline[0]["time"].tzinfo is UTC
    assert [r["id"] for r in report_rows] == ["r-110105001001-aaaa", "r-second"]
    assert {r["case_id"] for r in report_rows} == {"110105001001-aaaa"}
    second = report_rows[1]
    assert second["reporter"] == {"name": "李四", "phone": "13900139000"}
    assert second["media"] == ["m-1"]
    assert second["attributes"] == {"channel": "mobile"}
    attached = story.events[2].report
    assert attached is not None and attached.location is not None
    assert second["lat"] == pytest.approx(attached.location.lat)
    assert case["departments"] == ["chengguan", "zhujian"]
    assert case["lead_department"] == "chengguan"
    assert case["report_count"] == 2
    assert case["closed_at"] is not None and case["closed_at"].tzinfo is UTC
    assert case["resolve_by"] == story.events[1].case.resolve_by


def test_report_moves_to_the_case_that_attached_it_last(engine: Engine) -> None:
    writer = CaseProjectionWriter(engine)
    shared = make_report("r-shared")
    a = CaseStory.open("case-a", report=shared)
    b = CaseStory.open("case-b")
    b.attach(shared)
    writer.write(a.events)
    assert writer.write(b.events).reports == 2  # b's own report + the moved one
    with engine.connect() as conn:
        owner = conn.scalar(select(reports.c.case_id).where(reports.c.id == "r-shared"))
    assert owner == "case-b"


def test_same_source_event_under_another_id_is_skipped(engine: Engine) -> None:
    writer = CaseProjectionWriter(engine)
    first = make_report("r-1", source_event_id="ce-1")
    clash = make_report("r-1-again", source_event_id="ce-1")
    writer.write(CaseStory.open("case-a", report=first).events)
    stats = writer.write(CaseStory.open("case-b", report=clash).events)
    assert stats == WriteStats(events=1, cases=1, reports=0, timeline_inserted=1)
    # ... and within one batch, the first id wins.
    in_batch = [
        *CaseStory.open("case-c", report=make_report("r-2", source_event_id="ce-2")).events,
        *CaseStory.open("case-d", report=make_report("r-2b", source_event_id="ce-2")).events,
    ]
    assert writer.write(in_batch).reports == 1
    with engine.connect() as conn:
        ids = conn.scalars(select(reports.c.id).order_by(reports.c.id)).all()
    assert ids == ["r-1", "r-2"]


def test_failure_keeps_nothing(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = CaseProjectionWriter(engine)

    def broken(*args: object) -> int:
        raise RuntimeError("database went away")

    monkeypatch.setattr(writer._tables, "reports", broken)
    with pytest.raises(RuntimeError, match="went away"):
        writer.write(_story().events)
    assert dump(engine) == {"cases": [], "case_events": [], "reports": []}
    monkeypatch.undo()
    assert writer.write(_story().events).timeline_inserted == 6


def test_empty_batch(engine: Engine) -> None:
    assert CaseProjectionWriter(engine).write([]) == WriteStats()


def test_matches_the_in_memory_twin_under_replays(engine: Engine) -> None:
    """Random batches, duplicates and reordering: same end state as the twin."""
    rng = random.Random(7)
    events = district_load(120)
    stream = events + rng.sample(events, 150)  # a partial replay
    writer, twin = CaseProjectionWriter(engine), InMemoryCaseSink()
    position = 0
    while position < len(stream):
        size = rng.randint(1, 60)
        batch = stream[position : position + size]
        rng.shuffle(batch)  # out of order inside a batch too
        db_stats, twin_stats = writer.write(batch), twin.write(batch)
        assert db_stats == twin_stats
        position += size
    state = dump(engine)
    assert {(c["id"], c["version"], c["state"]) for c in state["cases"]} == {
        (c.id, c.version, c.state.value) for c in twin.cases.values()
    }
    assert {(t["case_id"], t["version"]) for t in state["case_events"]} == set(twin.timeline)
    assert {(r["id"], r["case_id"]) for r in state["reports"]} == set(twin.report_case.items())


def test_a_few_thousand_events_in_one_call(engine: Engine) -> None:
    events = district_load(1500)
    writer = CaseProjectionWriter(engine)
    started = time.perf_counter()
    stats = writer.write(events)
    elapsed = time.perf_counter() - started
    assert stats == WriteStats(
        events=len(events), cases=1500, reports=2250, timeline_inserted=len(events)
    )
    replay_started = time.perf_counter()
    assert writer.write(events).timeline_inserted == 0
    replay = time.perf_counter() - replay_started
    print(
        f"\n{engine.dialect.name}: {len(events)} events in {elapsed * 1000:.0f} ms "
        f"({len(events) / elapsed:,.0f}/s), replay {len(events) / replay:,.0f}/s"
    )
    with engine.connect() as conn:
        opened = conn.scalar(select(case_events.c.type).where(case_events.c.version == 1).limit(1))
    assert opened == CaseEventType.OPENED
    assert elapsed < 20  # generous: a shared CI box; the print shows the real figure


def test_awkward_values_do_not_block_the_projection(engine: Engine) -> None:
    """A NUL character (PostgreSQL cannot store one) and a naive timestamp (taken as
    UTC) must not fail the batch forever."""
    report = make_report("r-nul", description="bad\x00byte").model_copy(
        update={"occurred_at": datetime(2025, 3, 3, 7, 0), "attributes": {"raw": "x\x00y"}}
    )
    CaseProjectionWriter(engine).write(CaseStory.open("case-nul", report=report).events)
    with engine.connect() as conn:
        row = conn.execute(select(reports)).mappings().one()
    assert row["attributes"] == {"raw": "xy"}
    assert row["occurred_at"] == datetime(2025, 3, 3, 7, 0, tzinfo=UTC)
    assert row["description"].replace("\x00", "") == "badbyte"


def test_the_archive_finds_closed_cases_and_their_reports(engine: Engine) -> None:
    """What the case agent asks of the projection for cases that left its memory:
    ended cases only, each with its reports in the order they came, those of the
    cases merged into it included."""
    writer = CaseProjectionWriter(engine)
    closed = _story()  # two reports, closed
    live = CaseStory.open("110105001001-bbbb", report=make_report("r-live"))
    merged = CaseStory.open("110105001001-cccc", report=make_report("r-merged"))
    merged.step(
        CaseEventType.MERGED,
        state=CaseState.MERGED,
        merged_into=closed.case.id,
        closed_at=merged.case.updated_at,
    )
    writer.write(closed.events + live.events + merged.events)

    found = writer.archived(["r-second", "r-live", "r-unknown"], [live.case.id, merged.case.id])
    assert set(found.cases) == {closed.case.id, merged.case.id}  # the live one is not archived
    assert found.reports == {"r-second": closed.case.id}
    archived = found.cases[closed.case.id]
    assert archived.snapshot == closed.case
    assert archived.report_ids == (f"r-{closed.case.id}", "r-merged", "r-second")  # same time
    assert found.cases[merged.case.id].report_ids == ("r-merged",)
    memory = InMemoryCaseSink()
    memory.write(closed.events + live.events + merged.events)
    twin = memory.archived(["r-second", "r-live", "r-unknown"], [live.case.id, merged.case.id])
    assert set(twin.cases) == set(found.cases) and twin.reports == found.reports
