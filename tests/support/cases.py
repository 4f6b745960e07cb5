"""Build ``CaseEvent``s from the ``schemas.cases`` models, for sink tests.

``CaseStory`` walks one case through the lifecycle, each step the snapshot after
the previous one with ``version + 1``, as the case agent would emit it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.cases import CaseEvent, CaseEventType, CaseSnapshot, CaseState, Priority
from schemas.reports import GeoPoint, Report, Reporter, community_of, street_of

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
GRIDS = ("110105001001001", "110105001001002", "110105001002001", "110105002001001")


def grid(n: int) -> str:
    return GRIDS[n % len(GRIDS)]


def make_report(
    report_id: str,
    *,
    grid_code: str = GRIDS[0],
    category: str = "road.pothole",
    at: datetime = T0,
    source: str = "/gridhub/mobile",
    source_event_id: str | None = None,
    name: str | None = "张三",
    phone: str | None = "13800138000",
    description: str = "路面坑洞 pothole",
) -> Report:
    return Report(
        id=report_id,
        source=source,
        source_event_id=source_event_id or f"ev-{report_id}",
        source_type="org.gridhub.report.submitted",
        category=category,
        description=description,
        location=GeoPoint(lat=39.9 + 0.001 * len(report_id), lon=116.4),
        grid_code=grid_code,
        community_code=community_of(grid_code),
        street_code=street_of(grid_code),
        occurred_at=at - timedelta(minutes=5),
        received_at=at,
        media=["m-1"],
        reporter=Reporter(name=name, phone=phone) if name or phone else None,
        external_ref=None,
        submitted_by="grid-worker-1",
        attributes={"channel": "mobile"},
    )


@dataclass
class CaseStory:
    """One case, event by event."""

    case: CaseSnapshot
    events: list[CaseEvent] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        case_id: str,
        *,
        report: Report | None = None,
        priority: Priority = Priority.P3,
        at: datetime = T0,
    ) -> CaseStory:
        report = report or make_report(f"r-{case_id}", at=at)
        case = CaseSnapshot(
            id=case_id,
            state=CaseState.OPEN,
            category=report.category,
            priority=priority,
            grid_code=report.grid_code,
            street_code=report.street_code,
            community_code=report.community_code,
            version=1,
            title=report.description[:80],
            location=report.location,
            source=report.source,
            opened_at=at,
            updated_at=at,
            priority_reasons=[f"category {report.category}"],
        )
        story = cls(case)
        story.events.append(
            CaseEvent(
                case_id=case_id,
                version=1,
                type=CaseEventType.OPENED,
                time=at,
                actor="system:gridhub",
                data={"report_id": report.id},
                case=case,
                report=report,
            )
        )
        return story

    def step(
        self,
        type_: CaseEventType,
        *,
        minutes: int = 10,
        actor: str = "operator:1",
        data: dict[str, Any] | None = None,
        report: Report | None = None,
        **changes: Any,
    ) -> CaseEvent:
        time = self.case.updated_at + timedelta(minutes=minutes)
        self.case = self.case.model_copy(
            update={**changes, "version": self.case.version + 1, "updated_at": time}
        )
        event = CaseEvent(
            case_id=self.case.id,
            version=self.case.version,
            type=type_,
            time=time,
            actor=actor,
            data=data or {},
            case=self.case,
            report=report,
        )
        self.events.append(event)
        return event

    def dispatch(self, lead: str = "chengguan", *co: str) -> CaseEvent:
        at = self.case.updated_at
        return self.step(
            CaseEventType.DISPATCHED,
            actor="system:routing",
            data={"department": lead},
            state=CaseState.DISPATCHED,
            lead_department=lead,
            departments=[lead, *co],
            respond_by=at + timedelta(hours=4),
            resolve_by=at + timedelta(days=3),
            routing_reasons=[f"rule -> {lead}"],
        )

    def attach(self, report: Report) -> CaseEvent:
        return self.step(
            CaseEventType.REPORT_ATTACHED,
            actor="system:gridhub",
            data={"report_id": report.id},
            report=report,
            report_count=self.case.report_count + 1,
        )

    def accept(self) -> CaseEvent:
        return self.step(
            CaseEventType.ACCEPTED, actor="department:chengguan", state=CaseState.IN_PROGRESS
        )

    def resolve(self) -> CaseEvent:
        return self.step(
            CaseEventType.RESOLVED,
            actor="department:chengguan",
            data={"note": "fixed"},
            state=CaseState.RESOLVED,
        )

    def close(self) -> CaseEvent:
        time = self.case.updated_at + timedelta(minutes=10)
        return self.step(
            CaseEventType.CLOSED, actor="grid_worker:1", state=CaseState.CLOSED, closed_at=time
        )


def district_load(cases: int, *, prefix: str = "c") -> list[CaseEvent]:
    """Events of ``cases`` cases in varied states (about 4 events and 1.5 reports
    per case), interleaved as a partitioned stream would deliver them."""
    stories = []
    for n in range(cases):
        at = T0 + timedelta(seconds=n)
        story = CaseStory.open(
            f"{prefix}-{n:06d}",
            report=make_report(f"{prefix}-r-{n:06d}", grid_code=grid(n), at=at),
            priority=list(Priority)[n % 4],
            at=at,
        )
        if n % 5:
            story.dispatch(("chengguan", "zhujian", "huanbao")[n % 3])
        if n % 2:
            story.attach(make_report(f"{prefix}-r-{n:06d}-b", grid_code=grid(n), at=at))
        if n % 5 and n % 3:
            story.accept()
        if n % 5 and n % 3 and n % 7 == 1:
            story.resolve()
        stories.append(story)
    events: list[CaseEvent] = []
    longest = max(len(s.events) for s in stories)
    for i in range(longest):
        events.extend(s.events[i] for s in stories if i < len(s.events))
    return events
