"""Report (报告) and feedback (反馈): which alerts and notifications a case event raises.

Pure decisions on contracts (DESIGN.md §2 stages 4 and 7); the case agent
(``streams.agents.case_agent``) decides them for the events of each batch and
puts them on ``gridhub.alerts`` (keyed by grid code) and
``gridhub.notifications`` (keyed by recipient) with the batch's other outputs.

Alerts (every id deterministic, so a replay re-sends the same ids):

- ``p1_case:<case id>`` — a P1 case is reported up at once: an ``opened`` P1 case,
  or a ``reprioritised`` / ``report_attached`` event that made it P1. Once per
  case: the id carries no version, so any repeat is recognisably the same alert;
- ``sla_warning:<case id>:<version>`` — a ``supervised`` event, mark ``warning``
  (75 % of the SLA);
- ``sla_overdue:<case id>:<version>`` and ``escalation:<case id>:<version>`` — an
  ``escalated`` event, mark ``overdue`` (100 %);
- ``escalation:<case id>:<version>`` — an ``escalated`` event, mark
  ``escalation_150``, or an operator's ``escalated`` event (no mark);
- ``respond_overdue`` / ``task_overdue`` / ``verify_overdue`` / ``order_overdue``
  ``:<case id>:<version>`` — a ``supervised`` event of the other watched
  deadlines (a task not accepted, a co-department's task, verification, an
  order's reply).

Notifications (``id`` deterministic, ``channel`` ``app``: every one lands in the
recipient's inbox, and is also POSTed where a webhook subscription matches):

- ``duty_office`` — every P1 alert and every hotspot alert (:func:`alert_notifications`);
  escalation level 1 and every overdue deadline of a response, co-department
  task, verification or order; and what the departments ask of it: a
  co-department's returned task, an extension request, an order's reply;
- ``leaders`` — escalations that reach level 2 or higher, and overdue 挂牌 orders
  (escalation that climbs: level 1 the duty office, level 2 the leaders);
- ``department:<code>`` — each department given a task (``dispatched``,
  ``reassigned``, added to the team) or its task back (``reworked``), the SLA marks
  of a case it leads and the deadlines of its own task or order (督办 is addressed
  to it), an order issued to it and the decision on its extension;
- ``system:<source>`` — every change of a case that another system opened under
  its own reference (its CloudEvents ``source`` and ``external_ref``: a 数字城管
  case number, a CAP identifier), so an admin's webhook subscription sends that
  system its updates, in a form it can file: ``data`` carries its own case
  number (``external_ref``), the status in its own codes (``source_status``,
  from the district's table, :mod:`routing.statuses`), the department and the
  case ``version`` (each case's notifications go out in version order);
- ``reporter:<report id>`` — for each report of the case, when it is
  ``resolved``, ``closed`` or ``rejected``. The channel is ``app``: whether the
  reporter left a phone is personal data this stage does not see.

An event does not say which priority the case had before it, nor which reports
it holds: the case agent, which knows both, passes them in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.alerts import ALERT_TYPE_PREFIX, Alert, AlertKind, Notification
from schemas.cases import CaseEvent, CaseEventType, CaseSnapshot, CaseState, Priority
from schemas.envelope import CASE_EVENT_PREFIX

DUTY_OFFICE = "duty_office"
LEADERS = "leaders"
DEPARTMENT_PREFIX = "department:"
REPORTER_PREFIX = "reporter:"
SYSTEM_PREFIX = "system:"
OWN_SOURCES = "urn:gridhub:"  # reports made through our own gateway
NOTIFY_CHANNEL = "app"

MARK_WARNING = "warning"
MARK_OVERDUE = "overdue"
MARK_ESCALATION_150 = "escalation_150"

_DUTY_KINDS = frozenset({AlertKind.P1_CASE, AlertKind.HOTSPOT})
# The supervised deadlines beside the resolve SLA, by the ``mark`` of ``supervised``.
DEADLINE_KINDS: dict[str, AlertKind] = {
    kind.value: kind
    for kind in (
        AlertKind.RESPOND_OVERDUE,
        AlertKind.TASK_OVERDUE,
        AlertKind.VERIFY_OVERDUE,
        AlertKind.ORDER_OVERDUE,
    )
}
DEADLINE_TITLES = {
    AlertKind.RESPOND_OVERDUE: "签收超时",
    AlertKind.TASK_OVERDUE: "协办任务超期",
    AlertKind.VERIFY_OVERDUE: "核查超时",
    AlertKind.ORDER_OVERDUE: "督办单逾期未回复",
}
LEADER_LEVEL = 2  # escalation climbs: level 1 to the duty office, level 2 to the leaders
LISTED_ORDER = "listed"  # 挂牌督办: the leaders hear when it goes unanswered
_REPORTER_EVENTS = frozenset({CaseEventType.RESOLVED, CaseEventType.CLOSED, CaseEventType.REJECTED})
_ENDED = frozenset({CaseState.CLOSED, CaseState.REJECTED, CaseState.MERGED})

CategoryName = Callable[[str], str]
# (source, case state) -> the source system's own status {code, name}
SourceStatusOf = Callable[[str, str], dict[str, str]]


def _code(category: str) -> str:
    return category


def _state_itself(_source: str, state: str) -> dict[str, str]:
    return {"code": state, "name": state}


@dataclass(frozen=True)
class ReportUp:
    """What one event raises: alerts first, then the notifications they and the event cause."""

    alerts: tuple[Alert, ...] = ()
    notifications: tuple[Notification, ...] = ()


# -- decisions -------------------------------------------------------------------


def became_p1(event: CaseEvent, previous: Priority | None) -> bool:
    """Did this event make the case P1 (or open it as P1)? ``previous`` is the
    priority last seen for the case, None when unknown."""
    case = event.case
    if case.priority is not Priority.P1 or case.state in _ENDED:
        return False
    match event.type:
        case CaseEventType.OPENED:
            return True
        case CaseEventType.REPRIORITISED:
            return str(event.data.get("from", "")) != Priority.P1.value
        case CaseEventType.REPORT_ATTACHED:
            return previous is not Priority.P1
    return previous is not None and previous is not Priority.P1


def report_up(
    event: CaseEvent,
    previous: Priority | None = None,
    category_name: CategoryName = _code,
    source_status: SourceStatusOf = _state_itself,
    *,
    report_ids: Sequence[str] = (),
) -> ReportUp:
    """The alerts and notifications one case event raises (see the module doc);
    ``source_status`` gives a source system's own status for a case state, and
    ``report_ids`` are the case's reports, whose reporters hear of its outcome."""
    alerts = list(_alerts(event, previous, category_name))
    notifications = [n for alert in alerts for n in alert_notifications(alert)]
    notifications += _case_notifications(event, alerts, category_name, source_status, report_ids)
    return ReportUp(alerts=tuple(alerts), notifications=tuple(notifications))


def _alerts(
    event: CaseEvent, previous: Priority | None, category_name: CategoryName
) -> Iterable[Alert]:
    case = event.case
    name = category_name(case.category)
    mark = str(event.data.get("mark", "")) or None
    versioned = f"{case.id}:{event.version}"
    if became_p1(event, previous):
        yield _alert(
            event,
            AlertKind.P1_CASE,
            f"{AlertKind.P1_CASE.value}:{case.id}",
            f"P1 紧急案件上报：{name}（{case.title or case.id}）",
        )
    if event.type is CaseEventType.SUPERVISED and mark == MARK_WARNING:
        yield _alert(
            event,
            AlertKind.SLA_WARNING,
            f"{AlertKind.SLA_WARNING.value}:{versioned}",
            f"督办预警：{name} 案件 {case.id} 已用去 75% 处置时限",
        )
    if event.type is CaseEventType.SUPERVISED and mark in DEADLINE_KINDS:
        kind = DEADLINE_KINDS[mark]
        who = str(event.data.get("department") or case.lead_department or "")
        part = str(event.data.get("task") or event.data.get("order") or "")
        yield _alert(
            event,
            kind,
            f"{kind.value}:{versioned}",
            f"{DEADLINE_TITLES[kind]}：{name} 案件 {case.id} {part} {who}".rstrip(),
        )
    if event.type is CaseEventType.ESCALATED:
        if mark == MARK_OVERDUE:
            yield _alert(
                event,
                AlertKind.SLA_OVERDUE,
                f"{AlertKind.SLA_OVERDUE.value}:{versioned}",
                f"超期：{name} 案件 {case.id} 已超过处置时限",
            )
        why = {
            MARK_OVERDUE: "超期升级",
            MARK_ESCALATION_150: "超期 150% 再次升级",
            None: f"{event.actor} 人工升级",
        }.get(mark, f"升级（{mark}）")
        yield _alert(
            event,
            AlertKind.ESCALATION,
            f"{AlertKind.ESCALATION.value}:{versioned}",
            f"{why}：{name} 案件 {case.id}，升级至 {case.escalation_level} 级",
        )


def _alert(event: CaseEvent, kind: AlertKind, alert_id: str, title: str) -> Alert:
    case = event.case
    detail: dict[str, Any] = {
        "version": event.version,
        "event_type": event.type.value,
        "state": case.state.value,
        "street_code": case.street_code,
        "community_code": case.community_code,
        "lead_department": case.lead_department,
        "report_count": case.report_count,
        "escalation_level": case.escalation_level,
        "resolve_by": case.resolve_by.isoformat() if case.resolve_by else None,
    }
    if kind is AlertKind.P1_CASE:
        detail["priority_reasons"] = list(case.priority_reasons)
    for key in ("mark", "task", "order", "department", "level", "due"):
        if key in event.data:
            detail[key] = event.data[key]
    if kind is AlertKind.ESCALATION and "reason" in event.data:
        detail["reason"] = event.data["reason"]
    return Alert(
        id=alert_id,
        kind=kind,
        time=event.time,
        grid_code=case.grid_code,
        category=case.category,
        case_id=case.id,
        priority=case.priority,
        title=title,
        detail=detail,
    )


def alert_recipients(alert: Alert) -> list[str]:
    """Who is told of an alert: the duty office of every P1, hotspot, escalation
    and overdue deadline; the leaders too from escalation level 2 and of an
    unanswered 挂牌 order. A warning (75 %) is the department's alone."""
    kind, detail = alert.kind, alert.detail
    if kind in _DUTY_KINDS or kind in DEADLINE_KINDS.values():
        listed = kind is AlertKind.ORDER_OVERDUE and detail.get("level") == LISTED_ORDER
        return [DUTY_OFFICE, LEADERS] if listed else [DUTY_OFFICE]
    if kind is AlertKind.ESCALATION:
        level = detail.get("escalation_level")
        climbed = isinstance(level, int) and level >= LEADER_LEVEL
        return [DUTY_OFFICE, LEADERS] if climbed else [DUTY_OFFICE]
    return []


def alert_notifications(alert: Alert) -> list[Notification]:
    """The notifications of an alert (id ``<recipient>:<alert id>``), see
    :func:`alert_recipients`."""
    data: dict[str, Any] = {
        "alert_id": alert.id,
        "kind": alert.kind.value,
        "grid_code": alert.grid_code,
        "category": alert.category,
        "priority": alert.priority.value if alert.priority else None,
        "detail": alert.detail,
    }
    return [
        Notification(
            id=f"{recipient}:{alert.id}",
            recipient=recipient,
            channel=NOTIFY_CHANNEL,
            time=alert.time,
            case_id=alert.case_id,
            event_type=f"{ALERT_TYPE_PREFIX}{alert.kind.value}",
            subject=alert.title,
            body=_alert_body(alert),
            data=data,
        )
        for recipient in alert_recipients(alert)
    ]


def _alert_body(alert: Alert) -> str:
    where = f"网格 {alert.grid_code}"
    if alert.kind is AlertKind.HOTSPOT:
        count = alert.detail.get("count")
        return f"{where} {alert.category or ''} 事件聚集（窗口内 {count} 起），请关注。"
    if alert.kind is AlertKind.P1_CASE:
        return f"{where} 发生 P1 紧急案件 {alert.case_id}，请立即关注处置。"
    level = alert.detail.get("escalation_level")
    return f"{where} 案件 {alert.case_id}：{alert.title}（升级 {level} 级），请督办。"


def _case_notifications(
    event: CaseEvent,
    alerts: list[Alert],
    category_name: CategoryName,
    source_status: SourceStatusOf,
    report_ids: Sequence[str],
) -> list[Notification]:
    case = event.case
    name = category_name(case.category)
    out = [
        _case_note(event, recipient, subject, body)
        for recipient, subject, body in _work_notes(event, name)
    ]
    # Verification is the grid worker's to do: the duty office hears of it, no department.
    sla = [a for a in alerts if a.kind not in (AlertKind.P1_CASE, AlertKind.VERIFY_OVERDUE)]
    if sla and case.state in (CaseState.DISPATCHED, CaseState.IN_PROGRESS, CaseState.RESOLVED):
        # 督办 is addressed to the department whose deadline it is: the task's or
        # order's own department, else the lead.
        addressed = {str(a.detail.get("department") or case.lead_department or "") for a in sla}
        subject = f"督办：{name}（{case.id}）"
        body = "；".join(a.title for a in sla)
        out += [
            _case_note(event, f"{DEPARTMENT_PREFIX}{code}", subject, body)
            for code in sorted(addressed - {""})
        ]
    if case.external_ref and case.source and not case.source.startswith(OWN_SOURCES):
        status = source_status(case.source, case.state.value)
        subject = f"案件{event.type.value}：{name}（{case.id}）"
        body = f"状态 {status['code']} {status['name']}，外部编号 {case.external_ref}"
        note = _case_note(event, f"{SYSTEM_PREFIX}{case.source}", subject, body)
        data = {
            **note.data,
            "external_ref": case.external_ref,
            "source_status": status,
            "department": case.lead_department,
            "event_type": event.type.value,
        }
        out.append(note.model_copy(update={"data": data}))
    if event.type in _REPORTER_EVENTS:
        subject, body = _reporter_text(event, name)
        out += [
            _case_note(event, f"{REPORTER_PREFIX}{report_id}", subject, body)
            for report_id in dict.fromkeys(report_ids)
        ]
    return out


def _work_notes(event: CaseEvent, name: str) -> list[tuple[str, str, str]]:
    """``(recipient, subject, body)`` of the work an event gives a department or
    asks of the duty office (joint tasks, reassignment, extensions, orders)."""
    case, data = event.case, event.data
    ref = f"{name}（{case.id}）"
    department = f"{DEPARTMENT_PREFIX}{data.get('department') or case.lead_department or ''}"
    match event.type:
        case CaseEventType.DISPATCHED:
            return [
                (
                    f"{DEPARTMENT_PREFIX}{task.department}",
                    f"新派遣任务（{'主办' if task.role.value == 'lead' else '协办'}）：{ref}",
                    _deadline_text(task.resolve_by, "请按时限处置"),
                )
                for task in case.tasks
                if task.version == event.version
            ] or _lead_note(case, f"新派遣任务：{ref}", "请按时限处置")
        case CaseEventType.REWORKED:
            reason = str(data.get("reason") or "核查未通过")
            return _lead_note(case, f"返工：{ref}", f"返工原因：{reason}。请重新处置")
        case CaseEventType.REASSIGNED:
            body = _deadline_text(
                case.resolve_by, f"由 {data.get('from')} 改派：{data.get('reason')}"
            )
            return [(department, f"改派任务：{ref}", body)]
        case CaseEventType.TASK_CHANGED if data.get("action") == "add_department":
            return [
                (department, f"新协办任务：{ref}", _deadline_text(case.resolve_by, "请按时限协办"))
            ]
        case CaseEventType.TASK_CHANGED if data.get("state") == "returned":
            who, why = data.get("department"), data.get("reason")
            return [(DUTY_OFFICE, f"协办退回：{ref}", f"{who} 退回协办任务：{why}。请改派或释放。")]
        case CaseEventType.EXTENSION_REQUESTED:
            body = f"{data.get('department')} 申请延期至 {data.get('until')}：{data.get('reason')}"
            return [(DUTY_OFFICE, f"延期申请：{ref}", body)]
        case CaseEventType.EXTENSION_DECIDED:
            verdict = "同意" if data.get("approved") else "不同意"
            return [(department, f"延期申请{verdict}：{ref}", str(data.get("reason") or verdict))]
        case CaseEventType.ORDER_ISSUED:
            body = f"{data.get('text')}（{data.get('level')}，请于 {data.get('reply_by')} 前回复）"
            return [(department, f"督办单 {data.get('order')}：{ref}", body)]
        case CaseEventType.ORDER_REPLIED:
            body = f"{data.get('department')} 回复督办单 {data.get('order')}：{data.get('text')}"
            return [(DUTY_OFFICE, f"督办回复：{ref}", body)]
    return []


def _lead_note(case: CaseSnapshot, subject: str, ask: str) -> list[tuple[str, str, str]]:
    lead = case.lead_department
    return (
        [(f"{DEPARTMENT_PREFIX}{lead}", subject, _deadline_text(case.resolve_by, ask))]
        if lead
        else []
    )


def _deadline_text(resolve_by: datetime | None, ask: str) -> str:
    if resolve_by is None:
        return f"{ask}。"
    return f"{ask}，处置时限 {resolve_by.isoformat()}。"


def _reporter_text(event: CaseEvent, name: str) -> tuple[str, str]:
    match event.type:
        case CaseEventType.RESOLVED:
            return (
                f"您反映的{name}问题已处置",
                "责任部门已完成处置，网格员将到现场核查。",
            )
        case CaseEventType.CLOSED:
            return (
                f"您反映的{name}问题已核查结案",
                "问题已现场核查并结案，感谢您的参与，欢迎对处置结果进行评价。",
            )
    reason = str(event.data.get("reason") or "")
    return (
        f"您反映的{name}问题未予立案",
        f"原因：{reason}" if reason else "经审核，该事项不予立案。",
    )


def _case_note(event: CaseEvent, recipient: str, subject: str, body: str) -> Notification:
    case = event.case
    return Notification(
        id=f"{event.type.value}:{recipient}:{case.id}:{event.version}",
        recipient=recipient,
        channel=NOTIFY_CHANNEL,
        time=event.time,
        case_id=case.id,
        event_type=f"{CASE_EVENT_PREFIX}{event.type.value}",
        subject=subject,
        body=body,
        data={
            "case_id": case.id,
            "version": event.version,
            "state": case.state.value,
            "category": case.category,
            "priority": case.priority.value,
            "grid_code": case.grid_code,
            "lead_department": case.lead_department,
            "resolve_by": case.resolve_by.isoformat() if case.resolve_by else None,
        },
    )
