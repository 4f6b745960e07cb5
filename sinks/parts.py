"""Projecting a case's parts (tasks, extensions, orders) into ``case_tasks``,
``case_extensions`` and ``case_orders`` (:mod:`sinks.duty_models`), inside the
projection writer's transaction.

A part carries the case version at which it last changed. From a batch of
events only the parts that changed within the batch are written: for each case,
the parts of its newest snapshot whose version is at least the batch's first
version of that case (a part changed before it was written by an earlier batch).
Each row is an upsert that changes a stored row only when the incoming version
is higher, so replays and out-of-order duplicates change nothing, and a replay
of the whole feed — batched differently — ends with the very same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from schemas.cases import CaseEvent
from schemas.duty import Extension, Order, Task
from sinks.duty_models import case_extensions, case_orders, case_tasks

Row = dict[str, Any]


def changed_parts(events: Sequence[CaseEvent]) -> dict[Table, list[Row]]:
    """The rows of every part changed within ``events``, per table."""
    first: dict[str, int] = {}
    latest: dict[str, CaseEvent] = {}
    for event in events:
        first[event.case_id] = min(first.get(event.case_id, event.version), event.version)
        best = latest.get(event.case_id)
        if best is None or event.version > best.version:
            latest[event.case_id] = event
    tables: dict[Table, list[Row]] = {case_tasks: [], case_extensions: [], case_orders: []}
    for case_id in sorted(latest):  # key order is lock order, as in the writer
        case, since = latest[case_id].case, first[case_id]
        tables[case_tasks] += [_task(case_id, t) for t in case.tasks if t.version >= since]
        tables[case_extensions] += [
            _extension(case_id, x) for x in case.extensions if x.version >= since
        ]
        tables[case_orders] += [_order(case_id, o) for o in case.orders if o.version >= since]
    return {table: rows for table, rows in tables.items() if rows}


def write_parts(conn: Connection, tables: dict[Table, list[Row]]) -> int:
    """Upsert the rows; returns how many were inserted or changed."""
    written = 0
    for table, rows in tables.items():
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["case_id", "no"],
            set_={c.name: stmt.excluded[c.name] for c in table.columns if not c.primary_key},
            where=table.c.version < stmt.excluded.version,
        )
        written += int(conn.execute(stmt, rows).rowcount or 0)
    return written


def _task(case_id: str, task: Task) -> Row:
    return {
        "case_id": case_id,
        "no": task.no,
        "version": task.version,
        "department": task.department,
        "role": task.role.value,
        "state": task.state.value,
        "dispatched_at": task.dispatched_at,
        "respond_by": task.respond_by,
        "resolve_by": task.resolve_by,
        "accepted_at": task.accepted_at,
        "ended_at": task.ended_at,
        "note": task.note,
        "reason": task.reason,
        "extended": task.extended,
    }


def _extension(case_id: str, extension: Extension) -> Row:
    return {
        "case_id": case_id,
        "no": extension.no,
        "version": extension.version,
        "department": extension.department,
        "task": extension.task,
        "state": extension.state.value,
        "until": extension.until,
        "previous": extension.previous,
        "reason": extension.reason,
        "requested_at": extension.requested_at,
        "requested_by": extension.requested_by,
        "decided_at": extension.decided_at,
        "decided_by": extension.decided_by,
        "decision": extension.decision,
    }


def _order(case_id: str, order: Order) -> Row:
    return {
        "case_id": case_id,
        "no": order.no,
        "version": order.version,
        "department": order.department,
        "level": order.level.value,
        "state": order.state.value,
        "text": order.text,
        "reply_by": order.reply_by,
        "issued_at": order.issued_at,
        "issued_by": order.issued_by,
        "reply": order.reply,
        "replied_at": order.replied_at,
        "replied_by": order.replied_by,
    }
