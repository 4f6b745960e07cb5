"""The case agent's decisions, free of Kafka: open a case for a report, route it,
and emit each change as a versioned ``CaseEvent`` carrying the snapshot after it.

Every event time comes from the input (the report's received time), never from a
wall clock, so reprocessing the same input yields byte-identical events.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from routing.district import District
from schemas.cases import CaseEvent, CaseEventType, CaseSnapshot, CaseState
from schemas.reports import Report

CASE_ID_NAMESPACE = uuid.UUID("2b7e4c1e-0d6b-4b8a-8f55-93c1a8f0e6d4")
SYSTEM_ACTOR = "system:gridhub"
TITLE_LENGTH = 80


def case_id_for(report: Report) -> str:
    """Case ids carry the community code, the key of reports and case commands,
    so a case's commands land on the partition that holds its state."""
    digest = uuid.uuid5(CASE_ID_NAMESPACE, report.id).hex[:12]
    return f"{report.community_code}-{digest}"


def next_event(
    case: CaseSnapshot,
    type_: CaseEventType,
    time: datetime,
    actor: str,
    data: dict[str, Any] | None = None,
    report: Report | None = None,
    **changes: Any,
) -> CaseEvent:
    """The event for one accepted change: version + 1 and the snapshot after it."""
    after = case.model_copy(update={**changes, "version": case.version + 1, "updated_at": time})
    return CaseEvent(
        case_id=case.id,
        version=after.version,
        type=type_,
        time=time,
        actor=actor,
        data=data or {},
        case=after,
        report=report,
    )


def open_case(report: Report, district: District) -> list[CaseEvent]:
    """``opened`` for a new report and, when a rule routes it, ``dispatched``."""
    category = district.taxonomy.get(report.category)
    if category is None:  # intake already refused unknown categories
        raise ValueError(f"unknown category {report.category!r}")
    priority, reasons = district.assess_priority(
        category, report.description, 1, report.source_type, report.attributes
    )
    time = report.received_at
    case = CaseSnapshot(
        id=case_id_for(report),
        state=CaseState.OPEN,
        category=report.category,
        priority=priority,
        grid_code=report.grid_code,
        street_code=report.street_code,
        community_code=report.community_code,
        report_count=1,
        version=1,
        title=report.description[:TITLE_LENGTH],
        location=report.location,
        source=report.source,
        external_ref=report.external_ref,
        opened_at=time,
        updated_at=time,
        priority_reasons=list(reasons),
    )
    opened = CaseEvent(
        case_id=case.id,
        version=1,
        type=CaseEventType.OPENED,
        time=time,
        actor=SYSTEM_ACTOR,
        data={"report_id": report.id, "priority_reasons": list(reasons)},
        case=case,
        report=report,
    )
    events = [opened]
    dispatched = route_case(case, district, time)
    if dispatched is not None:
        events.append(dispatched)
    return events


def route_case(case: CaseSnapshot, district: District, time: datetime) -> CaseEvent | None:
    """Dispatch by the routing rules, or None: an unroutable case stays ``open``
    in the operator's triage queue."""
    decision = district.route(
        case.category,
        case.street_code,
        case.community_code,
        exclude=frozenset(case.excluded_departments),
    )
    if decision is None:
        return None
    respond_by, resolve_by = district.deadlines(case.priority, time)
    departments = [decision.lead, *decision.co]
    return next_event(
        case,
        CaseEventType.DISPATCHED,
        time,
        "system:routing",
        data={
            "department": decision.lead,
            "departments": departments,
            "reasons": list(decision.reasons),
            "respond_by": respond_by.isoformat(),
            "resolve_by": resolve_by.isoformat(),
        },
        state=CaseState.DISPATCHED,
        lead_department=decision.lead,
        departments=departments,
        respond_by=respond_by,
        resolve_by=resolve_by,
        routing_reasons=list(decision.reasons),
    )
