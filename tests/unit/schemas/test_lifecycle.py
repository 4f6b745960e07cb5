"""The state machine table of DESIGN.md §3, row by row."""

from __future__ import annotations

import pytest

from schemas.cases import Action, CaseState
from schemas.duty import TaskState
from schemas.lifecycle import TASK_TRANSITIONS, TRANSITIONS, decide, decide_task, task_state_after

S = CaseState
ALL = list(CaseState)

# (action, passed, from-states allowed, target or None for "same")
TABLE = [
    (Action.ATTACH_REPORT, None, {S.OPEN, S.DISPATCHED, S.IN_PROGRESS}, None),
    (Action.DISPATCH, None, {S.OPEN}, S.DISPATCHED),
    (Action.REJECT, None, {S.OPEN}, S.REJECTED),
    (Action.MERGE, None, {S.OPEN, S.DISPATCHED}, S.MERGED),
    (Action.ACCEPT, None, {S.DISPATCHED}, S.IN_PROGRESS),
    (Action.RETURN, None, {S.DISPATCHED, S.IN_PROGRESS}, S.OPEN),
    (Action.RESOLVE, None, {S.DISPATCHED, S.IN_PROGRESS}, S.RESOLVED),
    (Action.VERIFY, True, {S.RESOLVED}, S.CLOSED),
    (Action.VERIFY, False, {S.RESOLVED}, S.DISPATCHED),
    (Action.REOPEN, None, {S.CLOSED}, S.DISPATCHED),
    (Action.ESCALATE, None, {S.OPEN, S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED}, None),
    (Action.COMMENT, None, {S.OPEN, S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED}, None),
    (Action.REPRIORITISE, None, {S.OPEN, S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED}, None),
    (Action.RATE, None, {S.OPEN, S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED, S.CLOSED}, None),
    (Action.REASSIGN, None, {S.DISPATCHED, S.IN_PROGRESS}, None),
    (Action.ADD_DEPARTMENT, None, {S.DISPATCHED, S.IN_PROGRESS}, None),
    (Action.REMOVE_DEPARTMENT, None, {S.DISPATCHED, S.IN_PROGRESS}, None),
    (Action.RELEASE_TASK, None, {S.DISPATCHED, S.IN_PROGRESS}, None),
    (Action.REQUEST_EXTENSION, None, {S.DISPATCHED, S.IN_PROGRESS}, None),
    (Action.DECIDE_EXTENSION, None, {S.DISPATCHED, S.IN_PROGRESS}, None),
    (Action.DEFER, None, {S.DISPATCHED, S.IN_PROGRESS}, None),
    (Action.RESUME, None, {S.DISPATCHED, S.IN_PROGRESS}, None),
    (Action.ORDER, None, {S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED}, None),
    (Action.REPLY, None, {S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED, S.CLOSED}, None),
]


@pytest.mark.parametrize(("action", "passed", "allowed", "target"), TABLE)
@pytest.mark.parametrize("state", ALL)
def test_every_cell(action, passed, allowed, target, state):
    decision = decide(state, action, passed)
    assert decision.allowed is (state in allowed)
    if decision.allowed:
        assert decision.to == (target or state)
    else:
        assert decision.rule in decision.reason
        assert state.value in decision.reason


def test_table_covers_every_action():
    covered = {row[0] for row in TABLE} | {Action.OPEN}
    assert covered == set(Action)
    assert len(TRANSITIONS) == len(TABLE) + 2  # + open, + cancel (source withdrew)


def test_open_only_for_a_new_case():
    assert decide(None, Action.OPEN).to is S.OPEN
    assert not decide(S.OPEN, Action.OPEN).allowed
    refused = decide(None, Action.ACCEPT)
    assert not refused.allowed and "does not exist" in refused.reason


def test_terminal_states_accept_nothing():
    for state in (S.REJECTED, S.MERGED):
        for action in Action:
            if action is not Action.OPEN:
                assert not decide(state, action, True).allowed


def test_cancel_rejects_from_any_live_state():
    for state in (S.OPEN, S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED):
        assert decide(state, "cancel").to is S.REJECTED
    for state in (S.CLOSED, S.REJECTED, S.MERGED):
        assert not decide(state, "cancel").allowed


# A co-department's accept, resolve and return act on its own task (联合执法):
# (action, task states allowed from, the task's state after).
TASK_TABLE = [
    (Action.ACCEPT, {TaskState.DISPATCHED}, TaskState.IN_PROGRESS),
    (Action.RESOLVE, {TaskState.DISPATCHED, TaskState.IN_PROGRESS}, TaskState.DONE),
    (Action.RETURN, {TaskState.DISPATCHED, TaskState.IN_PROGRESS}, TaskState.RETURNED),
]


@pytest.mark.parametrize(("action", "allowed", "after"), TASK_TABLE)
@pytest.mark.parametrize("task", list(TaskState))
@pytest.mark.parametrize("state", ALL)
def test_every_task_cell(action, allowed, after, task, state):
    decision = decide_task(state, task, action)
    working = state in (S.DISPATCHED, S.IN_PROGRESS)
    assert decision.allowed is (working and task in allowed)
    if decision.allowed:
        assert decision.to is state and task_state_after(action) is after
    else:
        assert decision.rule == TASK_TRANSITIONS[action].rule in decision.reason
