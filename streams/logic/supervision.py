"""Supervision (督办): every deadline of a case that is watched, and when each
mark falls due (DESIGN.md §2 Resolve, §3 Deadlines).

Marks, each raised once (its key is kept in ``CaseRecord.marks``):

==================  ==========================================================
``warning``          75 % of the resolve SLA (from the cycle's start to ``resolve_by``)
``overdue``          100 %: overdue, escalation level + 1 (the duty office is told)
``escalation_150``   150 %: escalation level + 1 again (the leaders are told)
``respond:t<n>``     task ``t<n>`` not accepted by its ``respond_by`` (签收时限)
``task:t<n>``        a co-department's task not done by its ``resolve_by``
``verify``           a resolved case not verified by ``verify_by``
``order:o<n>``       supervision order ``o<n>`` not answered by its ``reply_by``
==================  ==========================================================

A deferred case (缓办) has its SLA paused: only its orders are watched. Pure:
the marks due for a case at a moment, and the index of when each case's next
mark falls due. The timer in the case agent turns due marks into ``supervise``
commands, so the change itself is made by the one writer of the case, like
every other change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from schemas.cases import LIVE_STATES, CaseState
from schemas.duty import OrderState, TaskRole, TaskState
from streams.logic.casestore import CaseRecord

MARKS: tuple[tuple[str, float], ...] = (
    ("warning", 0.75),
    ("overdue", 1.0),
    ("escalation_150", 1.5),
)
SUPERVISED_STATES = frozenset({CaseState.DISPATCHED, CaseState.IN_PROGRESS})

# What ``data.mark`` of the ``supervised`` event says for the keyed marks.
RESPOND_OVERDUE = "respond_overdue"
TASK_OVERDUE = "task_overdue"
VERIFY_OVERDUE = "verify_overdue"
ORDER_OVERDUE = "order_overdue"


@dataclass(frozen=True)
class Mark:
    """One watched deadline: its key in ``CaseRecord.marks``, what it is, when it
    falls due and the part (``t<n>``, ``o<n>``) it is about."""

    key: str
    kind: str
    at: datetime
    part: str | None = None


def watched(record: CaseRecord) -> list[Mark]:
    """Every mark of the case not raised yet, in the order they fall due."""
    case = record.case
    marks: list[Mark] = []
    if case.state in SUPERVISED_STATES and case.deferred_at is None:
        start, end = record.sla_started_at, case.resolve_by
        if start is not None and end is not None and end > start:
            marks += [Mark(mark, mark, start + (end - start) * share) for mark, share in MARKS]
        for task in case.tasks:
            if task.state is TaskState.DISPATCHED and task.respond_by is not None:
                marks.append(Mark(f"respond:{task.id}", RESPOND_OVERDUE, task.respond_by, task.id))
            if (
                task.role is TaskRole.CO
                and task.state in (TaskState.DISPATCHED, TaskState.IN_PROGRESS)
                and task.resolve_by is not None
            ):
                marks.append(Mark(f"task:{task.id}", TASK_OVERDUE, task.resolve_by, task.id))
    if case.state is CaseState.RESOLVED and case.verify_by is not None:
        marks.append(Mark("verify", VERIFY_OVERDUE, case.verify_by))
    if case.state in LIVE_STATES:
        for order in case.orders:
            if order.state is OrderState.OPEN:
                marks.append(Mark(f"order:{order.id}", ORDER_OVERDUE, order.reply_by, order.id))
    raised = set(record.marks)
    return sorted((m for m in marks if m.key not in raised), key=lambda m: (m.at, m.key))


def due(record: CaseRecord, now: datetime) -> list[Mark]:
    return [mark for mark in watched(record) if mark.at <= now]


def due_marks(record: CaseRecord, now: datetime) -> list[str]:
    """The keys of the marks due at ``now``."""
    return [mark.key for mark in due(record, now)]


def next_due(record: CaseRecord) -> datetime | None:
    """When the next mark of a case falls due (None: none will), for the index."""
    pending = watched(record)
    return pending[0].at if pending else None


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
