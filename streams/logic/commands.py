"""Resolve + feedback: commands on a case, checked against the state machine of
DESIGN.md §3 and applied by the case agent, the one writer of each case.

A command either becomes one or more versioned events or is refused with the
rule that refused it — never applied half-way. Command ids make retries
harmless: a command already applied is answered again, not applied again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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
from schemas.lifecycle import decide
from streams.logic.casestore import RECENT_COMMANDS, CaseRecord
from streams.logic.casework import CaseWork, next_event
from streams.logic.supervision import due_marks

DEPARTMENT_ACTIONS = frozenset({Action.ACCEPT, Action.RETURN, Action.RESOLVE})


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
    if isinstance(body, SuperviseTick):
        events = supervise(work, record, cmd.time)
    elif isinstance(body, AbsorbMerge):
        events = absorb(work, record, body, cmd)
    elif isinstance(body, FollowReport):
        events = work.follow(record, body.report)
    else:
        refusal = _refusal(record, cmd, body)
        if refusal is not None:
            return CommandOutcome([], _result(cmd, False, refusal[0], record, refusal[1]))
        events = apply_action(work, record, cmd, body)
    after = work.store.record(cmd.case_id) or record
    commands = [*after.commands, cmd.command_id][-RECENT_COMMANDS:]
    work.store.save(after.model_copy(update={"commands": commands}))
    return CommandOutcome(events, _result(cmd, True, "applied", after), _follow_ups(cmd, after))


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
            role="system",
            time=cmd.time,
            body=AbsorbMerge(merged_from=case.id, report_ids=case.report_ids),
        )
    ]


def _refusal(record: CaseRecord, cmd: CaseCommand, body: CaseAction) -> tuple[str, str] | None:
    decision = decide(record.case.state, body.action, body.passed)
    if not decision.allowed:
        return decision.rule, decision.reason
    case = record.case
    if (
        cmd.role == "department"
        and body.action in DEPARTMENT_ACTIONS
        and (not cmd.scope or cmd.scope not in case.departments)
    ):
        return "scope", f"{body.action.value}: case is not assigned to {cmd.scope or '-'}"
    if body.action is Action.MERGE and (body.into == case.id or not body.into):
        return "merge", "merge: a case cannot be merged into itself"
    if body.action is Action.REPRIORITISE and body.priority == case.priority:
        return "reprioritise", f"reprioritise: already {case.priority.value}"
    return None


def apply_action(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    case, time, actor = record.case, cmd.time, cmd.actor
    note = {k: v for k, v in (("note", body.note), ("media", body.media or None)) if v}
    match body.action:
        case Action.DISPATCH:
            event = work.route(record, time, actor, department=body.department)
            return [event] if event else []
        case Action.ACCEPT:
            return _save(
                work,
                record,
                next_event(
                    case, CaseEventType.ACCEPTED, time, actor, note, state=CaseState.IN_PROGRESS
                ),
            )
        case Action.RETURN:
            excluded = sorted({*case.excluded_departments, *(case.lead_department or "",)} - {""})
            returned = next_event(
                case,
                CaseEventType.RETURNED,
                time,
                actor,
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
            rerouted = work.route(record, time)
            return [returned, rerouted] if rerouted else [returned]
        case Action.RESOLVE:
            return _save(
                work,
                record,
                next_event(
                    case,
                    CaseEventType.RESOLVED,
                    time,
                    actor,
                    note,
                    state=CaseState.RESOLVED,
                    resolution=note or None,
                ),
            )
        case Action.VERIFY:
            return _verify(work, record, cmd, body)
        case Action.REOPEN:
            return _rework(work, record, time, actor, {"reopened": True, **note})
        case Action.REJECT:
            return _finish(
                work,
                record,
                next_event(
                    case,
                    CaseEventType.REJECTED,
                    time,
                    actor,
                    {"reason": body.reason},
                    state=CaseState.REJECTED,
                    closed_at=time,
                ),
            )
        case Action.MERGE:
            return _finish(
                work,
                record,
                next_event(
                    case,
                    CaseEventType.MERGED,
                    time,
                    actor,
                    {"into": body.into},
                    state=CaseState.MERGED,
                    merged_into=body.into,
                    closed_at=time,
                ),
            )
        case Action.ESCALATE:
            return _save(
                work,
                record,
                next_event(
                    case,
                    CaseEventType.ESCALATED,
                    time,
                    actor,
                    {"reason": body.reason, **note},
                    escalation_level=case.escalation_level + 1,
                ),
            )
        case Action.COMMENT:
            return _save(work, record, next_event(case, CaseEventType.COMMENTED, time, actor, note))
        case Action.REPRIORITISE:
            priority = body.priority or case.priority
            reasons = [*case.priority_reasons, f"{priority.value}: set by {actor}"]
            return _save(
                work,
                record,
                next_event(
                    case,
                    CaseEventType.REPRIORITISED,
                    time,
                    actor,
                    {"from": case.priority.value, "to": priority.value, "reason": body.reason},
                    priority=priority,
                    priority_reasons=reasons,
                ),
            )
        case Action.RATE:
            return _save(
                work,
                record,
                next_event(
                    case,
                    CaseEventType.RATED,
                    time,
                    actor,
                    {"score": body.score, **note},
                    satisfaction=body.score,
                ),
            )
    raise ValueError(f"unhandled action {body.action}")  # pragma: no cover


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


def _verify(
    work: CaseWork, record: CaseRecord, cmd: CaseCommand, body: CaseAction
) -> list[CaseEvent]:
    case, time, actor = record.case, cmd.time, cmd.actor
    data = {
        "passed": bool(body.passed),
        "note": body.note,
        "media": body.media,
        "reason": body.reason,
    }
    verified = next_event(case, CaseEventType.VERIFIED, time, actor, data)
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
    new_ids = [r for r in body.report_ids if r not in case.report_ids]
    event = next_event(
        case,
        CaseEventType.REPORT_ATTACHED,
        cmd.time,
        cmd.actor,
        {"merged_from": body.merged_from, "report_ids": new_ids},
        report_count=case.report_count + len(new_ids),
        report_ids=[*case.report_ids, *new_ids],
    )
    for report_id in new_ids:
        work.store.index_report(report_id, case.id)
    return _save(work, record, event)


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
