"""Supervision (督办) marks on the resolve SLA: warning at 75 %, overdue with an
escalation at 100 %, a second escalation at 150 % (DESIGN.md §2 Resolve).

Pure: the marks due for a case at a given moment. The timer in the case agent
turns due marks into ``supervise`` commands, so the change itself is made by the
one writer of the case, like every other change.
"""

from __future__ import annotations

from datetime import datetime

from schemas.cases import CaseState
from streams.casestore import CaseRecord

MARKS: tuple[tuple[str, float], ...] = (
    ("warning", 0.75),
    ("overdue", 1.0),
    ("escalation_150", 1.5),
)
SUPERVISED_STATES = frozenset({CaseState.DISPATCHED, CaseState.IN_PROGRESS})


def due_marks(record: CaseRecord, now: datetime) -> list[str]:
    case = record.case
    start, end = record.sla_started_at, case.resolve_by
    if case.state not in SUPERVISED_STATES or start is None or end is None or end <= start:
        return []
    elapsed = (now - start) / (end - start)
    return [mark for mark, share in MARKS if elapsed >= share and mark not in record.marks]
