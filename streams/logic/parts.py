"""The parts of a case the duty office works with — tasks, extensions, orders
(:mod:`schemas.duty`) — changed the one way every handler changes them.

Pure list operations on a snapshot: each returns the ``changes`` for
:func:`streams.logic.casework.next_event`, which stamps every part that changed
with the new case version. ``departments`` always follows the tasks (the lead
first, then each co-department whose task is live or done), so who sees a case
and whose queue it is in is decided by the tasks alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel

from schemas.cases import CaseSnapshot
from schemas.duty import (
    UNFINISHED_TASK_STATES,
    VISIBLE_TASK_STATES,
    Extension,
    ExtensionState,
    Order,
    Task,
    TaskRole,
    TaskState,
)

P = TypeVar("P", bound=BaseModel)


def stamp(before: Sequence[P], after: Sequence[P], version: int) -> list[P]:
    """``after`` with every part that is new or differs from ``before`` (version
    aside) stamped with ``version``."""
    out = []
    for i, part in enumerate(after):
        old = before[i] if i < len(before) else None
        if old is part:
            out.append(part)
            continue
        if old is None or _without_version(old) != _without_version(part):
            part = part.model_copy(update={"version": version})
        out.append(part)
    return out


def _without_version(part: BaseModel) -> dict[str, Any]:
    data = dict(part.__dict__)
    data.pop("version", None)
    return data


def departments_of(tasks: Sequence[Task]) -> tuple[str | None, list[str]]:
    """``(lead, departments)``: the lead's department (its newest lead task still
    counting) and every department whose task is live or done, the lead first."""
    visible = [t for t in tasks if t.state in VISIBLE_TASK_STATES]
    leads = [t.department for t in visible if t.role is TaskRole.LEAD]
    lead = leads[-1] if leads else None
    others = [t.department for t in visible if t.department != lead]
    return lead, list(dict.fromkeys([*([lead] if lead else []), *others]))


def with_tasks(tasks: list[Task]) -> dict[str, Any]:
    """The snapshot changes for a new task list: the list, the lead and departments."""
    lead, departments = departments_of(tasks)
    return {"tasks": tasks, "lead_department": lead, "departments": departments}


def task_of(case: CaseSnapshot, department: str | None) -> Task | None:
    """The department's newest task (a department holds one at a time)."""
    found = [t for t in case.current_tasks() if t.department == department]
    return found[-1] if found else None


def lead_task(case: CaseSnapshot) -> Task | None:
    leads = [t for t in case.current_tasks() if t.role is TaskRole.LEAD]
    return leads[-1] if leads else None


def replace_task(tasks: Sequence[Task], task: Task) -> list[Task]:
    return [task if t.no == task.no else t for t in tasks]


def new_task(
    tasks: Sequence[Task],
    department: str,
    role: TaskRole,
    time: datetime,
    respond_by: datetime | None,
    resolve_by: datetime | None,
) -> Task:
    return Task(
        no=len(tasks) + 1,
        department=department,
        role=role,
        dispatched_at=time,
        respond_by=respond_by,
        resolve_by=resolve_by,
    )


def end_task(task: Task, state: TaskState, time: datetime, **more: Any) -> Task:
    return task.model_copy(update={"state": state, "ended_at": time, **more})


def shift(moment: datetime | None, by: timedelta) -> datetime | None:
    return moment + by if moment is not None else None


def shift_unfinished(tasks: Sequence[Task], by: timedelta) -> list[Task]:
    """Every unfinished task's deadlines moved by ``by`` (a deferral's pause)."""
    return [
        t.model_copy(
            update={"respond_by": shift(t.respond_by, by), "resolve_by": shift(t.resolve_by, by)}
        )
        if t.state in UNFINISHED_TASK_STATES
        else t
        for t in tasks
    ]


def pending_extension(case: CaseSnapshot, number: int | None) -> Extension | None:
    """The pending extension numbered ``number``, or the oldest pending one."""
    pending = [x for x in case.extensions if x.state is ExtensionState.PENDING]
    if number is not None:
        pending = [x for x in pending if x.no == number]
    return pending[0] if pending else None


def replace_part(parts: Sequence[P], number: int, part: P) -> list[P]:
    return [part if getattr(p, "no", None) == number else p for p in parts]


def open_order(case: CaseSnapshot, number: int | None) -> Order | None:
    return next((o for o in case.orders if o.no == number), None)
