"""The synthetic demo district (``routing/data``) as the tests use it: places in it,
and cases in it seeded through the projection writer (:func:`seed_case`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from schemas.cases import CaseEventType, CaseState, Priority
from schemas.reports import GeoPoint
from sinks.writer import CaseProjectionWriter
from tests.support.cases import CaseStory, make_report

# A point inside the demo grid 990101001001001 (WGS84), and that grid's codes.
INSIDE = {"lat": 39.902, "lon": 116.383}
GRID = "990101001001001"  # 东园社区第1网格
COMMUNITY = "990101001001"  # 东园社区
OTHER_GRID = "990101001001002"  # 东园社区第2网格
CATEGORY = "manhole_cover"


def seed_case(
    engine: Engine,
    case_id: str,
    at: datetime,
    *,
    category: str = CATEGORY,
    grid_code: str = GRID,
    state: CaseState = CaseState.DISPATCHED,
    reason: str | None = None,
    merged_into: str | None = None,
    description: str = "井盖缺失 manhole cover missing",
) -> str:
    """A case in the demo district, walked to ``state``; returns its report id."""
    report = make_report(
        f"r-{case_id}", grid_code=grid_code, category=category, at=at, description=description
    ).model_copy(update={"location": GeoPoint(**INSIDE)})
    story = CaseStory.open(case_id, report=report, priority=Priority.P2, at=at)
    if state is not CaseState.OPEN:
        if state in (CaseState.REJECTED,):
            story.step(
                CaseEventType.REJECTED,
                data={"reason": reason or ""},
                state=CaseState.REJECTED,
                closed_at=at + timedelta(minutes=10),
            )
        elif state is CaseState.MERGED:
            story.step(
                CaseEventType.MERGED,
                data={"into": merged_into},
                state=CaseState.MERGED,
                merged_into=merged_into,
                closed_at=at + timedelta(minutes=10),
            )
        else:
            story.dispatch("shizheng")
            if state is CaseState.RESOLVED:
                story.step(CaseEventType.RESOLVED, state=CaseState.RESOLVED)
            elif state is CaseState.CLOSED:
                story.step(CaseEventType.RESOLVED, state=CaseState.RESOLVED)
                story.step(
                    CaseEventType.CLOSED,
                    state=CaseState.CLOSED,
                    closed_at=story.case.updated_at + timedelta(minutes=10),
                )
    CaseProjectionWriter(engine).write(story.events)
    return report.id
