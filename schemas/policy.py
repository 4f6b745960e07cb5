"""Who may do what to a case: role × action × state, plus the scope checks for
departments, grid workers and sources (DESIGN.md §3, §8). No I/O.

The state half is the state machine of :mod:`schemas.lifecycle`; this module adds
the caller. The gateway asks it before it sends a command (403 for a role that
may never take the action, 404 for a case outside the caller's scope), the case
agent asks it again when it applies the command (the bus is not trusted to have
checked), and the case detail lists :func:`allowed_actions` so the pages draw
their buttons from the server instead of a copy of these rules.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.cases import Action, CaseAction, CaseSnapshot, CaseState, Priority, legacy_tasks
from schemas.duty import (
    ACTIVE_TASK_STATES,
    UNFINISHED_TASK_STATES,
    VISIBLE_TASK_STATES,
    Extension,
    Order,
    Task,
    TaskRole,
    TaskState,
    part_number,
)
from schemas.lifecycle import decide, decide_task

ADMIN = "admin"
GRID_WORKER = "grid_worker"
OPERATOR = "operator"
DEPARTMENT = "department"
LEADER = "leader"
SYSTEM = "system"
# An Open311 client's key: it may file service requests (POST requests) and
# nothing else; every /api/v1 route refuses it.
OPEN311 = "open311"
ROLES = (ADMIN, GRID_WORKER, OPERATOR, DEPARTMENT, LEADER, SYSTEM, OPEN311)
# A citizen behind a feedback link (/f/{token}): no bearer token and no role to
# create one for; the gateway checks the link and names the report as the scope.
REPORTER = "reporter"

# The duty office (operators, and admins acting as one).
_CENTRE = frozenset(
    {
        Action.DISPATCH,
        Action.REJECT,
        Action.MERGE,
        Action.ESCALATE,
        Action.COMMENT,
        Action.REPRIORITISE,
        Action.REOPEN,
        Action.VERIFY,
        Action.RATE,
    }
)
# The duty office's hands on joint work, extensions, deferrals and orders.
_DUTY = frozenset(
    {
        Action.REASSIGN,
        Action.ADD_DEPARTMENT,
        Action.REMOVE_DEPARTMENT,
        Action.RELEASE_TASK,
        Action.DECIDE_EXTENSION,
        Action.DEFER,
        Action.RESUME,
        Action.ORDER,
    }
)
# Role × action: what each role may ever do; the state machine says when.
ROLE_ACTIONS: Mapping[str, frozenset[Action]] = {
    OPERATOR: _CENTRE | _DUTY,
    ADMIN: _CENTRE | _DUTY,
    DEPARTMENT: frozenset(
        {
            Action.ACCEPT,
            Action.RETURN,
            Action.RESOLVE,
            Action.REQUEST_EXTENSION,
            Action.REPLY,
            Action.COMMENT,
        }
    ),
    GRID_WORKER: frozenset({Action.VERIFY, Action.COMMENT, Action.RATE}),
    LEADER: frozenset({Action.COMMENT}),
    SYSTEM: frozenset(),
    REPORTER: frozenset({Action.RATE}),
    OPEN311: frozenset(),
}
# Actions a department takes on its own task, not on any case it can see; a
# co-department's accept, resolve and return change its task only (联合执法).
TASK_ACTIONS = frozenset({Action.ACCEPT, Action.RETURN, Action.RESOLVE})
DEPARTMENT_ACTIONS = TASK_ACTIONS | {Action.REQUEST_EXTENSION, Action.REPLY}
# What one request may do to many selected cases at once (POST /api/v1/cases/actions).
BULK_ACTIONS = frozenset({Action.DISPATCH, Action.REJECT, Action.MERGE, Action.COMMENT})
# The order in which the pages list the actions of a case.
ACTION_ORDER = (
    Action.DISPATCH,
    Action.ACCEPT,
    Action.RESOLVE,
    Action.VERIFY,
    Action.RETURN,
    Action.REPLY,
    Action.REQUEST_EXTENSION,
    Action.DECIDE_EXTENSION,
    Action.REASSIGN,
    Action.ADD_DEPARTMENT,
    Action.REMOVE_DEPARTMENT,
    Action.RELEASE_TASK,
    Action.ORDER,
    Action.DEFER,
    Action.RESUME,
    Action.REJECT,
    Action.MERGE,
    Action.REOPEN,
    Action.ESCALATE,
    Action.REPRIORITISE,
    Action.COMMENT,
    Action.RATE,
)


# -- scopes -------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s,;]+")


def scope_parts(scope: str | None) -> list[str]:
    """A scope is one code or several separated by commas/spaces (grid codes,
    12-digit community codes or any code prefix)."""
    return [part for part in _SEPARATORS.split(scope or "") if part]


def grid_in_scope(scope: str | None, grid_code: str) -> bool:
    """No scope means the whole district."""
    parts = scope_parts(scope)
    return not parts or any(grid_code.startswith(part) for part in parts)


def source_allowed(source: str, scope: str | None) -> bool:
    """A system token publishes only as its own source: the scope itself or a
    source below it (the scope followed by ``/``, ``:``, ``.``, ``#`` or ``?``,
    unless the scope ends with one of them)."""
    if not scope:
        return False
    if source == scope:
        return True
    if not source.startswith(scope):
        return False
    return scope[-1] in "/:.#?" or source[len(scope)] in "/:.#?"


def publish_refusal(
    event_type: str,
    event_types: Collection[str],
    *,
    cap_sender: str | None = None,
    referenced_senders: Iterable[str] = (),
    cap_senders: Collection[str] = (),
) -> str | None:
    """Why a system principal may not publish this event, or None: only the
    event types it was given, and a CAP message only under a ``<sender>`` it was
    given, referencing only messages of its own senders."""
    if event_type not in event_types:
        allowed = ", ".join(sorted(event_types)) or "none"
        return f"type: {event_type[:80]!r} is not a type this token may publish ({allowed})"
    if cap_sender is not None:
        if cap_sender not in cap_senders:
            return f"sender: {cap_sender[:80]!r} is not this token's CAP sender"
        foreign = sorted({s for s in referenced_senders if s not in cap_senders})
        if foreign:
            return f"references: messages of another sender ({', '.join(foreign)[:120]})"
    return None


def scope_problem(
    role: str,
    scope: str | None,
    *,
    grids: Collection[str],
    departments: Collection[str],
    dev: bool,
) -> str | None:
    """Why ``scope`` is not a valid scope for a new principal of ``role``, or
    None: a grid worker's scope names grids of the district (grid codes, or
    community/street prefixes of them; required outside dev), a department's is
    one known department, a system's is its source, an absolute URI."""
    parts = scope_parts(scope)
    if role == GRID_WORKER:
        if not parts:
            return None if dev else "a grid worker needs --scope (the grids it reports in)"
        unknown = [p for p in parts if not any(code.startswith(p) for code in grids)]
        if unknown:
            return f"no grid of this district starts with {', '.join(unknown)}"
        return None
    if role == DEPARTMENT:
        if len(parts) != 1 or parts[0] not in departments:
            known = ", ".join(sorted(departments))
            return f"a department token's scope is one department of: {known}"
        return None
    if role == SYSTEM:
        if not scope or not _URI.match(scope):
            return "a system token's scope is its CloudEvents source, an absolute URI (urn:..., https://...)"
        return None
    if parts:
        return f"a {role} token takes no scope"
    return None


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$")


@dataclass(frozen=True)
class TaskFacts:
    """What the policy reads of one task."""

    no: int
    department: str
    role: TaskRole
    state: TaskState
    resolve_by: datetime | None = None

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED_TASK_STATES


@dataclass(frozen=True)
class PartFacts:
    """What the policy reads of an extension or an order: number, department, state."""

    no: int
    department: str
    state: str


@dataclass(frozen=True)
class CaseFacts:
    """What the policy reads of a case, from the API's dict or the agent's snapshot."""

    state: CaseState
    lead_department: str | None = None
    departments: tuple[str, ...] = ()
    grid_codes: tuple[str, ...] = ()
    priority: Priority | None = None
    tasks: tuple[TaskFacts, ...] = ()
    extensions: tuple[PartFacts, ...] = ()
    orders: tuple[PartFacts, ...] = ()
    deferred: bool = False
    report_ids: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, case: CaseSnapshot | Mapping[str, Any], report_ids: Sequence[str] = ()
    ) -> CaseFacts:
        """``report_ids``: the case's reports, which a snapshot does not list (the
        case agent's record of the case does)."""
        if isinstance(case, CaseSnapshot):
            return cls(
                case.state,
                case.lead_department,
                tuple(case.departments),
                (case.grid_code, *case.grid_codes),
                case.priority,
                tuple(_task_facts(t) for t in case.current_tasks()),
                tuple(_part_facts(x) for x in case.extensions),
                tuple(_part_facts(o) for o in case.orders),
                case.deferred_at is not None,
                tuple(report_ids),
            )
        priority = case.get("priority")
        state = CaseState(case["state"])
        lead = case.get("lead_department")
        departments = tuple(case.get("departments") or ())
        tasks = [Task.model_validate(t) for t in case.get("tasks") or ()] or legacy_tasks(
            state, lead, departments
        )
        return cls(
            state,
            lead,
            departments,
            tuple(
                str(code)
                for code in (case.get("grid_code"), *(case.get("grid_codes") or ()))
                if code
            ),
            Priority(priority) if priority else None,
            tuple(_task_facts(t) for t in tasks),
            tuple(_part_facts(Extension.model_validate(x)) for x in case.get("extensions") or ()),
            tuple(_part_facts(Order.model_validate(o)) for o in case.get("orders") or ()),
            case.get("deferred_at") is not None,
            tuple(str(r) for r in case.get("report_ids") or report_ids),
        )

    def has_department(self, department: str) -> bool:
        return self.lead_department == department or department in self.departments

    def task_of(self, department: str | None) -> TaskFacts | None:
        """The department's latest task (a department holds one at a time)."""
        found = [t for t in self.tasks if t.department == department]
        return found[-1] if found else None

    def lead_task(self) -> TaskFacts | None:
        return self.task_of(self.lead_department) if self.lead_department else None

    def open_co_tasks(self) -> list[TaskFacts]:
        return [t for t in self.tasks if t.role is TaskRole.CO and t.unfinished]


def _task_facts(task: Task) -> TaskFacts:
    return TaskFacts(task.no, task.department, task.role, task.state, task.resolve_by)


def _part_facts(part: Extension | Order) -> PartFacts:
    return PartFacts(part.no, part.department, part.state.value)


def sees_case(role: str, scope: str | None, case: CaseFacts) -> bool:
    """Whether a caller of ``role``/``scope`` may see ``case`` at all: departments
    the cases they hold a task of, grid workers the cases in their grids (a case
    is in a grid scope when its grid, or any grid it covers, is), a reporter the
    case holding its report, the centre everything."""
    if role == DEPARTMENT:
        return bool(scope) and case.has_department(str(scope))
    if role == GRID_WORKER:
        return any(grid_in_scope(scope, grid) for grid in case.grid_codes)
    if role == REPORTER:  # scoped to the report the feedback link names
        return bool(scope) and scope in case.report_ids
    return role in (OPERATOR, LEADER, ADMIN)


# -- may this caller take this action now? ----------------------------------------


@dataclass(frozen=True)
class Refusal:
    """Why an action is refused. ``rule`` names the rule: ``role``, ``scope``, a
    state-machine row (``accept``, ``reassign``, ...), a task row (``task_accept``,
    ``task_resolve``, ``task_return``), or one of the case's facts and the action's
    fields — ``joint_tasks`` (the lead resolves while a co-department's task is
    open), ``task`` (no such task to act on, or one already held), ``deferred`` /
    ``not_deferred``, ``extension_pending`` / ``no_pending_extension``, ``until``,
    ``order``, ``reply_by``, ``department``, ``merge``, ``reprioritise``, ``bulk``.
    ``reason`` says it in words; ``field`` names the body field a field rule reads."""

    rule: str
    reason: str
    field: str | None = None


def role_refusal(role: str, action: Action) -> Refusal | None:
    allowed = ROLE_ACTIONS.get(role, frozenset())
    if action in allowed:
        return None
    names = ", ".join(sorted(a.value for a in allowed)) or "none"
    return Refusal("role", f"role {role!r} may not {action.value}; it may: {names}")


def _co_task(role: str, scope: str | None, action: Action, case: CaseFacts) -> TaskFacts | None:
    """The caller's co-department task, when ``action`` acts on it rather than on the case."""
    if role != DEPARTMENT or action not in TASK_ACTIONS or scope == case.lead_department:
        return None
    task = case.task_of(scope)
    return task if task is not None and task.role is TaskRole.CO else None


def state_refusal(
    role: str, scope: str | None, action: Action, case: CaseFacts, passed: bool | None = None
) -> Refusal | None:
    """The state machine: the case's row, or for a co-department's own task the task's."""
    task = _co_task(role, scope, action, case)
    decision = (
        decide_task(case.state, task.state, action)
        if task is not None
        else decide(case.state, action, passed)
    )
    return None if decision.allowed else Refusal(decision.rule, decision.reason)


def scope_refusal(role: str, scope: str | None, action: Action, case: CaseFacts) -> Refusal | None:
    if not sees_case(role, scope, case):
        return Refusal("scope", f"{action.value}: the case is outside this caller's scope")
    if role == DEPARTMENT and action in DEPARTMENT_ACTIONS:
        task = case.task_of(scope)
        if task is None or task.state not in VISIBLE_TASK_STATES:
            return Refusal("scope", f"{action.value}: {scope or '-'} holds no task of this case")
    return None


def facts_refusal(role: str, scope: str | None, action: Action, case: CaseFacts) -> Refusal | None:
    """Rules of the case's own facts that no field of the action can change."""
    if action is Action.RESOLVE and role == DEPARTMENT and scope == case.lead_department:
        pending = case.open_co_tasks()
        if pending:
            names = ", ".join(f"{t.department} ({t.state.value})" for t in pending)
            return Refusal(
                "joint_tasks",
                f"resolve: the co-department tasks of {names} are still open; they finish "
                "theirs first, or the duty office releases or reassigns them",
            )
    if action in (Action.DEFER, Action.REQUEST_EXTENSION) and case.deferred:
        return Refusal("deferred", f"{action.value}: the case is deferred (缓办); resume it first")
    if action is Action.RESUME and not case.deferred:
        return Refusal("not_deferred", "resume: the case is not deferred")
    if action is Action.DECIDE_EXTENSION and not _pending(case.extensions):
        return Refusal("no_pending_extension", "decide_extension: no extension is pending")
    if action is Action.REQUEST_EXTENSION:
        task = case.task_of(scope)
        if task is None or task.state not in ACTIVE_TASK_STATES:
            return Refusal("task", f"request_extension: {scope or '-'} has no open task")
        if any(x.department == scope for x in _pending(case.extensions)):
            return Refusal(
                "extension_pending",
                f"request_extension: {scope} already has an extension waiting for a decision",
            )
    if action is Action.REPLY and not any(
        o.state == "open" and (role != DEPARTMENT or o.department == scope) for o in case.orders
    ):
        return Refusal("order", f"reply: no open supervision order to {scope or '-'}")
    if action in (Action.REMOVE_DEPARTMENT, Action.RELEASE_TASK) and not case.open_co_tasks():
        return Refusal("task", f"{action.value}: the case has no open co-department task")
    return None


def _pending(parts: Iterable[PartFacts]) -> list[PartFacts]:
    return [p for p in parts if p.state == "pending"]


def body_refusal(
    case_id: str,
    action: Action,
    case: CaseFacts,
    *,
    into: str | None = None,
    priority: Priority | None = None,
    body: CaseAction | None = None,
    now: datetime | None = None,
    known_departments: Collection[str] | None = None,
) -> Refusal | None:
    """The rules an action's own fields can break, given the case (``field``
    names the field). ``now`` and ``known_departments``, when given, add the
    deadline and department checks."""
    if body is not None:
        into, priority = body.into, body.priority
    if action is Action.MERGE and (not into or into == case_id):
        return Refusal("merge", "merge: a case cannot be merged into itself", "into")
    if action is Action.REPRIORITISE and priority is not None and priority == case.priority:
        return Refusal("reprioritise", f"reprioritise: already {priority.value}", "priority")
    if body is None:
        return None
    return _department_refusal(body, known_departments) or _part_refusal(body, case, now)


def _department_refusal(
    body: CaseAction, known_departments: Collection[str] | None
) -> Refusal | None:
    action = body.action
    named = [("department", body.department)] if body.department else []
    if action is Action.DISPATCH:
        named += [("co_departments", code) for code in body.co_departments]
        codes = [body.department, *body.co_departments]
        if body.department and len(set(codes)) != len(codes):
            return Refusal(
                "department",
                "dispatch: the lead and the co-departments must be different departments",
                "co_departments",
            )
    if known_departments is not None:
        for field, code in named:
            if code not in known_departments:
                return Refusal("department", f"unknown department {code!r}", field)
    return None


def _part_refusal(body: CaseAction, case: CaseFacts, now: datetime | None) -> Refusal | None:
    """Field rules of the duty office's actions: which task, extension or order."""
    action, department = body.action, body.department
    if action is Action.REASSIGN:
        moved = case.task_of(body.task or case.lead_department)
        if moved is None or not moved.unfinished:
            return Refusal(
                "task", f"reassign: {body.task or 'the lead'} holds no open task to move", "task"
            )
        held = case.task_of(department)
        if department == moved.department or (held is not None and held.unfinished):
            return Refusal("task", f"reassign: {department} already holds a task", "department")
    if action is Action.ADD_DEPARTMENT:
        held = case.task_of(department)
        if held is not None and held.unfinished or department == case.lead_department:
            return Refusal(
                "task", f"add_department: {department} already holds a task", "department"
            )
    if action in (Action.REMOVE_DEPARTMENT, Action.RELEASE_TASK):
        task = case.task_of(department)
        allowed = (
            {TaskState.DISPATCHED}
            if action is Action.REMOVE_DEPARTMENT
            else set(UNFINISHED_TASK_STATES)
        )
        if task is None or task.role is not TaskRole.CO or task.state not in allowed:
            states = " or ".join(sorted(s.value for s in allowed))
            return Refusal(
                "task",
                f"{action.value}: {department} holds no co-department task that is {states}",
                "department",
            )
    if action is Action.DECIDE_EXTENSION and body.extension is not None:
        number = part_number(body.extension, "x")
        if not any(x.no == number for x in _pending(case.extensions)):
            return Refusal(
                "no_pending_extension",
                f"decide_extension: {body.extension} is not a pending extension of this case",
                "extension",
            )
    if action is Action.ORDER:
        addressee = department or case.lead_department
        task = case.task_of(addressee)
        if task is None or task.state not in VISIBLE_TASK_STATES:
            return Refusal("order", f"order: {addressee or '-'} holds no task", "department")
        if now is not None and body.reply_by is not None and body.reply_by <= now:
            return Refusal(
                "reply_by", "order: the reply deadline must be in the future", "reply_by"
            )
    if action is Action.REPLY:
        number = part_number(body.order, "o")
        if not any(o.no == number and o.state == "open" for o in case.orders):
            return Refusal(
                "order", f"reply: {body.order} is not an open order of this case", "order"
            )
    return None


def own_part_refusal(
    scope: str | None, body: CaseAction, case: CaseFacts, now: datetime | None = None
) -> Refusal | None:
    """A department's own task and orders: the extension it asks for must move its
    deadline later, the order it answers must be addressed to it."""
    if body.action is Action.REQUEST_EXTENSION:
        task = case.task_of(scope)
        deadline = task.resolve_by if task is not None else None
        if body.until is not None and (
            (deadline is not None and body.until <= deadline)
            or (now is not None and body.until <= now)
        ):
            return Refusal(
                "until",
                "request_extension: the new date must be after the current deadline",
                "until",
            )
    if body.action is Action.REPLY:
        number = part_number(body.order, "o")
        order = next((o for o in case.orders if o.no == number), None)
        if order is not None and order.department != scope:
            return Refusal(
                "order", f"reply: {body.order} is addressed to {order.department}", "order"
            )
    return None


def refusal(
    role: str,
    scope: str | None,
    action: Action,
    case_id: str,
    case: CaseFacts,
    *,
    passed: bool | None = None,
    into: str | None = None,
    priority: Priority | None = None,
    body: CaseAction | None = None,
    now: datetime | None = None,
    known_departments: Collection[str] | None = None,
) -> Refusal | None:
    """The first rule that refuses ``action`` by this caller on this case now, or
    None: the state machine (the case's, or a co-department's task's), then the
    role, the scope, the case's facts and the action's fields."""
    if body is not None:
        passed = body.passed
    refused = (
        state_refusal(role, scope, action, case, passed)
        or role_refusal(role, action)
        or scope_refusal(role, scope, action, case)
        or facts_refusal(role, scope, action, case)
        or body_refusal(
            case_id,
            action,
            case,
            into=into,
            priority=priority,
            body=body,
            now=now,
            known_departments=known_departments,
        )
    )
    if refused is None and body is not None and role == DEPARTMENT:
        refused = own_part_refusal(scope, body, case, now)
    return refused


def allowed_actions(role: str, scope: str | None, case: CaseFacts) -> list[Action]:
    """The actions this caller may take on the case now, in :data:`ACTION_ORDER`
    (``verify`` when a verification, passed or failed, may be recorded)."""
    return [
        action
        for action in ACTION_ORDER
        if state_refusal(role, scope, action, case, True if action is Action.VERIFY else None)
        is None
        and role_refusal(role, action) is None
        and scope_refusal(role, scope, action, case) is None
        and facts_refusal(role, scope, action, case) is None
    ]


def bulk_refusal(action: Action) -> Refusal | None:
    if action in BULK_ACTIONS:
        return None
    names = ", ".join(sorted(a.value for a in BULK_ACTIONS))
    return Refusal("bulk", f"{action.value} is not a bulk action; bulk actions: {names}", "action")


def action_names(actions: Iterable[Action]) -> list[str]:
    return [action.value for action in actions]
