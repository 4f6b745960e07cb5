"""The daily brief from the case history, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from schemas.alerts import Alert, AlertKind
from sinks.briefs import BriefNames, daily_brief, day_bounds, write_brief
from tests.integration.sinks.histories import A, B, load

STREET = "110105001"
NAMES = BriefNames(
    categories={"road.pothole": "道路坑洞"},
    streets={STREET: "建外街道"},
    departments={A: "城管执法", B: "住建"},
)


def alert(kind: AlertKind, at: datetime, n: int) -> Alert:
    return Alert(
        id=f"{kind.value}:{n}",
        kind=kind,
        time=at,
        grid_code="110105001001001",
        category="road.pothole",
        title=f"坑洞聚集 {n}",
        detail={"count": 5 + n},
    )


def test_day_bounds_follow_the_local_calendar():
    assert day_bounds(date(2025, 3, 3)) == (
        datetime(2025, 3, 2, 16, tzinfo=UTC),
        datetime(2025, 3, 3, 16, tzinfo=UTC),
    )
    assert day_bounds(date(2025, 3, 3), "UTC")[0] == datetime(2025, 3, 3, tzinfo=UTC)


def test_the_brief_of_a_busy_day(engine, tmp_path):
    load(engine)
    hotspots = [
        alert(AlertKind.HOTSPOT, datetime(2025, 3, 3, 2, tzinfo=UTC), 1),
        alert(AlertKind.HOTSPOT, datetime(2025, 3, 3, 17, tzinfo=UTC), 2),  # the next day there
        alert(AlertKind.P1_CASE, datetime(2025, 3, 3, 3, tzinfo=UTC), 3),  # not a hotspot
    ]
    brief = daily_brief(engine, date(2025, 3, 3), hotspots=hotspots, names=NAMES)

    # opened 08:00 UTC = 16:00 Shanghai on 3 March: c1 c2 c3 c4 c6 c8 (c7 is the next day)
    assert brief.new.total == 6
    assert [(li.code, li.name, li.count) for li in brief.new.by_category] == [
        ("road.pothole", "道路坑洞", 6)
    ]
    assert [(li.code, li.name, li.count) for li in brief.new.by_street] == [(STREET, "建外街道", 6)]
    # closed: c1 and c5 (c2 closed at 16:30 UTC, 00:30 on the 4th in Shanghai)
    assert brief.closed.total == 2
    assert brief.overdue.total == 0
    assert brief.supervision == {
        "sla_warnings": 1,
        "overdue": 1,
        "escalations_150": 1,
        "manual_escalations": 1,
    }
    assert brief.hotspots is not None
    assert [h.alert_id for h in brief.hotspots] == ["hotspot:1"]
    assert brief.hotspots[0].category_name == "道路坑洞"
    assert brief.hotspots[0].count == 6

    depts = {d["department"]: d for d in brief.departments}
    assert depts[A]["department_name"] == "城管执法"
    assert (depts[A]["dispatched"], depts[A]["returned"], depts[A]["closed"]) == (4, 1, 2)
    assert (depts[B]["dispatched"], depts[B]["closed"]) == (2, 0)
    workers = {g["grid_worker"]: g for g in brief.grid_workers}
    assert (workers["gw-1"]["verifications"], workers["gw-1"]["verifications_passed"]) == (3, 2)

    paths = write_brief(brief, tmp_path / "briefs")
    assert [p.name for p in paths] == [
        "brief-2025-03-03.md",
        "brief-2025-03-03.html",
        "brief-2025-03-03.json",
    ]
    doc = json.loads(paths[2].read_text(encoding="utf-8"))
    assert doc["day"] == "2025-03-03"
    assert doc["new"]["total"] == 6
    assert doc["hotspots"][0]["alert_id"] == "hotspot:1"
    assert doc["departments"][0]["labels"]["on_time_rate"] == "按期结案率"
    assert "城管执法" in paths[0].read_text(encoding="utf-8")
    assert "建外街道" in paths[1].read_text(encoding="utf-8")


def test_overdue_cases_are_counted_at_the_end_of_their_day(engine):
    load(engine)
    brief = daily_brief(engine, date(2025, 3, 2))  # c5 was due at 16:00 Shanghai, still open
    assert brief.new.total == 0
    assert brief.overdue.total == 1
    assert [(li.code, li.count) for li in brief.overdue.by_street] == [(STREET, 1)]
    assert brief.hotspots is None  # none were given: the brief says so


def test_the_weekly_and_monthly_briefs_cover_their_period(engine, tmp_path):
    from schemas.periods import PeriodKind, period_of
    from sinks.assessment import department_indicators
    from sinks.briefs import period_brief

    load(engine)
    week = period_of(PeriodKind.WEEK, date(2025, 3, 5), "Asia/Shanghai")
    brief = period_brief(engine, week)
    assert (brief.kind, brief.name) == ("week", "2025-W10")
    by_day = [daily_brief(engine, day, "Asia/Shanghai") for day in week.days()]
    assert brief.new.total == sum(b.new.total for b in by_day) > 0
    assert brief.closed.total == sum(b.closed.total for b in by_day)
    assert [d["department"] for d in brief.departments] == [
        d["department"] for d in department_indicators(engine, brief.start, brief.end)
    ]
    paths = write_brief(brief, tmp_path)
    assert [p.name for p in paths] == [
        "brief-2025-W10.md",
        "brief-2025-W10.html",
        "brief-2025-W10.json",
    ]
    assert paths[0].read_text(encoding="utf-8").startswith("# 每周简报 2025-W10")
    month = period_brief(engine, period_of(PeriodKind.MONTH, date(2025, 3, 5), "Asia/Shanghai"))
    assert month.name == "2025-03" and month.new.total >= brief.new.total
    assert json.loads(paths[2].read_text(encoding="utf-8"))["kind"] == "week"
