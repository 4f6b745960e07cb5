"""Who may do what to a case (``schemas.policy``): role × action × state and the
scope checks, in the one table the gateway, the case agent and the pages share."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.cases import Action, CaseSnapshot, CaseState, Priority
from schemas.policy import (
    DEPARTMENT,
    GRID_WORKER,
    LEADER,
    OPERATOR,
    REPORTER,
    SYSTEM,
    CaseFacts,
    action_names,
    allowed_actions,
    grid_in_scope,
    refusal,
    sees_case,
    source_allowed,
)

GRID = "990101001001001"
CASE_ID = "990101001001-abcdef012345"


def facts(state: CaseState, **more: object) -> CaseFacts:
    """chengguan leads alone unless ``departments`` says otherwise."""
    case: dict[str, object] = {
        "state": state.value,
        "lead_department": "chengguan",
        "departments": ["chengguan"],
        "grid_code": GRID,
        "priority": Priority.P3.value,
    }
    case.update(more)
    return CaseFacts.of(case)


def test_an_operator_on_an_open_case() -> None:
    assert action_names(allowed_actions(OPERATOR, None, facts(CaseState.OPEN))) == [
        "dispatch",
        "reject",
        "merge",
        "escalate",
        "reprioritise",
        "comment",
        "rate",
    ]


def test_a_department_on_its_dispatched_case() -> None:
    assert action_names(allowed_actions(DEPARTMENT, "chengguan", facts(CaseState.DISPATCHED))) == [
        "accept",
        "resolve",
        "return",
        "request_extension",
        "comment",
    ]


def test_a_co_department_acts_on_its_own_task_never_on_the_leads_case() -> None:
    """联合执法: zhujian's accept, resolve and return are offered for its own task
    (the case agent applies them to that task only); the lead's resolve of the
    case waits for it, and once its task is done it only comments."""
    joint = facts(CaseState.DISPATCHED, departments=["chengguan", "zhujian"])
    assert action_names(allowed_actions(DEPARTMENT, "zhujian", joint)) == [
        "accept",
        "resolve",
        "return",
        "request_extension",
        "comment",
    ]
    lead = refusal(DEPARTMENT, "chengguan", Action.RESOLVE, CASE_ID, joint)
    assert lead is not None and lead.rule == "joint_tasks" and "zhujian" in lead.reason
    tasks = [
        {"no": 1, "department": "chengguan", "role": "lead", "state": "in_progress"},
        {"no": 2, "department": "zhujian", "role": "co", "state": "done"},
    ]
    done = facts(
        CaseState.IN_PROGRESS,
        departments=["chengguan", "zhujian"],
        tasks=[{**t, "dispatched_at": "2026-08-15T06:30:00Z"} for t in tasks],
    )
    assert action_names(allowed_actions(DEPARTMENT, "zhujian", done)) == ["comment"]
    again = refusal(DEPARTMENT, "zhujian", Action.RETURN, CASE_ID, done)
    assert again is not None and again.rule == "task_return"  # its task, not the case
    assert refusal(DEPARTMENT, "chengguan", Action.RESOLVE, CASE_ID, done) is None


def test_a_department_sees_nothing_of_another_departments_case() -> None:
    assert allowed_actions(DEPARTMENT, "huanbao", facts(CaseState.DISPATCHED)) == []
    assert not sees_case(DEPARTMENT, None, facts(CaseState.DISPATCHED))


def test_a_grid_worker_verifies_resolved_cases_in_its_grids_only() -> None:
    resolved = facts(CaseState.RESOLVED)
    assert Action.VERIFY in allowed_actions(GRID_WORKER, GRID, resolved)
    assert allowed_actions(GRID_WORKER, "990101002", resolved) == []


def test_leaders_comment_and_systems_do_nothing() -> None:
    assert allowed_actions(LEADER, None, facts(CaseState.IN_PROGRESS)) == [Action.COMMENT]
    assert allowed_actions(SYSTEM, "urn:x", facts(CaseState.IN_PROGRESS)) == []


def test_closed_cases_can_only_be_reopened_or_rated() -> None:
    assert action_names(allowed_actions(OPERATOR, None, facts(CaseState.CLOSED))) == [
        "reopen",
        "rate",
    ]
    assert allowed_actions(OPERATOR, None, facts(CaseState.MERGED)) == []


@pytest.mark.parametrize(
    ("role", "scope", "action", "state", "rule"),
    [
        (OPERATOR, None, Action.ACCEPT, CaseState.DISPATCHED, "role"),
        (DEPARTMENT, "chengguan", Action.ACCEPT, CaseState.OPEN, "accept"),
        (DEPARTMENT, "huanbao", Action.RESOLVE, CaseState.IN_PROGRESS, "scope"),
        (GRID_WORKER, "990101002", Action.COMMENT, CaseState.OPEN, "scope"),
        (OPERATOR, None, Action.MERGE, CaseState.OPEN, "merge"),
    ],
)
def test_refusals_name_their_rule(
    role: str, scope: str | None, action: Action, state: CaseState, rule: str
) -> None:
    refused = refusal(role, scope, action, CASE_ID, facts(state), into=CASE_ID)
    assert refused is not None and refused.rule == rule and refused.reason


def test_reprioritising_to_the_same_priority_is_refused() -> None:
    refused = refusal(
        OPERATOR, None, Action.REPRIORITISE, CASE_ID, facts(CaseState.OPEN), priority=Priority.P3
    )
    assert refused is not None and refused.rule == "reprioritise"
    assert (
        refusal(
            OPERATOR,
            None,
            Action.REPRIORITISE,
            CASE_ID,
            facts(CaseState.OPEN),
            priority=Priority.P1,
        )
        is None
    )


def test_facts_from_a_snapshot_and_from_the_api_shape_agree() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    snapshot = CaseSnapshot(
        id=CASE_ID,
        state=CaseState.DISPATCHED,
        category="garbage",
        priority=Priority.P3,
        grid_code=GRID,
        street_code=GRID[:9],
        community_code=GRID[:12],
        lead_department="chengguan",
        departments=["chengguan"],
        version=2,
        opened_at=now,
        updated_at=now,
    )
    api = snapshot.model_dump(mode="json")
    assert CaseFacts.of(snapshot) == CaseFacts.of(api)


def test_scope_helpers() -> None:
    assert grid_in_scope(None, GRID) and grid_in_scope("990101001, 990101002", GRID)
    assert not grid_in_scope("990101002", GRID)
    assert source_allowed("urn:district:citymgmt/zone-1", "urn:district:citymgmt")
    assert not source_allowed("urn:district:citymgmtx", "urn:district:citymgmt")
    assert not source_allowed("urn:a", None)


def test_a_reporter_may_only_rate_the_case_that_holds_its_report() -> None:
    case = CaseFacts(CaseState.RESOLVED, "chengguan", ("chengguan",), report_ids=("r-1", "r-2"))
    assert refusal(REPORTER, "r-2", Action.RATE, "c-1", case) is None
    other = refusal(REPORTER, "r-9", Action.RATE, "c-1", case)
    assert other is not None and other.rule == "scope"
    comment = refusal(REPORTER, "r-2", Action.COMMENT, "c-1", case)
    assert comment is not None and comment.rule == "role"
    assert allowed_actions(REPORTER, "r-1", case) == [Action.RATE]
