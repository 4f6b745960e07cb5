"""Hotspot windows from the reports projection, on SQLite and PostgreSQL: counts
per hour by grid × category × source, against the hotspot rule's own baseline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from routing.hotspots import HotspotRule
from sinks.windows import windows
from sinks.writer import CaseProjectionWriter
from tests.support.cases import CaseStory, make_report

NOW = datetime(2026, 12, 7, 12, 30, tzinfo=UTC)
GRID = "990101001001001"
RULE = HotspotRule.load()


def _report_at(n: int, at: datetime, *, grid: str = GRID, source: str = "/gridhub/mobile"):
    report = make_report(f"w-{n}", grid_code=grid, category="garbage", at=at, source=source)
    return CaseStory.open(f"{grid[:12]}-w{n}", report=report, at=at).events


def test_counts_per_hour_against_the_rules_baseline(engine):
    events = []
    n = 0
    # one report an hour for the 30 hours before this one, then a burst of 6 now
    for hour in range(30, 0, -1):
        events += _report_at(n, NOW - timedelta(hours=hour))
        n += 1
    for _ in range(6):
        events += _report_at(n, NOW - timedelta(minutes=10), source="urn:system:12345")
        n += 1
    events += _report_at(n, NOW - timedelta(hours=3), grid="990101002001001")
    CaseProjectionWriter(engine).write(events)

    seen = windows(engine, RULE, hours=24, now=NOW, grid_code=GRID, category="garbage")
    points = seen["windows"]
    assert len(points) == 24 and seen["window_seconds"] == 3600
    assert points[-1]["start"] == "2026-12-07T12:00:00+00:00"
    assert points[-1]["count"] == 6
    assert [p["count"] for p in points[:-1]] == [1] * 23
    # one report in each of the 24 windows before: baseline 1, and the rule's
    # max(min_count 5, factor 3 x 1) = 5 to alert, which the burst of 6 reaches
    assert (points[-1]["baseline"], points[-1]["required"]) == (1.0, 5)
    assert points[-1]["required"] == RULE.required([1] * 24, "garbage")
    assert points[0]["baseline"] == 1.0  # its history started 7 windows before it
    assert seen["keys"] == [
        {"grid_code": GRID, "category": "garbage", "source": "/gridhub/mobile", "count": 23},
        {"grid_code": GRID, "category": "garbage", "source": "urn:system:12345", "count": 6},
    ]

    everywhere = windows(engine, RULE, hours=6, now=NOW)
    assert len(everywhere["windows"]) == 6
    assert sum(p["count"] for p in everywhere["windows"]) == 5 + 6 + 1  # the other grid's too
    by_source = windows(engine, RULE, hours=24, now=NOW, source="urn:system:12345")
    assert sum(p["count"] for p in by_source["windows"]) == 6
