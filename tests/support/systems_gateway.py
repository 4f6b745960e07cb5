"""Helpers for the other-systems tests (CloudEvents/CAP over HTTP, Open311, admin
webhooks): deps with the Open311 reader and the subscription store on the test
database, and demo-district cases seeded through the projection writer."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from gateway.deps import GatewayDeps
from gateway.systems import Open311Config, SystemsDeps
from routing.district import District
from schemas.cases import CaseEventType, CaseState, Priority
from schemas.reports import GeoPoint
from sinks.open311 import ServiceRequestQueries
from sinks.subscriptions import SubscriptionStore
from sinks.writer import CaseProjectionWriter
from tests.support.cases import CaseStory, make_report

GRID = "990101001001001"  # 东园社区第1网格
GRID_2 = "990101001001002"


def systems_deps(
    deps: GatewayDeps, engine: Engine, district: District, **changes: Any
) -> GatewayDeps:
    systems = SystemsDeps(
        service_requests=ServiceRequestQueries(engine),
        subscriptions=SubscriptionStore(engine),
        webhook_signing=True,
        open311=Open311Config(changeset="2026-01-05T08:00:00Z"),
        max_batch_events=5,
        max_event_bytes=8 * 1024,
    )
    return replace(deps, systems=replace(systems, **changes))


def seed_case(
    engine: Engine,
    case_id: str,
    at: datetime,
    *,
    category: str = "manhole_cover",
    grid_code: str = GRID,
    state: CaseState = CaseState.DISPATCHED,
    reason: str | None = None,
    merged_into: str | None = None,
    description: str = "井盖缺失 manhole cover missing",
) -> str:
    """A case in the demo district, walked to ``state``; returns its report id."""
    report = make_report(
        f"r-{case_id}", grid_code=grid_code, category=category, at=at, description=description
    ).model_copy(update={"location": GeoPoint(lat=39.902, lon=116.383)})
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
