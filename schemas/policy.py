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
from typing import Any

from schemas.cases import Action, CaseSnapshot, CaseState, Priority
from schemas.lifecycle import decide

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
# Role × action: what each role may ever do; the state machine says when.
ROLE_ACTIONS: Mapping[str, frozenset[Action]] = {
    OPERATOR: _CENTRE,
    ADMIN: _CENTRE,
    DEPARTMENT: frozenset({Action.ACCEPT, Action.RETURN, Action.RESOLVE, Action.COMMENT}),
    GRID_WORKER: frozenset({Action.VERIFY, Action.COMMENT, Action.RATE}),
    LEADER: frozenset({Action.COMMENT}),
    SYSTEM: frozenset(),
    OPEN311: frozenset(),
    REPORTER: frozenset({Action.RATE}),
}
# Actions a department takes on work assigned to it as the lead, not on any case
# it can see (a co-department sees the case and comments).
DEPARTMENT_ACTIONS = frozenset({Action.ACCEPT, Action.RETURN, Action.RESOLVE})
# The order in which the pages list the actions of a case.
ACTION_ORDER = (
    Action.DISPATCH,
    Action.ACCEPT,
    Action.RESOLVE,
    Action.VERIFY,
    Action.RETURN,
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
class CaseFacts:
    """What the policy reads of a case, from the API's dict or the agent's snapshot."""

    state: CaseState
    lead_department: str | None = None
    departments: tuple[str, ...] = ()
    grid_codes: tuple[str, ...] = ()
    priority: Priority | None = None
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
                tuple(report_ids),
            )
        priority = case.get("priority")
        return cls(
            CaseState(case["state"]),
            case.get("lead_department"),
            tuple(case.get("departments") or ()),
            tuple(
                str(code)
                for code in (case.get("grid_code"), *(case.get("grid_codes") or ()))
                if code
            ),
            Priority(priority) if priority else None,
            tuple(str(r) for r in case.get("report_ids") or report_ids),
        )

    def has_department(self, department: str) -> bool:
        return self.lead_department == department or department in self.departments


def sees_case(role: str, scope: str | None, case: CaseFacts) -> bool:
    """Whether a caller of ``role``/``scope`` may see ``case`` at all: departments
    their own cases, grid workers the cases in their grids (a case is in a grid
    scope when its grid, or any grid it covers, is), a reporter the case holding
    its report, the centre everything."""
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
    """Why an action is refused: ``rule`` names the rule (``role``, ``scope``, a
    state-machine row, ``merge``, ``reprioritise``), ``reason`` says it in words."""

    rule: str
    reason: str


def role_refusal(role: str, action: Action) -> Refusal | None:
    allowed = ROLE_ACTIONS.get(role, frozenset())
    if action in allowed:
        return None
    names = ", ".join(sorted(a.value for a in allowed)) or "none"
    return Refusal("role", f"role {role!r} may not {action.value}; it may: {names}")


def scope_refusal(role: str, scope: str | None, action: Action, case: CaseFacts) -> Refusal | None:
    if not sees_case(role, scope, case):
        return Refusal("scope", f"{action.value}: the case is outside this caller's scope")
    if role == DEPARTMENT and action in DEPARTMENT_ACTIONS:
        if not case.has_department(str(scope)):
            return Refusal("scope", f"{action.value}: case is not assigned to {scope or '-'}")
        # A co-department (联合执法) acts on its own part only, never on the lead's
        # whole case: accepting, resolving or returning it is the lead's.
        if case.lead_department is not None and case.lead_department != scope:
            return Refusal(
                "scope",
                f"{action.value}: {scope} is a co-department of this case; "
                f"only the lead department {case.lead_department} may {action.value} it",
            )
    return None


def body_refusal(
    case_id: str,
    action: Action,
    case: CaseFacts,
    *,
    into: str | None = None,
    priority: Priority | None = None,
) -> Refusal | None:
    """The rules an action's own fields can break, whatever the state."""
    if action is Action.MERGE and (not into or into == case_id):
        return Refusal("merge", "merge: a case cannot be merged into itself")
    if action is Action.REPRIORITISE and priority is not None and priority == case.priority:
        return Refusal("reprioritise", f"reprioritise: already {priority.value}")
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
) -> Refusal | None:
    """The first rule that refuses ``action`` by this caller on this case now, or
    None: the state machine, then the role, the scope and the action's fields."""
    decision = decide(case.state, action, passed)
    if not decision.allowed:
        return Refusal(decision.rule, decision.reason)
    return (
        role_refusal(role, action)
        or scope_refusal(role, scope, action, case)
        or body_refusal(case_id, action, case, into=into, priority=priority)
    )


def allowed_actions(role: str, scope: str | None, case: CaseFacts) -> list[Action]:
    """The actions this caller may take on the case now, in :data:`ACTION_ORDER`
    (``verify`` when a verification, passed or failed, may be recorded)."""
    return [
        action
        for action in ACTION_ORDER
        if decide(case.state, action, True if action is Action.VERIFY else None).allowed
        and role_refusal(role, action) is None
        and scope_refusal(role, scope, action, case) is None
    ]


def action_names(actions: Iterable[Action]) -> list[str]:
    return [action.value for action in actions]
