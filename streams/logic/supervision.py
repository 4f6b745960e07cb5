"""Supervision (督办) marks on the resolve SLA: warning at 75 %, overdue with an
escalation at 100 %, a second escalation at 150 % (DESIGN.md §2 Resolve).

Pure: the marks due for a case at a given moment, and the index of when each
case's next mark falls due. The timer in the case agent turns due marks into
``supervise`` commands, so the change itself is made by the one writer of the
case, like every other change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from schemas.cases import CaseState
from streams.logic.casestore import CaseRecord

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


def next_due(record: CaseRecord) -> datetime | None:
    """When the next mark of a case falls due (None: none will), for the index."""
    case = record.case
    start, end = record.sla_started_at, case.resolve_by
    if case.state not in SUPERVISED_STATES or start is None or end is None or end <= start:
        return None
    shares = [share for mark, share in MARKS if mark not in record.marks]
    return start + (end - start) * min(shares) if shares else None


# The index's times are computed, the decision divides: a mark is looked at from a
# second before its computed time, and due_marks alone decides.
_SLACK = timedelta(seconds=1)


class DueIndex:
    """When each case's next SLA mark falls due, so that a supervision tick parses
    only the cases with a mark due instead of every case record held.

    Entries are kept per case with the very table value they were computed from and
    recomputed when the table holds another value (every write replaces it), so the
    index needs no hook into the writes, the table's recovery or a rebalance: a
    record arriving any way is indexed at the next tick, a record gone is dropped.
    """

    def __init__(self) -> None:
        self._next: dict[str, tuple[Any, datetime | None]] = {}

    def due(
        self,
        items: Iterable[tuple[str, Any]],
        now: datetime,
        parse: Callable[[Any], CaseRecord],
    ) -> list[tuple[str, CaseRecord, list[str]]]:
        """``(case id, record, due marks)`` of every case with a mark due at ``now``,
        exactly as :func:`due_marks` over every parsed record would find them."""
        kept: dict[str, tuple[Any, datetime | None]] = {}
        found = []
        for case_id, raw in items:
            if raw is None:
                continue
            hit = self._next.get(case_id)
            record = None
            if hit is not None and hit[0] is raw:
                at = hit[1]
            else:
                record = parse(raw)
                at = next_due(record)
            kept[case_id] = (raw, at)
            if at is None or now < at - _SLACK:
                continue
            record = record if record is not None else parse(raw)
            marks = due_marks(record, now)
            if marks:
                found.append((case_id, record, marks))
        self._next = kept
        return found
