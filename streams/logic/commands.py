"""Resolve + feedback: commands on a case, checked against the case policy
(:mod:`schemas.policy`: the state machine of DESIGN.md §3, the caller's role and
scope, the action's own fields) and applied by the case agent, the one writer of
each case.

A command either becomes one or more versioned events or is refused with the
rule that refused it — never applied half-way. Command ids make retries
harmless: a command already applied is answered again, not applied again.

Handlers are looked up by the command's body, like cosmicpython's
``COMMAND_HANDLERS``: :data:`ACTION_HANDLERS` for the actions people take
(checked by the policy first), :data:`INTERNAL_HANDLERS` for the bodies the
stream sends itself (supervision ticks, merges handed over, forwarded reports),
which no caller can send through the gateway and the policy does not check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.cases import (
    AbsorbMerge,
    Action,
    CaseAction,
    CaseCommand,
    CaseEvent,
    CaseEventType,
    CaseSnapshot,
    CaseState,
    CommandResult,
    FollowReport,
    JoinNearby,
    OpenHere,
    Priority,
    SlaState,
    SuperviseTick,
)
from schemas.duty import Task, TaskRole, TaskState
from schemas.lifecycle import task_state_after
from schemas.policy import DEPARTMENT, SYSTEM, CaseFacts, Refusal, refusal
from streams.logic.casestore import RECENT_COMMANDS, CaseRecord
from streams.logic.casework import CaseWork, case_id_for, next_event
from streams.logic.duty import DUTY_HANDLERS
from streams.logic.parts import lead_task, replace_task, shift, task_of, with_tasks
from streams.logic.steps import finish, note_of, save, store
from streams.logic.supervision import Mark, due

SUPERVISION_ACTOR = "system:supervision"

#: An action's handler: the events of an accepted action, its state saved.
ActionHandler = Callable[[CaseWork, CaseRecord, CaseCommand, CaseAction], list[CaseEvent]]
#: An internal body's handler (the body is the command's, of the handler's type).
InternalHandler = Callable[[CaseWork, CaseRecord, CaseCommand, Any], list[CaseEvent]]


def _result(
    cmd: CaseCommand, accepted: bool, rule: str, record: CaseRecord | None, reason: str = ""
) -> CommandResult:
    return CommandResult(
        command_id=cmd.command_id,
        case_id=cmd.case_id,
        accepted=accepted,
        rule=rule,
        state=record.case.state if record else None,
        version=record.case.version if record else None,
        reason=reason,
    )


@dataclass
class CommandOutcome:
    events: list[CaseEvent]
    result: CommandResult
    follow_ups: list[CaseCommand] = field(default_factory=list)


def handle_command(work: CaseWork, cmd: CaseCommand) -> CommandOutcome:
    if isinstance(cmd.body, OpenHere):  # the case it names may not exist yet
        return _open_here(work, cmd, cmd.body)
    record = work.store.record(cmd.case_id)
    if record is None:
        missing = _result(cmd, False, "exists", None, f"case {cmd.case_id} does not exist")
        return CommandOutcome([], missing)
    if cmd.command_id in record.commands:
        return CommandOutcome([], _result(cmd, True, "already_applied", record))
    body = cmd.body
    if isinstance(body, CaseAction):
        refused = action_refusal(work, record, cmd, body)
        if refused is not None:
            return CommandOutcome([], _result(cmd, False, refused.rule, record, refused.reason))
        events = ACTION_HANDLERS[body.action](work, record, cmd, body)
    else:
        events = INTERNAL_HANDLERS[type(body)](work, record, cmd, body)
    after = work.store.record(cmd.case_id) or record
    commands = [*after.commands, cmd.command_id][-RECENT_COMMANDS:]
    work.store.save(after.model_copy(update={"commands": commands}))
    follow_ups = [*_follow_ups(cmd, after), *work.follow_ups]
    work.follow_ups.clear()
    return CommandOutcome(events, _result(cmd, True, "applied", after), follow_ups)


def action_refusal(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> Refusal | None:
    """The case policy, asked again by the writer (the bus is not trusted to have
    checked): the state machine, the sender's role and scope, the case's facts and
    the action's fields, with the district's departments and the command's time."""
    return refusal(
        cmd.role,
        cmd.scope,
        body.action,
        cmd.case_id,
        CaseFacts.of(record.case, record.report_ids),
        body=body,
        now=cmd.time,
        known_departments=work.district.departments,
    )


def _follow_ups(cmd: CaseCommand, record: CaseRecord) -> list[CaseCommand]:
    """A merge hands the merged case's reports to its target, which may live on
    another partition: that is a command for the target's own writer."""
    case = record.case
    if not isinstance(cmd.body, CaseAction) or cmd.body.action is not Action.MERGE:
        return []
    target = case.merged_into or ""
    return [
        CaseCommand(
            command_id=f"absorb:{case.id}",
            case_id=target,
            actor=cmd.actor,
            role=SYSTEM,
            time=cmd.time,
            body=AbsorbMerge(merged_from=case.id, report_ids=record.report_ids),
        )
    ]


# -- actions ----------------------------------------------------------------------


def dispatch(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    event = work.route(
        record, cmd.time, cmd.actor, department=body.department, co_departments=body.co_departments
    )
    return [event] if event else []


def _own_co_task(record: CaseRecord, cmd: CaseCommand) -> Task | None:
    """The sender's task when it is a co-department's (its actions stay on it)."""
    if cmd.role != DEPARTMENT or cmd.scope == record.case.lead_department:
        return None
    task = task_of(record.case, cmd.scope)
    return task if task is not None and task.role is TaskRole.CO else None


def _lead_task_now(case: CaseSnapshot, **update: Any) -> dict[str, Any]:
    """The snapshot changes that put the lead's task in ``update``'s shape."""
    tasks = case.current_tasks()
    lead = lead_task(case)
    if lead is None:
        return with_tasks(tasks)
    return with_tasks(replace_task(tasks, lead.model_copy(update=update)))


def co_task_action(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction, task: Task
) -> list[CaseEvent]:
    """A co-department's accept, resolve or return: its task changes, the case's
    state and lead stay (a returned task goes back to the duty office)."""
    time, action = cmd.time, body.action
    state = task_state_after(action)
    update: dict[str, Any] = {"state": state}
    if action is Action.ACCEPT:
        update["accepted_at"] = time
    else:
        update["ended_at"] = time
    if action is Action.RESOLVE:
        update.update(note=body.note, media=list(body.media))
    if action is Action.RETURN:
        update["reason"] = body.reason
    tasks = replace_task(record.case.current_tasks(), task.model_copy(update=update))
    data = {
        "action": action.value,
        "task": task.id,
        "department": task.department,
        "role": task.role.value,
        "state": state.value,
        "reason": body.reason,
        **note_of(body),
    }
    event = next_event(
        record.case,
        CaseEventType.TASK_CHANGED,
        time,
        cmd.actor,
        {k: v for k, v in data.items() if v is not None},
        **with_tasks(tasks),
    )
    return save(work, record, event)


def accept(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    co = _own_co_task(record, cmd)
    if co is not None:
        return co_task_action(work, record, cmd, body, co)
    case = record.case
    event = next_event(
        case,
        CaseEventType.ACCEPTED,
        cmd.time,
        cmd.actor,
        {"department": case.lead_department, **note_of(body)},
        state=CaseState.IN_PROGRESS,
        **_lead_task_now(case, state=TaskState.IN_PROGRESS, accepted_at=cmd.time),
    )
    return save(work, record, event)


def return_(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """The lead's return: back to triage without the lead, then routed again (the
    SLA clock runs on). A co-department's return changes its own task only."""
    co = _own_co_task(record, cmd)
    if co is not None:
        return co_task_action(work, record, cmd, body, co)
    case = record.case
    lead = case.lead_department
    excluded = sorted({*case.excluded_departments, *(lead or "",)} - {""})
    returned = next_event(
        case,
        CaseEventType.RETURNED,
        cmd.time,
        cmd.actor,
        {"reason": body.reason, "department": lead},
        state=CaseState.OPEN,
        respond_by=None,
        excluded_departments=excluded,
        **_lead_task_now(case, state=TaskState.RETURNED, ended_at=cmd.time, reason=body.reason),
    )
    record = store(work, record, returned)
    rerouted = work.route(record, cmd.time)
    return [returned, rerouted] if rerouted else [returned]


def resolve(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """The lead's resolve resolves the case (the policy refused it while a
    co-department's task was open); a co-department's resolves its task."""
    co = _own_co_task(record, cmd)
    if co is not None:
        return co_task_action(work, record, cmd, body, co)
    case = record.case
    note = note_of(body)
    event = next_event(
        case,
        CaseEventType.RESOLVED,
        cmd.time,
        cmd.actor,
        {"department": case.lead_department, **note},
        state=CaseState.RESOLVED,
        resolution=note or None,
        verify_by=work.district.verify_by(case.priority, cmd.time),
        **_lead_task_now(
            case,
            state=TaskState.DONE,
            ended_at=cmd.time,
            note=body.note,
            media=list(body.media),
        ),
    )
    return save(work, record, event)


def verify(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """Pass closes the case (结案); fail sends it back with a fresh SLA (返工)."""
    time, actor = cmd.time, cmd.actor
    data = {
        "passed": bool(body.passed),
        "note": body.note,
        "media": body.media,
        "reason": body.reason,
    }
    verified = next_event(record.case, CaseEventType.VERIFIED, time, actor, data)
    record = store(work, record, verified)
    if body.passed:
        closed = next_event(
            verified.case,
            CaseEventType.CLOSED,
            time,
            actor,
            {"verified_by": actor},
            state=CaseState.CLOSED,
            closed_at=time,
        )
        return [verified, *finish(work, record, closed)]
    return [verified, *_rework(work, record, time, actor, {"reason": body.reason})]


def reopen(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    return _rework(work, record, cmd.time, cmd.actor, {"reopened": True, **note_of(body)})


def reject(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    event = next_event(
        record.case,
        CaseEventType.REJECTED,
        cmd.time,
        cmd.actor,
        {"reason": body.reason},
        state=CaseState.REJECTED,
        closed_at=cmd.time,
    )
    return finish(work, record, event)


def merge(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """The case ends as a duplicate; its reports follow as an absorb command."""
    event = next_event(
        record.case,
        CaseEventType.MERGED,
        cmd.time,
        cmd.actor,
        {"into": body.into},
        state=CaseState.MERGED,
        merged_into=body.into,
        closed_at=cmd.time,
    )
    return finish(work, record, event)


def escalate(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    case = record.case
    event = next_event(
        case,
        CaseEventType.ESCALATED,
        cmd.time,
        cmd.actor,
        {"reason": body.reason, **note_of(body)},
        escalation_level=case.escalation_level + 1,
    )
    return save(work, record, event)


def comment(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    event = next_event(record.case, CaseEventType.COMMENTED, cmd.time, cmd.actor, note_of(body))
    return save(work, record, event)


def reprioritise(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """A new priority, and deadlines that follow it (see :func:`repriced`)."""
    case = record.case
    priority = body.priority or case.priority
    reasons = [*case.priority_reasons, f"{priority.value}: set by {cmd.actor}"]
    deadlines = repriced(work, record, priority)
    data: dict[str, Any] = {"from": case.priority.value, "to": priority.value}
    data["reason"] = body.reason
    data.update({k: v.isoformat() for k, v in deadlines.items() if k.endswith("_by") and v})
    event = next_event(
        case,
        CaseEventType.REPRIORITISED,
        cmd.time,
        cmd.actor,
        data,
        priority=priority,
        priority_reasons=reasons,
        **deadlines,
    )
    return save(work, record, event)


def repriced(work: CaseWork, record: CaseRecord, priority: Priority) -> dict[str, Any]:
    """The deadlines of a dispatched case under a new priority: each moves by how
    much the new priority's SLA differs from the old one's, counted from the same
    start (the cycle's for ``respond_by`` / ``resolve_by``, the first dispatch's
    for ``due_by``), so extensions granted and time deferred are kept. A P4
    raised to P1 no longer keeps its 7-day deadline."""
    case = record.case
    start, first = record.sla_started_at, case.dispatched_at
    if start is None or first is None:
        return {}
    old, new = case.priority, priority
    respond = _delta(work, old, new, start, 0)
    resolve = _delta(work, old, new, start, 1)
    due = _delta(work, old, new, first, 1)
    tasks = [
        t.model_copy(
            update={
                "respond_by": shift(t.respond_by, respond),
                "resolve_by": shift(t.resolve_by, resolve),
            }
        )
        if t.unfinished
        else t
        for t in case.current_tasks()
    ]
    return {
        "respond_by": shift(case.respond_by, respond),
        "resolve_by": shift(case.resolve_by, resolve),
        "due_by": shift(case.due_by, due),
        **with_tasks(tasks),
    }


def _delta(work: CaseWork, old: Priority, new: Priority, start: datetime, which: int) -> timedelta:
    return work.district.deadlines(new, start)[which] - work.district.deadlines(old, start)[which]


def rate(work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction) -> list[CaseEvent]:
    event = next_event(
        record.case,
        CaseEventType.RATED,
        cmd.time,
        cmd.actor,
        {"score": body.score, **note_of(body)},
        satisfaction=body.score,
    )
    return save(work, record, event)


#: Every action a caller may send (``open`` and ``attach_report`` come from the stream).
ACTION_HANDLERS: dict[Action, ActionHandler] = {
    Action.DISPATCH: dispatch,
    Action.ACCEPT: accept,
    Action.RETURN: return_,
    Action.RESOLVE: resolve,
    Action.VERIFY: verify,
    Action.REOPEN: reopen,
    Action.REJECT: reject,
    Action.MERGE: merge,
    Action.ESCALATE: escalate,
    Action.COMMENT: comment,
    Action.REPRIORITISE: reprioritise,
    Action.RATE: rate,
    **DUTY_HANDLERS,
}


# -- internal bodies ------------------------------------------------------------------


def _supervise_tick(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: SuperviseTick
) -> list[CaseEvent]:
    return supervise(work, record, cmd.time)


def _absorb_merge(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: AbsorbMerge
) -> list[CaseEvent]:
    return absorb(work, record, body, cmd)


def _follow_report(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: FollowReport
) -> list[CaseEvent]:
    return work.follow(record, body.report)


def _join_nearby(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: JoinNearby
) -> list[CaseEvent]:
    """A report from across a community line joins, or goes back home to open."""
    events = work.join_nearby(record, body.report)
    if events is None:
        report = body.report
        work.follow_ups.append(
            CaseCommand(
                command_id=f"open-here:{report.id}",
                case_id=case_id_for(report),
                actor=cmd.actor,
                role=SYSTEM,
                time=cmd.time,
                body=OpenHere(report=report),
            )
        )
        return []
    return events


def _open_here(work: CaseWork, cmd: CaseCommand, body: OpenHere) -> CommandOutcome:
    """The report opens or joins a case on its own partition (idempotent: a report
    already applied changes nothing)."""
    outcome = work.on_report(body.report, local_only=True)
    record = work.store.record(cmd.case_id) or work.store.record(
        work.store.case_of_report(body.report.id) or ""
    )
    return CommandOutcome(outcome.events, _result(cmd, True, "applied", record))


#: The bodies the stream sends itself, by type (``OpenHere`` is handled before a
#: case is looked up: it may open one).
INTERNAL_HANDLERS: dict[
    type[SuperviseTick | AbsorbMerge | FollowReport | JoinNearby], InternalHandler
] = {
    SuperviseTick: _supervise_tick,
    AbsorbMerge: _absorb_merge,
    FollowReport: _follow_report,
    JoinNearby: _join_nearby,
}


# -- shared steps ---------------------------------------------------------------------


def _rework(
    work: CaseWork, record: CaseRecord, time: datetime, actor: str, data: dict[str, object]
) -> list[CaseEvent]:
    """Back to the lead with a fresh SLA (返工): verify fail or reopen. The lead's
    task is dispatched again; ``due_by`` stays (assessment is not reset)."""
    case = record.case
    respond_by, resolve_by = work.district.deadlines(case.priority, time)
    event = next_event(
        case,
        CaseEventType.REWORKED,
        time,
        actor,
        {**data, "department": case.lead_department, "resolve_by": resolve_by.isoformat()},
        state=CaseState.DISPATCHED,
        rework_count=case.rework_count + 1,
        respond_by=respond_by,
        resolve_by=resolve_by,
        verify_by=None,
        sla_state=SlaState.ON_TRACK,
        closed_at=None,
        resolution=None,
        **_lead_task_now(
            case,
            state=TaskState.DISPATCHED,
            dispatched_at=time,
            accepted_at=None,
            ended_at=None,
            respond_by=respond_by,
            resolve_by=resolve_by,
        ),
    )
    work.store.save(
        record.model_copy(update={"case": event.case, "sla_started_at": time, "marks": []})
    )
    return [event]


def absorb(
    work: CaseWork, record: CaseRecord, body: AbsorbMerge, cmd: CaseCommand
) -> list[CaseEvent]:
    """The target of a merge takes over the merged case's reports (heat adds up)."""
    case = record.case
    if case.state not in (CaseState.OPEN, CaseState.DISPATCHED, CaseState.IN_PROGRESS):
        return []
    new_ids = [r for r in body.report_ids if r not in record.report_ids]
    event = next_event(
        case,
        CaseEventType.REPORT_ATTACHED,
        cmd.time,
        cmd.actor,
        {"merged_from": body.merged_from, "report_ids": new_ids},
        report_count=case.report_count + len(new_ids),
    )
    for report_id in new_ids:
        work.store.index_report(report_id, case.id)
    return save(work, record, event, report_ids=[*record.report_ids, *new_ids])


def supervise(work: CaseWork, record: CaseRecord, now: datetime) -> list[CaseEvent]:
    """督办: raise every mark due at ``now`` that was not raised yet (see
    :mod:`streams.logic.supervision`): the resolve SLA's warning and escalations,
    and the response, co-task, verification and order-reply deadlines."""
    events: list[CaseEvent] = []
    marks = list(record.marks)
    case = record.case
    for mark in due(record, now):
        event = _supervised(case, mark, now)
        events.append(event)
        marks.append(mark.key)
        case = event.case
    if events:
        work.store.save(record.model_copy(update={"case": case, "marks": marks}))
    return events


def _supervised(case: CaseSnapshot, mark: Mark, now: datetime) -> CaseEvent:
    actor = SUPERVISION_ACTOR
    if mark.kind == "warning":
        return next_event(
            case,
            CaseEventType.SUPERVISED,
            now,
            actor,
            {"mark": mark.kind, "resolve_by": _iso(case.resolve_by)},
            sla_state=SlaState.WARNING,
        )
    if mark.kind in ("overdue", "escalation_150"):
        return next_event(
            case,
            CaseEventType.ESCALATED,
            now,
            actor,
            {"mark": mark.kind, "resolve_by": _iso(case.resolve_by)},
            sla_state=SlaState.OVERDUE,
            escalation_level=case.escalation_level + 1,
        )
    data: dict[str, Any] = {"mark": mark.kind, "due": mark.at.isoformat()}
    task = next((t for t in case.current_tasks() if t.id == mark.part), None)
    order = next((o for o in case.orders if o.id == mark.part), None)
    if task is not None:
        data.update(task=task.id, department=task.department, role=task.role.value)
    if order is not None:
        data.update(order=order.id, department=order.department, level=order.level.value)
    return next_event(case, CaseEventType.SUPERVISED, now, actor, data)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
