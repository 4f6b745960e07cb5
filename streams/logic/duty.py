"""The duty office's hands on a case (总值班室, DESIGN.md §3): reassign a case or
one task (改派), form the joint team (add / remove a co-department, release a
task), decide extensions (延期), defer and resume (缓办), issue supervision
orders (督办单) — and a department's requests and replies to them.

Handlers of :data:`streams.logic.commands.ACTION_HANDLERS`: the case policy has
already accepted the command (state, role, scope, the case's facts, the fields),
so each handler only applies it, as one versioned event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from schemas.cases import Action, CaseAction, CaseCommand, CaseEvent, CaseEventType, CaseState
from schemas.duty import (
    Extension,
    ExtensionState,
    Order,
    OrderState,
    TaskRole,
    TaskState,
    part_number,
)
from streams.logic.casestore import CaseRecord
from streams.logic.casework import CaseWork, next_event
from streams.logic.parts import (
    end_task,
    new_task,
    open_order,
    pending_extension,
    replace_part,
    replace_task,
    shift,
    shift_unfinished,
    task_of,
    with_tasks,
)
from streams.logic.steps import save

Handler = Callable[[CaseWork, CaseRecord, CaseCommand, CaseAction], list[CaseEvent]]


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def reassign(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """改派: the task (the lead's by default, or one returned) moves to
    ``department``; the old one ends ``reassigned``. The SLA clock runs on
    from the first dispatch unless ``restart_clock``; only the response deadline
    of the new task starts now."""
    case, time = record.case, cmd.time
    moved = task_of(case, body.task or case.lead_department)
    if moved is None or body.department is None:  # the policy refused these
        return []
    respond_by, resolve_by = work.district.deadlines(case.priority, time)
    if not body.restart_clock:
        resolve_by = moved.resolve_by or case.resolve_by or resolve_by
    ended = end_task(moved, TaskState.REASSIGNED, time, reason=body.reason)
    tasks = replace_task(case.current_tasks(), ended)
    task = new_task(tasks, body.department, moved.role, time, respond_by, resolve_by)
    tasks.append(task)
    changes: dict[str, Any] = with_tasks(tasks)
    kept: dict[str, Any] = {}
    if moved.role is TaskRole.LEAD:
        changes.update(state=CaseState.DISPATCHED, respond_by=respond_by, resolve_by=resolve_by)
        if body.restart_clock:
            changes["due_by"] = resolve_by
            kept = {"sla_started_at": time, "marks": []}
    data = {
        "task": task.id,
        "from_task": moved.id,
        "from": moved.department,
        "department": body.department,
        "role": moved.role.value,
        "reason": body.reason,
        "restart_clock": body.restart_clock,
        "respond_by": _iso(respond_by),
        "resolve_by": _iso(resolve_by),
    }
    event = next_event(case, CaseEventType.REASSIGNED, time, cmd.actor, data, **changes)
    return save(work, record, event, **kept)


def add_department(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """A co-department joins: its task answers in its own response time and
    resolves by the case's deadline."""
    case, time = record.case, cmd.time
    if body.department is None:
        return []
    respond_by, resolve_by = work.district.deadlines(case.priority, time)
    tasks = case.current_tasks()
    task = new_task(
        tasks, body.department, TaskRole.CO, time, respond_by, case.resolve_by or resolve_by
    )
    tasks.append(task)
    return _task_changed(work, record, cmd, body, tasks, task.id, body.department, "dispatched")


def _end_co_task(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """``remove_department`` and ``release_task``: the co-department's task ends
    ``released`` and no longer holds the lead's resolve back."""
    case = record.case
    task = task_of(case, body.department)
    if task is None:
        return []
    reason = body.reason or (
        "removed from the team" if body.action is Action.REMOVE_DEPARTMENT else None
    )
    ended = end_task(task, TaskState.RELEASED, cmd.time, reason=reason)
    tasks = replace_task(case.current_tasks(), ended)
    return _task_changed(work, record, cmd, body, tasks, task.id, task.department, "released")


def _task_changed(
    work: CaseWork,
    record: CaseRecord,
    cmd: CaseCommand,
    body: CaseAction,
    tasks: list[Any],
    task_id: str,
    department: str,
    state: str,
) -> list[CaseEvent]:
    data = _clean(
        {
            "action": body.action.value,
            "task": task_id,
            "department": department,
            "role": TaskRole.CO.value,
            "state": state,
            "reason": body.reason,
        }
    )
    event = next_event(
        record.case, CaseEventType.TASK_CHANGED, cmd.time, cmd.actor, data, **with_tasks(tasks)
    )
    return save(work, record, event)


def request_extension(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """延期申请: the department asks to move its task's deadline to ``until``."""
    case = record.case
    task = task_of(case, cmd.scope)
    if task is None or body.until is None or body.reason is None:
        return []
    extension = Extension(
        no=len(case.extensions) + 1,
        department=task.department,
        task=task.no,
        until=body.until,
        previous=task.resolve_by,
        reason=body.reason,
        requested_at=cmd.time,
        requested_by=cmd.actor,
    )
    data = {
        "extension": extension.id,
        "task": task.id,
        "department": task.department,
        "until": body.until.isoformat(),
        "previous": _iso(task.resolve_by),
        "reason": body.reason,
    }
    event = next_event(
        case,
        CaseEventType.EXTENSION_REQUESTED,
        cmd.time,
        cmd.actor,
        _clean(data),
        extensions=[*case.extensions, extension],
    )
    return save(work, record, event)


def decide_extension(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """The duty office approves or refuses a pending extension; an approved one
    moves the task's deadline, and the lead's moves the case's — and ``due_by``
    by as much (按期 is measured against the first deadline plus extensions)."""
    case, time = record.case, cmd.time
    extension = pending_extension(case, part_number(body.extension, "x"))
    if extension is None:
        return []
    approved = bool(body.approved)
    decided = extension.model_copy(
        update={
            "state": ExtensionState.APPROVED if approved else ExtensionState.REFUSED,
            "decided_at": time,
            "decided_by": cmd.actor,
            "decision": body.reason,
        }
    )
    changes: dict[str, Any] = {"extensions": replace_part(case.extensions, extension.no, decided)}
    tasks = case.current_tasks()
    task = next((t for t in tasks if t.no == extension.task), None)
    if approved and task is not None:
        moved = task.model_copy(
            update={"resolve_by": extension.until, "extended": task.extended + 1}
        )
        changes.update(with_tasks(replace_task(tasks, moved)))
        if task.role is TaskRole.LEAD and task.department == case.lead_department:
            by = extension.until - (task.resolve_by or extension.until)
            changes.update(resolve_by=extension.until, due_by=shift(case.due_by, by))
    data = {
        "extension": extension.id,
        "task": f"t{extension.task}",
        "department": extension.department,
        "approved": approved,
        "until": extension.until.isoformat(),
        "reason": body.reason,
    }
    event = next_event(
        case, CaseEventType.EXTENSION_DECIDED, time, cmd.actor, _clean(data), **changes
    )
    return save(work, record, event)


def defer(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """缓办: waiting on something outside the department's hands. The SLA pauses
    and the case leaves the on-time denominator of assessment."""
    case = record.case
    event = next_event(
        case,
        CaseEventType.DEFERRED,
        cmd.time,
        cmd.actor,
        {"reason": body.reason},
        deferred_at=cmd.time,
        deferrals=case.deferrals + 1,
    )
    return save(work, record, event)


def resume(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """The deferral ends: every deadline of the case and its open tasks moves by
    the time it was paused, and so does the supervision clock's start."""
    case = record.case
    paused = max(cmd.time - (case.deferred_at or cmd.time), timedelta(0))
    event = next_event(
        case,
        CaseEventType.RESUMED,
        cmd.time,
        cmd.actor,
        _clean({"reason": body.reason, "paused_hours": round(paused.total_seconds() / 3600, 2)}),
        deferred_at=None,
        respond_by=shift(case.respond_by, paused),
        resolve_by=shift(case.resolve_by, paused),
        due_by=shift(case.due_by, paused),
        **with_tasks(shift_unfinished(case.current_tasks(), paused)),
    )
    started = shift(record.sla_started_at, paused)
    return save(work, record, event, sla_started_at=started)


def order(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """督办单 to a department with a task (the lead by default): level, text and a
    reply deadline, which supervision watches."""
    case = record.case
    department = body.department or case.lead_department
    if department is None or body.level is None or body.reply_by is None or body.text is None:
        return []
    issued = Order(
        no=len(case.orders) + 1,
        department=department,
        level=body.level,
        text=body.text,
        reply_by=body.reply_by,
        issued_at=cmd.time,
        issued_by=cmd.actor,
    )
    data = {
        "order": issued.id,
        "department": department,
        "level": issued.level.value,
        "reply_by": issued.reply_by.isoformat(),
        "text": issued.text,
    }
    event = next_event(
        case, CaseEventType.ORDER_ISSUED, cmd.time, cmd.actor, data, orders=[*case.orders, issued]
    )
    return save(work, record, event)


def reply(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """The department answers an order addressed to it."""
    case = record.case
    found = open_order(case, part_number(body.order, "o"))
    if found is None or found.state is not OrderState.OPEN:
        return []
    answered = found.model_copy(
        update={
            "state": OrderState.ANSWERED,
            "reply": body.text,
            "replied_at": cmd.time,
            "replied_by": cmd.actor,
        }
    )
    data = {"order": found.id, "department": found.department, "text": body.text}
    event = next_event(
        case,
        CaseEventType.ORDER_REPLIED,
        cmd.time,
        cmd.actor,
        data,
        orders=replace_part(case.orders, found.no, answered),
    )
    return save(work, record, event)


#: The duty office's commands and a department's answers, by action.
DUTY_HANDLERS: dict[Action, Handler] = {
    Action.REASSIGN: reassign,
    Action.ADD_DEPARTMENT: add_department,
    Action.REMOVE_DEPARTMENT: _end_co_task,
    Action.RELEASE_TASK: _end_co_task,
    Action.REQUEST_EXTENSION: request_extension,
    Action.DECIDE_EXTENSION: decide_extension,
    Action.DEFER: defer,
    Action.RESUME: resume,
    Action.ORDER: order,
    Action.REPLY: reply,
}
