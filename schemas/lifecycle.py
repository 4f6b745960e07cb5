"""The case state machine of DESIGN.md §3, as data, and the one function that reads it."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.cases import LIVE_STATES, Action, CaseState
from schemas.duty import TaskState

S = CaseState
T = TaskState
WORKING = frozenset({S.DISPATCHED, S.IN_PROGRESS})


@dataclass(frozen=True)
class Transition:
    rule: str
    allowed_from: frozenset[CaseState]
    to: CaseState | None  # None: the state stays as it is


# One row per command of the §3 table; ``verify`` has two outcomes, so two rows.
TRANSITIONS: dict[str, Transition] = {
    "open": Transition("open", frozenset(), S.OPEN),
    "attach_report": Transition(
        "attach_report", frozenset({S.OPEN, S.DISPATCHED, S.IN_PROGRESS}), None
    ),
    "dispatch": Transition("dispatch", frozenset({S.OPEN}), S.DISPATCHED),
    "reject": Transition("reject", frozenset({S.OPEN}), S.REJECTED),
    "merge": Transition("merge", frozenset({S.OPEN, S.DISPATCHED}), S.MERGED),
    "accept": Transition("accept", frozenset({S.DISPATCHED}), S.IN_PROGRESS),
    "return": Transition("return", frozenset({S.DISPATCHED, S.IN_PROGRESS}), S.OPEN),
    "resolve": Transition("resolve", frozenset({S.DISPATCHED, S.IN_PROGRESS}), S.RESOLVED),
    "verify_pass": Transition("verify_pass", frozenset({S.RESOLVED}), S.CLOSED),
    "verify_fail": Transition("verify_fail", frozenset({S.RESOLVED}), S.DISPATCHED),
    "reopen": Transition("reopen", frozenset({S.CLOSED}), S.DISPATCHED),
    "escalate": Transition("escalate", LIVE_STATES, None),
    "comment": Transition("comment", LIVE_STATES, None),
    "reprioritise": Transition("reprioritise", LIVE_STATES, None),
    "rate": Transition("rate", LIVE_STATES | {S.CLOSED}, None),
    # The duty office's hands. ``reassign`` dispatches the moved task (and, when it
    # is the lead's, the case) to the new department; the others change parts only.
    "reassign": Transition("reassign", WORKING, None),
    "add_department": Transition("add_department", WORKING, None),
    "remove_department": Transition("remove_department", WORKING, None),
    "release_task": Transition("release_task", WORKING, None),
    "request_extension": Transition("request_extension", WORKING, None),
    "decide_extension": Transition("decide_extension", WORKING, None),
    "defer": Transition("defer", WORKING, None),
    "resume": Transition("resume", WORKING, None),
    "order": Transition("order", WORKING | {S.RESOLVED}, None),
    "reply": Transition("reply", WORKING | {S.RESOLVED, S.CLOSED}, None),
    # Not an operator action: the source system withdrew the event (CAP Cancel),
    # so the case is rejected from any live state, not only from ``open``.
    "cancel": Transition("cancel", LIVE_STATES, S.REJECTED),
}


@dataclass(frozen=True)
class TaskTransition:
    """A co-department's action on its own task: allowed while the case is being
    worked on and the task is in ``task_from``; the case's state stays."""

    rule: str
    task_from: frozenset[TaskState]
    to: TaskState


#: A co-department's accept, resolve and return act on its task only (联合执法).
TASK_TRANSITIONS: dict[Action, TaskTransition] = {
    Action.ACCEPT: TaskTransition("task_accept", frozenset({T.DISPATCHED}), T.IN_PROGRESS),
    Action.RESOLVE: TaskTransition(
        "task_resolve", frozenset({T.DISPATCHED, T.IN_PROGRESS}), T.DONE
    ),
    Action.RETURN: TaskTransition(
        "task_return", frozenset({T.DISPATCHED, T.IN_PROGRESS}), T.RETURNED
    ),
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: str
    to: CaseState | None
    reason: str = ""


def rule_key(action: Action | str, passed: bool | None = None) -> str:
    if action == Action.VERIFY:
        return "verify_pass" if passed else "verify_fail"
    return action.value if isinstance(action, Action) else action


def decide(state: CaseState | None, action: Action | str, passed: bool | None = None) -> Decision:
    """Allowed, with the state to move to, or refused with the rule and a reason.
    ``action`` is an :class:`Action` or the key of another row (``cancel``)."""
    key = rule_key(action, passed)
    row = TRANSITIONS[key]
    if state is None:
        if action == Action.OPEN:
            return Decision(True, key, row.to)
        return Decision(False, key, None, f"{key}: case does not exist")
    if action == Action.OPEN:
        return Decision(False, key, None, "open: case already exists")
    if state not in row.allowed_from:
        allowed = ", ".join(sorted(s.value for s in row.allowed_from))
        return Decision(
            False, key, None, f"{key}: not allowed from {state.value} (allowed from {allowed})"
        )
    return Decision(True, key, row.to if row.to is not None else state)


def decide_task(state: CaseState, task: TaskState, action: Action) -> Decision:
    """A co-department's ``action`` on its own task in state ``task`` of a case in
    ``state``: allowed with the task's next state, or refused with the rule."""
    row = TASK_TRANSITIONS[action]
    if state not in WORKING:
        allowed = ", ".join(sorted(s.value for s in WORKING))
        return Decision(
            False, row.rule, None, f"{row.rule}: case is {state.value} (allowed when {allowed})"
        )
    if task not in row.task_from:
        allowed = ", ".join(sorted(t.value for t in row.task_from))
        return Decision(
            False,
            row.rule,
            None,
            f"{row.rule}: the task is {task.value} (allowed from {allowed})",
        )
    return Decision(True, row.rule, state)


def task_state_after(action: Action) -> TaskState:
    return TASK_TRANSITIONS[action].to
