"""CaseStats on both databases: queue, SLA per department, hotspots, assessment rows."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from schemas.cases import CaseEventType, Priority, SlaState
from sinks.stats import CaseStats
from sinks.writer import CaseProjectionWriter
from tests.support.cases import T0, CaseStory, district_load, make_report


def test_queue_counts_live_cases(engine: Engine) -> None:
    CaseProjectionWriter(engine).write(district_load(40))
    stats = CaseStats(engine)
    queue = stats.queue()
    table = queue["by_state_priority"]
    assert set(table) == {"open", "dispatched", "in_progress", "resolved"}
    assert queue["total"] == sum(sum(row.values()) for row in table.values()) == 40
    assert sum(queue["by_sla_state"].values()) == 40
    assert table["open"]["P1"] == sum(1 for n in range(40) if n % 5 == 0 and n % 4 == 0)
    zhujian = stats.queue(department="zhujian")
    assert 0 < zhujian["total"] < 40


def test_sla_rows_and_hotspots(engine: Engine) -> None:
    events = []
    for n, (lead, sla) in enumerate(
        [("chengguan", SlaState.WARNING), ("chengguan", SlaState.ON_TRACK), ("huanbao", None)]
    ):
        s = CaseStory.open(f"c-{n}", report=make_report(f"r-{n}", grid_code="110105001001001"))
        s.dispatch(lead)
        if sla is not None:
            s.step(CaseEventType.SUPERVISED, sla_state=sla)
        for k in range(n):
            s.attach(make_report(f"r-{n}-{k}", grid_code="110105001001001"))
        events += s.events
    closed = CaseStory.open(
        "c-closed",
        report=make_report("r-x", grid_code="110105002001001", category="garbage"),
        priority=Priority.P1,
    )
    closed.dispatch("huanbao")
    closed.resolve()
    closed.close()
    events += closed.events
    CaseProjectionWriter(engine).write(events)
    stats = CaseStats(engine)

    assert stats.sla() == [
        {"department": "chengguan", "on_track": 1, "warning": 1, "overdue": 0, "total": 2},
        {"department": "huanbao", "on_track": 1, "warning": 0, "overdue": 0, "total": 1},
    ]
    assert [r["department"] for r in stats.sla(department="huanbao")] == ["huanbao"]

    hot = stats.hotspots(T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert hot == [
        {
            "grid_code": "110105001001001",
            "category": "road.pothole",
            "cases": 3,
            "open_cases": 3,
            "heat": 6,
        },
        {
            "grid_code": "110105002001001",
            "category": "garbage",
            "cases": 1,
            "open_cases": 0,
            "heat": 1,
        },
    ]
    assert stats.hotspots(T0 + timedelta(days=1), T0 + timedelta(days=2)) == []
    assert len(stats.hotspots(T0 - timedelta(days=1), T0 + timedelta(days=1), limit=1)) == 1

    rows = stats.departments(T0 - timedelta(days=1), T0 + timedelta(days=5))
    assert {r["department"] for r in rows} == {"chengguan", "huanbao"}
    workers = stats.grid_workers(T0 - timedelta(days=1), T0 + timedelta(days=5))
    assert workers[0]["grid_worker"] == "grid-worker-1"
