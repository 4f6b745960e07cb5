"""A week of a small district's case history (written out by hand, so every
assessment and brief figure can be worked out on paper), for sink tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from schemas.cases import CaseEvent, CaseEventType, CaseState
from sinks.writer import CaseProjectionWriter
from tests.support.cases import CaseStory, make_report

START = datetime(2025, 3, 3, tzinfo=UTC)
END = START + timedelta(days=7)
T0 = START + timedelta(hours=8)
M = timedelta(minutes=1)
A, B = "chengguan", "zhujian"


def go(s: CaseStory, type_: CaseEventType, when: datetime, **kw) -> CaseEvent:
    minutes = int((when - s.case.updated_at) / M)
    assert s.case.updated_at + minutes * M == when
    return s.step(type_, minutes=minutes, **kw)


def opened(case_id: str, when: datetime, worker: str | None = "gw-1") -> CaseStory:
    report = make_report(f"r-{case_id}", at=when).model_copy(update={"submitted_by": worker})
    return CaseStory.open(case_id, report=report, at=when)


def dispatch(s: CaseStory, dept: str, when: datetime, resolve_by: datetime) -> None:
    go(
        s,
        CaseEventType.DISPATCHED,
        when,
        actor="system:routing",
        data={"department": dept, "resolve_by": resolve_by.isoformat()},
        state=CaseState.DISPATCHED,
        lead_department=dept,
        departments=[dept],
        resolve_by=resolve_by,
    )


def resolve(s: CaseStory, when: datetime) -> None:
    actor = f"department:{s.case.lead_department}"
    go(s, CaseEventType.RESOLVED, when, actor=actor, state=CaseState.RESOLVED)


def verify(s: CaseStory, when: datetime, worker: str, passed: bool, new_deadline=None) -> None:
    # As the gateway writes it: "<role>:<token name>"; reports carry the bare name.
    go(s, CaseEventType.VERIFIED, when, actor=f"grid_worker:{worker}", data={"passed": passed})
    if passed:
        go(s, CaseEventType.CLOSED, when, actor=worker, state=CaseState.CLOSED, closed_at=when)
    else:
        go(
            s,
            CaseEventType.REWORKED,
            when,
            actor=worker,
            data={"department": s.case.lead_department, "reason": "仍未解决"},
            state=CaseState.DISPATCHED,
            rework_count=s.case.rework_count + 1,
            resolve_by=new_deadline,
        )


def history() -> list[CaseEvent]:
    stories = []
    # c1: A fixes it in 2 h, closed on time, rated 4; a second report by gw-2
    c1 = opened("c1", T0)
    second = make_report("r-c1-b", at=T0 + 5 * M).model_copy(update={"submitted_by": "gw-2"})
    go(c1, CaseEventType.REPORT_ATTACHED, T0 + 5 * M, report=second)
    dispatch(c1, A, T0 + 10 * M, T0 + timedelta(days=3))
    resolve(c1, T0 + 130 * M)
    verify(c1, T0 + 140 * M, "gw-1", True)
    go(c1, CaseEventType.RATED, T0 + timedelta(days=1), actor="reporter:r-c1", data={"score": 4})
    # an operator's own rating is not satisfaction: only reporters' count
    go(c1, CaseEventType.RATED, T0 + timedelta(days=1, minutes=1), data={"score": 1})
    stories.append(c1)
    # c2: A resolves (4 h), verification fails, rework (new deadline), resolves again (4 h)
    c2 = opened("c2", T0)
    dispatch(c2, A, T0 + 10 * M, T0 + timedelta(days=3))
    resolve(c2, T0 + 250 * M)
    verify(c2, T0 + 260 * M, "gw-1", False, new_deadline=T0 + timedelta(days=4))
    resolve(c2, T0 + 500 * M)
    verify(c2, T0 + 510 * M, "gw-1", True)
    go(c2, CaseEventType.RATED, T0 + timedelta(days=1), actor="reporter:r-c2", data={"score": 2})
    stories.append(c2)
    # c3: A returns it (not ours), B takes it and resolves late (118.5 h)
    c3 = opened("c3", T0, worker="gw-2")
    dispatch(c3, A, T0 + 10 * M, T0 + timedelta(days=3))
    go(
        c3,
        CaseEventType.RETURNED,
        T0 + 60 * M,
        data={"department": A, "reason": "非本部门职责"},
        state=CaseState.OPEN,
        lead_department=None,
        departments=[],
        resolve_by=None,
    )
    dispatch(c3, B, T0 + 90 * M, T0 + timedelta(days=3, minutes=90))
    resolve(c3, T0 + timedelta(days=5))
    verify(c3, T0 + timedelta(days=5, minutes=10), "gw-2", True)
    stories.append(c3)
    # c4: B, due in the period, still open at its end (resolved only afterwards)
    c4 = opened("c4", T0, worker="gw-2")
    dispatch(c4, B, T0 + 10 * M, T0 + timedelta(days=3))
    go(c4, CaseEventType.ACCEPTED, T0 + 20 * M, state=CaseState.IN_PROGRESS)
    # 督办 marks and a manual escalation, all on the same (Shanghai) day
    actor = "system:supervision"
    go(c4, CaseEventType.SUPERVISED, T0 + 30 * M, actor=actor, data={"mark": "warning"})
    go(c4, CaseEventType.ESCALATED, T0 + 40 * M, actor=actor, data={"mark": "overdue"})
    go(c4, CaseEventType.ESCALATED, T0 + 50 * M, actor=actor, data={"mark": "escalation_150"})
    go(c4, CaseEventType.ESCALATED, T0 + 60 * M, data={"reason": "群众催办"})
    resolve(c4, START + timedelta(days=8))
    stories.append(c4)
    # c5: dispatched to A the week before, resolved and closed late this week
    c5 = opened("c5", T0 - timedelta(days=5))
    dispatch(c5, A, T0 - timedelta(days=5) + 10 * M, T0 - timedelta(days=1))
    resolve(c5, T0 + 60 * M)
    verify(c5, T0 + 70 * M, "gw-1", True)
    stories.append(c5)
    # c6: rejected from triage: no department, not due
    c6 = opened("c6", T0)
    go(c6, CaseEventType.REJECTED, T0 + 10 * M, state=CaseState.REJECTED, closed_at=T0 + 10 * M)
    stories.append(c6)
    # c7: B, due after the period
    c7 = opened("c7", T0 + timedelta(days=1))
    dispatch(c7, B, T0 + timedelta(days=1, minutes=10), START + timedelta(days=12))
    stories.append(c7)
    # c8: A, merged into another case: dispatched but never due; report without a worker
    c8 = opened("c8", T0, worker=None)
    dispatch(c8, A, T0 + 10 * M, T0 + timedelta(days=3))
    go(c8, CaseEventType.MERGED, T0 + 20 * M, state=CaseState.MERGED, merged_into="c1")
    stories.append(c8)
    # c9: all of it the month before: not in this period at all
    c9 = opened("c9", START - timedelta(days=20))
    dispatch(c9, A, START - timedelta(days=20) + 10 * M, START - timedelta(days=17))
    resolve(c9, START - timedelta(days=19))
    verify(c9, START - timedelta(days=19) + 10 * M, "gw-1", True)
    stories.append(c9)
    return [e for s in stories for e in s.events]


def load(engine: Engine) -> Engine:
    """Write :func:`history` through the projection writer: shuffled, in small
    batches, then replayed whole (the projection cares about neither)."""
    events = history()
    random.Random(7).shuffle(events)
    writer = CaseProjectionWriter(engine)
    for i in range(0, len(events), 9):
        writer.write(events[i : i + 9])
    writer.write(events)
    return engine
