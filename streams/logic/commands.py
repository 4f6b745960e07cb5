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
from datetime import datetime
from typing import Any

from schemas.cases import (
    AbsorbMerge,
    Action,
    CaseAction,
    CaseCommand,
    CaseEvent,
    CaseEventType,
    CaseState,
    CommandResult,
    FollowReport,
    SlaState,
    SuperviseTick,
)
from schemas.policy import SYSTEM, CaseFacts, Refusal, refusal
from streams.logic.casestore import RECENT_COMMANDS, CaseRecord
from streams.logic.casework import CaseWork, next_event
from streams.logic.supervision import due_marks

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
    record = work.store.record(cmd.case_id)
    if record is None:
        missing = _result(cmd, False, "exists", None, f"case {cmd.case_id} does not exist")
        return CommandOutcome([], missing)
    if cmd.command_id in record.commands:
        return CommandOutcome([], _result(cmd, True, "already_applied", record))
    body = cmd.body
    if isinstance(body, CaseAction):
        refused = action_refusal(record, cmd, body)
        if refused is not None:
            return CommandOutcome([], _result(cmd, False, refused.rule, record, refused.reason))
        events = ACTION_HANDLERS[body.action](work, record, cmd, body)
    else:
        events = INTERNAL_HANDLERS[type(body)](work, record, cmd, body)
    after = work.store.record(cmd.case_id) or record
    commands = [*after.commands, cmd.command_id][-RECENT_COMMANDS:]
    work.store.save(after.model_copy(update={"commands": commands}))
    return CommandOutcome(events, _result(cmd, True, "applied", after), _follow_ups(cmd, after))


def action_refusal(record: CaseRecord, cmd: CaseCommand, body: CaseAction) -> Refusal | None:
    """The case policy, asked again by the writer (the bus is not trusted to have
    checked): the state machine, the sender's role and scope, the action's fields."""
    return refusal(
        cmd.role,
        cmd.scope,
        body.action,
        cmd.case_id,
        CaseFacts.of(record.case, record.report_ids),
        passed=body.passed,
        into=body.into,
        priority=body.priority,
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


def _note(body: CaseAction) -> dict[str, Any]:
    return {k: v for k, v in (("note", body.note), ("media", body.media or None)) if v}


def dispatch(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    event = work.route(record, cmd.time, cmd.actor, department=body.department)
    return [event] if event else []


def accept(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    event = next_event(
        record.case,
        CaseEventType.ACCEPTED,
        cmd.time,
        cmd.actor,
        _note(body),
        state=CaseState.IN_PROGRESS,
    )
    return _save(work, record, event)


def return_(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    """Back to triage without the returning department, then routed again."""
    case = record.case
    excluded = sorted({*case.excluded_departments, *(case.lead_department or "",)} - {""})
    returned = next_event(
        case,
        CaseEventType.RETURNED,
        cmd.time,
        cmd.actor,
        {"reason": body.reason, "department": case.lead_department},
        state=CaseState.OPEN,
        lead_department=None,
        departments=[],
        respond_by=None,
        resolve_by=None,
        sla_state=SlaState.ON_TRACK,
        excluded_departments=excluded,
    )
    record = _store(work, record, returned)
    rerouted = work.route(record, cmd.time)
    return [returned, rerouted] if rerouted else [returned]


def resolve(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    note = _note(body)
    event = next_event(
        record.case,
        CaseEventType.RESOLVED,
        cmd.time,
        cmd.actor,
        note,
        state=CaseState.RESOLVED,
        resolution=note or None,
    )
    return _save(work, record, event)


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
    record = _store(work, record, verified)
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
        return [verified, *_finish(work, record, closed)]
    return [verified, *_rework(work, record, time, actor, {"reason": body.reason})]


def reopen(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    return _rework(work, record, cmd.time, cmd.actor, {"reopened": True, **_note(body)})


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
    return _finish(work, record, event)


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
    return _finish(work, record, event)


def escalate(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    case = record.case
    event = next_event(
        case,
        CaseEventType.ESCALATED,
        cmd.time,
        cmd.actor,
        {"reason": body.reason, **_note(body)},
        escalation_level=case.escalation_level + 1,
    )
    return _save(work, record, event)


def comment(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    event = next_event(record.case, CaseEventType.COMMENTED, cmd.time, cmd.actor, _note(body))
    return _save(work, record, event)


def reprioritise(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    case = record.case
    priority = body.priority or case.priority
    reasons = [*case.priority_reasons, f"{priority.value}: set by {cmd.actor}"]
    event = next_event(
        case,
        CaseEventType.REPRIORITISED,
        cmd.time,
        cmd.actor,
        {"from": case.priority.value, "to": priority.value, "reason": body.reason},
        priority=priority,
        priority_reasons=reasons,
    )
    return _save(work, record, event)


def rate(work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction) -> list[CaseEvent]:
    event = next_event(
        record.case,
        CaseEventType.RATED,
        cmd.time,
        cmd.actor,
        {"score": body.score, **_note(body)},
        satisfaction=body.score,
    )
    return _save(work, record, event)


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


#: The bodies the stream sends itself, by type.
INTERNAL_HANDLERS: dict[type[SuperviseTick | AbsorbMerge | FollowReport], InternalHandler] = {
    SuperviseTick: _supervise_tick,
    AbsorbMerge: _absorb_merge,
    FollowReport: _follow_report,
}


# -- shared steps ---------------------------------------------------------------------


def _store(work: CaseWork, record: CaseRecord, event: CaseEvent) -> CaseRecord:
    updated = record.model_copy(update={"case": event.case})
    work.store.save(updated)
    return updated


def _save(work: CaseWork, record: CaseRecord, event: CaseEvent) -> list[CaseEvent]:
    _store(work, record, event)
    return [event]


def _finish(work: CaseWork, record: CaseRecord, event: CaseEvent) -> list[CaseEvent]:
    """A terminal or closing change: the case stops collecting reports."""
    _store(work, work.unregister(record), event)
    return [event]


def _rework(
    work: CaseWork, record: CaseRecord, time: datetime, actor: str, data: dict[str, object]
) -> list[CaseEvent]:
    """Back to the department with a fresh SLA (返工): verify fail or reopen."""
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
        sla_state=SlaState.ON_TRACK,
        closed_at=None,
        resolution=None,
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
    taken = record.model_copy(update={"report_ids": [*record.report_ids, *new_ids]})
    return _save(work, taken, event)


def supervise(work: CaseWork, record: CaseRecord, now: datetime) -> list[CaseEvent]:
    """督办: raise every SLA mark due at ``now`` that was not raised yet."""
    events: list[CaseEvent] = []
    marks = list(record.marks)
    case = record.case
    for mark in due_marks(record, now):
        if mark == "warning":
            event = next_event(
                case,
                CaseEventType.SUPERVISED,
                now,
                "system:supervision",
                {"mark": mark, "resolve_by": _iso(case.resolve_by)},
                sla_state=SlaState.WARNING,
            )
        else:
            event = next_event(
                case,
                CaseEventType.ESCALATED,
                now,
                "system:supervision",
                {"mark": mark, "resolve_by": _iso(case.resolve_by)},
                sla_state=SlaState.OVERDUE,
                escalation_level=case.escalation_level + 1,
            )
        events.append(event)
        marks.append(mark)
        case = event.case
    if events:
        work.store.save(record.model_copy(update={"case": case, "marks": marks}))
    return events


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
